//! Prometheus metrics of the validator (served at `/metrics` in OpenMetrics text).

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A one-label set, e.g. `route="/leaderboard"` or `outcome="rejected"`.
pub type Label = [(&'static str, &'static str); 1];

/// Label constructors, so names are spelled once.
#[derive(Debug)]
pub struct Route;

impl Route {
    pub fn leaderboard() -> Label {
        [("route", "/leaderboard")]
    }
    pub fn miner() -> Label {
        [("route", "/miners/{hotkey}")]
    }
    pub fn submission() -> Label {
        [("route", "/submissions/{id}")]
    }
}

pub fn outcome(o: &'static str) -> Label {
    [("outcome", o)]
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub api_requests: Family<Label, Counter>,
    /// Submissions leaving the pipeline: scored, rejected, duplicate, near_duplicate,
    /// deferred (our fault).
    pub submissions: Family<Label, Counter>,
    /// Evaluations that panicked and were contained (recorded as the package's failure).
    pub evaluation_panics: Counter,
    pub evaluation_seconds: Histogram,
    pub fetched_bytes: Counter,
    /// Weight rounds: set, committed, revealed, failed, skipped.
    pub weight_rounds: Family<Label, Counter>,
    pub chain_block: Gauge,
    pub sync_errors: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kindred_validator");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            api_requests: Family::default(),
            submissions: Family::default(),
            evaluation_panics: Counter::default(),
            evaluation_seconds: Histogram::new([1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0]),
            fetched_bytes: Counter::default(),
            weight_rounds: Family::default(),
            chain_block: Gauge::default(),
            sync_errors: Counter::default(),
        };
        registry.register(
            "api_requests",
            "HTTP API requests by route",
            m.api_requests.clone(),
        );
        registry.register(
            "submissions",
            "Submissions by pipeline outcome",
            m.submissions.clone(),
        );
        registry.register(
            "evaluation_panics",
            "Evaluations that panicked, contained and recorded as the package's failure",
            m.evaluation_panics.clone(),
        );
        registry.register(
            "evaluation_seconds",
            "Wall time of one model's evaluation",
            m.evaluation_seconds.clone(),
        );
        registry.register(
            "fetched_bytes",
            "Model bytes downloaded from hubs",
            m.fetched_bytes.clone(),
        );
        registry.register(
            "weight_rounds",
            "Weight rounds by outcome",
            m.weight_rounds.clone(),
        );
        registry.register("chain_block", "Last block synced", m.chain_block.clone());
        registry.register(
            "sync_errors",
            "Failed chain syncs (retried)",
            m.sync_errors.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = registry;
        m
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        encode(&mut out, &registry)?;
        Ok(out)
    }
}
