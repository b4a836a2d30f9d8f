//! Publishing a package to the Hugging Face hub over its HTTP API, the way validators will read
//! it back: only the package files, byte for byte, pinned at the commit the hub returns.
//!
//! The hub's upload protocol, step by step:
//! 1. `POST /api/repos/create` (`{"name", "organization", "private"}`); 409 means it exists.
//! 2. `POST /api/models/{repo}/preupload/main` with each file's path, size and first 512 bytes
//!    (base64); the hub answers each file's `uploadMode`: `regular` (inline in the commit) or
//!    `lfs` (stored by content hash beside the repository).
//! 3. For LFS files, the Git LFS batch API `POST /{repo}.git/info/lfs/objects/batch` with each
//!    file's sha256 `oid` and size; objects the hub lacks come back with an `upload` action (a
//!    URL, usually presigned storage, to `PUT` the bytes to) and a `verify` action (`POST`
//!    `{oid, size}` once stored).
//! 4. `POST /api/models/{repo}/commit/main` with an NDJSON body: a `header` line (summary), a
//!    `file` line per regular file (base64 content), an `lfsFile` line per LFS file (sha256 oid
//!    and size) and a `deletedFile` line per package file of the previous head that this package
//!    does not have (a stale shard would make validators reject the revision). The answer's
//!    `commitOid` is the revision to commit on chain.
//! 5. `PUT /api/models/{repo}/settings` (`{"private": bool}`) flips visibility, so a repository
//!    can stay private until the commitment that pins it is on chain.
//!
//! Only the `basic` LFS transfer (one `PUT` per file) is spoken, which storage caps at 5 GB a
//! file; larger files need the `multipart` transfer, not implemented (shard the weights instead).
//!
//! The token goes only to the endpoint's own origin and never with the bytes of an LFS upload,
//! whose action carries its own credentials. Transient failures (connection errors, HTTP 408/429/5xx) are retried with backoff;
//! anything else is a typed error naming the step.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kindred_scoring::package::is_package_file;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::hash::{HashError, hash_package};
use crate::name::{NameError, RepoId, Revision};
use crate::retry::{RetryPolicy, Transient};
use crate::{DEFAULT_HF_ENDPOINT, HfHub, HfHubConfig, HubError, ModelHub};

/// The hub's preupload check reads at most this many leading bytes of each file.
const SAMPLE_BYTES: usize = 512;
/// The hub answers preupload for at most this many files per call.
const PREUPLOAD_CHUNK: usize = 256;
/// Error bodies are read only this far, for the message.
const MAX_ERROR_BODY: usize = 4096;
const LFS_JSON: &str = "application/vnd.git-lfs+json";

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no Hugging Face token: set HF_TOKEN to a token with write access")]
    NoToken,
    #[error(transparent)]
    BadName(#[from] NameError),
    #[error("{url}: the hub refused the token (HTTP {status}): {message}")]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered HTTP {status} {attempts} times: {message}")]
    Server {
        url: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered something that is not the hub protocol: {detail}")]
    Protocol { url: String, detail: String },
    #[error("the hub refused to store {path}: {message} (LFS error {code})")]
    Lfs {
        path: String,
        code: i64,
        message: String,
    },
    #[error("{path} changed while it was being uploaded; push again")]
    Changed { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Package(#[from] HashError),
    #[error("{dir} holds no package files")]
    EmptyPackage { dir: PathBuf },
    #[error("revision {revision} does not hold exactly the pushed package: {detail}")]
    Mismatch { revision: String, detail: String },
    #[error("reading back revision {revision}: {source}")]
    ReadBack {
        revision: String,
        #[source]
        source: HubError,
    },
}

impl Transient for PushError {
    /// Worth another try: the request may not have reached the hub, or the hub was overloaded.
    fn is_transient(&self) -> bool {
        match self {
            PushError::Server { .. } => true,
            PushError::Transport { source, .. } => !source.is_builder() && !source.is_redirect(),
            _ => false,
        }
    }
}

/// Settings for [`HfUploader`].
#[derive(Clone)]
pub struct HfUploaderConfig {
    /// Base URL without a trailing slash.
    pub endpoint: String,
    pub token: Option<String>,
    /// The same backoff policy as downloads.
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Limit on API calls; uploads of weights have none, since they may take hours.
    pub request_timeout: Duration,
}

impl fmt::Debug for HfUploaderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HfUploaderConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl HfUploaderConfig {
    pub fn new(endpoint: impl Into<String>, token: Option<String>) -> Self {
        let endpoint: String = endpoint.into();
        HfUploaderConfig {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }

    /// `HF_ENDPOINT` and `HF_TOKEN`, as the Hugging Face tools and the validator read them.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        HfUploaderConfig::new(
            var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_owned()),
            var("HF_TOKEN"),
        )
    }
}

/// One pushed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedFile {
    pub name: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Stored through LFS (else inline in the commit).
    pub lfs: bool,
    /// The hub already had these bytes, so nothing was uploaded.
    pub deduplicated: bool,
}

