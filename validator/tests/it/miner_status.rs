//! `miner status` (`kindred_miner::status`, the code behind the command) against the devnet and
//! this validator's leaderboard API (its own axum router over a SQLite store filled through the
//! store API): the chain part must show the hotkey's UID and commitment, the validator part its
//! leaderboard row and submissions; an unregistered hotkey and an unreachable validator are
//! reported, not hidden. It lives here because it checks the miner against this crate's API;
//! the miner crate does not depend on the validator.

use kindred_chain::account::Hotkey;
use kindred_chain::submission::ModelCommitment;
use kindred_chain::{Chain, Netuid};
use kindred_devnet::testing::{TestNet, dev};
use kindred_validator::api::{ApiState, router};
use kindred_validator::metrics::Metrics;
use kindred_validator::store::{NeuronRow, NewSubmission, ParsedCommitment, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_chain_and_validator_views_of_a_hotkey() {
    let net = TestNet::start(&["bob"]).await;
    let chain = &net.chain;
    let bob = dev("bob");
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

    let status = kindred_miner::status::status(chain, Netuid(1), &bob_hotkey, std::slice::from_ref(&api_url))
        .await
        .expect("status");
    let v = serde_json::to_value(&status).expect("one JSON object");
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
    let dave = Hotkey(dev("dave").public());
    let urls = [api_url.clone(), "http://127.0.0.1:9".to_owned()];
    let status = kindred_miner::status::status(chain, Netuid(1), &dave, &urls)
        .await
        .expect("status");
    assert!(status.validators[0].error.is_none());
    assert!(
        status.validators[1].error.is_some(),
        "the second validator is down"
    );
    let report = kindred_miner::status::render(&status);
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

    api.abort();
}
