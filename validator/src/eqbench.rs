//! `validator eqbench score`: EQ-Bench v2 answers scored exactly as the reference
//! implementation does (see `kindred_scoring::eqbench` for the rules and the documented
//! deviations).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use kindred_scoring::eq;
use kindred_scoring::eqbench::{self, AnswerOutcome, RunSummary};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct AnswerLine {
    id: String,
    answer: String,
}

/// Scores the JSONL `answers` against the EQ-Bench v2 `questions` file and writes one JSON line
/// per answer, then the run summary line, to `out`.
pub fn score_files(
    questions: &Path,
    answers: &Path,
    revise: bool,
    out: &mut dyn Write,
) -> anyhow::Result<RunSummary> {
    let qtext =
        std::fs::read_to_string(questions).with_context(|| format!("reading {}", questions.display()))?;
    let items = eq::parse_eqbench(&qtext).with_context(|| format!("parsing {}", questions.display()))?;
    let by_id: HashMap<&str, &eq::EqItem> = items.iter().map(|i| (i.id.as_str(), i)).collect();
    let atext = std::fs::read_to_string(answers).with_context(|| format!("reading {}", answers.display()))?;
    let mut outcomes: Vec<AnswerOutcome> = Vec::new();
    for (n, line) in atext.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a: AnswerLine =
            serde_json::from_str(line).with_context(|| format!("{}: line {}", answers.display(), n + 1))?;
        let item = by_id
            .get(a.id.as_str())
            .with_context(|| format!("{}: line {}: no question {:?}", answers.display(), n + 1, a.id))?;
        let outcome = eqbench::score_answer(item, &a.answer, revise);
        // A repeated id replaces the earlier answer, so a question is never counted twice.
        outcomes.retain(|o| o.id != outcome.id);
        outcomes.push(outcome);
    }
    for o in &outcomes {
        writeln!(out, "{}", serde_json::to_string(o)?)?;
    }
    let summary = eqbench::summarize(&outcomes, items.len(), revise);
    writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    Ok(summary)
}
