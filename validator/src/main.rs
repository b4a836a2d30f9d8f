//! `validator`: the Kindred validator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kindred_scoring::template::{SANDBOX_ARG, serve_sandbox};
use kindred_validator::config::Settings;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "validator", version, about = "Kindred validator")]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, env = "KINDRED_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct ServiceArgs {
    /// TOML file with the same settings (flags and environment win).
    #[arg(long, env = "KINDRED_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

impl ServiceArgs {
    fn settings(self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Ok(self.settings.over(file))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the validator until SIGINT or SIGTERM: sync, fetch, evaluate, store, set weights, API.
    Run(ServiceArgs),
    /// Evaluate only, taking submissions from a shared PostgreSQL store (more GPUs or machines).
    Worker(ServiceArgs),
    /// Evaluate one model directory now and print the full score.
    Evaluate {
        /// A model package (Hugging Face layout).
        dir: PathBuf,
        /// Competition whose rules the package must meet.
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
        competition: kindred_scoring::Competition,
        /// Epoch seed as hex (default: a fixed seed, so runs compare).
        #[arg(long, env = "KINDRED_SEED", default_value = "6b696e64726564")]
        seed: String,
        /// Print one JSON object (its `score` field is the total).
        #[arg(long, env = "KINDRED_JSON")]
        json: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Re-run a stored evaluation from the cached package and show whether it reproduces.
    Replay {
        /// Submission id (as the API shows it).
        submission: i64,
        #[command(flatten)]
        settings: Settings,
    },
    /// A whole subnet on this machine: devnet, local hub, miners' models trained on the spot,
    /// this validator and its leaderboard. Nothing to download or configure.
    Demo {
        /// Working directory (emptied first).
        #[arg(long, env = "KINDRED_DEMO_DIR")]
        dir: Option<PathBuf>,
        /// Leaderboard address.
        #[arg(long = "api.addr", env = "KINDRED_API_ADDR", default_value = "127.0.0.1:8080")]
        api_addr: std::net::SocketAddr,
        /// Miners (1-5): Bob, Charlie and Dave (trained for 60, 20 and 6 steps), Eve (a copy
        /// of Bob's model) and Ferdie (a broken upload), in that order.
        #[arg(long, env = "KINDRED_DEMO_MINERS", default_value_t = 5)]
        miners: usize,
        /// Exit once weights are on chain, printing the leaderboard.
        #[arg(long, alias = "exit-after-round", env = "KINDRED_DEMO_ONCE")]
        once: bool,
    },
    /// EQ-Bench v2 reference tools.
    Eqbench {
        #[command(subcommand)]
        command: EqbenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EqbenchCommand {
    /// Score JSONL answers ({"id", "answer"}) exactly as the EQ-Bench v2 reference does.
    Score {
        /// EQ-Bench v2 questions JSON.
        #[arg(long, env = "KINDRED_EQBENCH_QUESTIONS")]
        questions: PathBuf,
        /// JSONL answers.
        #[arg(long, env = "KINDRED_EQBENCH_ANSWERS")]
        answers: PathBuf,
        /// Parse first-pass and revised sections (the reference's revise mode).
        #[arg(long, env = "KINDRED_EQBENCH_REVISE")]
        revise: bool,
    },
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(SANDBOX_ARG) {
        return ExitCode::from(serve_sandbox() as u8);
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let result = match cli.command {
        Command::Run(args) => service(args, true),
        Command::Worker(args) => service(args, false),
        Command::Evaluate {
            dir,
            competition,
            seed,
            json,
            settings,
        } => kindred_validator::replay::evaluate_dir(&settings, &dir, &competition.name, &seed, json)
            .map_err(Into::into),
        Command::Demo {
            dir,
            api_addr,
            miners,
            once,
        } => demo(kindred_validator::demo::DemoOptions {
            dir: dir.unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(".kindred/demo")
            }),
            api: api_addr,
            miners,
            once,
        }),
        Command::Replay { submission, settings } => runtime().and_then(|rt| {
            rt.block_on(kindred_validator::replay::replay(&settings, submission))
                .map_err(Into::into)
        }),
        Command::Eqbench {
            command:
                EqbenchCommand::Score {
                    questions,
                    answers,
                    revise,
                },
        } => kindred_validator::eqbench::score_files(
            &questions,
            &answers,
            revise,
            &mut std::io::stdout().lock(),
        )
        .map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn demo(options: kindred_validator::demo::DemoOptions) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            kindred_chain::shutdown::signal().await;
            on_signal.cancel();
        });
        kindred_validator::demo::run(options, cancel)
            .await
            .context("demo")
    })
}

fn service(args: ServiceArgs, weights: bool) -> anyhow::Result<()> {
    let settings = args.settings()?;
    runtime()?.block_on(async move {
        let validator = kindred_validator::service::build(&settings, weights)
            .await
            .context("starting the validator")?;
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            kindred_chain::shutdown::signal().await;
            tracing::info!("stopping: finishing up");
            on_signal.cancel();
        });
        validator.run(cancel).await.context("validator stopped")
    })
}
