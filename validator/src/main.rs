//! `validator`: the Kindred validator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kindred_scoring::template::{SANDBOX_ARG, serve_sandbox};

#[derive(Debug, Parser)]
#[command(name = "validator", version, about = "Kindred validator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    let result = match cli.command {
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
