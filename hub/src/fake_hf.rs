//! `FakeHfHub`: a test double of the Hugging Face hub's HTTP endpoints, serving repositories from
//! a `{root}/{org}/{name}/{revision_hex}/{files}` directory (the `LocalHub` layout) on
//! 127.0.0.1 with switches to misbehave the ways real hubs and CDNs do: server errors, ignored
//! Range headers, connections dropped mid-file, bodies longer than the listing said.
//!
//! Download side, what `HfHub` uses: `GET /api/models/{org}/{name}/revision/{rev}` (with
//! `?blobs=true` for sizes; `main` names the last pushed commit) and
//! `GET /{org}/{name}/resolve/{rev}/{path}` (with `Range`).
//!
//! Upload side, what the miner's `HfUploader` uses: `POST /api/repos/create`,
//! `POST /api/models/{org}/{name}/preupload/main`, the Git LFS batch API
//! `POST /{org}/{name}.git/info/lfs/objects/batch` whose upload actions point at
//! `PUT /fake-storage/{oid}` (standing in for presigned storage, so it checks no token and
//! refuses one) and verify actions at `POST /fake-storage/verify`, the NDJSON
//! `POST /api/models/{org}/{name}/commit/main` (writing the new revision into the same
//! directory layout, so pushed files can be downloaded back) and
//! `PUT /api/models/{org}/{name}/settings` for visibility. Writes need the bearer token set in
//! [`Behaviour::write_token`]; private repositories are served only with it (401 otherwise,
//! as the real hub hides them). Repositories placed in the directory by hand are public.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use futures::stream;
use sha2::{Digest, Sha256};

/// What the double does and has seen; tests flip the switches between calls.
#[derive(Debug, Default)]
pub struct Behaviour {
    /// Answer this many requests (of any kind) with HTTP 500 first.
    pub fail_next: AtomicU32,
    /// Ignore `Range` and always send the whole file with 200.
    pub ignore_range: AtomicBool,
    /// File name → bytes to send before dropping the connection, once per entry.
    pub drop_after: Mutex<HashMap<String, u64>>,
    /// File name → extra bytes streamed after the real content, without a Content-Length.
    pub inflate: Mutex<HashMap<String, u64>>,
    pub listings: AtomicU32,
    pub downloads: AtomicU32,
    /// The start of every `Range` request received.
    pub range_starts: Mutex<Vec<u64>>,
    /// The last `Authorization` header received.
    pub authorization: Mutex<Option<String>>,

    /// The token writes must carry as `Bearer {token}`; none means every write is refused.
    pub write_token: Mutex<Option<String>>,
    /// Files of at least this many bytes are sent through LFS (besides `*.safetensors`, which
    /// the hub's default `.gitattributes` always routes there). Zero means the real hub's 10 MiB.
    pub lfs_threshold: AtomicU64,
    /// Answer this many storage uploads with HTTP 503 first.
    pub fail_storage_puts: AtomicU32,
    /// Answer this many commits with HTTP 500 first.
    pub fail_commits: AtomicU32,
    pub storage_puts: AtomicU32,
    pub commits: AtomicU32,
    /// Storage uploads that carried an `Authorization` header (a leaked token).
    pub storage_authorizations: AtomicU32,
    /// `org/name` of the private repositories.
    pub private: Mutex<HashSet<String>>,
    /// `org/name` → the last commit on `main`.
    pub heads: Mutex<HashMap<String, String>>,
    /// LFS objects by sha256 oid, as the storage received them.
    pub lfs_objects: Mutex<HashMap<String, Bytes>>,
    /// Upload modes the preupload call answered, by path.
    pub upload_modes: Mutex<BTreeMap<String, String>>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    endpoint: String,
    behaviour: Arc<Behaviour>,
}

