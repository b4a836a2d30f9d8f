//! The `miner` command line: flags (each with an environment variable) and the dispatch to one
//! module per command. Names that have rules (competitions, hub repositories, revisions) are
//! parsed here, once, by clap.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{check, commit, evaluate, finetune, import, push, status};

#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    about = "Kindred miner: check, convert, train, push and submit roleplay models"
)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "KINDRED_LOG", default_value = "warn", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a model package exactly as validators will (exit 0 accepted, 1 rejected).
    Check(check::CheckArgs),
    /// Convert a llama.cpp GGUF file (Llama/Qwen2/Qwen3) into a Hugging Face package.
    ImportGguf(import::ImportArgs),
    /// Publish a package and print the revision to commit (40 hex digits, alone on stdout).
    ///
    /// `--hub hf` speaks the Hugging Face hub's HTTP upload API at `HF_ENDPOINT` (default
    /// https://huggingface.co) with the write token from `HF_TOKEN`: it creates the repository
    /// if needed, uploads weights through LFS, commits exactly the package files (removing stale
    /// ones) and reads the revision back as validators will. `--hub local:DIR` copies into a
    /// directory hub (what `validator --hub ID=local:DIR` serves). With `--private` a new
    /// repository stays hidden until `miner publish` after the commitment is on chain.
    #[command(alias = "upload")]
    Push(push::PushArgs),
    /// Make a private Hugging Face repository public (after `miner commit`).
    ///
    /// Validators cannot download a private repository, so publish once the commitment that
    /// pins it is on chain. Token from `HF_TOKEN`, endpoint from `HF_ENDPOINT`.
    Publish(push::PublishArgs),
    /// Commit a published package on chain for your hotkey (checks the package first).
    Commit(commit::CommitArgs),
    /// Show a hotkey's standing on chain and with validators.
    ///
    /// The chain part: UID, stake, incentive, the commitment and whether validators can parse
    /// it. The validator part, for each `--validator-url`: the leaderboard row (rank, score,
    /// weight) and every submission with its status and rejection reason. Exits 1 when a
    /// validator could not be read.
    Status(status::StatusArgs),
    /// Score a package locally exactly as validators do (bundled suites, the current spec).
    #[command(alias = "eval")]
    Evaluate(evaluate::EvaluateArgs),
    /// Train a model on roleplay dialogues and write a submission package.
    ///
    /// With `--base DIR`, every weight of that package is fine-tuned (it must pass validation
    /// for `--competition`; its tokenizer, config, chat template and dtype are kept); without,
    /// a tiny model is trained from scratch (for the dev competition). The loss shows on a
    /// progress bar, and in the log (`--log info`) when there is no terminal.
    Finetune(finetune::FinetuneArgs),
}

/// Runs one command; the exit code says accepted/rejected where a command has a verdict.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check::run(args),
        Command::ImportGguf(args) => import::run(args),
        Command::Push(args) => push::run_push(args),
        Command::Publish(args) => push::run_publish(args),
        Command::Commit(args) => commit::run(args),
        Command::Status(args) => status::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Finetune(args) => finetune::run(args),
    }
}
