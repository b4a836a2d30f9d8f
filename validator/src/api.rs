//! The leaderboard over HTTP (axum): JSON endpoints, an OpenAPI document, Prometheus metrics and
//! a page that draws the leaderboard and each miner's score history.
//!
//! The leaderboard is rebuilt from the store at most once per [`LEADERBOARD_TTL`] and served from
//! memory in between, so request rate does not depend on the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError, SubmissionRow};

pub const LEADERBOARD_TTL: Duration = Duration::from_millis(500);

/// One miner on the leaderboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeaderRow {
    pub rank: usize,
    pub uid: u16,
    pub hotkey: String,
    /// `repo@revision` of the model the score belongs to.
    pub model: Option<String>,
    pub competition: Option<String>,
    /// Total score of the latest scored submission (it stands until a newer one is scored).
    pub score: Option<f64>,
    pub parts: Option<Parts>,
    /// This validator's last weight on the UID, as a share of the total.
    pub weight: f64,
    /// The chain's incentive for the UID.
    pub incentive: f64,
    /// Status of the newest submission (`queued`, `scored`, `rejected`, `duplicate`,
    /// `near_duplicate`), or `none`.
    pub status: String,
    pub reason: Option<String>,
    pub submission: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parts {
    pub eq_score: f64,
    pub dialogue_bpb: f64,
    pub dialogue_score: f64,
}

#[derive(Debug)]
struct Cached {
    at: Instant,
    body: axum::body::Bytes,
    /// The same JSON gzipped once per rebuild: browsers (and the page's polling) ask for gzip,
    /// and a few hundred miners make ~80 KiB of JSON that compresses about eightfold.
    gzip: axum::body::Bytes,
}

impl Cached {
    fn build(body: Vec<u8>) -> std::io::Result<Cached> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body)?;
        Ok(Cached {
            at: Instant::now(),
            gzip: encoder.finish()?.into(),
            body: body.into(),
        })
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let vary = (header::VARY, "accept-encoding");
        if accepts_gzip(headers) {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                    vary,
                ],
                self.gzip.clone(),
            )
                .into_response()
        } else {
            (
                [(header::CONTENT_TYPE, "application/json"), vary],
                self.body.clone(),
            )
                .into_response()
        }
    }
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[derive(Debug)]
pub struct ApiState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    leaderboard: RwLock<Option<Cached>>,
}

impl ApiState {
    pub fn new(store: Store, metrics: Arc<Metrics>) -> Arc<ApiState> {
        Arc::new(ApiState {
            store,
            metrics,
            leaderboard: RwLock::new(None),
        })
    }
}