/// What [`HfUploader::push`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The commit id (40 lowercase hex digits) to put in the on-chain commitment.
    pub revision: String,
    /// The package's unsalted content digest, as validators will compute it.
    pub digest: [u8; 32],
    pub files: Vec<PushedFile>,
    /// Package files of the previous head that the commit removed.
    pub deleted: Vec<String>,
    /// False when the repository existed before this push.
    pub created: bool,
}

/// An uploading client of the Hugging Face hub (or a mirror speaking its API).
#[derive(Debug)]
pub struct HfUploader {
    client: reqwest::Client,
    cfg: HfUploaderConfig,
}

#[derive(Deserialize)]
struct PreuploadAnswer {
    files: Vec<PreuploadFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreuploadFile {
    path: String,
    upload_mode: String,
    #[serde(default)]
    should_ignore: bool,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    objects: Vec<BatchObject>,
}

#[derive(Deserialize)]
struct BatchObject {
    oid: String,
    #[serde(default)]
    actions: Option<BatchActions>,
    #[serde(default)]
    error: Option<BatchObjectError>,
}

#[derive(Deserialize)]
struct BatchActions {
    upload: Option<Action>,
    verify: Option<Action>,
}

#[derive(Deserialize)]
struct Action {
    href: String,
    #[serde(default)]
    header: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct BatchObjectError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitAnswer {
    commit_oid: String,
}

#[derive(Deserialize)]
struct HeadListing {
    #[serde(default)]
    siblings: Vec<HeadSibling>,
}

#[derive(Deserialize)]
struct HeadSibling {
    rfilename: String,
}

/// A package file about to be pushed.
struct Local {
    name: String,
    path: PathBuf,
    size: u64,
    sha256: [u8; 32],
}

/// The server's error message: the `error` field of a JSON body, else the text.
async fn error_message(resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut resp = resp;
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(text)
        .trim()
        .chars()
        .take(300)
        .collect()
}

impl HfUploader {
    pub fn new(cfg: HfUploaderConfig) -> Result<Self, PushError> {
        if cfg.token.is_none() {
            return Err(PushError::NoToken);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("kindred-miner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| PushError::Transport {
                url: cfg.endpoint.clone(),
                source,
            })?;
        Ok(HfUploader { client, cfg })
    }

    pub fn endpoint(&self) -> &str {
        &self.cfg.endpoint
    }

    /// Adds the bearer token when `url` is on the endpoint's own origin.
    fn authorised(&self, url: &str, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin());
        match &self.cfg.token {
            Some(token) if origin(url).is_some() && origin(url) == origin(&self.cfg.endpoint) => {
                req.header(AUTHORIZATION, format!("Bearer {token}"))
            }
            _ => req,
        }
    }

