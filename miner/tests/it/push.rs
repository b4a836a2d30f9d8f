//! `miner push` / `miner publish` against `FakeHfHub`, the test double of the Hugging Face hub
//! (`kindred_hub`'s `test-utils`): what is pushed is downloaded back through the validators' own
//! hub client (`HfHub`) and must verify against the hash the miner commits; failures are typed.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::salted_hash;
use kindred_hub::fake_hf::FakeHfHub;
use kindred_hub::{
    HfHub, HfHubConfig, HfUploader, HfUploaderConfig, HubError, ModelHub, PushError, RepoId, Revision,
    hash_package,
};
use kindred_scoring::Architecture;
use kindred_scoring::tiny::{TinySpec, write_tiny_model};

const TOKEN: &str = "hf_write_token_for_the_double";
const REPO: &str = "wren-lab/wren-tiny";
const BOB: Hotkey = Hotkey([2; 32]);

/// Runs the miner binary with `HF_ENDPOINT`/`HF_TOKEN` (off the async runtime, which serves the
/// double meanwhile).
async fn miner(args: &[&str], endpoint: &str, token: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (endpoint, token) = (endpoint.to_owned(), token.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_miner"));
        cmd.args(&args)
            .env("HF_ENDPOINT", endpoint)
            .env_remove("HF_TOKEN");
        if let Some(token) = token {
            cmd.env("HF_TOKEN", token);
        }
        cmd.output().expect("run miner")
    })
    .await
    .expect("join")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// What a validator holds after fetching: the package files and their digest.
struct Fetched {
    dir: std::path::PathBuf,
    digest: [u8; 32],
    files: Vec<String>,
}

/// What the miner would commit for `package` pushed at `revision`, downloaded the way validators
/// do (listing, then each package file, capped at its listed size, through `HfHub` without the
/// miner's token) and checked against the salted hash a commitment would carry.
async fn fetch_as_validator(
    endpoint: &str,
    cache: &Path,
    package: &Path,
    revision: &str,
) -> Result<Fetched, HubError> {
    let mut cfg = HfHubConfig::new(endpoint);
    cfg.request_timeout = Duration::from_secs(5);
    let hub = HfHub::new(cfg).expect("client");
    let repo = RepoId::parse(REPO).expect("repo");
    let revision = Revision::parse(revision).expect("40 hex digits");
    let listing = hub.resolve(&repo, &revision).await?;
    // One directory per revision, as the validators' cache keeps them apart.
    let cache = &cache.join(revision.to_hex());
    std::fs::create_dir_all(cache).expect("cache dir");
    for file in listing
        .iter()
        .filter(|f| kindred_scoring::package::is_package_file(&f.path))
    {
        let got = hub
            .download(&repo, &revision, &file.path, &cache.join(&file.path), file.size)
            .await?;
        assert_eq!(got, file.size, "{} arrived whole", file.path);
    }
    let fetched = hash_package(cache).expect("hash the download");
    let committed = salted_hash(&hash_package(package).expect("hash").digest, &BOB);
    assert_eq!(
        salted_hash(&fetched.digest, &BOB),
        committed,
        "the commitment verifies"
    );
    Ok(Fetched {
        dir: cache.to_path_buf(),
        digest: fetched.digest,
        files: fetched.files.into_iter().map(|(n, _)| n).collect(),
    })
}