/// A running double; the server stops when this is dropped.
#[derive(Debug)]
pub struct FakeHfHub {
    pub endpoint: String,
    pub behaviour: Arc<Behaviour>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHfHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeHfHub {
    pub async fn start(root: PathBuf) -> FakeHfHub {
        let behaviour = Arc::new(Behaviour::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared {
            root,
            endpoint: endpoint.clone(),
            behaviour: behaviour.clone(),
        });
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/{org}/{name}/resolve/{rev}/{*path}", get(file))
            .route("/api/repos/create", post(create_repo))
            .route("/api/models/{org}/{name}/preupload/{rev}", post(preupload))
            .route("/{org}/{name}/info/lfs/objects/batch", post(lfs_batch))
            .route("/fake-storage/verify", post(storage_verify))
            .route("/fake-storage/{oid}", put(storage_put))
            .route("/api/models/{org}/{name}/commit/{rev}", post(commit))
            .route("/api/models/{org}/{name}/settings", put(settings))
            .layer(DefaultBodyLimit::max(256 << 20))
            .with_state(shared);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        FakeHfHub {
            endpoint,
            behaviour,
            server,
        }
    }

    pub fn listings(&self) -> u32 {
        self.behaviour.listings.load(Ordering::SeqCst)
    }

    pub fn downloads(&self) -> u32 {
        self.behaviour.downloads.load(Ordering::SeqCst)
    }

    /// Accept writes carrying `token`.
    pub fn accept_token(&self, token: &str) {
        *self.behaviour.write_token.lock().expect("lock") = Some(token.to_owned());
    }

    pub fn is_private(&self, repo: &str) -> bool {
        self.behaviour.private.lock().expect("lock").contains(repo)
    }

    pub fn head(&self, repo: &str) -> Option<String> {
        self.behaviour.heads.lock().expect("lock").get(repo).cloned()
    }
}

fn failing(b: &Behaviour) -> bool {
    b.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn not_found(code: &'static str) -> Response {
    (StatusCode::NOT_FOUND, [("x-error-code", code)], code).into_response()
}

async fn listing(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let b = &shared.behaviour;
    b.listings.fetch_add(1, Ordering::SeqCst);
    *b.authorization.lock().expect("lock") = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if failing(b) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(hidden) = hidden_if_private(b, &org, &name, &headers) {
        return hidden;
    }
    let rev = resolve_rev(b, &org, &name, rev);
    let dir = shared.root.join(&org).join(&name).join(&rev);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return not_found("RevisionNotFound");
    };
    // Like the real hub, sizes come only with `blobs=true`.
    let blobs = query.get("blobs").is_some_and(|v| v == "true");
    let mut siblings = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let mut sibling = serde_json::json!({ "rfilename": file_name });
        if blobs {
            sibling["size"] = size.into();
            sibling["blobId"] = "0".repeat(40).into();
            if file_name.ends_with(".safetensors") {
                sibling["lfs"] = serde_json::json!({ "size": size, "pointerSize": 134 });
            }
        }
        siblings.push(sibling);
    }
    axum::Json(serde_json::json!({
        "id": format!("{org}/{name}"),
        "sha": rev,
        "siblings": siblings,
    }))
    .into_response()
}

fn range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()
}

async fn file(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let b = &shared.behaviour;
    b.downloads.fetch_add(1, Ordering::SeqCst);
    if failing(b) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(hidden) = hidden_if_private(b, &org, &name, &headers) {
        return hidden;
    }
    let rev = resolve_rev(b, &org, &name, rev);
    let Ok(content) = std::fs::read(shared.root.join(&org).join(&name).join(&rev).join(&path)) else {
        return not_found("EntryNotFound");
    };
    let len = content.len() as u64;
    let mut start = 0;
    if let Some(from) = range_start(&headers) {
        b.range_starts.lock().expect("lock").push(from);
        if !b.ignore_range.load(Ordering::SeqCst) {
            if from >= len {
                return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            }
            start = from;
        }
    }
    let rest = Bytes::from(content).slice(start as usize..);

    if let Some(extra) = b.inflate.lock().expect("lock").get(&path).copied() {
        let padding = stream::iter((0..extra.div_ceil(1 << 16)).map(|_| Ok(Bytes::from(vec![0u8; 1 << 16]))));
        let body = stream::once(async move { Ok::<_, std::io::Error>(rest) }).chain(padding);
        return (StatusCode::OK, Body::from_stream(body)).into_response();
    }

    let cut = b.drop_after.lock().expect("lock").remove(&path);
    let status = if start > 0 {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = if let Some(keep) = cut {
        let sent = rest.slice(..(keep as usize).min(rest.len()));
        // The pause lets the server flush what was sent, as a real connection would have, before
        // the error tears the connection down.
        let body = stream::iter([Ok(sent)]).chain(stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "dropped by the double",
            ))
        }));
        Response::new(Body::from_stream(body))
    } else {
        Response::new(Body::from(rest.clone()))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, (len - start).into());
    h.insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    if start > 0 {
        let range = format!("bytes {start}-{}/{len}", len - 1);
        h.insert(header::CONTENT_RANGE, range.parse().expect("header value"));
    }
    response
}

