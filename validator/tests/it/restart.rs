//! `validator run` killed with SIGKILL while it works, then started again on the same SQLite
//! store: every submission ends scored exactly once; nothing is lost or written twice.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_chain::{Chain, Netuid};
use kindred_devnet::testing::{TestNet, dev};
use kindred_hub::LocalHub;
use kindred_scoring::Architecture;
use kindred_scoring::tiny::{TinySpec, write_tiny_model};
use kindred_validator::store::{Store, SubmissionStatus};
use sqlx::Row;

const NET: Netuid = Netuid(1);

fn start(url: &str, dir: &Path) -> Child {
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
    Command::new(env!("CARGO_BIN_EXE_validator"))
        .args([
            "run",
            "--netuid",
            "1",
            "--subtensor.network",
            url,
            "--spec",
            "demo",
        ])
        .args(["--db", &s(&dir.join("validator.sqlite"))])
        .args(["--cache-dir", &s(&dir.join("cache"))])
        .args(["--hub", &format!("local=local:{}", s(&dir.join("hub")))])
        .args([
            "--wallet.path",
            &s(&dir.join("wallets")),
            "--wallet.name",
            "alice",
        ])
        .args(["--api.addr", "off", "--poll-ms", "150", "--seed-period", "1000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("validator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_mid_work_resumes_without_losing_or_duplicating_rows() {
    let miners = ["bob", "charlie", "dave", "eve", "ferdie"];
    let net = TestNet::start(&miners).await;
    let (url, chain) = (net.url.clone(), &net.chain);
    // The validator reads its wallets from `{dir}/wallets`, where the fixture wrote them.
    let dir = net.scratch();
    let hub = LocalHub::new(dir.join("hub"));
    for (i, name) in miners.iter().enumerate() {
        let who = dev(name);
        let package = dir.join("models").join(name);
        write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 40 + i as u64)).expect("model");
        let repo = format!("{name}/m");
        let published = hub.publish(&package, &crate::repo(&repo)).expect("publish");
        let commitment = ModelCommitment {
            competition: "dev".into(),
            hub: "local".into(),
            repo,
            revision: published.revision,
            hash: salted_hash(&published.digest, &Hotkey(who.public())),
        };
        chain
            .set_commitment(&who, NET, &commitment.encode().expect("fits"))
            .await
            .expect("commit");
    }

    let db = dir.join("validator.sqlite");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .ok()?;
            let n: i64 = sqlx::query(sql).fetch_one(&pool).await.ok()?.get(0);
            pool.close().await;
            Some(n)
        }
    };
    // Kill it as soon as it has claimed work and scored at least one model but not all.
    let mut first = start(&url, dir);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let scored = count("SELECT COUNT(*) FROM evaluations").await.unwrap_or(0);
        let leased = count("SELECT COUNT(*) FROM submissions WHERE lease_owner IS NOT NULL")
            .await
            .unwrap_or(0);
        if scored >= 1 && leased >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the first run never got to work");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let scored_before = count("SELECT COUNT(*) FROM evaluations").await.expect("count");
    assert!(
        scored_before < miners.len() as i64,
        "killed too late to prove anything"
    );

    let mut second = start(&url, dir);
    let deadline = Instant::now() + Duration::from_secs(120);
    while count("SELECT COUNT(*) FROM submissions WHERE status = 'queued'").await != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the second run did not finish the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().expect("stop");
    second.wait().expect("reaped");

    let store = Store::open(db.to_str().expect("utf-8")).await.expect("store");
    for name in miners {
        let hotkey = Hotkey(dev(name).public()).to_string();
        let history = store.history(&hotkey).await.expect("history");
        assert_eq!(history.len(), 1, "{name}: one submission");
        assert_eq!(
            history[0].status,
            SubmissionStatus::Scored,
            "{name}: {:?}",
            history[0]
        );
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM evaluations").await,
        Some(miners.len() as i64),
        "one evaluation each"
    );
}
