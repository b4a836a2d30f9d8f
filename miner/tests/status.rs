//! `miner status` against the devnet and a validator's leaderboard API (the validator's own axum
//! router over a SQLite store filled through the store API): the chain part must show the
//! hotkey's UID and commitment, the validator part its leaderboard row and submissions; an
//! unregistered hotkey and an unreachable validator are reported, not hidden.

use std::process::{Command, Output};
use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::devnet::{Devnet, DevnetConfig, wallets};
use kindred_chain::submission::ModelCommitment;
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, Netuid, Network};
use kindred_validator::api::{ApiState, router};
use kindred_validator::metrics::Metrics;
use kindred_validator::store::{NeuronRow, NewSubmission, ParsedCommitment, Store};
use tokio_util::sync::CancellationToken;

async fn miner(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_miner"))
            .args(&args)
            .output()
            .expect("run miner")
    })
    .await
    .expect("join")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_chain_and_validator_views_of_a_hotkey() {
    let devnet = Devnet::bind(DevnetConfig::on_any_port(Duration::from_millis(100)))
        .await
        .expect("devnet");
    let stop = CancellationToken::new();
    let url = devnet.spawn(stop.clone()).url;
    let chain = Subtensor::connect(&Network::Url(url.clone()))
        .await
        .expect("client");
    let bob = Signer::dev("bob").expect("bob");
    chain
        .submit(&bob, &calls::burned_register(Netuid(1), bob.public()))
        .await
        .expect("register");
    let commitment = ModelCommitment {
        competition: "dev".into(),
        hub: "hf".into(),
        repo: "bob/wren".into(),
        revision: [0xab; 20],
        hash: [7; 16],
    };
    let text_on_chain = commitment.encode().expect("encode");
    let included = chain
        .set_commitment(&bob, Netuid(1), &text_on_chain)
        .await
        .expect("commit");
    let bob_hotkey = Hotkey(bob.public());
    let uid = chain
        .metagraph(Netuid(1))
        .await
        .expect("metagraph")
        .uid_of(&bob_hotkey)
        .expect("bob has a UID");

    // A validator that has scored bob's submission.
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("v.sqlite").to_str().expect("utf-8"))
        .await
        .expect("store");
    let ss58 = bob_hotkey.to_string();
    store
        .set_neurons(
            &[NeuronRow {
                uid: uid.0,
                hotkey: ss58.clone(),
                incentive: 0.25,
                stake: 0,
            }],
            included.block.0,
        )
        .await
        .expect("neurons");
    let id = store
        .add_submission(
            &NewSubmission {
                hotkey: ss58.clone(),
                uid: uid.0,
                registered_at: 1,
                commit_block: included.block.0,
                commitment: text_on_chain.clone(),
                parsed: Some(ParsedCommitment {
                    competition: "dev".into(),
                    hub: "hf".into(),
                    repo: "bob/wren".into(),
                    revision: commitment.revision_hex(),
                    hash: hex::encode(commitment.hash),
                }),
                seen_block: included.block.0,
            },
            None,
        )
        .await
        .expect("submission")
        .expect("new");
    store
        .record_evaluation(
            id,
            "seed",
            1,
            0.625,
            &serde_json::json!({}),
            included.block.0,
            "w",
        )
        .await
        .expect("evaluation");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api_url = format!("http://{}", listener.local_addr().expect("addr"));
    let api = tokio::spawn(async move {
        axum::serve(
            listener,
            router(ApiState::new(store, std::sync::Arc::new(Metrics::new()))),
        )
        .await
        .expect("serve");
    });

    let wallet_dir = tmp.path().join("wallets");
    wallets::write_dev_wallets(&wallet_dir).expect("wallets");
    let args = |extra: &[&str]| -> Vec<String> {
        ["status", "--netuid", "1", "--subtensor.network", &url]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let out = miner(args(&[
        "--wallet.name",
        "bob",
        "--wallet.path",
        wallet_dir.to_str().expect("utf-8"),
        "--validator-url",
        &api_url,
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["hotkey"], ss58.as_str());
    assert_eq!(v["chain"]["registered"], true);
    assert_eq!(v["chain"]["uid"], uid.0);
    assert_eq!(v["chain"]["commitment"]["text"], text_on_chain.as_str());
    assert_eq!(v["chain"]["commitment"]["block"], included.block.0);
    assert_eq!(v["chain"]["commitment"]["parsed"]["revision"], "ab".repeat(20));
    let validator = &v["validators"][0];
    assert_eq!(validator["error"], serde_json::Value::Null, "{validator}");
    assert_eq!(validator["leaderboard"]["score"], 0.625);
    assert_eq!(validator["leaderboard"]["uid"], uid.0);
    assert_eq!(validator["submissions"][0]["id"], id);
    assert_eq!(validator["submissions"][0]["status"], "scored");

    // Someone unregistered, asked of a live validator and of one that is down.
    let dave = Hotkey(Signer::dev("dave").expect("dave").public()).to_string();
    let out = miner(args(&[
        "--hotkey",
        &dave,
        "--validator-url",
        &format!("{api_url},http://127.0.0.1:9"),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    eprintln!("{report}");
    for want in [
        "not registered",
        "commitment: none",
        "not on its leaderboard",
        "no submissions seen",
        "unreachable",
    ] {
        assert!(report.contains(want), "missing `{want}` in:\n{report}");
    }

    let out = miner(args(&["--hotkey", "not-an-address"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    api.abort();
    stop.cancel();
}
