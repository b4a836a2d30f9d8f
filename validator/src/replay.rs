//! One-off evaluations: `validator evaluate <dir>` (score a package now) and `validator replay
//! <submission>` (redo a stored evaluation from the cached package with its recorded seed and
//! spec, and say whether it reproduces bit for bit).

use std::io::Write;
use std::path::Path;

use kindred_scoring::{Evaluation, ScoringSpec};

use crate::config::Settings;
use crate::service::{BuildError, evaluator};
use crate::store::{Store, StoreError};
use kindred_scoring::evaluator::EvalFailure;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Build(Box<BuildError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("seed `{0}` is not hex")]
    Seed(String),
    #[error("no submission {0}")]
    NoSubmission(i64),
    #[error("submission {0} has no stored evaluation ({1})")]
    NotScored(i64, String),
    #[error("the package of submission {id} is not in the cache at {dir}")]
    NotCached { id: i64, dir: String },
    #[error("stored evaluation used spec version {0}, which this build does not know")]
    SpecVersion(u64),
    #[error("evaluation failed: {0}")]
    Failed(#[from] EvalFailure),
    #[error("writing the result: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored evaluation: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<BuildError> for ReplayError {
    fn from(e: BuildError) -> ReplayError {
        ReplayError::Build(Box::new(e))
    }
}

fn parse_hex(s: &str) -> Result<Vec<u8>, ReplayError> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| ReplayError::Seed(s.to_owned()))
}

/// Score the package at `dir` and print the evaluation (text, or one JSON object with `score`).
pub fn evaluate_dir(
    settings: &Settings,
    dir: &Path,
    competition: &str,
    seed: &str,
    json: bool,
) -> Result<(), ReplayError> {
    let seed = parse_hex(seed)?;
    let evaluator = evaluator(settings)?;
    let evaluation = evaluator.evaluate(dir, competition, &seed)?;
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(&evaluation)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("score".into(), serde_json::json!(evaluation.total));
        }
        writeln!(out, "{value}")?;
    } else {
        write!(out, "{}", kindred_scoring::evaluator::report(&evaluation))?;
    }
    Ok(())
}

/// Redo submission `id`'s evaluation and report whether every figure matches the stored one.
pub async fn replay(settings: &Settings, id: i64) -> Result<(), ReplayError> {
    let store = Store::open(&settings.db()).await?;
    let row = store.submission(id).await?.ok_or(ReplayError::NoSubmission(id))?;
    let stored: Evaluation = match &row.evaluation {
        Some(v) => serde_json::from_value(v.clone())?,
        None => return Err(ReplayError::NotScored(id, row.status.to_string())),
    };
    let digest = row
        .digest
        .clone()
        .ok_or_else(|| ReplayError::NotScored(id, "no content digest".into()))?;
    let dir = settings.cache_dir().join(&digest);
    if !dir.is_dir() {
        return Err(ReplayError::NotCached {
            id,
            dir: dir.display().to_string(),
        });
    }
    let mut evaluator = evaluator(settings)?;
    // The spec the evaluation was made under, whatever this validator scores with now.
    evaluator.spec =
        ScoringSpec::by_version(stored.spec_version).ok_or(ReplayError::SpecVersion(stored.spec_version))?;
    let seed = parse_hex(&stored.seed_hex)?;
    let competition = row.competition.clone().unwrap_or_else(|| "small".into());
    let again = tokio::task::spawn_blocking(move || evaluator.evaluate(&dir, &competition, &seed))
        .await
        .map_err(|e| ReplayError::Io(std::io::Error::other(e.to_string())))??;
    let same = serde_json::to_string(&again)? == serde_json::to_string(&stored)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "submission {id}: stored score {:.6}, replayed {:.6}",
        stored.total, again.total
    )?;
    writeln!(
        out,
        "{}",
        if same {
            "reproduces: every figure identical"
        } else {
            "DOES NOT REPRODUCE"
        }
    )?;
    if !same {
        // Name what moved, so an operator can tell a changed model from a changed machine.
        let (a, b) = (serde_json::to_value(&stored)?, serde_json::to_value(&again)?);
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (key, was) in a {
                if b.get(key) != Some(was) {
                    writeln!(
                        out,
                        "  {key}: stored {was}, replayed {}",
                        b.get(key).unwrap_or(&serde_json::Value::Null)
                    )?;
                }
            }
        }
    }
    Ok(())
}
