//! `miner finetune`: train on roleplay dialogues and write a submission package. The training
//! itself is `kindred_scoring::finetune` (the validator's demo trains its miners with it too);
//! this module reads the data, builds the trainer from flags and shows progress.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kindred_scoring::finetune::{self, Corpus, FinetuneSettings, Trainer};
use kindred_scoring::tiny::TinySpec;
use kindred_scoring::{Architecture, Competition};

#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// Training data: Kindred dialogue JSONL, Synthetic-Persona-Chat CSV, or plain text.
    #[arg(long, env = "KINDRED_FINETUNE_DATA")]
    pub data: PathBuf,
    /// Package to start from (Hugging Face layout, e.g. from `miner import-gguf`).
    #[arg(long, env = "KINDRED_FINETUNE_BASE")]
    pub base: Option<PathBuf>,
    /// Competition the base must pass validation for (dev, small, medium).
    #[arg(long, env = "KINDRED_COMPETITION", default_value = "dev")]
    pub competition: Competition,
    /// Optimiser steps.
    #[arg(long, env = "KINDRED_FINETUNE_STEPS", default_value_t = 200)]
    pub steps: usize,
    /// Output directory for the package.
    #[arg(long, env = "KINDRED_FINETUNE_OUT")]
    pub out: PathBuf,
    /// How to read `--data`: dialogues (JSONL) or persona-chat (CSV), with the loss on the
    /// character's replies, or text (all tokens); auto picks persona-chat for `.csv` files.
    #[arg(long, env = "KINDRED_FINETUNE_FORMAT", value_enum, default_value_t = DataFormat::Auto)]
    pub format: DataFormat,
    /// Architecture of the tiny model (from scratch only).
    #[arg(long, env = "KINDRED_FINETUNE_ARCH", value_enum, default_value_t = Arch::Llama, conflicts_with = "base")]
    pub architecture: Arch,
    /// Seed of the initial weights and of the batch sampling.
    #[arg(long, env = "KINDRED_FINETUNE_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Windows per step.
    #[arg(long, env = "KINDRED_FINETUNE_BATCH", default_value_t = 8)]
    pub batch_size: usize,
    /// Tokens per window.
    #[arg(long, env = "KINDRED_FINETUNE_SEQ_LEN", default_value_t = 128)]
    pub seq_len: usize,
    /// AdamW learning rate (constant).
    #[arg(long, env = "KINDRED_FINETUNE_LR", default_value_t = 3e-3)]
    pub learning_rate: f64,
    /// Hidden size of the tiny model (heads of 16 dimensions; from scratch only).
    #[arg(
        long,
        env = "KINDRED_FINETUNE_HIDDEN",
        default_value_t = 64,
        conflicts_with = "base"
    )]
    pub hidden_size: usize,
    /// Decoder layers (from scratch only).
    #[arg(
        long,
        env = "KINDRED_FINETUNE_LAYERS",
        default_value_t = 2,
        conflicts_with = "base"
    )]
    pub layers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataFormat {
    Auto,
    Dialogues,
    PersonaChat,
    Text,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Arch {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
}

impl From<Arch> for Architecture {
    fn from(a: Arch) -> Self {
        match a {
            Arch::Llama => Self::Llama,
            Arch::Mistral => Self::Mistral,
            Arch::Qwen2 => Self::Qwen2,
            Arch::Qwen3 => Self::Qwen3,
        }
    }
}

pub fn run(args: FinetuneArgs) -> anyhow::Result<ExitCode> {
    let FinetuneArgs {
        data,
        base,
        competition,
        steps,
        out,
        format,
        architecture,
        seed,
        batch_size,
        seq_len,
        learning_rate,
        hidden_size,
        layers,
    } = args;
    let text = std::fs::read_to_string(&data).with_context(|| format!("reading {}", data.display()))?;
    let format = match format {
        DataFormat::Auto if data.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => {
            DataFormat::PersonaChat
        }
        DataFormat::Auto => DataFormat::Dialogues,
        other => other,
    };
    let corpus = match format {
        DataFormat::Dialogues | DataFormat::Auto => Corpus::dialogues_from_jsonl(&text)
            .with_context(|| format!("parsing {} as dialogue JSONL", data.display()))?,
        DataFormat::PersonaChat => {
            let (dialogues, skipped) = kindred_scoring::suites::persona_chat(&text)
                .with_context(|| format!("parsing {} as Synthetic-Persona-Chat CSV", data.display()))?;
            tracing::info!(dialogues = dialogues.len(), skipped, "read persona-chat rows");
            Corpus::Dialogues(dialogues)
        }
        DataFormat::Text => Corpus::Text(text),
    };
    let settings = FinetuneSettings {
        steps,
        batch_size,
        seq_len,
        learning_rate,
        seed,
        ..FinetuneSettings::default()
    };
    let trainer = match &base {
        Some(base) => {
            let validated =
                kindred_scoring::validate::validate(base, &competition, &crate::check::sandbox()?)
                    .with_context(|| {
                        format!(
                            "the base {} is not a valid {} package",
                            base.display(),
                            competition.name
                        )
                    })?;
            Trainer::from_package(&validated, &corpus, &settings)
                .with_context(|| format!("starting from {}", base.display()))?
        }
        None => Trainer::from_scratch(
            &tiny_spec(architecture, seed, hidden_size, layers)?,
            &corpus,
            &settings,
        )
        .context("setting up training")?,
    };
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("training [{bar:40}] {pos}/{len} steps {msg} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = finetune::train(trainer, steps, &out, &mut |step, loss| {
        bar.set_position(step as u64);
        bar.set_message(format!("loss {loss:.3}"));
        // The bar is hidden without a terminal; the log still shows the loss.
        if step == 1 || step.is_multiple_of(10) || step == steps {
            tracing::info!(step, loss, "training");
        }
    })
    .context("training")?;
    bar.finish_and_clear();
    println!(
        "wrote {} ({} parameters, {} steps on {} tokens of which {} learnt; loss {} → {})",
        out.display(),
        report.parameters,
        report.steps,
        report.corpus_tokens,
        report.learnt_tokens,
        report.first_loss.map_or("-".into(), |l| format!("{l:.3}")),
        report.last_loss.map_or("-".into(), |l| format!("{l:.3}")),
    );
    Ok(ExitCode::SUCCESS)
}

/// The tiny model `miner finetune` trains from scratch.
fn tiny_spec(architecture: Arch, seed: u64, hidden_size: usize, layers: usize) -> anyhow::Result<TinySpec> {
    anyhow::ensure!(
        hidden_size >= 16 && hidden_size.is_multiple_of(16),
        "--hidden-size must be a positive multiple of 16"
    );
    let mut spec = TinySpec::new(architecture.into(), seed);
    spec.hidden_size = hidden_size;
    spec.intermediate_size = 2 * hidden_size;
    spec.num_heads = hidden_size / 16;
    // Grouped-query attention where the head count allows it, as the small models have.
    spec.num_kv_heads = if spec.num_heads.is_multiple_of(2) {
        spec.num_heads / 2
    } else {
        spec.num_heads
    };
    spec.num_layers = layers;
    Ok(spec)
}