// ---- upload side ----

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn authorised(b: &Behaviour, headers: &HeaderMap) -> bool {
    let token = b.write_token.lock().expect("lock");
    token.is_some() && bearer(headers) == token.as_deref()
}

/// The real hub answers 401 for a private repository to anyone it will not show it to.
fn hidden_if_private(b: &Behaviour, org: &str, name: &str, headers: &HeaderMap) -> Option<Response> {
    let private = b.private.lock().expect("lock").contains(&format!("{org}/{name}"));
    (private && !authorised(b, headers)).then(|| error(StatusCode::UNAUTHORIZED, "Repository not found"))
}

/// `main` is the last pushed commit; anything else is a commit id.
fn resolve_rev(b: &Behaviour, org: &str, name: &str, rev: String) -> String {
    if rev == "main" {
        b.heads
            .lock()
            .expect("lock")
            .get(&format!("{org}/{name}"))
            .cloned()
            .unwrap_or(rev)
    } else {
        rev
    }
}

fn safe_name(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn unauthorised() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "Invalid credentials in Authorization header",
    )
}

async fn create_repo(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let b = &shared.behaviour;
    if !authorised(b, &headers) {
        return unauthorised();
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let (Some(org), Some(name)) = (req["organization"].as_str(), req["name"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "name and organization are required");
    };
    if !safe_name(org) || !safe_name(name) {
        return error(StatusCode::BAD_REQUEST, "invalid repository name");
    }
    let dir = shared.root.join(org).join(name);
    let repo = format!("{org}/{name}");
    if dir.is_dir() {
        return error(StatusCode::CONFLICT, "You already created this model repo");
    }
    std::fs::create_dir_all(&dir).expect("create repository directory");
    if req["private"].as_bool() == Some(true) {
        b.private.lock().expect("lock").insert(repo.clone());
    }
    axum::Json(serde_json::json!({ "url": format!("{}/{repo}", shared.endpoint) })).into_response()
}

async fn preupload(
    State(shared): State<Arc<Shared>>,
    Path((org, name, _rev)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = &shared.behaviour;
    if !authorised(b, &headers) {
        return unauthorised();
    }
    if !shared.root.join(&org).join(&name).is_dir() {
        return error(StatusCode::NOT_FOUND, "Repository not found");
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let threshold = match b.lfs_threshold.load(Ordering::SeqCst) {
        0 => 10 << 20,
        t => t,
    };
    let mut files = Vec::new();
    for f in req["files"].as_array().into_iter().flatten() {
        let (Some(path), Some(size), Some(sample)) =
            (f["path"].as_str(), f["size"].as_u64(), f["sample"].as_str())
        else {
            return error(StatusCode::BAD_REQUEST, "each file needs path, size and sample");
        };
        // The sample is the file's first 512 bytes (or all of a shorter file).
        match BASE64.decode(sample) {
            Ok(bytes) if bytes.len() as u64 == size.min(512) => {}
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "sample is not the first 512 bytes in base64",
                );
            }
        }
        let mode = if path.ends_with(".safetensors") || size >= threshold {
            "lfs"
        } else {
            "regular"
        };
        b.upload_modes
            .lock()
            .expect("lock")
            .insert(path.to_owned(), mode.to_owned());
        files.push(serde_json::json!({ "path": path, "uploadMode": mode, "shouldIgnore": false }));
    }
    axum::Json(serde_json::json!({ "files": files, "commitOid": null })).into_response()
}

async fn lfs_batch(
    State(shared): State<Arc<Shared>>,
    Path((org, name_git)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = &shared.behaviour;
    let Some(name) = name_git.strip_suffix(".git") else {
        return error(StatusCode::NOT_FOUND, "not a git path");
    };
    if !authorised(b, &headers) {
        return unauthorised();
    }
    if !shared.root.join(&org).join(name).is_dir() {
        return error(StatusCode::NOT_FOUND, "Repository not found");
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    if req["operation"] != "upload"
        || !req["transfers"]
            .as_array()
            .is_some_and(|t| t.contains(&"basic".into()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "only basic uploads are supported by the double",
        );
    }
    let stored = b.lfs_objects.lock().expect("lock");
    let mut objects = Vec::new();
    for o in req["objects"].as_array().into_iter().flatten() {
        let (Some(oid), Some(size)) = (o["oid"].as_str(), o["size"].as_u64()) else {
            return error(StatusCode::BAD_REQUEST, "each object needs oid and size");
        };
        if oid.len() != 64 || !oid.bytes().all(|c| c.is_ascii_hexdigit()) {
            objects.push(serde_json::json!({ "oid": oid, "size": size,
                "error": { "code": 422, "message": "oid is not a sha256" } }));
            continue;
        }
        if stored.contains_key(oid) {
            objects.push(serde_json::json!({ "oid": oid, "size": size }));
            continue;
        }
        objects.push(serde_json::json!({
            "oid": oid,
            "size": size,
            "authenticated": true,
            "actions": {
                "upload": {
                    "href": format!("{}/fake-storage/{oid}", shared.endpoint),
                    "header": { "x-fake-ticket": format!("{oid}:{size}") },
                },
                "verify": {
                    "href": format!("{}/fake-storage/verify", shared.endpoint),
                    "header": { "x-fake-ticket": format!("{oid}:{size}") },
                },
            },
        }));
    }
    (
        [(header::CONTENT_TYPE, "application/vnd.git-lfs+json")],
        serde_json::json!({ "transfer": "basic", "objects": objects, "hash_algo": "sha256" }).to_string(),
    )
        .into_response()
}

async fn storage_put(
    State(shared): State<Arc<Shared>>,
    Path(oid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = &shared.behaviour;
    b.storage_puts.fetch_add(1, Ordering::SeqCst);
    if headers.contains_key(header::AUTHORIZATION) {
        b.storage_authorizations.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::BAD_REQUEST, "storage takes a signed URL, not a token");
    }
    if b.fail_storage_puts
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "slow down");
    }
    let ticket_ok = headers
        .get("x-fake-ticket")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(&format!("{oid}:")));
    if !ticket_ok {
        return error(StatusCode::FORBIDDEN, "upload action headers missing");
    }
    b.lfs_objects.lock().expect("lock").insert(oid, body);
    StatusCode::OK.into_response()
}

