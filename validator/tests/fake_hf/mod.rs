//! `FakeHfHub`: a test double of the Hugging Face hub's HTTP endpoints, serving repositories from
//! a `{root}/{org}/{name}/{revision_hex}/{files}` directory (the `LocalHub` layout) on
//! 127.0.0.1 with switches to misbehave the ways real hubs and CDNs do: server errors, ignored
//! Range headers, connections dropped mid-file, bodies longer than the listing said.
//!
//! It implements just what `HfHub` uses: `GET /api/models/{org}/{name}/revision/{rev}` (with
//! `?blobs=true` for sizes) and `GET /{org}/{name}/resolve/{rev}/{path}` (with `Range`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use futures::stream;

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
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
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
        let shared = Arc::new(Shared {
            root,
            behaviour: behaviour.clone(),
        });
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/{org}/{name}/resolve/{rev}/{*path}", get(file))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
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
