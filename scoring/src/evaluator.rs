//! A package directory → validated → loaded → scored with an epoch seed: the one path both the
//! validator's evaluate stage and `miner evaluate` take, so a miner sees exactly the validators'
//! verdict. Blocking work (candle, the template sandbox); the validator runs it on a dedicated
//! thread, one model at a time.
//!
//! Every failure is sorted here into the miner's fault (a final rejection with a stable code)
//! or ours (retried later, never held against the miner). The validator's path,
//! [`Evaluator::assess`], also settles identity first: an exact copy (same canonical digest) or a
//! near copy (fingerprint at least [`identity::NEAR_DUPLICATE_SIMILARITY`] alike) of an earlier
//! submission is reported as such and never scored.

use std::path::Path;

use std::fmt::Write as _;

use candle_core::Device;

use crate::evaluate::{EvaluateError, Suites, contain, evaluate};
use crate::identity::{self, ContentDigest, Fingerprint, IdentityError};
use crate::suites;
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
        let never = |_: &Identity| Ok(None::<()>);
        match self.assess(dir, competition, seed, &never, &never)? {
            Assessment::Scored { evaluation, .. } => Ok(evaluation),
            Assessment::Copy { .. } => Err(EvalFailure::Ours("no copy check was asked for".into())),
        }
    }

    /// The validator's evaluate stage: validate and digest the package, ask `exact` whether an
    /// earlier submission has the same [`ContentDigest`]; load it, fingerprint it, ask `near`
    /// whether an earlier one behaves the same; only then score it. A copy is reported with
    /// what the callback returned (the original) and never costs a full evaluation.
    ///
    /// Everything runs inside a panic boundary: a panic anywhere is the package's recorded
    /// failure (code [`PANICKED`]), never a crash and never an endless retry.
    pub fn assess<T>(
        &self,
        dir: &Path,
        competition: &str,
        seed: &[u8],
        exact: &dyn Fn(&Identity) -> Result<Option<T>, EvalFailure>,
        near: &dyn Fn(&Identity) -> Result<Option<T>, EvalFailure>,
    ) -> Result<Assessment<T>, EvalFailure> {
        let competition = Competition::by_name(competition).ok_or_else(|| {
            EvalFailure::miner("unknown_competition", format!("no competition `{competition}`"))
        })?;
        let contained = contain(|| Ok(self.assess_in(dir, &competition, seed, exact, near)));
        match contained {
            Ok(result) => result,
            Err(EvaluateError::Panicked(msg)) => Err(EvalFailure::miner(
                PANICKED,
                format!("evaluation panicked: {msg}"),
            )),
            Err(other) => Err(EvalFailure::Ours(other.to_string())),
        }
    }

    fn assess_in<T>(
        &self,
        dir: &Path,
        competition: &Competition,
        seed: &[u8],
        exact: &dyn Fn(&Identity) -> Result<Option<T>, EvalFailure>,
        near: &dyn Fn(&Identity) -> Result<Option<T>, EvalFailure>,
    ) -> Result<Assessment<T>, EvalFailure> {
        let validated = match validate(dir, competition, &self.sandbox) {
            Ok(v) => v,
            Err(ValidateError::Rejected(r)) => return Err(EvalFailure::miner(r.code(), &r)),
            Err(e @ (ValidateError::Io(_) | ValidateError::Sandbox(_))) => {
                return Err(EvalFailure::Ours(e.to_string()));
            }
        };
        let identity_failure = |e: IdentityError| {
            if e.is_miner_fault() {
                EvalFailure::miner("evaluation_failed", &e)
            } else {
                EvalFailure::Ours(e.to_string())
            }
        };
        let mut identity = Identity {
            digest: identity::content_digest(&validated).map_err(identity_failure)?,
            fingerprint: None,
        };
        if let Some(original) = exact(&identity)? {
            return Ok(Assessment::Copy { identity, original });
        }
        let model = match load(&validated, &self.device) {
            Ok(m) => m,
            Err(LoadError::Rejected(r)) => return Err(EvalFailure::miner(r.code(), &r)),
            Err(e) => return Err(EvalFailure::Ours(e.to_string())),
        };
        let practice =
            suites::dialogues().map_err(|e| EvalFailure::Ours(format!("practice dialogues: {e}")))?;
        identity.fingerprint =
            Some(identity::fingerprint(&validated, &model, &practice).map_err(identity_failure)?);
        if let Some(original) = near(&identity)? {
            return Ok(Assessment::Copy { identity, original });
        }
        let evaluation = evaluate(&validated, &model, &self.sandbox, &self.suites, &self.spec, seed)
            .map_err(|e| {
                if matches!(e, EvaluateError::Panicked(_)) {
                    EvalFailure::miner(PANICKED, &e)
                } else if e.is_miner_fault() {
                    EvalFailure::miner("evaluation_failed", &e)
                } else {
                    EvalFailure::Ours(e.to_string())
                }
            })?;
        Ok(Assessment::Scored { identity, evaluation })
    }
}

/// The rejection code of a package whose evaluation panicked (counted apart in metrics).
pub const PANICKED: &str = "evaluation_panicked";

/// Who a package is: its canonical digest and, once loaded, its fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub digest: ContentDigest,
    pub fingerprint: Option<Fingerprint>,
}

/// How [`Evaluator::assess`] ended for a package that was not refused.
#[derive(Debug)]
pub enum Assessment<T> {
    /// A copy of an earlier submission (`original`, as the copy check returned it).
    Copy { identity: Identity, original: T },
    Scored {
        identity: Identity,
        evaluation: Evaluation,
    },
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
