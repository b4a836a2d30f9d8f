//! The validator end to end: the devnet, a local hub with tiny miner models (one a copy of
//! another's re-saved in bf16 with a re-indented config, one a copy with noise on every weight,
//! one hostile), and the service with its API. The validator must evaluate and store the honest
//! models, set weights on the devnet, give the copies nothing (a `duplicate` by canonical
//! content digest, a `near_duplicate` by fingerprint), show the hostile package's rejection
//! reason in the API, and serve a page that renders in headless Chromium (`$KINDRED_CHROMIUM`,
//! default `chromium`; `.ci/run` installs Debian's package).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::timelocked::{seal_commitment, unix_now};
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, Netuid, Network};
use kindred_devnet::testing::{TestNet, dev};
use kindred_hub::{Hubs, LocalHub};
use kindred_scoring::evaluator::Evaluator;
use kindred_scoring::template::{SANDBOX_ARG, Sandbox};
use kindred_scoring::tiny::{TinySpec, write_tiny_model};
use kindred_scoring::weigh::WeighConfig;
use kindred_scoring::{Architecture, ScoringSpec};
use kindred_validator::fetch::{FetchConfig, Fetcher};
use kindred_validator::metrics::Metrics;
use kindred_validator::service::{ServiceConfig, Validator};
use kindred_validator::store::{Store, SubmissionStatus, WeightOutcome};
use kindred_validator::weights::WeightSetter;
use tokio_util::sync::CancellationToken;

const NET: Netuid = Netuid(1);

/// A copy of the package `from` in `to` with every weight passed through `edit`.
fn copy_of(
    from: &Path,
    to: &Path,
    mut edit: impl FnMut(&candle_core::Tensor) -> candle_core::Result<candle_core::Tensor>,
) -> PathBuf {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
    let weights = candle_core::safetensors::load(from.join("model.safetensors"), &candle_core::Device::Cpu)
        .expect("weights");
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let edited: std::collections::HashMap<String, candle_core::Tensor> = names
        .into_iter()
        .map(|n| (n.clone(), edit(&weights[n]).expect("edit")))
        .collect();
    candle_core::safetensors::save(&edited, to.join("model.safetensors")).expect("save");
    to.to_path_buf()
}

/// A model published on the local hub, committed by `who`.
async fn enter(chain: &Subtensor, hub: &LocalHub, who: &Signer, package: &Path, repo: &str) {
    let text = commitment_text(hub, who, package, repo);
    chain.set_commitment(who, NET, &text).await.expect("commitment");
}

fn commitment_text(hub: &LocalHub, who: &Signer, package: &Path, repo: &str) -> String {
    let published = hub.publish(package, &crate::repo(repo)).expect("publish");
    let commitment = ModelCommitment {
        competition: "dev".into(),
        hub: "local".into(),
        repo: repo.into(),
        revision: published.revision,
        hash: salted_hash(&published.digest, &Hotkey(who.public())),
    };
    commitment.encode().expect("fits")
}

/// Enter with the model id sealed to the chain's beacon (`miner commit --timelock`): the
/// block it is committed in.
async fn enter_sealed(chain: &Subtensor, hub: &LocalHub, who: &Signer, package: &Path, repo: &str) -> u64 {
    let text = commitment_text(hub, who, package, repo);
    let ctx = chain
        .timelock_context(NET)
        .await
        .expect("context")
        .expect("the devnet has a beacon");
    let (sealed, round) =
        seal_commitment(&ctx.beacon, &text, 20, ctx.block_time, unix_now() as u64).expect("seals");
    chain
        .set_timelocked_commitment(who, NET, &sealed, round)
        .await
        .expect("commitment")
        .block
        .0
}

/// The quick spec without the guard, which random tiny models cannot pass: the test is about the
/// pipeline, not about whether random weights talk sense (the scoring tests cover the guard).
fn test_spec() -> ScoringSpec {
    ScoringSpec::demo()
}

