//! The evaluate stage: a fetched, hash-verified package → validated → loaded → scored with the
//! epoch seed. Blocking work (candle, the template sandbox), run on a dedicated thread by the
//! service, one model at a time.
//!
//! Every failure is sorted here into the miner's fault (a final rejection with a stable code)
//! or ours (retried later, never held against the miner).

use std::path::Path;

use candle_core::Device;
use kindred_scoring::evaluate::{Suites, evaluate};
use kindred_scoring::template::Sandbox;
use kindred_scoring::validate::{LoadError, ValidateError};
use kindred_scoring::{Competition, Evaluation, ScoringSpec, load, validate};

/// Why an evaluation did not produce a score.
#[derive(Debug, thiserror::Error)]
pub enum EvalFailure {
    /// The package's fault: recorded as the submission's rejection.
    #[error("{code}: {reason}")]
    Miner { code: &'static str, reason: String },
    /// Ours (disk, sandbox, device, suites): the submission is evaluated again later.
    #[error("{0}")]
    Ours(String),
}

impl EvalFailure {
    fn miner(code: &'static str, reason: impl ToString) -> EvalFailure {
        EvalFailure::Miner {
            code,
            reason: reason.to_string(),
        }
    }
}

/// What the evaluate stage needs besides the package: fixed for the life of the service.
#[derive(Debug)]
pub struct Evaluator {
    pub suites: Suites,
    pub spec: ScoringSpec,
    pub sandbox: Sandbox,
    pub device: Device,
}

impl Evaluator {
    /// Validate `dir` in `competition`, load it and score it with `seed`.
    pub fn evaluate(&self, dir: &Path, competition: &str, seed: &[u8]) -> Result<Evaluation, EvalFailure> {
        let competition = Competition::by_name(competition).ok_or_else(|| {
            EvalFailure::miner("unknown_competition", format!("no competition `{competition}`"))
        })?;
        let validated = match validate(dir, &competition, &self.sandbox) {
            Ok(v) => v,
            Err(ValidateError::Rejected(r)) => return Err(EvalFailure::miner(r.code(), &r)),
            Err(e @ (ValidateError::Io(_) | ValidateError::Sandbox(_))) => {
                return Err(EvalFailure::Ours(e.to_string()));
            }
        };
        let model = match load(&validated, &self.device) {
            Ok(m) => m,
            Err(LoadError::Rejected(r)) => return Err(EvalFailure::miner(r.code(), &r)),
            Err(e) => return Err(EvalFailure::Ours(e.to_string())),
        };
        evaluate(&validated, &model, &self.sandbox, &self.suites, &self.spec, seed).map_err(|e| {
            if e.is_miner_fault() {
                EvalFailure::miner("evaluation_failed", &e)
            } else {
                EvalFailure::Ours(e.to_string())
            }
        })
    }
}