    /// Sends one request; non-success statuses become typed errors (5xx/408/429 transient).
    async fn send(&self, url: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, PushError> {
        let resp = req.send().await.map_err(|source| PushError::Transport {
            url: url.to_owned(),
            source,
        })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let message = error_message(resp).await;
        let url = url.to_owned();
        Err(match status {
            401 | 403 => PushError::Unauthorized { url, status, message },
            408 | 429 | 500..=599 => PushError::Server {
                url,
                status,
                attempts: 1,
                message,
            },
            _ => PushError::Refused { url, status, message },
        })
    }

    /// Runs `op` through the hub's retry policy; a server error that outlasted it says how many
    /// times it was tried.
    async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> Result<T, PushError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PushError>>,
    {
        self.cfg
            .retry
            .run(what, op)
            .await
            .map_err(|(e, attempts)| match e {
                PushError::Server {
                    url, status, message, ..
                } => PushError::Server {
                    url,
                    status,
                    attempts,
                    message,
                },
                other => other,
            })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        url: &str,
        resp: reqwest::Response,
    ) -> Result<T, PushError> {
        let bytes = resp.bytes().await.map_err(|source| PushError::Transport {
            url: url.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| PushError::Protocol {
            url: url.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Creates `repo` (a model repository) unless it exists; true when it was created. An
    /// existing repository keeps its visibility.
    pub async fn create_repo(&self, repo: &RepoId, private: bool) -> Result<bool, PushError> {
        let (org, name) = (repo.org(), repo.name());
        let url = format!("{}/api/repos/create", self.cfg.endpoint);
        let body = json!({ "name": name, "organization": org, "private": private });
        let result = self
            .retrying("creating the repository", || {
                let req = self.authorised(&url, self.client.post(&url).json(&body));
                self.send(&url, req.timeout(self.cfg.request_timeout))
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(PushError::Refused { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes `repo` private or public.
    pub async fn set_private(&self, repo: &RepoId, private: bool) -> Result<(), PushError> {
        let url = format!("{}/api/models/{repo}/settings", self.cfg.endpoint);
        let body = json!({ "private": private });
        self.retrying("changing visibility", || {
            let req = self.authorised(&url, self.client.put(&url).json(&body));
            self.send(&url, req.timeout(self.cfg.request_timeout))
        })
        .await?;
        Ok(())
    }

    /// The package files at the head of `main` (empty for a repository without commits).
    async fn head_package_files(&self, repo: &RepoId) -> Result<Vec<String>, PushError> {
        let url = format!("{}/api/models/{repo}/revision/main", self.cfg.endpoint);
        let result = self
            .retrying("listing the current head", || {
                let req = self.authorised(&url, self.client.get(&url));
                self.send(&url, req.timeout(self.cfg.request_timeout))
            })
            .await;
        let resp = match result {
            Ok(resp) => resp,
            // A new repository has no `main` yet.
            Err(PushError::Refused { status: 404, .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let listing: HeadListing = Self::json(&url, resp).await?;
        Ok(listing
            .siblings
            .into_iter()
            .map(|s| s.rfilename)
            .filter(|n| is_package_file(n))
            .collect())
    }

    /// Each file's upload mode as the hub decides it; true means LFS.
    async fn preupload(&self, repo: &RepoId, files: &[Local]) -> Result<Vec<bool>, PushError> {
        let url = format!("{}/api/models/{repo}/preupload/main", self.cfg.endpoint);
        let mut modes = Vec::with_capacity(files.len());
        for chunk in files.chunks(PREUPLOAD_CHUNK) {
            let mut entries = Vec::with_capacity(chunk.len());
            for f in chunk {
                let mut sample = vec![0u8; SAMPLE_BYTES];
                let mut file = tokio::fs::File::open(&f.path)
                    .await
                    .map_err(|source| PushError::Io {
                        path: f.path.clone(),
                        source,
                    })?;
                let mut got = 0;
                while got < SAMPLE_BYTES {
                    let n = file
                        .read(&mut sample[got..])
                        .await
                        .map_err(|source| PushError::Io {
                            path: f.path.clone(),
                            source,
                        })?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                sample.truncate(got);
                entries.push(json!({ "path": f.name, "size": f.size, "sample": BASE64.encode(&sample) }));
            }
            let body = json!({ "files": entries });
            let resp = self
                .retrying("asking for upload modes", || {
                    let req = self.authorised(&url, self.client.post(&url).json(&body));
                    self.send(&url, req.timeout(self.cfg.request_timeout))
                })
                .await?;
            let answer: PreuploadAnswer = Self::json(&url, resp).await?;
            for f in chunk {
                let Some(mode) = answer.files.iter().find(|a| a.path == f.name) else {
                    return Err(PushError::Protocol {
                        url: url.clone(),
                        detail: format!("no upload mode for {}", f.name),
                    });
                };
                if mode.should_ignore {
                    return Err(PushError::Refused {
                        url: url.clone(),
                        status: 200,
                        message: format!(
                            "the repository's ignore rules would leave out {}; remove them",
                            f.name
                        ),
                    });
                }
                modes.push(match mode.upload_mode.as_str() {
                    "lfs" => true,
                    "regular" => false,
                    other => {
                        return Err(PushError::Protocol {
                            url: url.clone(),
                            detail: format!("upload mode `{other}` for {}", f.name),
                        });
                    }
                });
            }
        }
        Ok(modes)
    }

    /// Stores the LFS files the hub does not have yet; returns, per file, whether it was
    /// already there.
    async fn upload_lfs(&self, repo: &RepoId, files: &[&Local]) -> Result<Vec<bool>, PushError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}/{repo}.git/info/lfs/objects/batch", self.cfg.endpoint);
        let objects: Vec<_> = files
            .iter()
            .map(|f| json!({ "oid": hex::encode(f.sha256), "size": f.size }))
            .collect();
        let body = json!({
            "operation": "upload",
            "transfers": ["basic"],
            "objects": objects,
            "hash_algo": "sha256",
        });
        let resp = self
            .retrying("negotiating LFS uploads", || {
                let req = self.authorised(
                    &url,
                    self.client
                        .post(&url)
                        .header(ACCEPT, LFS_JSON)
                        .header(CONTENT_TYPE, LFS_JSON)
                        .body(body.to_string()),
                );
                self.send(&url, req.timeout(self.cfg.request_timeout))
            })
            .await?;
        let answer: BatchAnswer = Self::json(&url, resp).await?;
        let mut present = Vec::with_capacity(files.len());
        for f in files {
            let oid = hex::encode(f.sha256);
            let Some(object) = answer.objects.iter().find(|o| o.oid == oid) else {
                return Err(PushError::Protocol {
                    url: url.clone(),
                    detail: format!("no answer for {} ({oid})", f.name),
                });
            };
            if let Some(err) = &object.error {
                return Err(PushError::Lfs {
                    path: f.name.clone(),
                    code: err.code,
                    message: err.message.clone(),
                });
            }
            let Some(upload) = object.actions.as_ref().and_then(|a| a.upload.as_ref()) else {
                // No upload action: the hub has these bytes already.
                present.push(true);
                continue;
            };
            self.retrying(&format!("uploading {}", f.name), || self.put_object(f, upload))
                .await?;
            if let Some(verify) = object.actions.as_ref().and_then(|a| a.verify.as_ref()) {
                let vbody = json!({ "oid": oid, "size": f.size });
                self.retrying(&format!("verifying {}", f.name), || {
                    let req = self.client.post(&verify.href).json(&vbody);
                    let req = self.authorised(&verify.href, with_headers(req, &verify.header));
                    self.send(&verify.href, req.timeout(self.cfg.request_timeout))
                })
                .await?;
            }
            tracing::info!(file = %f.name, bytes = f.size, "stored through LFS");
            present.push(false);
        }
        Ok(present)
    }

    /// Streams `f` from disk to an upload action, hashing what is sent so a file changed since
    /// it was hashed is caught before the hub commits it.
    async fn put_object(&self, f: &Local, upload: &Action) -> Result<(), PushError> {
        let file = tokio::fs::File::open(&f.path)
            .await
            .map_err(|source| PushError::Io {
                path: f.path.clone(),
                source,
            })?;
        let hasher = std::sync::Arc::new(std::sync::Mutex::new((Sha256::new(), 0u64)));
        let seen = hasher.clone();
        let stream = futures::stream::unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        });
        let stream = futures::StreamExt::map(stream, move |chunk| {
            if let Ok(bytes) = &chunk
                && let Ok(mut h) = seen.lock()
            {
                h.0.update(bytes);
                h.1 += bytes.len() as u64;
            }
            chunk
        });
        let req = self
            .client
            .put(&upload.href)
            .header(reqwest::header::CONTENT_LENGTH, f.size)
            .body(reqwest::Body::wrap_stream(stream));
        // Never the token: an upload action carries its own credentials (a signed URL or its
        // headers), and storage may be a third party even when it shares the hub's host.
        self.send(&upload.href, with_headers(req, &upload.header)).await?;
        let (sent_hash, sent_len) = {
            let h = hasher
                .lock()
                .map_err(|_| PushError::Changed { path: f.path.clone() })?;
            (h.0.clone().finalize(), h.1)
        };
        if sent_len != f.size || sent_hash.as_slice() != f.sha256 {
            return Err(PushError::Changed { path: f.path.clone() });
        }
        Ok(())
    }

    /// Pushes the package files of `dir` to `repo` (created if missing, `private` then) as one
    /// commit on `main`, and checks the new revision lists exactly those files.
    pub async fn push(
        &self,
        dir: &Path,
        repo: &RepoId,
        private: bool,
        summary: &str,
    ) -> Result<Pushed, PushError> {
        let hashes = hash_package(dir)?;
        if hashes.files.is_empty() {
            return Err(PushError::EmptyPackage { dir: dir.to_owned() });
        }
        let mut files = Vec::with_capacity(hashes.files.len());
        for (name, sha256) in &hashes.files {
            let path = dir.join(name);
            let size = std::fs::metadata(&path)
                .map_err(|source| PushError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
            files.push(Local {
                name: name.clone(),
                path,
                size,
                sha256: *sha256,
            });
        }
        let created = self.create_repo(repo, private).await?;
        let stale: Vec<String> = self
            .head_package_files(repo)
            .await?
            .into_iter()
            .filter(|n| !files.iter().any(|f| &f.name == n))
            .collect();
        let modes = self.preupload(repo, &files).await?;
        let lfs: Vec<&Local> = files
            .iter()
            .zip(&modes)
            .filter(|(_, l)| **l)
            .map(|(f, _)| f)
            .collect();
        let present = self.upload_lfs(repo, &lfs).await?;

        let mut ndjson = String::new();
        let mut line = |v: serde_json::Value| {
            ndjson.push_str(&v.to_string());
            ndjson.push('\n');
        };
        line(json!({ "key": "header", "value": { "summary": summary, "description": "" } }));
        let mut pushed = Vec::with_capacity(files.len());
        for (f, is_lfs) in files.iter().zip(&modes) {
            if *is_lfs {
                line(json!({ "key": "lfsFile", "value": {
                    "path": f.name, "algo": "sha256", "oid": hex::encode(f.sha256), "size": f.size,
                }}));
            } else {
                let bytes = std::fs::read(&f.path).map_err(|source| PushError::Io {
                    path: f.path.clone(),
                    source,
                })?;
                if Sha256::digest(&bytes).as_slice() != f.sha256 {
                    return Err(PushError::Changed { path: f.path.clone() });
                }
                line(json!({ "key": "file", "value": {
                    "path": f.name, "content": BASE64.encode(&bytes), "encoding": "base64",
                }}));
            }
            let deduplicated = lfs
                .iter()
                .position(|l| l.name == f.name)
                .is_some_and(|i| present[i]);
            pushed.push(PushedFile {
                name: f.name.clone(),
                size: f.size,
                sha256: f.sha256,
                lfs: *is_lfs,
                deduplicated,
            });
        }
        for name in &stale {
            line(json!({ "key": "deletedFile", "value": { "path": name } }));
        }
        let url = format!("{}/api/models/{repo}/commit/main", self.cfg.endpoint);
        let resp = self
            .retrying("committing", || {
                let req = self.authorised(
                    &url,
                    self.client
                        .post(&url)
                        .header(CONTENT_TYPE, "application/x-ndjson")
                        .body(ndjson.clone()),
                );
                self.send(&url, req.timeout(self.cfg.request_timeout))
            })
            .await?;
        let answer: CommitAnswer = Self::json(&url, resp).await?;
        let revision = Revision::parse(&answer.commit_oid).map_err(|_| PushError::Protocol {
            url,
            detail: format!("commit id `{}` is not 40 lowercase hex digits", answer.commit_oid),
        })?;
        self.read_back(repo, &revision, &pushed).await?;
        Ok(Pushed {
            revision: revision.to_hex(),
            digest: hashes.digest,
            files: pushed,
            deleted: stale,
            created,
        })
    }

    /// Lists the new revision the way validators will and compares it with what was pushed.
    async fn read_back(
        &self,
        repo: &RepoId,
        revision: &Revision,
        pushed: &[PushedFile],
    ) -> Result<(), PushError> {
        let mut cfg = HfHubConfig::new(&self.cfg.endpoint);
        cfg.token = self.cfg.token.clone();
        cfg.request_timeout = self.cfg.request_timeout;
        let hub = HfHub::new(cfg).map_err(|source| PushError::ReadBack {
            revision: revision.to_hex(),
            source,
        })?;
        let listed = hub
            .resolve(repo, revision)
            .await
            .map_err(|source| PushError::ReadBack {
                revision: revision.to_hex(),
                source,
            })?;
        let mut got: Vec<(String, u64)> = listed
            .into_iter()
            .filter(|f| is_package_file(&f.path))
            .map(|f| (f.path, f.size))
            .collect();
        got.sort();
        let mut want: Vec<(String, u64)> = pushed.iter().map(|f| (f.name.clone(), f.size)).collect();
        want.sort();
        if got != want {
            return Err(PushError::Mismatch {
                revision: revision.to_hex(),
                detail: format!("listed {got:?}, pushed {want:?}"),
            });
        }
        Ok(())
    }
}

/// Adds an action's headers; ones that are not valid HTTP are skipped (the hub would then
/// refuse the request, naming the problem).
fn with_headers(
    req: reqwest::RequestBuilder,
    headers: &std::collections::BTreeMap<String, String>,
) -> reqwest::RequestBuilder {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            map.insert(k, v);
        }
    }
    req.headers(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let cfg = HfUploaderConfig::new("https://hub.example", Some("hf_secret".into()));
        assert!(!format!("{cfg:?}").contains("hf_secret"));
    }

    #[test]
    fn no_token_is_a_typed_error() {
        let err = HfUploader::new(HfUploaderConfig::new("https://hub.example", None));
        assert!(matches!(err, Err(PushError::NoToken)));
    }
}