/// Checks what the storage holds against the object's sha256 and size, as the hub does.
async fn storage_verify(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let b = &shared.behaviour;
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let (Some(oid), Some(size)) = (req["oid"].as_str(), req["size"].as_u64()) else {
        return error(StatusCode::BAD_REQUEST, "oid and size are required");
    };
    let mut stored = b.lfs_objects.lock().expect("lock");
    let ok = stored
        .get(oid)
        .is_some_and(|bytes| bytes.len() as u64 == size && hex::encode(Sha256::digest(bytes)) == oid);
    if ok {
        StatusCode::OK.into_response()
    } else {
        stored.remove(oid);
        error(StatusCode::UNPROCESSABLE_ENTITY, "object does not match its oid")
    }
}

async fn commit(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = &shared.behaviour;
    if !authorised(b, &headers) {
        return unauthorised();
    }
    if b.fail_commits
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "try again");
    }
    if rev != "main" {
        return error(StatusCode::BAD_REQUEST, "the double commits to main only");
    }
    let repo = format!("{org}/{name}");
    let repo_dir = shared.root.join(&org).join(&name);
    if !repo_dir.is_dir() {
        return error(StatusCode::NOT_FOUND, "Repository not found");
    }
    let parent = b.heads.lock().expect("lock").get(&repo).cloned();
    // The new tree starts as the parent's.
    let mut tree: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(parent) = &parent {
        for entry in std::fs::read_dir(repo_dir.join(parent))
            .expect("parent revision")
            .flatten()
        {
            let content = std::fs::read(entry.path()).expect("parent file");
            tree.insert(entry.file_name().to_string_lossy().into_owned(), content);
        }
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let mut saw_header = false;
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let Ok(op) = serde_json::from_str::<serde_json::Value>(line) else {
            return error(StatusCode::BAD_REQUEST, &format!("line {} is not JSON", i + 1));
        };
        let value = &op["value"];
        let path = value["path"].as_str().unwrap_or_default();
        match (i, op["key"].as_str()) {
            (0, Some("header")) if value["summary"].is_string() => saw_header = true,
            (_, Some("header")) => {
                return error(StatusCode::BAD_REQUEST, "one header, first, with a summary");
            }
            (_, _) if !safe_name(path) => return error(StatusCode::BAD_REQUEST, "bad path"),
            (_, Some("file")) => {
                if value["encoding"] != "base64" {
                    return error(StatusCode::BAD_REQUEST, "file content must be base64");
                }
                let Ok(bytes) = BASE64.decode(value["content"].as_str().unwrap_or_default()) else {
                    return error(StatusCode::BAD_REQUEST, "content is not base64");
                };
                tree.insert(path.to_owned(), bytes);
            }
            (_, Some("lfsFile")) => {
                let oid = value["oid"].as_str().unwrap_or_default();
                let stored = b.lfs_objects.lock().expect("lock").get(oid).cloned();
                match stored {
                    Some(bytes)
                        if value["algo"] == "sha256"
                            && value["size"].as_u64() == Some(bytes.len() as u64)
                            && hex::encode(Sha256::digest(&bytes)) == oid =>
                    {
                        tree.insert(path.to_owned(), bytes.to_vec());
                    }
                    _ => {
                        return error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            &format!("LFS object {oid} for {path} was never uploaded"),
                        );
                    }
                }
            }
            (_, Some("deletedFile")) => {
                if tree.remove(path).is_none() {
                    return error(StatusCode::BAD_REQUEST, &format!("{path} does not exist"));
                }
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown operation on line {}", i + 1),
                );
            }
        }
    }
    if !saw_header {
        return error(StatusCode::BAD_REQUEST, "no header line");
    }
    // A commit id from the parent and the request, like git's (minus the clock).
    let mut h = Sha256::new();
    h.update(parent.as_deref().unwrap_or_default());
    h.update(&body);
    let oid = hex::encode(&h.finalize()[..20]);
    let dir = repo_dir.join(&oid);
    std::fs::create_dir_all(&dir).expect("revision directory");
    for (path, content) in &tree {
        std::fs::write(dir.join(path), content).expect("revision file");
    }
    b.heads.lock().expect("lock").insert(repo.clone(), oid.clone());
    b.commits.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "commitUrl": format!("{}/{repo}/commit/{oid}", shared.endpoint),
        "commitOid": oid,
        "pullRequestUrl": null,
    }))
    .into_response()
}

async fn settings(
    State(shared): State<Arc<Shared>>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = &shared.behaviour;
    if !authorised(b, &headers) {
        return unauthorised();
    }
    if !shared.root.join(&org).join(&name).is_dir() {
        return error(StatusCode::NOT_FOUND, "Repository not found");
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let Some(private) = req["private"].as_bool() else {
        return error(StatusCode::BAD_REQUEST, "private must be a boolean");
    };
    let mut set = b.private.lock().expect("lock");
    if private {
        set.insert(format!("{org}/{name}"));
    } else {
        set.remove(&format!("{org}/{name}"));
    }
    axum::Json(serde_json::json!({ "private": private })).into_response()
}