fn assert_same_files(fetched: &Fetched, package: &Path) {
    let local = hash_package(package).expect("hash");
    assert_eq!(fetched.digest, local.digest);
    let want: Vec<&str> = local.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(fetched.files, want);
    for name in &fetched.files {
        let got = std::fs::read(fetched.dir.join(name)).expect("fetched");
        let sent = std::fs::read(package.join(name)).expect("local");
        assert!(got == sent, "{name} differs after the round trip");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_package_is_fetched_back_by_validators_and_a_repush_removes_stale_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeHfHub::start(tmp.path().join("hub")).await;
    fake.accept_token(TOKEN);
    let package = tmp.path().join("v1");
    write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 11)).expect("model");
    // The tokenizer goes through LFS by size (the weights by name), config.json inline.
    let len = |f: &str| std::fs::metadata(package.join(f)).expect("file").len();
    assert!(len("config.json") < len("tokenizer.json"));
    fake.behaviour
        .lfs_threshold
        .store(len("tokenizer.json"), Ordering::SeqCst);

    let out = miner(
        &["push", s(&package), "--repo", REPO],
        &fake.endpoint,
        Some(TOKEN),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let revision = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        fake.head(REPO).as_deref(),
        Some(revision.as_str()),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(TOKEN), "the token must never be printed");
    {
        let modes = fake.behaviour.upload_modes.lock().expect("lock");
        assert_eq!(modes.get("model.safetensors").map(String::as_str), Some("lfs"));
        assert_eq!(modes.get("config.json").map(String::as_str), Some("regular"));
        assert_eq!(modes.get("tokenizer.json").map(String::as_str), Some("lfs"));
    }
    assert_eq!(fake.behaviour.storage_authorizations.load(Ordering::SeqCst), 0);
    assert!(!fake.is_private(REPO));

    let fetched = fetch_as_validator(&fake.endpoint, &tmp.path().join("cache"), &package, &revision)
        .await
        .expect("validators fetch and verify the pushed package");
    assert_same_files(&fetched, &package);

    // New weights without the optional generation config: the old one must not linger in the
    // new revision, or validators would hash a different package than the miner committed.
    let v2 = tmp.path().join("v2");
    write_tiny_model(&v2, &TinySpec::new(Architecture::Llama, 12)).expect("model");
    std::fs::remove_file(v2.join("generation_config.json")).expect("remove");
    let puts_before = fake.behaviour.storage_puts.load(Ordering::SeqCst);
    let out = miner(&["push", s(&v2), "--repo", REPO], &fake.endpoint, Some(TOKEN)).await;
    assert!(out.status.success(), "{}", text(&out));
    let revision2 = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_ne!(revision2, revision);
    assert!(
        text(&out).contains("removed generation_config.json"),
        "{}",
        text(&out)
    );
    // The tokenizer is unchanged, so only the new weights are uploaded.
    assert_eq!(
        fake.behaviour.storage_puts.load(Ordering::SeqCst),
        puts_before + 1
    );
    let fetched = fetch_as_validator(&fake.endpoint, &tmp.path().join("cache"), &v2, &revision2)
        .await
        .expect("second revision verifies");
    assert_same_files(&fetched, &v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_push_is_hidden_from_validators_until_published() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeHfHub::start(tmp.path().join("hub")).await;
    fake.accept_token(TOKEN);
    let package = tmp.path().join("pkg");
    write_tiny_model(&package, &TinySpec::new(Architecture::Qwen2, 3)).expect("model");

    let out = miner(
        &[
            "push",
            s(&package),
            "--repo",
            REPO,
            "--private",
            "--competition",
            "dev",
        ],
        &fake.endpoint,
        Some(TOKEN),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let revision = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(fake.is_private(REPO));

    let hidden = fetch_as_validator(&fake.endpoint, &tmp.path().join("c1"), &package, &revision).await;
    match hidden {
        Err(e) => assert!(
            e.is_miner_fault(),
            "a hidden repository is the miner's fault: {e}"
        ),
        Ok(_) => panic!("a private repository was fetched without a token"),
    }

    let out = miner(&["publish", "--repo", REPO], &fake.endpoint, Some(TOKEN)).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!fake.is_private(REPO));
    let fetched = fetch_as_validator(&fake.endpoint, &tmp.path().join("c2"), &package, &revision)
        .await
        .expect("public now");
    assert_same_files(&fetched, &package);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_tokens_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeHfHub::start(tmp.path().join("hub")).await;
    fake.accept_token(TOKEN);
    let package = tmp.path().join("pkg");
    write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 4)).expect("model");

    let out = miner(&["push", s(&package), "--repo", REPO], &fake.endpoint, None).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("HF_TOKEN"), "{}", text(&out));

    let out = miner(
        &["push", s(&package), "--repo", REPO],
        &fake.endpoint,
        Some("hf_wrong"),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("refused the token (HTTP 401)"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("hf_wrong"));
    assert_eq!(fake.head(REPO), None);
    assert!(!tmp.path().join("hub").join(REPO).exists());
}

fn quick(endpoint: &str, attempts: u32) -> HfUploader {
    let mut cfg = HfUploaderConfig::new(endpoint, Some(TOKEN.into()));
    cfg.retry.attempts = attempts;
    cfg.retry.backoff = Duration::from_millis(10);
    cfg.retry.max_backoff = Duration::from_millis(20);
    HfUploader::new(cfg).expect("uploader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_and_commit_outages_are_retried_then_reported_as_typed_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeHfHub::start(tmp.path().join("hub")).await;
    fake.accept_token(TOKEN);
    let package = tmp.path().join("pkg");
    write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 5)).expect("model");

    // A storage outage longer than the retries: nothing is committed.
    fake.behaviour.fail_storage_puts.store(10, Ordering::SeqCst);
    let err = quick(&fake.endpoint, 3)
        .push(&package, &RepoId::parse(REPO).expect("repo"), false, "try")
        .await
        .expect_err("storage is down");
    assert!(
        matches!(
            err,
            PushError::Server {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fake.behaviour.storage_puts.load(Ordering::SeqCst), 3);
    assert_eq!(fake.head(REPO), None);

    // Short outages of storage and of the commit endpoint are ridden out.
    fake.behaviour.fail_storage_puts.store(2, Ordering::SeqCst);
    fake.behaviour.fail_commits.store(1, Ordering::SeqCst);
    let pushed = quick(&fake.endpoint, 4)
        .push(&package, &RepoId::parse(REPO).expect("repo"), false, "again")
        .await
        .expect("retried through");
    assert_eq!(fake.head(REPO), Some(pushed.revision.clone()));
    assert!(!pushed.created, "the first attempt created the repository");
    assert_eq!(pushed.digest, hash_package(&package).expect("hash").digest);
    let fetched = fetch_as_validator(
        &fake.endpoint,
        &tmp.path().join("cache"),
        &package,
        &pushed.revision,
    )
    .await
    .expect("verifies");
    assert_same_files(&fetched, &package);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_directory_hub_copies_the_package_under_its_content_revision() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let package = tmp.path().join("pkg");
    write_tiny_model(&package, &TinySpec::new(Architecture::Mistral, 6)).expect("model");
    let hub = tmp.path().join("hub");
    let hub_arg = format!("local:{}", s(&hub));
    let out = miner(
        &["push", s(&package), "--repo", REPO, "--hub", &hub_arg],
        "http://unused.invalid",
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let revision = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let digest = hash_package(&package).expect("hash").digest;
    assert_eq!(revision, hex::encode(&digest[..20]));
    let copied = hash_package(&hub.join(REPO).join(&revision)).expect("copied package");
    assert_eq!(copied.digest, digest);

    let out = miner(
        &[
            "push",
            s(&package),
            "--repo",
            REPO,
            "--hub",
            &hub_arg,
            "--private",
        ],
        "http://unused.invalid",
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = miner(
        &["push", s(&package), "--repo", REPO, "--hub", "ftp"],
        "http://unused.invalid",
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("expected `hf` or `local:DIR`"),
        "{}",
        text(&out)
    );
}
