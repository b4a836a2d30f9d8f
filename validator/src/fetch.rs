//! From a commitment and its author's hotkey to a verified package directory on local disk.
//!
//! The steps, in the order that keeps a hostile repository cheap: list the pinned revision; keep
//! only allow-listed package files (anything else is never downloaded); refuse a listing whose
//! advertised sizes break the competition's limits; download each file capped at its advertised
//! size, retrying only infrastructure errors and resuming partial files; hash every file and
//! check `salted_hash(content_digest, hotkey)` against the commitment; then move the package
//! into a cache keyed by its unsalted digest.
//!
//! Cache layout under [`FetchConfig::cache_dir`]:
//! - `{digest_hex}/`: a verified package, nothing but its files (so `scoring::package::scan`
//!   accepts it as is);
//! - `revisions/{hub}/{org}/{name}/{revision_hex}.json`: what a pinned revision turned out to
//!   hold (digest, file names, sizes, hashes), so a revision is downloaded once however many
//!   hotkeys commit it;
//! - `staging/{hub}/{org}/{name}/{revision_hex}/`: downloads in progress; left in place after an
//!   infrastructure failure so the next attempt resumes, removed after a rejection.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, content_digest, salted_hash};
use kindred_scoring::Competition;
use kindred_scoring::package::{
    CONFIG, SHARD_INDEX, SINGLE_WEIGHTS, TOKENIZER, TOKENIZER_CONFIG, is_package_file, is_shard_name,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use kindred_hub::hash::sha256_file;
use kindred_hub::{HashError, HubError, HubFile, ModelHub, RepoId, RetryPolicy, Revision};

/// Weight formats a miner may have pushed instead of safetensors; named in the rejection so the
/// miner knows to convert rather than wonder why nothing was found.
const FOREIGN_WEIGHTS: [&str; 9] = [
    ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".h5", ".msgpack", ".pkl",
];

/// Why a fetch failed: the miner's submission (record it, never retry) or our side (retry later,
/// never score).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("rejected ({code}): {reason}")]
    Rejected { code: &'static str, reason: String },
    /// Only infrastructure errors: miner-fault hub errors become `Rejected`.
    #[error(transparent)]
    Hub(HubError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    pub fn is_miner_fault(&self) -> bool {
        matches!(self, FetchError::Rejected { .. })
    }

    /// The stable rejection code, for a miner-fault error.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            FetchError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    fn rejected(code: &'static str, reason: impl Into<String>) -> Self {
        FetchError::Rejected {
            code,
            reason: reason.into(),
        }
    }
}

impl From<HubError> for FetchError {
    fn from(e: HubError) -> Self {
        let code = match &e {
            HubError::NotFound { .. } => "hub_not_found",
            HubError::TooLarge { .. } => "body_too_large",
            HubError::BadListing { .. } => "bad_listing",
            HubError::BadName(_) => "bad_hub_name",
            _ => return FetchError::Hub(e),
        };
        FetchError::rejected(code, e.to_string())
    }
}

impl From<HashError> for FetchError {
    fn from(HashError { path, source }: HashError) -> Self {
        FetchError::Io { path, source }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One verified file of a fetched package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedFile {
    pub name: String,
    pub size: u64,
    #[serde(with = "hex_bytes")]
    pub sha256: [u8; 32],
}

/// A verified package ready for evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// `{cache}/{digest_hex}`: the package files and nothing else.
    pub dir: PathBuf,
    /// The unsalted content digest; equal digests mean identical content.
    pub digest: [u8; 32],
    /// Sorted by name.
    pub files: Vec<FetchedFile>,
    pub bytes: u64,
    /// True when nothing was downloaded because the revision was already verified.
    pub from_cache: bool,
}

/// What a pinned revision was found to hold, kept beside the cache.
#[derive(Serialize, Deserialize)]
struct RevisionRecord {
    #[serde(with = "hex_bytes")]
    digest: [u8; 32],
    files: Vec<FetchedFile>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// A commitment with its hub names parsed.
#[derive(Clone, Copy)]
struct Pinned<'a> {
    c: &'a ModelCommitment,
    repo: &'a RepoId,
    revision: &'a Revision,
}

/// Settings for a [`Fetcher`].
#[derive(Clone, Debug)]
pub struct FetchConfig {
    pub cache_dir: PathBuf,
    /// How hub calls (the listing, each file) are retried after an infrastructure error.
    pub retry: RetryPolicy,
}

impl FetchConfig {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        FetchConfig {
            cache_dir: cache_dir.into(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Fetches and verifies packages; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Fetcher {
    hubs: kindred_hub::Hubs,
    cfg: FetchConfig,
    /// One permit per file download in flight, shared with every other fetch that holds it.
    downloads: Arc<Semaphore>,
    /// One fetch at a time per pinned revision, so two hotkeys committing the same revision do
    /// not download it twice or trip over one staging directory.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Fetcher {
    pub fn new(hubs: kindred_hub::Hubs, cfg: FetchConfig, downloads: Arc<Semaphore>) -> Self {
        Fetcher {
            hubs,
            cfg,
            downloads,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cfg.cache_dir
    }

    /// Fetches the package `commitment` names and checks it was committed by `hotkey`, within
    /// `competition`'s byte limits.
    pub async fn fetch(
        &self,
        commitment: &ModelCommitment,
        hotkey: &Hotkey,
        competition: &Competition,
    ) -> Result<Fetched, FetchError> {
        let Some(hub) = self.hubs.get(&commitment.hub) else {
            let known: Vec<&str> = self.hubs.ids().collect();
            return Err(FetchError::rejected(
                "unknown_hub",
                format!(
                    "hub `{}` is not one this validator uses (it uses: {})",
                    commitment.hub,
                    known.join(", ")
                ),
            ));
        };
        let key = format!(
            "{}/{}/{}",
            commitment.hub,
            commitment.repo,
            commitment.revision_hex()
        );
        // The commitment's names reach URLs and our disk: parsed once, here.
        let repo = RepoId::parse(&commitment.repo).map_err(HubError::from)?;
        let revision = Revision(commitment.revision);
        let lock = self.revision_lock(&key);
        let result = {
            let _held = lock.lock().await;
            let pinned = Pinned {
                c: commitment,
                repo: &repo,
                revision: &revision,
            };
            self.fetch_locked(hub.as_ref(), &pinned, hotkey, competition)
                .await
        };
        self.release_lock(&key, lock);
        result
    }

    fn revision_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    fn release_lock(&self, key: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // Two references left (the map's and ours) means no other fetch waits on this revision.
        if Arc::strong_count(&lock) == 2 {
            map.remove(key);
        }
    }

    fn record_path(&self, c: &ModelCommitment) -> PathBuf {
        self.cfg
            .cache_dir
            .join("revisions")
            .join(&c.hub)
            .join(&c.repo)
            .join(format!("{}.json", c.revision_hex()))
    }

    fn staging_dir(&self, c: &ModelCommitment) -> PathBuf {
        self.cfg
            .cache_dir
            .join("staging")
            .join(&c.hub)
            .join(&c.repo)
            .join(c.revision_hex())
    }

    fn package_dir(&self, digest: &[u8; 32]) -> PathBuf {
        self.cfg.cache_dir.join(hex::encode(digest))
    }

    async fn fetch_locked(
        &self,
        hub: &dyn ModelHub,
        pinned: &Pinned<'_>,
        hotkey: &Hotkey,
        competition: &Competition,
    ) -> Result<Fetched, FetchError> {
        let Pinned { c, repo, revision } = *pinned;
        if let Some(record) = self.cached(c).await {
            check_author(c, hotkey, &record.digest)?;
            return Ok(self.fetched(record, true));
        }

        let listing = self
            .retrying(&format!("listing {repo}@{revision}"), || {
                hub.resolve(repo, revision)
            })
            .await?;
        let wanted = plan(&c.repo, &listing, competition)?;

        let staging = self.staging_dir(c);
        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(io_err(&staging))?;
        let downloaded = futures::future::try_join_all(
            wanted
                .iter()
                .map(|file| self.download_file(hub, pinned, file, &staging)),
        )
        .await;
        if let Err(e) = downloaded {
            if e.is_miner_fault() {
                discard(&staging).await;
            }
            return Err(e);
        }

        let record = match verify(&staging, &wanted).await? {
            record if salted_hash(&record.digest, hotkey) == c.hash => record,
            record => {
                discard(&staging).await;
                return Err(mismatch(c, hotkey, &record.digest));
            }
        };
        self.install(c, &staging, &record).await?;
        Ok(self.fetched(record, false))
    }

    fn fetched(&self, record: RevisionRecord, from_cache: bool) -> Fetched {
        Fetched {
            dir: self.package_dir(&record.digest),
            digest: record.digest,
            bytes: record.files.iter().map(|f| f.size).sum(),
            files: record.files,
            from_cache,
        }
    }

    /// The record of an earlier verified fetch of this revision, if its package is still intact
    /// in the cache; anything odd means fetching afresh.
    async fn cached(&self, c: &ModelCommitment) -> Option<RevisionRecord> {
        let text = tokio::fs::read(self.record_path(c)).await.ok()?;
        let record: RevisionRecord = serde_json::from_slice(&text).ok()?;
        let dir = self.package_dir(&record.digest);
        for file in &record.files {
            let meta = tokio::fs::metadata(dir.join(&file.name)).await.ok()?;
            if meta.len() != file.size {
                return None;
            }
        }
        Some(record)
    }

    async fn download_file(
        &self,
        hub: &dyn ModelHub,
        pinned: &Pinned<'_>,
        file: &HubFile,
        staging: &Path,
    ) -> Result<(), FetchError> {
        let dest = staging.join(&file.path);
        // A file finished by an earlier, interrupted fetch is not asked for again; the hash check
        // below still covers it.
        if let Ok(meta) = tokio::fs::metadata(&dest).await
            && meta.len() == file.size
        {
            return Ok(());
        }
        let Pinned { repo, revision, .. } = *pinned;
        let what = format!("{repo}@{revision}/{}", file.path);
        let got = self
            .retrying(&what, || async {
                let _permit = self.downloads.acquire().await.map_err(|_| HubError::Io {
                    path: dest.clone(),
                    source: std::io::Error::other("download limiter closed"),
                })?;
                hub.download(repo, revision, &file.path, &dest, file.size).await
            })
            .await?;
        if got != file.size {
            return Err(FetchError::rejected(
                "size_mismatch",
                format!(
                    "{} was listed at {} bytes but {got} arrived",
                    file.path, file.size
                ),
            ));
        }
        Ok(())
    }

    /// Runs a hub call through the retry policy: infrastructure errors are tried again,
    /// miner-fault errors are final at once.
    async fn retrying<T, F, Fut>(&self, what: &str, call: F) -> Result<T, HubError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, HubError>>,
    {
        self.cfg.retry.run(what, call).await.map_err(|(e, _)| e)
    }

    /// Moves a verified staging directory into the cache and records the revision.
    async fn install(
        &self,
        c: &ModelCommitment,
        staging: &Path,
        record: &RevisionRecord,
    ) -> Result<(), FetchError> {
        let dir = self.package_dir(&record.digest);
        if let Err(e) = tokio::fs::rename(staging, &dir).await {
            // The same content came from another revision or repository, earlier or just now.
            if tokio::fs::metadata(&dir).await.is_err() {
                return Err(io_err(&dir)(e));
            }
            discard(staging).await;
        }
        let path = self.record_path(c);
        let parent = path.parent().unwrap_or(&self.cfg.cache_dir);
        tokio::fs::create_dir_all(parent).await.map_err(io_err(parent))?;
        let text = serde_json::to_vec_pretty(record).map_err(|e| FetchError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        // Written aside and renamed, so a crash never leaves a record a later fetch would trust.
        let tmp = path.with_extension("json.tmp");
        tokio::fs::write(&tmp, text).await.map_err(io_err(&tmp))?;
        tokio::fs::rename(&tmp, &path).await.map_err(io_err(&path))?;
        Ok(())
    }
}

async fn discard(dir: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a staging directory");
    }
}

fn mismatch(c: &ModelCommitment, hotkey: &Hotkey, digest: &[u8; 32]) -> FetchError {
    FetchError::rejected(
        "hash_mismatch",
        format!(
            "{}@{} hashes to {} for hotkey {hotkey}, the commitment says {}",
            c.repo,
            c.revision_hex(),
            hex::encode(salted_hash(digest, hotkey)),
            c.hash_hex()
        ),
    )
}

fn check_author(c: &ModelCommitment, hotkey: &Hotkey, digest: &[u8; 32]) -> Result<(), FetchError> {
    if salted_hash(digest, hotkey) == c.hash {
        Ok(())
    } else {
        Err(mismatch(c, hotkey, digest))
    }
}

/// Hashes the downloaded files (off the async threads: gigabytes of sha256).
async fn verify(staging: &Path, wanted: &[HubFile]) -> Result<RevisionRecord, FetchError> {
    let staging = staging.to_path_buf();
    let wanted: Vec<HubFile> = wanted.to_vec();
    let joined = tokio::task::spawn_blocking(move || -> Result<RevisionRecord, HashError> {
        let mut files = Vec::with_capacity(wanted.len());
        for file in &wanted {
            files.push(FetchedFile {
                name: file.path.clone(),
                size: file.size,
                sha256: sha256_file(&staging.join(&file.path))?,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let pairs: Vec<(String, [u8; 32])> = files.iter().map(|f| (f.name.clone(), f.sha256)).collect();
        Ok(RevisionRecord {
            digest: content_digest(&pairs),
            files,
        })
    })
    .await;
    match joined {
        Ok(record) => Ok(record?),
        Err(e) => Err(FetchError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        }),
    }
}

/// Picks the files to download from a listing and refuses, before any download, a listing that
/// cannot be a package or breaks the competition's byte limits. The full package rules run on the
/// fetched directory later; these are the ones that save a download.
fn plan(repo: &str, listing: &[HubFile], competition: &Competition) -> Result<Vec<HubFile>, FetchError> {
    let mut seen = BTreeSet::new();
    if let Some(dup) = listing.iter().find(|f| !seen.insert(f.path.as_str())) {
        return Err(FetchError::rejected(
            "bad_listing",
            format!("{repo} lists {} twice", dup.path),
        ));
    }
    let wanted: Vec<HubFile> = listing
        .iter()
        .filter(|f| is_package_file(&f.path))
        .cloned()
        .collect();
    let has = |name: &str| wanted.iter().any(|f| f.path == name);
    for required in [CONFIG, TOKENIZER, TOKENIZER_CONFIG] {
        if !has(required) {
            return Err(FetchError::rejected(
                "missing_file",
                format!("{repo} has no {required}"),
            ));
        }
    }
    let shards = wanted.iter().any(|f| is_shard_name(&f.path));
    match (has(SINGLE_WEIGHTS), has(SHARD_INDEX) && shards) {
        (true, false) if !shards => {}
        (false, true) => {}
        (true, _) => {
            return Err(FetchError::rejected(
                "bad_shard_index",
                format!("{repo} has both {SINGLE_WEIGHTS} and shards"),
            ));
        }
        (false, false) => {
            let foreign: Vec<&str> = listing
                .iter()
                .map(|f| f.path.as_str())
                .filter(|p| FOREIGN_WEIGHTS.iter().any(|ext| p.ends_with(ext)))
                .collect();
            return Err(if foreign.is_empty() {
                FetchError::rejected(
                    "missing_file",
                    format!("{repo} has no {SINGLE_WEIGHTS} (nor {SHARD_INDEX} with shards)"),
                )
            } else {
                FetchError::rejected(
                    "forbidden_weights",
                    format!(
                        "{repo} holds weights only as {} ; only safetensors are evaluated",
                        foreign.join(", ")
                    ),
                )
            });
        }
    }
    if let Some(big) = wanted.iter().find(|f| f.size > competition.max_file_bytes) {
        return Err(FetchError::rejected(
            "file_too_large",
            format!(
                "{} is {} bytes; {} allows {} per file",
                big.path, big.size, competition.name, competition.max_file_bytes
            ),
        ));
    }
    let total: u64 = wanted.iter().map(|f| f.size).sum();
    if total > competition.max_total_bytes {
        return Err(FetchError::rejected(
            "package_too_large",
            format!(
                "the package is {total} bytes; {} allows {}",
                competition.name, competition.max_total_bytes
            ),
        ));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> HubFile {
        HubFile {
            path: path.into(),
            size,
        }
    }

    fn base() -> Vec<HubFile> {
        vec![
            file(CONFIG, 10),
            file(TOKENIZER, 10),
            file(TOKENIZER_CONFIG, 10),
            file("README.md", 10),
            file(".gitattributes", 10),
            file("train.py", 10),
            file("nested/config.json", 10),
        ]
    }

    fn code(listing: &[HubFile]) -> Option<&'static str> {
        plan("o/n", listing, &Competition::dev())
            .err()
            .and_then(|e| e.code())
    }

    #[test]
    fn only_package_files_are_planned() {
        let mut listing = base();
        listing.push(file(SINGLE_WEIGHTS, 100));
        let names: Vec<String> = plan("o/n", &listing, &Competition::dev())
            .expect("a package")
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(names, [CONFIG, TOKENIZER, TOKENIZER_CONFIG, SINGLE_WEIGHTS]);
    }

    #[test]
    fn listings_that_cannot_be_packages_are_refused() {
        assert_eq!(code(&base()), Some("missing_file"));
        let mut pickled = base();
        pickled.push(file("pytorch_model.bin", 100));
        assert_eq!(code(&pickled), Some("forbidden_weights"));
        let mut no_config: Vec<HubFile> = base().into_iter().filter(|f| f.path != CONFIG).collect();
        no_config.push(file(SINGLE_WEIGHTS, 100));
        assert_eq!(code(&no_config), Some("missing_file"));
        let mut both = base();
        both.push(file(SINGLE_WEIGHTS, 100));
        both.push(file(SHARD_INDEX, 100));
        both.push(file("model-00001-of-00001.safetensors", 100));
        assert_eq!(code(&both), Some("bad_shard_index"));
        let mut dup = base();
        dup.push(file(CONFIG, 10));
        assert_eq!(code(&dup), Some("bad_listing"));
        let mut sharded = base();
        sharded.push(file(SHARD_INDEX, 100));
        sharded.push(file("model-00001-of-00001.safetensors", 100));
        assert_eq!(code(&sharded), None);
    }

    #[test]
    fn advertised_sizes_are_checked_against_the_competition() {
        let dev = Competition::dev();
        let mut big = base();
        big.push(file(SINGLE_WEIGHTS, dev.max_file_bytes + 1));
        assert_eq!(code(&big), Some("file_too_large"));
        let mut total = base();
        total.push(file(SHARD_INDEX, 100));
        total.push(file("model-00001-of-00002.safetensors", dev.max_file_bytes));
        total.push(file("model-00002-of-00002.safetensors", dev.max_file_bytes));
        assert_eq!(code(&total), Some("package_too_large"));
    }
}
