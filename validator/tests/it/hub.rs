//! Fetching packages through `HfHub` against the `FakeHfHub` double and through `LocalHub`:
//! verification, the cache, resuming, byte caps, retries, and which failures are the miner's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_hub::fake_hf::FakeHfHub;
use kindred_hub::hash_package;
use kindred_hub::{HfHub, HfHubConfig, HubError, Hubs, LocalHub, Published};
use kindred_scoring::tiny::{TinySpec, write_tiny_model};
use kindred_scoring::{Architecture, Competition};
use kindred_validator::fetch::{FetchConfig, FetchError, Fetched, Fetcher};
use tokio::sync::Semaphore;

const REPO: &str = "kindred-org/wren-tiny";
const ALICE: Hotkey = Hotkey([1; 32]);
const BOB: Hotkey = Hotkey([2; 32]);
const WEIGHTS: &str = "model.safetensors";

/// A hub directory with one tiny model published under [`REPO`], served by the double.
struct Setup {
    _tmp: tempfile::TempDir,
    hub_root: PathBuf,
    cache: PathBuf,
    package: PathBuf,
    published: Published,
    fake: FakeHfHub,
}

impl Setup {
    async fn new() -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let package = tmp.path().join("package");
        write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 7)).expect("tiny model");
        let hub_root = tmp.path().join("hub");
        let published = LocalHub::new(&hub_root)
            .publish(&package, &crate::repo(REPO))
            .expect("publish");
        let fake = FakeHfHub::start(hub_root.clone()).await;
        Setup {
            cache: tmp.path().join("cache"),
            _tmp: tmp,
            hub_root,
            package,
            published,
            fake,
        }
    }

    fn revision_dir(&self) -> PathBuf {
        self.hub_root.join(REPO).join(self.published.revision_hex())
    }

    fn commitment(&self, author: &Hotkey) -> ModelCommitment {
        ModelCommitment {
            competition: "dev".into(),
            hub: "hf".into(),
            repo: REPO.into(),
            revision: self.published.revision,
            hash: salted_hash(&self.published.digest, author),
        }
    }

    fn fetcher(&self) -> Fetcher {
        let mut cfg = HfHubConfig::new(&self.fake.endpoint);
        cfg.token = Some("hf_test_token".into());
        cfg.stall_timeout = Duration::from_secs(2);
        cfg.request_timeout = Duration::from_secs(2);
        let hf = HfHub::new(cfg).expect("client");
        let hubs = Hubs::new()
            .with("hf", Arc::new(hf))
            .with("local", Arc::new(LocalHub::new(&self.hub_root)));
        Fetcher::new(hubs, quick_retries(&self.cache), Arc::new(Semaphore::new(2)))
    }

    fn weights_len(&self) -> u64 {
        std::fs::metadata(self.package.join(WEIGHTS))
            .expect("weights")
            .len()
    }
}

fn quick_retries(cache: &Path) -> FetchConfig {
    let mut cfg = FetchConfig::new(cache);
    cfg.retry.attempts = 3;
    cfg.retry.backoff = Duration::from_millis(10);
    cfg.retry.max_backoff = Duration::from_millis(40);
    cfg
}

fn rejection(result: Result<Fetched, FetchError>) -> &'static str {
    match result {
        Err(e) => {
            assert!(e.is_miner_fault(), "expected a rejection, got {e}");
            e.code().expect("a rejection has a code")
        }
        Ok(f) => panic!("expected a rejection, fetched {}", f.dir.display()),
    }
}

fn assert_same_package(fetched: &Fetched, source: &Path) {
    for file in &fetched.files {
        let got = std::fs::read(fetched.dir.join(&file.name)).expect("fetched file");
        let want = std::fs::read(source.join(&file.name)).expect("source file");
        assert!(got == want, "{} differs from the source", file.name);
    }
}

