//! The `ModelHub` boundary: where a validator lists and downloads a miner's pinned repository.
//!
//! Two hubs sit behind it. [`HfHub`] speaks the Hugging Face hub's HTTP protocol (listing with
//! sizes from `/api/models/{repo}/revision/{revision}?blobs=true`, files from
//! `/{repo}/resolve/{revision}/{path}`), against huggingface.co or any mirror named like
//! `HF_ENDPOINT`. It is written on reqwest rather than the `hf-hub` crate because a validator
//! downloads untrusted repositories and needs what that crate does not expose: a byte cap
//! enforced while streaming, control over resuming a partial file, a stall timeout instead of a
//! whole-download timeout, and errors that tell the miner's fault from ours. [`LocalHub`] is a
//! plain directory (`{root}/{org}/{name}/{revision_hex}/{files}`) for tests, the demo and
//! air-gapped operators. [`Hubs`] maps the short hub ids that commitments name to hubs, so a
//! miner can only send validators to hosts the operator chose.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::fetch::{HashError, PackageHashes, hash_package};

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
    #[error("{what} `{value}` is not a safe hub name")]
    BadName { what: &'static str, value: String },
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
                | HubError::BadName { .. }
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A source of model repositories pinned at a revision.
#[async_trait]
pub trait ModelHub: Send + Sync + fmt::Debug {
    /// Lists the files of `repo` at `revision` (40 hex digits) with their sizes.
    async fn resolve(&self, repo: &str, revision: &str) -> Result<Vec<HubFile>, HubError>;

    /// Streams `file` into `dest` and returns the file's final length. A partial `dest` left by an
    /// earlier attempt is resumed where the hub allows it; more than `max_bytes` in all is
    /// refused with [`HubError::TooLarge`] as soon as it shows, whatever the hub advertised.
    async fn download(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError>;
}

/// Names that go into URLs and paths: checked here too, since a hub may be called directly.
fn check_repo(repo: &str) -> Result<(), HubError> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match repo.split_once('/') {
        Some((org, name)) if part_ok(org) && part_ok(name) => Ok(()),
        _ => Err(HubError::BadName {
            what: "repository",
            value: repo.chars().take(96).collect(),
        }),
    }
}

fn check_revision(revision: &str) -> Result<(), HubError> {
    if revision.len() == 40 && revision.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(HubError::BadName {
            what: "revision",
            value: revision.chars().take(64).collect(),
        })
    }
}

/// Downloads are only ever asked for top-level package files, so anything with a separator or a
/// leading dot is refused outright.
fn check_file(file: &str) -> Result<(), HubError> {
    let ok = !file.is_empty()
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(HubError::BadName {
            what: "file",
            value: file.chars().take(96).collect(),
        })
    }
}

/// Settings for [`HfHub`].
#[derive(Clone)]
pub struct HfHubConfig {
    /// Base URL without a trailing slash, e.g. `https://huggingface.co` or a mirror.
    pub endpoint: String,
    /// Sent as a bearer token to the endpoint (not to the CDN it redirects to).
    pub token: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request limit for listings and for a download's response headers.
    pub request_timeout: Duration,
    /// Longest wait for the next chunk of a download; a whole-download limit would cut off
    /// multi-gigabyte files on slow but healthy links.
    pub stall_timeout: Duration,
}

impl fmt::Debug for HfHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HfHubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}

/// Far above a real package's listing (a few dozen files), far below what would hurt.
const MAX_LISTING_BYTES: usize = 4 * 1024 * 1024;

pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

impl HfHubConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        let endpoint: String = endpoint.into();
        HfHubConfig {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
        }
    }

    /// The endpoint from `HF_ENDPOINT` and the token from `HF_TOKEN`, as the Hugging Face tools
    /// read them, so an operator's existing mirror setup carries over.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_owned());
        let mut cfg = HfHubConfig::new(endpoint);
        cfg.token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty());
        cfg
    }
}

/// The Hugging Face hub (or a mirror) over HTTP.
#[derive(Debug)]
pub struct HfHub {
    client: reqwest::Client,
    cfg: HfHubConfig,
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<LfsInfo>,
}

#[derive(Deserialize)]
struct LfsInfo {
    size: u64,
}

/// What a download response says about where its body starts.
enum Body {
    /// The whole file from byte 0 (a plain 200, or a Range the hub ignored).
    Whole { length: Option<u64> },
    /// A 206 continuing our partial file.
    Rest { start: u64, total: Option<u64> },
}

