//! A Bittensor client written by others against the devnet: the PyPI `bittensor` SDK (pinned in
//! `.ci/run`) registers, stakes, commits, sets weights and reads the metagraph over WebSocket
//! (`tests/python/bittensor_sdk.py`); then the devnet's own state is checked for each of those.
//!
//! The interpreter is `$KINDRED_PYTHON` (default `python3`) and must have `bittensor` installed;
//! `.ci/run` provides both. Without them this test fails and says how to get them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kindred_chain::wallet::Signer;
use kindred_devnet::{Devnet, DevnetConfig, Spawned, wallets};
use tokio_util::sync::CancellationToken;

const NETUID: u16 = 1;

fn python() -> PathBuf {
    std::env::var_os("KINDRED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn run_sdk(script: &Path, url: &str, wallets: &Path) -> std::process::Output {
    let python = python();
    let output = Command::new(&python)
        .arg(script)
        .args(["--url", url, "--netuid", &NETUID.to_string()])
        .arg("--wallet-path")
        .arg(wallets)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Python 3 with `pip install bittensor==11.3.0` \
                 (as .ci/run does) and point KINDRED_PYTHON at it",
                python.display()
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'bittensor'"),
        "{} lacks the bittensor SDK: `pip install bittensor==11.3.0` (as .ci/run does) and point \
         KINDRED_PYTHON at that interpreter",
        python.display()
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_runs_a_subnet_round_on_the_devnet() {
    let devnet = Devnet::bind(DevnetConfig {
        netuid: NETUID,
        ..DevnetConfig::on_any_port(Duration::from_millis(100))
    })
    .await
    .expect("devnet binds");
    let cancel = CancellationToken::new();
    let Spawned { url, node, .. } = devnet.spawn(cancel.clone());

    let dir = tempfile::tempdir().expect("tempdir");
    wallets::write_dev_wallets(dir.path()).expect("dev wallets");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/bittensor_sdk.py");
    let (url2, path) = (url.clone(), dir.path().to_owned());
    let output = tokio::task::spawn_blocking(move || run_sdk(&script, &url2, &path))
        .await
        .expect("sdk run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("SDK OK"),
        "the SDK run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );

    // What the SDK did is in the devnet's state.
    let alice = Signer::dev("alice").expect("alice").public();
    let bob = Signer::dev("bob").expect("bob").public();
    node.with_state(|state| {
        let subnet = &state.subnets[&NETUID];
        assert_eq!(subnet.uid_of(&alice), Some(0), "alice registered first");
        assert_eq!(subnet.uid_of(&bob), Some(1));
        let (_, fields) = subnet.commitments.get(&bob).expect("bob's commitment");
        assert_eq!(fields.concat(), b"kindred:1:eq:hf:org/model@abc123");
        assert_eq!(
            subnet.neurons[0].weights,
            vec![(1, u16::MAX)],
            "alice's weights on bob"
        );
        assert!(subnet.neurons[0].validator_permit);
        assert_eq!(state.stake.get(&(alice, NETUID)), Some(&10_000_000_000));
    });
    cancel.cancel();
}
