//! `miner import-gguf`: a llama.cpp GGUF file → a Hugging Face package.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kindred_scoring::ModelConfig;
use kindred_scoring::gguf::{self, GgufError};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[arg(env = "KINDRED_GGUF")]
    pub gguf: PathBuf,
    /// Output directory for the package.
    #[arg(env = "KINDRED_OUT_DIR")]
    pub out: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportArgs { gguf, out } = args;
    let cfg = import_gguf(&gguf, &out).with_context(|| format!("converting {}", gguf.display()))?;
    println!(
        "wrote {} ({}, {} layers, hidden {}, vocab {})",
        out.display(),
        cfg.architecture,
        cfg.num_layers,
        cfg.hidden_size,
        cfg.vocab_size
    );
    Ok(ExitCode::SUCCESS)
}

/// Converts with a progress bar on stderr (hidden when stderr is not a terminal).
pub fn import_gguf(gguf_path: &Path, out_dir: &Path) -> Result<ModelConfig, GgufError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} tensors")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("dequantising");
    let cfg = gguf::convert(gguf_path, out_dir, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(cfg)
}