impl HfHub {
    pub fn new(cfg: HfHubConfig) -> Result<Self, HubError> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("kindred-validator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| HubError::Transport {
                url: cfg.endpoint.clone(),
                source,
            })?;
        Ok(HfHub { client, cfg })
    }

    pub fn endpoint(&self) -> &str {
        &self.cfg.endpoint
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(url);
        match &self.cfg.token {
            Some(token) => req.header(AUTHORIZATION, format!("Bearer {token}")),
            None => req,
        }
    }

    fn transport(url: &str, source: reqwest::Error, after: Duration) -> HubError {
        if source.is_timeout() {
            HubError::Timeout {
                url: url.to_owned(),
                after,
            }
        } else {
            HubError::Transport {
                url: url.to_owned(),
                source,
            }
        }
    }

    /// Sends with a limit on the time to the response headers.
    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, HubError> {
        let after = self.cfg.request_timeout;
        match tokio::time::timeout(after, req.send()).await {
            Err(_) => Err(HubError::Timeout {
                url: url.to_owned(),
                after,
            }),
            Ok(Err(e)) => Err(Self::transport(url, e, after)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    async fn open_download(
        &self,
        url: &str,
        what: &str,
        have: u64,
    ) -> Result<(reqwest::Response, Body), HubError> {
        let mut req = self.get(url);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let resp = self.send(url, req).await?;
        let status = resp.status();
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let body = match status {
            StatusCode::OK => Body::Whole {
                length: header(CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            },
            StatusCode::PARTIAL_CONTENT => {
                let range = header(CONTENT_RANGE).and_then(parse_content_range);
                match range {
                    Some((start, total)) if start == have => Body::Rest { start, total },
                    _ => {
                        return Err(HubError::Protocol {
                            url: url.to_owned(),
                            detail: format!("asked to resume at byte {have}, got 206 with {range:?}"),
                        });
                    }
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(HubError::Protocol {
                    url: url.to_owned(),
                    detail: format!("range from byte {have} not satisfiable"),
                });
            }
            other => return Err(status_error(url, what, other)),
        };
        Ok((resp, body))
    }
}

/// `bytes 100-199/1000` → (100, Some(1000)); `bytes 100-199/*` → (100, None).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, _end) = span.split_once('-')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.parse().ok()?, total))
}

/// Client errors mean the repository, revision or file is missing or closed to us (the hub
/// answers 401 for private repositories it will not admit exist, 403 for gated ones); a miner
/// must commit something public. Rate limits and server errors are ours to wait out.
fn status_error(url: &str, what: &str, status: StatusCode) -> HubError {
    match status.as_u16() {
        408 | 429 | 500..=599 => HubError::Server {
            url: url.to_owned(),
            status: status.as_u16(),
        },
        400..=499 => HubError::NotFound {
            what: what.to_owned(),
            status: Some(status.as_u16()),
        },
        _ => HubError::Protocol {
            url: url.to_owned(),
            detail: format!("unexpected HTTP {status}"),
        },
    }
}

#[async_trait]
impl ModelHub for HfHub {
    async fn resolve(&self, repo: &str, revision: &str) -> Result<Vec<HubFile>, HubError> {
        check_repo(repo)?;
        check_revision(revision)?;
        let url = format!(
            "{}/api/models/{repo}/revision/{revision}?blobs=true",
            self.cfg.endpoint
        );
        let what = format!("{repo}@{revision}");
        let after = self.cfg.request_timeout;
        let mut resp = self.send(&url, self.get(&url).timeout(after)).await?;
        if !resp.status().is_success() {
            return Err(status_error(&url, &what, resp.status()));
        }
        let bad = |detail: String| HubError::BadListing {
            repo: repo.to_owned(),
            detail,
        };
        let mut body = Vec::new();
        // A repository can hold any number of files; its listing is read only up to a bound.
        while let Some(chunk) = resp.chunk().await.map_err(|e| Self::transport(&url, e, after))? {
            if body.len() + chunk.len() > MAX_LISTING_BYTES {
                return Err(bad(format!("listing is over {MAX_LISTING_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let info: RevisionInfo = serde_json::from_slice(&body).map_err(|e| HubError::Protocol {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        // A full commit id resolves only to itself; anything else means the hub moved us.
        if let Some(sha) = &info.sha
            && sha != revision
        {
            return Err(bad(format!("asked for revision {revision}, got {sha}")));
        }
        info.siblings
            .into_iter()
            .map(|s| {
                // LFS files report their pointer in `size` on some hub versions; the LFS size is
                // the file's real length.
                let size = s
                    .lfs
                    .map(|l| l.size)
                    .or(s.size)
                    .ok_or_else(|| bad(format!("no size for {}", s.rfilename)))?;
                Ok(HubFile {
                    path: s.rfilename,
                    size,
                })
            })
            .collect()
    }

    async fn download(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError> {
        check_repo(repo)?;
        check_revision(revision)?;
        check_file(file)?;
        let url = format!("{}/{repo}/resolve/{revision}/{file}", self.cfg.endpoint);
        let what = format!("{repo}@{revision}/{file}");
        let too_large = || HubError::TooLarge {
            file: file.to_owned(),
            limit: max_bytes,
        };
        let have = match tokio::fs::metadata(dest).await {
            Ok(m) if m.len() <= max_bytes => m.len(),
            Ok(_) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(dest)(e)),
        };
        let opened = match self.open_download(&url, &what, have).await {
            // A partial file as long as the whole one, or a range answer we cannot append to,
            // leaves nothing to resume: start over once.
            Err(HubError::Protocol { .. }) if have > 0 => self.open_download(&url, &what, 0).await,
            other => other,
        };
        let (mut resp, body) = opened?;
        let (start, expected) = match body {
            Body::Whole { length } => (0, length),
            Body::Rest { start, total } => (start, total),
        };
        if expected.is_some_and(|len| len > max_bytes) {
            return Err(too_large());
        }
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(start == 0)
            .append(start > 0)
            .open(dest)
            .await
            .map_err(io_err(dest))?;
        let mut written = start;
        let stall = self.cfg.stall_timeout;
        loop {
            let chunk = match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => {
                    out.flush().await.map_err(io_err(dest))?;
                    return Err(HubError::Timeout { url, after: stall });
                }
                Ok(Err(e)) => {
                    // Keep what arrived so the next attempt resumes after it.
                    out.flush().await.map_err(io_err(dest))?;
                    return Err(Self::transport(&url, e, stall));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            written += chunk.len() as u64;
            if written > max_bytes {
                drop(out);
                // The bytes past the cap are never kept; the partial file is useless too.
                let _ = tokio::fs::remove_file(dest).await;
                return Err(too_large());
            }
            out.write_all(&chunk).await.map_err(io_err(dest))?;
        }
        out.flush().await.map_err(io_err(dest))?;
        Ok(written)
    }
}

/// A repository laid out as `{root}/{org}/{name}/{revision_hex}/{files}` on a local disk.
#[derive(Clone, Debug)]
pub struct LocalHub {
    root: PathBuf,
}

/// What [`LocalHub::publish`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The revision to commit: the first 20 bytes of `digest`, so the same content always gets
    /// the same revision.
    pub revision: [u8; 20],
    /// The package's unsalted content digest.
    pub digest: [u8; 32],
}

impl Published {
    pub fn revision_hex(&self) -> String {
        hex::encode(self.revision)
    }
}

/// Tells concurrent publishers in one process apart.
static PUBLISHING: AtomicU64 = AtomicU64::new(0);

impl LocalHub {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalHub { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn revision_dir(&self, repo: &str, revision: &str) -> Result<PathBuf, HubError> {
        check_repo(repo)?;
        check_revision(revision)?;
        Ok(self.root.join(repo).join(revision))
    }

    /// Copies the package files of `package_dir` (the allow-listed ones; anything else is left
    /// behind) into the hub under `repo`, and returns the revision they got.
    pub fn publish(&self, package_dir: &Path, repo: &str) -> Result<Published, HubError> {
        check_repo(repo)?;
        let PackageHashes { digest, files } =
            hash_package(package_dir).map_err(|HashError { path, source }| HubError::Io { path, source })?;
        let mut revision = [0u8; 20];
        revision.copy_from_slice(&digest[..20]);
        let dir = self.root.join(repo).join(hex::encode(revision));
        if !dir.is_dir() {
            let parent = self.root.join(repo);
            std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            // Copied beside the final name and renamed, so readers never see half a revision.
            let staging = parent.join(format!(
                ".publishing-{}-{}",
                std::process::id(),
                PUBLISHING.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
            for (name, _) in &files {
                let to = staging.join(name);
                std::fs::copy(package_dir.join(name), &to).map_err(io_err(&to))?;
            }
            if let Err(e) = std::fs::rename(&staging, &dir) {
                let _ = std::fs::remove_dir_all(&staging);
                // Someone published the same content meanwhile: same digest, same files.
                if !dir.is_dir() {
                    return Err(io_err(&dir)(e));
                }
            }
        }
        Ok(Published { revision, digest })
    }
}

#[async_trait]
impl ModelHub for LocalHub {
    async fn resolve(&self, repo: &str, revision: &str) -> Result<Vec<HubFile>, HubError> {
        let dir = self.revision_dir(repo, revision)?;
        let listing = tokio::task::spawn_blocking(move || -> Result<Option<Vec<HubFile>>, HubError> {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&dir)(e)),
            };
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(io_err(&dir))?;
                let meta = std::fs::symlink_metadata(entry.path()).map_err(io_err(&entry.path()))?;
                // Only regular files are part of a revision; a link could point anywhere.
                if !meta.file_type().is_file() {
                    continue;
                }
                files.push(HubFile {
                    path: entry.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                });
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(Some(files))
        })
        .await
        .map_err(|e| HubError::Io {
            path: self.root.clone(),
            source: std::io::Error::other(e),
        })??;
        listing.ok_or_else(|| HubError::NotFound {
            what: format!("{repo}@{revision}"),
            status: None,
        })
    }

    async fn download(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError> {
        check_file(file)?;
        let src = self.revision_dir(repo, revision)?.join(file);
        let dest = dest.to_path_buf();
        let what = format!("{repo}@{revision}/{file}");
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || copy_capped(&src, &dest, &what, &file, max_bytes))
            .await
            .map_err(|e| HubError::Io {
                path: self.root.clone(),
                source: std::io::Error::other(e),
            })?
    }
}

/// Copies `src` to `dest`, continuing a partial `dest`, and stops once more than `max_bytes`
/// would be written.
fn copy_capped(src: &Path, dest: &Path, what: &str, file: &str, max_bytes: u64) -> Result<u64, HubError> {
    let meta = match std::fs::symlink_metadata(src) {
        Ok(meta) if meta.file_type().is_file() => meta,
        Ok(_) => {
            return Err(HubError::NotFound {
                what: what.to_owned(),
                status: None,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(HubError::NotFound {
                what: what.to_owned(),
                status: None,
            });
        }
        Err(e) => return Err(io_err(src)(e)),
    };
    let too_large = || HubError::TooLarge {
        file: file.to_owned(),
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let have = match std::fs::metadata(dest) {
        Ok(m) if m.len() <= meta.len() => m.len(),
        Ok(_) => 0,
        Err(_) => 0,
    };
    let mut input = std::fs::File::open(src).map_err(io_err(src))?;
    input.seek(SeekFrom::Start(have)).map_err(io_err(src))?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(have == 0)
        .append(have > 0)
        .open(dest)
        .map_err(io_err(dest))?;
    let mut written = have;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        written += n as u64;
        // The file may grow after the size check; the cap holds on what is actually copied.
        if written > max_bytes {
            drop(out);
            let _ = std::fs::remove_file(dest);
            return Err(too_large());
        }
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
    }
    out.flush().map_err(io_err(dest))?;
    Ok(written)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, Some(1000))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 5-9/10"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }

    #[test]
    fn names_that_reach_urls_and_paths_are_checked() {
        assert!(check_repo("kindred-org/wren-135m").is_ok());
        for bad in ["noslash", "../etc", "a/../b", "a/b/c", "a/.git", "a/b?x=1"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
        assert!(check_revision(&"ab".repeat(20)).is_ok());
        for bad in ["main", "AB".repeat(20).as_str(), "ab"] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
        assert!(check_file("model.safetensors").is_ok());
        for bad in ["", "../x", "a/b", ".env", "x%2f"] {
            assert!(check_file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_split_between_miner_and_infrastructure() {
        let err = |s: u16| status_error("u", "w", StatusCode::from_u16(s).expect("status"));
        for s in [401, 403, 404, 410] {
            assert!(err(s).is_miner_fault(), "{s}");
        }
        for s in [408, 429, 500, 502, 503] {
            assert!(!err(s).is_miner_fault(), "{s}");
        }
    }
}
