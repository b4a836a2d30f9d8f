//! `miner check`: the validators' own validation code, with a readable report.

use std::path::Path;

use candle_core::Device;
use kindred_scoring::template::Sandbox;
use kindred_scoring::validate::{LoadError, ValidateError};
use kindred_scoring::{Competition, Rejection};
use serde::Serialize;

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
