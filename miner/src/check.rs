//! `miner check`: the validators' own validation code, with a readable report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use candle_core::Device;
use kindred_scoring::template::Sandbox;
use kindred_scoring::validate::{LoadError, ValidateError};
use kindred_scoring::{Competition, Rejection};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The package directory (Hugging Face layout).
    #[arg(env = "KINDRED_MODEL_DIR")]
    pub dir: PathBuf,
    /// Competition to check against (dev, small, medium).
    #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
    pub competition: Competition,
    /// Print the verdict as one JSON object.
    #[arg(long, env = "KINDRED_JSON")]
    pub json: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let verdict = check(&args.dir, &args.competition, &sandbox()?).context("checking the package")?;
    if args.json {
        println!("{}", serde_json::to_string(&verdict)?);
    } else {
        print!("{}", report(&args.dir, &verdict));
    }
    Ok(if verdict.is_accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The chat-template sandbox: this very binary, re-run with the sandbox argument.
pub fn sandbox() -> anyhow::Result<Sandbox> {
    Sandbox::current_exe().context("locating this binary for the template sandbox")
}

/// Refuses to go on with a package validators would reject: the step before pushing or
/// committing, so a miner never spends a commitment on a package that cannot score.
pub fn require_accepted(dir: &Path, competition: &Competition) -> anyhow::Result<()> {
    let verdict = check(dir, competition, &sandbox()?).context("checking the package")?;
    match verdict {
        Verdict::Accepted { .. } => Ok(()),
        Verdict::Rejected {
            message, rejection, ..
        } => anyhow::bail!(
            "validators would reject this package ({}): {message}",
            rejection.code()
        ),
    }
}

/// What `check` concluded about a package.
#[derive(Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Accepted {
        competition: String,
        architecture: String,
        parameters: u64,
        total_bytes: u64,
        weight_files: Vec<String>,
        tokenizer_tokens: usize,
    },
    Rejected {
        competition: String,
        #[serde(flatten)]
        rejection: Rejection,
        message: String,
    },
}

impl Verdict {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }
}

/// Failures on this machine's side (disk, sandbox, candle): not a verdict on the package.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Validate(ValidateError),
    #[error(transparent)]
    Load(LoadError),
}

/// Validates `dir` for `competition` and, when that passes, loads the weights and checks them,
/// exactly as a validator does before evaluating.
pub fn check(dir: &Path, competition: &Competition, sandbox: &Sandbox) -> Result<Verdict, CheckError> {
    let rejected = |rejection: Rejection| Verdict::Rejected {
        competition: competition.name.clone(),
        message: rejection.to_string(),
        rejection,
    };
    let validated = match kindred_scoring::validate(dir, competition, sandbox) {
        Ok(v) => v,
        Err(ValidateError::Rejected(r)) => return Ok(rejected(r)),
        Err(e) => return Err(CheckError::Validate(e)),
    };
    match kindred_scoring::load(&validated, &Device::Cpu) {
        Ok(_) => {}
        Err(LoadError::Rejected(r)) => return Ok(rejected(r)),
        Err(e) => return Err(CheckError::Load(e)),
    }
    Ok(Verdict::Accepted {
        competition: competition.name.clone(),
        architecture: validated.config.architecture.to_string(),
        parameters: validated.parameters,
        total_bytes: validated.files.total_bytes(),
        weight_files: validated.files.weight_files.clone(),
        tokenizer_tokens: validated.tokenizer.get_vocab_size(true),
    })
}

/// The human report for a verdict.
pub fn report(dir: &Path, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accepted {
            competition,
            architecture,
            parameters,
            total_bytes,
            weight_files,
            tokenizer_tokens,
        } => format!(
            "ACCEPTED {dir} for competition {competition}\n  architecture  {architecture}\n  parameters    {parameters}\n  size          {total_bytes} bytes\n  weights       {}\n  tokenizer     {tokenizer_tokens} tokens\n",
            weight_files.join(", "),
            dir = dir.display(),
        ),
        Verdict::Rejected {
            competition,
            rejection,
            message,
        } => format!(
            "REJECTED {dir} for competition {competition}\n  reason  {}\n  detail  {message}\n",
            rejection.code(),
            dir = dir.display(),
        ),
    }
}
