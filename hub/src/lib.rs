//! Model packages on a hub: where miners publish and validators download.
//!
//! A package is pinned by repository and full commit id; everything here treats the repository
//! as hostile (capped downloads, names checked before they reach a URL or a path, errors that
//! tell the miner's fault from ours) and never lets a transient outage cost a miner.
//!
//! Module map:
//! - [`name`]: [`RepoId`], [`Revision`] and file names, parsed once where they enter.
//! - [`hash`]: a package directory's content identity ([`hash_package`]), as commitments bind it.
//! - [`hf`]: the Hugging Face hub's HTTP protocol, download side ([`HfHub`]).
//! - [`upload`]: the same hub's upload protocol ([`HfUploader`]: create, preupload, LFS, commit,
//!   visibility), sharing the endpoint settings and the retry policy with downloads.
//! - [`local`]: a plain directory as a hub ([`LocalHub`]), for tests, the demo and air-gapped
//!   operators.
//! - [`retry`]: the one backoff policy every hub call goes through.
//! - `fake_hf` (feature `test-utils`): `FakeHfHub`, a test double of the Hugging Face hub.
//!
//! [`ModelHub`] is the boundary the validator fetches through; [`Hubs`] maps the short hub ids
//! that commitments name to hubs, so a miner can only send validators to hosts the operator chose.

pub mod hash;
pub mod hf;
pub mod local;
pub mod name;
pub mod retry;
pub mod upload;

#[cfg(feature = "test-utils")]
pub mod fake_hf;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use hash::{HashError, PackageHashes, hash_package};
pub use hf::{DEFAULT_HF_ENDPOINT, HfHub, HfHubConfig};
pub use local::{LocalHub, Published};
pub use name::{NameError, RepoId, Revision};
pub use retry::{RetryPolicy, Transient};
pub use upload::{HfUploader, HfUploaderConfig, PushError, Pushed, PushedFile};

/// One file of a repository as the hub lists it, before anything is downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFile {
    /// Path inside the repository (`/`-separated for files in folders).
    pub path: String,
    /// Size in bytes as the hub advertises it; downloads are capped at it, not trusted for it.
    pub size: u64,
}

/// Why a hub call failed: the miner's repository (reject it) or the path to it (retry later).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{what} is not on the hub{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    NotFound { what: String, status: Option<u16> },
    #[error("{file} is larger than its {limit}-byte cap")]
    TooLarge { file: String, limit: u64 },
    #[error("listing of {repo} is unusable: {detail}")]
    BadListing { repo: String, detail: String },
    #[error(transparent)]
    BadName(#[from] NameError),
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} stalled for {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url} answered HTTP {status}")]
    Server { url: String, status: u16 },
    #[error("{url} answered something that is not the hub protocol: {detail}")]
    Protocol { url: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    /// True when the repository itself is at fault, so the submission is rejected rather than
    /// retried; everything else (network, hub outages, our disk) must never cost the miner.
    pub fn is_miner_fault(&self) -> bool {
        matches!(
            self,
            HubError::NotFound { .. }
                | HubError::TooLarge { .. }
                | HubError::BadListing { .. }
                | HubError::BadName(_)
        )
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A source of model repositories pinned at a revision.
#[async_trait]
pub trait ModelHub: Send + Sync + fmt::Debug {
    /// Lists the files of `repo` at `revision` with their sizes.
    async fn resolve(&self, repo: &RepoId, revision: &Revision) -> Result<Vec<HubFile>, HubError>;

    /// Streams `file` into `dest` and returns the file's final length. A partial `dest` left by an
    /// earlier attempt is resumed where the hub allows it; more than `max_bytes` in all is
    /// refused with [`HubError::TooLarge`] as soon as it shows, whatever the hub advertised.
    async fn download(
        &self,
        repo: &RepoId,
        revision: &Revision,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError>;
}

impl retry::Transient for HubError {
    /// Infrastructure errors (network, hub outages, our disk) are worth another try; the
    /// miner's are final at once.
    fn is_transient(&self) -> bool {
        !self.is_miner_fault()
    }
}

/// The operator's hubs by the short ids commitments use (`hf`, `local`, ...).
#[derive(Clone, Debug, Default)]
pub struct Hubs {
    by_id: BTreeMap<String, Arc<dyn ModelHub>>,
}

impl Hubs {
    pub fn new() -> Self {
        Hubs::default()
    }

    /// Adds (or replaces) the hub a commitment reaches with `id`.
    pub fn with(mut self, id: impl Into<String>, hub: Arc<dyn ModelHub>) -> Self {
        self.insert(id, hub);
        self
    }

    pub fn insert(&mut self, id: impl Into<String>, hub: Arc<dyn ModelHub>) {
        self.by_id.insert(id.into(), hub);
    }

    pub fn get(&self, id: &str) -> Option<Arc<dyn ModelHub>> {
        self.by_id.get(id).cloned()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }
}