#[tokio::test]
async fn fetches_a_package_over_the_hf_protocol() {
    let s = Setup::new().await;
    // Files beside the package are listed by the hub but never downloaded.
    std::fs::write(s.revision_dir().join("README.md"), "# wren").expect("readme");
    std::fs::write(s.revision_dir().join("train.py"), "print()").expect("script");

    let fetched = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("fetch");

    assert!(!fetched.from_cache);
    assert_eq!(fetched.digest, s.published.digest);
    assert_eq!(fetched.dir, s.cache.join(hex::encode(s.published.digest)));
    let names: Vec<&str> = fetched.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    assert_eq!(fetched.bytes, fetched.files.iter().map(|f| f.size).sum::<u64>());
    assert_same_package(&fetched, &s.package);
    assert_eq!(hash_package(&fetched.dir).expect("hash").digest, fetched.digest);
    let dev = Competition::dev();
    kindred_scoring::package::scan(&fetched.dir, dev.max_file_bytes, dev.max_total_bytes)
        .expect("the fetched directory is a valid package as it stands");
    assert_eq!((s.fake.listings(), s.fake.downloads()), (1, 5));
    assert_eq!(
        s.fake.behaviour.authorization.lock().expect("lock").as_deref(),
        Some("Bearer hf_test_token")
    );
    assert!(
        !s.cache
            .join("staging/hf")
            .join(REPO)
            .join(s.published.revision_hex())
            .exists()
    );
}

#[tokio::test]
async fn a_cached_revision_is_verified_without_downloading() {
    let s = Setup::new().await;
    let fetcher = s.fetcher();
    let dev = Competition::dev();
    let first = fetcher
        .fetch(&s.commitment(&ALICE), &ALICE, &dev)
        .await
        .expect("fetch");
    let requests = (s.fake.listings(), s.fake.downloads());

    let again = fetcher
        .fetch(&s.commitment(&ALICE), &ALICE, &dev)
        .await
        .expect("cached");
    assert!(again.from_cache);
    assert_eq!(
        (again.dir.clone(), again.digest, again.files.clone()),
        (first.dir, first.digest, first.files)
    );

    // A fresh fetcher over the same cache (a restarted validator) finds it too.
    let restarted = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &dev)
        .await
        .expect("cached");
    assert!(restarted.from_cache);

    // The salted hash is still checked: alice's commitment copied by bob is refused from the cache.
    let copied = fetcher.fetch(&s.commitment(&ALICE), &BOB, &dev).await;
    assert_eq!(rejection(copied), "hash_mismatch");
    assert_eq!(
        (s.fake.listings(), s.fake.downloads()),
        requests,
        "no request after the first fetch"
    );
}

