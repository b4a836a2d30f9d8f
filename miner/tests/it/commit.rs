//! `miner upload` then `miner commit` against the devnet, as an operator runs them: the
//! commitment on chain must parse as validators parse it and carry the package's hash salted
//! with the miner's hotkey.

use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_chain::subtensor::calls;
use kindred_chain::{Chain, Netuid};
use kindred_devnet::testing::{TestNet, dev};
use kindred_scoring::Architecture;
use kindred_scoring::tiny::{TinySpec, write_tiny_model};

use crate::miner_output as miner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_commit_puts_a_verifiable_commitment_on_chain() {
    let net = TestNet::start(&["bob"]).await;
    let (url, chain) = (net.url.clone(), &net.chain);
    let bob = dev("bob");
    let wallet_dir = net.wallets();
    let package = net.scratch().join("model");
    write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 9)).expect("model");
    let s = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();

    let up = tokio::task::spawn_blocking({
        let (package, hub) = (s(&package), s(&net.scratch().join("hub")));
        move || miner(&["upload", &package, "--repo", "bob/wren", "--hub-dir", &hub])
    })
    .await
    .expect("upload");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let revision = String::from_utf8_lossy(&up.stdout).trim().to_owned();
    assert_eq!(revision.len(), 40, "{revision}");

    let commit = tokio::task::spawn_blocking({
        let (package, wallets, url, revision) = (s(&package), s(&wallet_dir), url.clone(), revision.clone());
        move || {
            miner(&[
                "commit",
                &package,
                "--competition",
                "dev",
                "--hub",
                "local",
                "--repo",
                "bob/wren",
                "--revision",
                &revision,
                "--netuid",
                "1",
                "--subtensor.network",
                &url,
                "--wallet.name",
                "bob",
                "--wallet.path",
                &wallets,
            ])
        }
    })
    .await
    .expect("commit");
    assert!(
        commit.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&commit.stdout),
        String::from_utf8_lossy(&commit.stderr)
    );

    let on_chain = chain.commitments(Netuid(1)).await.expect("commitments");
    let mine = on_chain
        .iter()
        .find(|c| c.hotkey == Hotkey(bob.public()))
        .expect("bob's commitment");
    let parsed: ModelCommitment = mine.data.parse().expect("validators parse it");
    assert_eq!(parsed.revision_hex(), revision);
    assert_eq!((parsed.hub.as_str(), parsed.repo.as_str()), ("local", "bob/wren"));
    let digest = kindred_hub::hash_package(&package).expect("hash").digest;
    assert_eq!(parsed.hash, salted_hash(&digest, &Hotkey(bob.public())));
    assert_ne!(parsed.hash, salted_hash(&digest, &Hotkey(dev("dave").public())));

    // `--timelock`: Charlie's commitment is sealed to a drand round; nobody reads it until the
    // chain reveals it, and then it carries the reveal block.
    let charlie = dev("charlie");
    chain
        .submit(&charlie, &calls::burned_register(Netuid(1), charlie.public()))
        .await
        .expect("register");
    let sealed = tokio::task::spawn_blocking({
        let (package, wallets, url, revision) = (s(&package), s(&wallet_dir), url.clone(), revision.clone());
        move || {
            miner(&[
                "commit",
                &package,
                "--competition",
                "dev",
                "--hub",
                "local",
                "--repo",
                "bob/wren",
                "--revision",
                &revision,
                "--subtensor.network",
                &url,
                "--wallet.name",
                "charlie",
                "--wallet.path",
                &wallets,
                "--timelock",
                "--reveal-after-blocks",
                "30",
            ])
        }
    })
    .await
    .expect("commit");
    let stdout = String::from_utf8_lossy(&sealed.stdout);
    assert!(
        sealed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    let committed_at: u64 = stdout
        .split("committed in block ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no block in {stdout}"));
    assert!(stdout.contains("sealed to drand round"), "{stdout}");
    let charlie_key = Hotkey(charlie.public());
    let hidden = chain.commitments(Netuid(1)).await.expect("commitments");
    assert!(hidden.iter().all(|c| c.hotkey != charlie_key), "{hidden:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let revealed = loop {
        let all = chain.commitments(Netuid(1)).await.expect("commitments");
        if let Some(c) = all.into_iter().find(|c| c.hotkey == charlie_key) {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "never revealed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(revealed.block.0 > committed_at, "{revealed:?}");
    let parsed: ModelCommitment = revealed.data.parse().expect("validators parse it");
    assert_eq!(parsed.hash, salted_hash(&digest, &charlie_key));
}