async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn chromium_dom(url: &str) -> String {
    let chromium =
        std::env::var_os("KINDRED_CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
    let profile = tempfile::tempdir().expect("profile dir");
    let out = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Debian's chromium package (as .ci/run does) or set KINDRED_CHROMIUM",
                chromium.display()
            )
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_hub_and_validator_score_miners_and_set_weights() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let net = TestNet::start(&["alice", "bob", "charlie", "dave", "eve", "ferdie"]).await;
    let (url, node, chain) = (net.url.clone(), net.node.clone(), &net.chain);
    let (alice, bob, charlie, dave, eve, ferdie) = (
        dev("alice"),
        dev("bob"),
        dev("charlie"),
        dev("dave"),
        dev("eve"),
        dev("ferdie"),
    );
    chain
        .submit(&alice, &calls::add_stake(alice.public(), NET, 100_000_000_000))
        .await
        .expect("stake");

    // Miners' packages on a local hub.
    let work = tempfile::tempdir().expect("tempdir");
    let hub = LocalHub::new(work.path().join("hub"));
    let package = |name: &str, seed: u64| {
        let dir = work.path().join(name);
        write_tiny_model(&dir, &TinySpec::new(Architecture::Llama, seed)).expect("tiny model");
        dir
    };
    let bob_pkg = package("bob", 1);
    let charlie_pkg = package("charlie", 2);
    let eve_pkg = package("eve", 3);
    // Eve's package claims an architecture no competition allows.
    let config_path = eve_pkg.join("config.json");
    let config = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(
        &config_path,
        config.replace("LlamaForCausalLM", "EvilForCausalLM"),
    )
    .expect("write");
    enter(chain, &hub, &bob, &bob_pkg, "bob/wren").await;
    // Charlie hides his model id until the chain reveals it.
    let charlie_sealed_at = enter_sealed(chain, &hub, &charlie, &charlie_pkg, "charlie/moss").await;
    // Dave re-uploads Bob's model under his own name and hotkey, after Bob, in other bytes:
    // weights re-saved as bf16, config re-indented.
    let dave_pkg = copy_of(&bob_pkg, &work.path().join("dave"), |w| {
        w.to_dtype(candle_core::DType::BF16)
    });
    let config = std::fs::read_to_string(dave_pkg.join("config.json")).expect("config");
    std::fs::write(
        dave_pkg.join("config.json"),
        format!("\n\n{}\n\n", config.replace("  ", "\t")),
    )
    .expect("config");
    enter(chain, &hub, &dave, &dave_pkg, "dave/wren-copy").await;
    enter(chain, &hub, &eve, &eve_pkg, "eve/evil").await;
    // Ferdie adds invisible noise to every weight of Bob's: new bytes, new digest, same model.
    let mut noise = kindred_scoring::tiny::SeededNormal::new(77);
    let ferdie_pkg = copy_of(&bob_pkg, &work.path().join("ferdie"), |w| {
        w + noise.tensor(w.dims(), 0.0, 1e-6)?
    });
    enter(chain, &hub, &ferdie, &ferdie_pkg, "ferdie/wren-tweaked").await;

    // The validator, as `validator run` builds it, with the devnet, the local hub and a fast spec.
    let db = work.path().join("validator.sqlite");
    let store = Store::open(db.to_str().expect("utf-8")).await.expect("store");
    let spec = test_spec();
    // The tiny models compete in `dev`, which the default shares (small only) leave out.
    let weigh_config = WeighConfig {
        shares: [("dev".to_string(), 1.0)].into(),
        ..WeighConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("api port");
    let api = listener.local_addr().expect("addr");
    let validator = Validator {
        chain: Arc::new(
            Subtensor::connect(&Network::Url(url.clone()))
                .await
                .expect("client"),
        ),
        store: store.clone(),
        fetcher: Arc::new(Fetcher::new(
            Hubs::new().with("local", Arc::new(LocalHub::new(work.path().join("hub")))),
            FetchConfig::new(work.path().join("cache")),
            Arc::new(tokio::sync::Semaphore::new(2)),
        )),
        evaluator: Arc::new(Evaluator {
            suites: kindred_validator::config::bundled_suites().expect("suites"),
            spec: spec.clone(),
            sandbox: Sandbox::new(
                PathBuf::from(env!("CARGO_BIN_EXE_validator")),
                vec![SANDBOX_ARG.into()],
            ),
            device: candle_core::Device::Cpu,
        }),
        weights: Some(WeightSetter::new(
            NET,
            dev("alice"),
            spec.version,
            weigh_config,
            20,
        )),
        metrics: Arc::new(Metrics::new()),
        api: Some(listener),
        config: ServiceConfig {
            netuid: NET,
            worker: "e2e".into(),
            poll: Duration::from_millis(200),
            seed_period: 50,
            lease: Duration::from_secs(60),
            retry_after: Duration::from_secs(1),
        },
    };
    let stop = CancellationToken::new();
    let running = tokio::spawn(validator.run(stop.clone()));

    // Every submission reaches a final state.
    let rows = wait_for("all submissions settled", Duration::from_secs(120), async || {
        let mut rows = Vec::new();
        for who in [&bob, &charlie, &dave, &eve, &ferdie] {
            let h = store
                .history(&Hotkey(who.public()).to_string())
                .await
                .expect("history");
            rows.push(h.into_iter().next()?);
        }
        rows.iter()
            .all(|r| r.status != SubmissionStatus::Queued)
            .then_some(rows)
    })
    .await;
    let [bob_row, charlie_row, dave_row, eve_row, ferdie_row] = &rows[..] else {
        unreachable!()
    };
    assert_eq!(bob_row.status, SubmissionStatus::Scored, "{bob_row:?}");
    assert_eq!(charlie_row.status, SubmissionStatus::Scored, "{charlie_row:?}");
    // The sealed entry counts from its reveal, not from the block it was sealed in.
    let revealed = chain
        .commitments(NET)
        .await
        .expect("commitments")
        .into_iter()
        .find(|c| c.hotkey == Hotkey(charlie.public()))
        .expect("charlie's revealed commitment");
    assert!(revealed.block.0 > charlie_sealed_at, "{revealed:?}");
    assert_eq!(charlie_row.commit_block, revealed.block.0, "{charlie_row:?}");
    assert!(bob_row.total.expect("score") > 0.0, "{:?}", bob_row.evaluation);
    assert_eq!(dave_row.status, SubmissionStatus::Duplicate, "{dave_row:?}");
    assert_eq!(dave_row.duplicate_of, Some(bob_row.id));
    assert_ne!(dave_row.digest, bob_row.digest, "other files");
    assert_eq!(dave_row.content_digest, bob_row.content_digest, "the same model");
    assert_eq!(
        ferdie_row.status,
        SubmissionStatus::NearDuplicate,
        "{ferdie_row:?}"
    );
    assert_eq!(ferdie_row.duplicate_of, Some(bob_row.id));
    assert!(
        ferdie_row.similarity.expect("similarity") >= 0.99,
        "{ferdie_row:?}"
    );
    assert_eq!(eve_row.status, SubmissionStatus::Rejected, "{eve_row:?}");
    assert_eq!(eve_row.reason_code.as_deref(), Some("bad_config"));

    // Weights reach the chain: Bob and Charlie weighted, the copy and the hostile one not.
    let uid = |who: &Signer| {
        node.with_state(|s| s.subnets[&NET.0].uid_of(&who.public()))
            .expect("uid")
    };
    let alice_uid = usize::from(uid(&alice));
    let weights = wait_for("weights on chain", Duration::from_secs(60), async || {
        let w = node.with_state(|s| s.subnets[&NET.0].neurons[alice_uid].weights.clone());
        (!w.is_empty()).then_some(w)
    })
    .await;
    let weighted: Vec<u16> = weights.iter().map(|&(u, _)| u).collect();
    assert!(
        weighted.contains(&uid(&bob)) || weighted.contains(&uid(&charlie)),
        "{weights:?}"
    );
    assert!(
        !weighted.contains(&uid(&dave)),
        "the copy earns nothing: {weights:?}"
    );
    assert!(!weighted.contains(&uid(&eve)), "{weights:?}");
    assert!(
        !weighted.contains(&uid(&ferdie)),
        "the near copy earns nothing: {weights:?}"
    );
    // The subnet runs commit-reveal (the devnet's default, as subtensor's): the weights went in
    // as a timelocked commit that the chain opened with its beacon's pulse, and the validator
    // saw the reveal.
    assert!(
        chain
            .hyperparameters(NET)
            .await
            .expect("hyperparameters")
            .commit_reveal_weights_enabled
    );
    let sets = wait_for("the reveal recorded", Duration::from_secs(30), async || {
        let sets = store.weight_sets(10).await.expect("weight sets");
        sets.iter()
            .any(|s| s.mode == "timelocked" && s.status == WeightOutcome::Revealed)
            .then_some(sets)
    })
    .await;
    assert!(
        sets.iter().all(|s| s.mode == "timelocked"),
        "no plain set_weights on a commit-reveal subnet: {sets:?}"
    );

    // The API shows the rejection's reason and the duplicate.
    let client = reqwest::Client::new();
    let board: serde_json::Value = client
        .get(format!("http://{api}/leaderboard"))
        .send()
        .await
        .expect("leaderboard")
        .json()
        .await
        .expect("json");
    let board = board.as_array().expect("array");
    let row_of = |who: &Signer| {
        let hk = Hotkey(who.public()).to_string();
        board.iter().find(|r| r["hotkey"] == hk).cloned().expect("row")
    };
    assert_eq!(row_of(&eve)["status"], "rejected");
    assert!(
        row_of(&eve)["reason"].as_str().expect("reason").contains("Evil"),
        "{}",
        row_of(&eve)
    );
    assert_eq!(row_of(&dave)["status"], "duplicate");
    assert_eq!(row_of(&ferdie)["status"], "near_duplicate");
    assert!(
        row_of(&ferdie)["reason"]
            .as_str()
            .expect("reason")
            .contains(&format!("submission {}", bob_row.id)),
        "the original is named: {}",
        row_of(&ferdie)
    );
    assert_eq!(board[0]["rank"], 1);
    assert!(board[0]["score"].as_f64().expect("top score") > 0.0);
    let eve_sub: serde_json::Value = client
        .get(format!("http://{api}/submissions/{}", eve_row.id))
        .send()
        .await
        .expect("submission")
        .json()
        .await
        .expect("json");
    assert_eq!(eve_sub["reason_code"], "bad_config");
    let bob_sub: serde_json::Value = client
        .get(format!("http://{api}/submissions/{}", bob_row.id))
        .send()
        .await
        .expect("submission")
        .json()
        .await
        .expect("json");
    assert_eq!(bob_sub["evaluation"]["spec_version"], spec.version);
    let metrics = client
        .get(format!("http://{api}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("kindred_validator_submissions_total{outcome=\"scored\"} 2"),
        "{metrics}"
    );
    for path in ["/health", "/openapi.json", "/miners/x!"] {
        let status = client
            .get(format!("http://{api}{path}"))
            .send()
            .await
            .expect("get")
            .status();
        assert_eq!(status.is_success(), path != "/miners/x!", "{path}: {status}");
    }

    // A stored evaluation is redone from the cache, bit for bit, by `validator replay`.
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_validator"))
        .args(["replay", &bob_row.id.to_string(), "--db"])
        .arg(&db)
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .output()
        .expect("replay runs");
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success() && said.contains("reproduces: every figure identical"),
        "{said}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );

    // The page renders the leaderboard in a real browser.
    let page_url = format!("http://{api}/");
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&page_url))
        .await
        .expect("chromium");
    assert!(
        dom.contains("data-loaded=\"6\""),
        "page did not load the leaderboard:\n{dom}"
    );
    assert!(dom.contains("class=\"bar\""), "no chart bars:\n{dom}");
    assert!(dom.contains("status-rejected"), "{dom}");

    stop.cancel();
    running.await.expect("joins").expect("validator stops cleanly");
}