#[tokio::test]
async fn concurrent_fetches_of_one_revision_download_it_once() {
    let s = Setup::new().await;
    let fetcher = s.fetcher();
    let dev = Competition::dev();
    let (c_alice, c_bob) = (s.commitment(&ALICE), s.commitment(&BOB));
    let (a, b) = tokio::join!(
        fetcher.fetch(&c_alice, &ALICE, &dev),
        fetcher.fetch(&c_bob, &BOB, &dev)
    );
    let (a, b) = (a.expect("alice"), b.expect("bob"));
    assert_eq!(
        a.digest, b.digest,
        "identical content is recognised by its digest"
    );
    assert!(
        a.from_cache != b.from_cache,
        "one downloaded, the other waited and used the cache"
    );
    assert_eq!((s.fake.listings(), s.fake.downloads()), (1, 5));
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_a_range_request() {
    let s = Setup::new().await;
    let half = s.weights_len() / 2;
    s.fake
        .behaviour
        .drop_after
        .lock()
        .expect("lock")
        .insert(WEIGHTS.into(), half);

    let fetched = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("fetch after resuming");

    assert_same_package(&fetched, &s.package);
    let starts = s.fake.behaviour.range_starts.lock().expect("lock").clone();
    assert_eq!(starts.len(), 1, "one resumed request: {starts:?}");
    assert!(
        starts[0] > 0 && starts[0] <= half,
        "resumed at {starts:?}, {half} bytes were sent"
    );
    assert_eq!(s.fake.downloads(), 6);
}

#[tokio::test]
async fn a_hub_that_ignores_range_is_downloaded_from_the_start() {
    let s = Setup::new().await;
    s.fake.behaviour.ignore_range.store(true, Ordering::SeqCst);
    let half = s.weights_len() / 2;
    s.fake
        .behaviour
        .drop_after
        .lock()
        .expect("lock")
        .insert(WEIGHTS.into(), half);

    let fetched = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("fetch");
    assert_same_package(&fetched, &s.package);
    assert_eq!(s.fake.behaviour.range_starts.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_body_longer_than_advertised_is_cut_at_the_cap_and_rejected() {
    let s = Setup::new().await;
    // 64 MiB more than listed, streamed without a Content-Length so only the running count
    // can catch it.
    s.fake
        .behaviour
        .inflate
        .lock()
        .expect("lock")
        .insert(WEIGHTS.into(), 64 << 20);

    let started = std::time::Instant::now();
    let result = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await;
    assert_eq!(rejection(result), "body_too_large");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut early, not after 64 MiB"
    );
    assert!(!s.cache.join(hex::encode(s.published.digest)).exists());
    assert!(
        !s.cache
            .join("staging/hf")
            .join(REPO)
            .join(s.published.revision_hex())
            .exists(),
        "a rejected download leaves nothing behind"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let s = Setup::new().await;
    s.fake.behaviour.fail_next.store(2, Ordering::SeqCst);
    let fetched = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("fetch after two 500s");
    assert_same_package(&fetched, &s.package);
    assert_eq!(s.fake.listings(), 3, "the listing was asked for three times");
}

#[tokio::test]
async fn a_hub_that_keeps_failing_is_our_problem_not_the_miners() {
    let s = Setup::new().await;
    s.fake.behaviour.fail_next.store(1000, Ordering::SeqCst);
    let err = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect_err("the hub never answers");
    assert!(!err.is_miner_fault(), "{err}");
    assert!(
        matches!(err, FetchError::Hub(HubError::Server { status: 500, .. })),
        "{err}"
    );
    assert_eq!(s.fake.listings(), 3, "as many tries as configured");

    // Once the hub recovers, the same submission fetches.
    s.fake.behaviour.fail_next.store(0, Ordering::SeqCst);
    s.fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("fetch after recovery");
}

#[tokio::test]
async fn a_commitment_copied_to_another_hotkey_is_rejected() {
    let s = Setup::new().await;
    let result = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &BOB, &Competition::dev())
        .await;
    assert_eq!(rejection(result), "hash_mismatch");
    assert!(!s.cache.join(hex::encode(s.published.digest)).exists());
}

#[tokio::test]
async fn an_oversized_listing_is_refused_before_any_download() {
    let s = Setup::new().await;
    let weights = s.weights_len();
    let mut per_file = Competition::dev();
    per_file.max_file_bytes = weights - 1;
    let result = s.fetcher().fetch(&s.commitment(&ALICE), &ALICE, &per_file).await;
    assert_eq!(rejection(result), "file_too_large");

    let mut total = Competition::dev();
    total.max_total_bytes = weights;
    let result = s.fetcher().fetch(&s.commitment(&ALICE), &ALICE, &total).await;
    assert_eq!(rejection(result), "package_too_large");
    assert_eq!(s.fake.downloads(), 0);
}

#[tokio::test]
async fn repositories_without_safetensors_weights_are_refused() {
    let s = Setup::new().await;
    let fetcher = s.fetcher();
    let revision = [0x5a; 20];
    let dir = s.hub_root.join(REPO).join(hex::encode(revision));
    std::fs::create_dir_all(&dir).expect("dir");
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(s.package.join(name), dir.join(name)).expect("copy");
    }
    let commitment = ModelCommitment {
        revision,
        ..s.commitment(&ALICE)
    };

    let none = fetcher.fetch(&commitment, &ALICE, &Competition::dev()).await;
    assert_eq!(rejection(none), "missing_file");

    std::fs::write(dir.join("pytorch_model.bin"), b"pickle").expect("bin");
    let pickled = fetcher.fetch(&commitment, &ALICE, &Competition::dev()).await;
    assert_eq!(rejection(pickled), "forbidden_weights");
    assert_eq!(s.fake.downloads(), 0);
}

#[tokio::test]
async fn unknown_hubs_and_missing_revisions_are_the_miners_fault() {
    let s = Setup::new().await;
    let fetcher = s.fetcher();
    let elsewhere = ModelCommitment {
        hub: "ipfs".into(),
        ..s.commitment(&ALICE)
    };
    let result = fetcher.fetch(&elsewhere, &ALICE, &Competition::dev()).await;
    assert_eq!(rejection(result), "unknown_hub");

    let missing = ModelCommitment {
        revision: [0xee; 20],
        ..s.commitment(&ALICE)
    };
    let result = fetcher.fetch(&missing, &ALICE, &Competition::dev()).await;
    assert_eq!(rejection(result), "hub_not_found");
    assert_eq!(s.fake.listings(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn local_hub_publish_then_fetch_round_trip() {
    let s = Setup::new().await;
    // Publishing the same content again lands on the same revision.
    let again = LocalHub::new(&s.hub_root)
        .publish(&s.package, &crate::repo(REPO))
        .expect("publish");
    assert_eq!(again, s.published);
    assert_eq!(&s.published.revision[..], &s.published.digest[..20]);

    let local = ModelCommitment {
        hub: "local".into(),
        ..s.commitment(&ALICE)
    };
    let fetched = s
        .fetcher()
        .fetch(&local, &ALICE, &Competition::dev())
        .await
        .expect("fetch");
    assert_eq!(fetched.digest, s.published.digest);
    assert_same_package(&fetched, &s.package);
    assert_eq!(
        (s.fake.listings(), s.fake.downloads()),
        (0, 0),
        "nothing went over HTTP"
    );

    let copied = ModelCommitment {
        hub: "local".into(),
        ..s.commitment(&ALICE)
    };
    let result = s.fetcher().fetch(&copied, &BOB, &Competition::dev()).await;
    assert_eq!(rejection(result), "hash_mismatch");
}

#[tokio::test]
async fn a_fetch_that_failed_midway_resumes_on_the_next_try() {
    let s = Setup::new().await;
    let half = s.weights_len() / 2;
    s.fake
        .behaviour
        .drop_after
        .lock()
        .expect("lock")
        .insert(WEIGHTS.into(), half);
    let hubs = Hubs::new().with(
        "hf",
        Arc::new(HfHub::new(HfHubConfig::new(&s.fake.endpoint)).expect("client")),
    );
    let mut one_try = quick_retries(&s.cache);
    one_try.retry.attempts = 1;
    // One download at a time, so the drop cannot cut another file short as well.
    let impatient = Fetcher::new(hubs, one_try, Arc::new(Semaphore::new(1)));
    let err = impatient
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect_err("the connection drops and there is no second try");
    assert!(!err.is_miner_fault(), "{err}");
    let partial = s
        .cache
        .join("staging/hf")
        .join(REPO)
        .join(s.published.revision_hex())
        .join(WEIGHTS);
    let kept = std::fs::metadata(&partial)
        .expect("the partial file is kept")
        .len();
    assert!(kept > 0 && kept < s.weights_len());

    let fetched = s
        .fetcher()
        .fetch(&s.commitment(&ALICE), &ALICE, &Competition::dev())
        .await
        .expect("the next fetch finishes the file");
    assert_same_package(&fetched, &s.package);
    assert_eq!(*s.fake.behaviour.range_starts.lock().expect("lock"), [kept]);
    // Every file arrived whole once, plus the one cut short: finished files are not fetched again.
    assert_eq!(s.fake.downloads(), 6);
}

#[tokio::test]
async fn identical_content_in_two_repositories_shares_one_cache_entry() {
    let s = Setup::new().await;
    let mirror = "someone-else/wren-copy";
    let again = LocalHub::new(&s.hub_root)
        .publish(&s.package, &crate::repo(mirror))
        .expect("publish");
    assert_eq!(again, s.published);
    let fetcher = s.fetcher();
    let dev = Competition::dev();
    let original = fetcher
        .fetch(&s.commitment(&ALICE), &ALICE, &dev)
        .await
        .expect("original");
    let copy = ModelCommitment {
        repo: mirror.into(),
        ..s.commitment(&BOB)
    };
    let copied = fetcher
        .fetch(&copy, &BOB, &dev)
        .await
        .expect("bob's own commitment of the same bytes");
    assert!(
        !copied.from_cache,
        "another repository is downloaded and verified on its own"
    );
    assert_eq!((copied.dir, copied.digest), (original.dir, original.digest));
}
