//! `miner`: the Kindred miner operator's command line (see `kindred_miner::cli`).

use std::process::ExitCode;

use clap::Parser;
use kindred_miner::cli::{Cli, run};
use kindred_scoring::template::{SANDBOX_ARG, serve_sandbox};

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
