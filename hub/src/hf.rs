//! The Hugging Face hub's HTTP protocol, download side: listings with sizes from
//! `/api/models/{repo}/revision/{revision}?blobs=true`, files from
//! `/{repo}/resolve/{revision}/{path}`, against huggingface.co or any mirror named like
//! `HF_ENDPOINT`.
//!
//! Written on reqwest rather than the `hf-hub` crate because a validator downloads untrusted
//! repositories and needs what that crate does not expose: a byte cap enforced while streaming,
//! control over resuming a partial file, a stall timeout instead of a whole-download timeout, and
//! errors that tell the miner's fault from ours.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::name::{RepoId, Revision, check_file};
use crate::{HubError, HubFile, ModelHub, io_err};

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
    async fn resolve(&self, repo: &RepoId, revision: &Revision) -> Result<Vec<HubFile>, HubError> {
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
            repo: repo.to_string(),
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
            && *sha != revision.to_hex()
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
        repo: &RepoId,
        revision: &Revision,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError> {
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
