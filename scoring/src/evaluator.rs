//! A package directory → validated → loaded → scored with an epoch seed: the one path both the
//! validator's evaluate stage and `miner evaluate` take, so a miner sees exactly the validators'
//! verdict. Blocking work (candle, the template sandbox); the validator runs it on a dedicated
//! thread, one model at a time.
//!
//! Every failure is sorted here into the miner's fault (a final rejection with a stable code)
//! or ours (retried later, never held against the miner).

use std::path::Path;

use std::fmt::Write as _;

use candle_core::Device;

use crate::evaluate::{Suites, evaluate};
use crate::template::Sandbox;
use crate::validate::{LoadError, ValidateError};
use crate::{Competition, Evaluation, ScoringSpec, load, validate};

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

/// The evaluation as a few aligned lines, the way both command lines print it.
pub fn report(e: &Evaluation) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "score        {:.6}", e.total);
    let _ = writeln!(out, "eq           {:.2} / 100 ({} items)", e.eq_score, e.eq_items);
    let _ = writeln!(
        out,
        "dialogue     {:.4} bits/byte → {:.4} ({} units)",
        e.dialogue_bpb, e.dialogue_score, e.dialogue_units
    );
    for g in &e.gates {
        let detail = if g.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", g.detail)
        };
        let verdict = if g.passed { "passed" } else { "FAILED" };
        let _ = writeln!(out, "gate         {} {verdict}{detail}", g.name);
    }
    let _ = writeln!(out, "seed         {}", e.seed_hex);
    let _ = writeln!(out, "spec         {}", e.spec_version);
    out
}
