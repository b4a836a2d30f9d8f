//! `miner`: the Kindred miner operator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kindred_miner::{check, import};
use kindred_scoring::Competition;
use kindred_scoring::template::{SANDBOX_ARG, Sandbox, serve_sandbox};

#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    about = "Kindred miner: check, convert and submit roleplay models"
)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "KINDRED_LOG", default_value = "warn", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a model package exactly as validators will (exit 0 accepted, 1 rejected).
    Check {
        /// The package directory (Hugging Face layout).
        #[arg(env = "KINDRED_MODEL_DIR")]
        dir: PathBuf,
        /// Competition to check against (dev, small, medium).
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
        competition: String,
        /// Print the verdict as one JSON object.
        #[arg(long, env = "KINDRED_JSON")]
        json: bool,
    },
    /// Convert a llama.cpp GGUF file (Llama/Qwen2/Qwen3) into a Hugging Face package.
    ImportGguf {
        #[arg(env = "KINDRED_GGUF")]
        gguf: PathBuf,
        /// Output directory for the package.
        #[arg(env = "KINDRED_OUT_DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    // The chat-template sandbox re-executes this binary; it must not parse flags or log.
    if std::env::args().nth(1).as_deref() == Some(SANDBOX_ARG) {
        return ExitCode::from(serve_sandbox() as u8);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check {
            dir,
            competition,
            json,
        } => {
            let comp = Competition::by_name(&competition)
                .with_context(|| format!("unknown competition {competition:?} (dev, small, medium)"))?;
            let sandbox = Sandbox::current_exe().context("locating this binary for the template sandbox")?;
            let verdict = check::check(&dir, &comp, &sandbox).context("checking the package")?;
            if json {
                println!("{}", serde_json::to_string(&verdict)?);
            } else {
                print!("{}", check::report(&dir, &verdict));
            }
            Ok(if verdict.is_accepted() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::ImportGguf { gguf, out } => {
            let cfg =
                import::import_gguf(&gguf, &out).with_context(|| format!("converting {}", gguf.display()))?;
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
    }
}