/// The leaderboard from the store: every registered UID, best score first.
pub async fn leaderboard(store: &Store) -> Result<Vec<LeaderRow>, StoreError> {
    let neurons = store.neurons().await?;
    let latest = store.latest_per_hotkey().await?;
    let scored = store.scored().await?;
    let weights = store.weight_sets(20).await?;
    let last_weights = weights.iter().find(|w| w.status.is_applied());
    let weight_total: f64 = last_weights
        .map(|w| w.weights.iter().map(|&(_, v)| f64::from(v)).sum())
        .unwrap_or(0.0);
    let mut rows: Vec<LeaderRow> = neurons
        .iter()
        .map(|n| {
            let newest = latest.iter().find(|s| s.hotkey == n.hotkey);
            let best = scored.iter().find(|s| s.hotkey == n.hotkey);
            let weight = last_weights
                .and_then(|w| w.weights.iter().find(|&&(u, _)| u == n.uid))
                .map(|&(_, v)| {
                    if weight_total > 0.0 {
                        f64::from(v) / weight_total
                    } else {
                        0.0
                    }
                })
                .unwrap_or(0.0);
            let part = |k: &str| {
                best.and_then(|b| b.detail.get(k))
                    .and_then(serde_json::Value::as_f64)
            };
            LeaderRow {
                rank: 0,
                uid: n.uid,
                hotkey: n.hotkey.clone(),
                model: best.map(|b| b.model.clone()).or_else(|| {
                    newest.and_then(|s| Some(format!("{}@{}", s.repo.as_ref()?, short(s.revision.as_ref()?))))
                }),
                competition: best
                    .map(|b| b.competition.clone())
                    .or_else(|| newest.and_then(|s| s.competition.clone())),
                score: best.map(|b| b.total),
                parts: best.map(|_| Parts {
                    eq_score: part("eq_score").unwrap_or(0.0),
                    dialogue_bpb: part("dialogue_bpb").unwrap_or(0.0),
                    dialogue_score: part("dialogue_score").unwrap_or(0.0),
                }),
                weight,
                incentive: n.incentive,
                status: newest.map_or("none".to_owned(), |s| s.status.to_string()),
                reason: newest.and_then(|s| s.reason.clone()),
                submission: newest.map(|s| s.id),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.score
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY))
            .then(a.uid.cmp(&b.uid))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(rows)
}

pub fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

async fn get_leaderboard(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .metrics
        .api_requests
        .get_or_create(&crate::metrics::Route::leaderboard())
        .inc();
    if let Some(c) = state.leaderboard.read().await.as_ref()
        && c.at.elapsed() < LEADERBOARD_TTL
    {
        return Ok(c.respond(&headers));
    }
    let mut slot = state.leaderboard.write().await;
    // Another request may have rebuilt it while this one waited for the lock.
    if let Some(c) = slot.as_ref()
        && c.at.elapsed() < LEADERBOARD_TTL
    {
        return Ok(c.respond(&headers));
    }
    let rows = leaderboard(&state.store).await?;
    let internal = |e: &dyn std::fmt::Display| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let json = serde_json::to_vec(&rows).map_err(|e| internal(&e))?;
    let cached = Cached::build(json).map_err(|e| internal(&e))?;
    let response = cached.respond(&headers);
    *slot = Some(cached);
    Ok(response)
}

async fn get_miner(
    State(state): State<Arc<ApiState>>,
    Path(hotkey): Path<String>,
) -> Result<Json<Vec<SubmissionRow>>, ApiError> {
    state
        .metrics
        .api_requests
        .get_or_create(&crate::metrics::Route::miner())
        .inc();
    if hotkey.len() > 64 || !hotkey.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "hotkey must be an SS58 address".into(),
        ));
    }
    let history = state.store.history(&hotkey).await?;
    if history.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no submissions from {hotkey}"),
        ));
    }
    Ok(Json(history))
}

async fn get_submission(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<SubmissionRow>, ApiError> {
    state
        .metrics
        .api_requests
        .get_or_create(&crate::metrics::Route::submission())
        .inc();
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "submission id must be an integer".into()))?;
    state
        .store
        .submission(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no submission {id}")))
}

async fn get_health(State(state): State<Arc<ApiState>>) -> Response {
    match state.store.neurons().await {
        Ok(n) => Json(serde_json::json!({ "status": "ok", "neurons": n.len() })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "database unavailable", "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn get_metrics(State(state): State<Arc<ApiState>>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn get_page() -> Html<&'static str> {
    Html(PAGE)
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(get_page))
        .route("/leaderboard", get(get_leaderboard))
        .route("/miners/{hotkey}", get(get_miner))
        .route("/submissions/{id}", get(get_submission))
        .route("/health", get(get_health))
        .route("/metrics", get(get_metrics))
        .route("/openapi.json", get(get_openapi))
        .with_state(state)
}

/// Serve the API on `listener` until `cancel` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}

/// The OpenAPI 3.1 description of the JSON API. Written by hand (a generator crate would add
/// more compile time than this document has lines); the end-to-end test requests each path it
/// lists.
pub const OPENAPI: &str = include_str!("openapi.json");

const PAGE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT_ENCODING, a.parse().expect("header"));
        }
        h
    }

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        assert!(accepts_gzip(&headers(&["gzip, deflate, br"])));
        assert!(accepts_gzip(&headers(&["br;q=1.0, GZIP;q=0.5"])));
        assert!(accepts_gzip(&headers(&["identity", "*"])));
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&["br, deflate"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=0"])));
    }

    #[tokio::test]
    async fn the_gzipped_leaderboard_is_the_same_json() {
        use std::io::Read;
        let rows: Vec<serde_json::Value> = (0..50)
            .map(|rank| serde_json::json!({"rank": rank, "hotkey": "5F".repeat(24), "score": 0.25}))
            .collect();
        let json = serde_json::to_vec(&rows).expect("json");
        let cached = Cached::build(json.clone()).expect("gzip");
        assert!(
            cached.gzip.len() * 4 < json.len(),
            "{} vs {}",
            cached.gzip.len(),
            json.len()
        );
        let zipped = cached.respond(&headers(&["gzip"]));
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let body = axum::body::to_bytes(zipped.into_body(), usize::MAX)
            .await
            .expect("body");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, json);
        let plain = cached.respond(&headers(&[]));
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let body = axum::body::to_bytes(plain.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(&body[..], &json[..]);
    }
}
