//! EQ-Bench v2 reference semantics, reproduced to the letter for the conformance command
//! (`validator eqbench score`): answer parsing, the per-question "fullscale" score, and the run
//! aggregate. Kindred's competition scoring (in `eq`) is deliberately stricter; this module
//! exists so Kindred's numbers can be checked against the public benchmark's.
//!
//! Facts of the reference implementation (EQ-Bench, `lib/scoring.py`, newest revision):
//! - every `*` and `#` is removed, then `(\w+):\s+(\d+)` pairs are collected over the whole
//!   answer (or, with revise, over the `First pass scores:` … `Revised scores:` span and the text
//!   after `Revised scores:`); a later duplicate of the same key wins; scores keep only their
//!   integer digits;
//! - an answer counts only if it has exactly four pairs naming the four emotions
//!   (case-insensitively) and its scores sum to more than zero (the legacy gate the reference
//!   applies before accepting an answer);
//! - per question: `10 − 0.7477 · Σ f(|answer − reference|)` with f(0) = 0,
//!   f(d) = 6.5 / (1 + e^(−1.2 (d − 4))) for 0 < d ≤ 5 and f(d) = d above 5; no clamping;
//! - the run: 10 × the mean over parsed questions (unparsed ones are left out, not zeroed);
//!   valid when parsed / questions ≥ 0.8333; with revise, the revised mean is used when it is
//!   at least the first-pass mean and parsed for at least 95% as many questions.
//!
//! Deviations: the reference retries an unparseable answer with a higher temperature (up to
//! three attempts); answers here are given, so each is judged once. Digits outside ASCII, which
//! Python's `float()` would accept, are treated as unparseable. A key repeated in a different
//! case (`Anger`, `anger`) counts as two pairs, as in the reference's gate.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::eq::EqItem;

/// `emotion → score` pairs as the reference parses them (later duplicates win).
pub type Pairs = BTreeMap<String, u64>;

fn pair_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"(\w+):\s+(\d+)").expect("valid pattern"))
}

fn pairs(text: &str) -> Option<Pairs> {
    let mut out = Pairs::new();
    for c in pair_regex().captures_iter(text) {
        let digits = &c[2];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Saturate absurd digit strings: the score is then far off and penalised linearly.
        out.insert(c[1].to_string(), digits.parse().unwrap_or(u64::MAX));
    }
    Some(out)
}

/// Parses an answer: `(first pass, revised)`; without `revise` the whole text is the first pass
/// and revised is empty.
pub fn parse_answer(text: &str, revise: bool) -> (Option<Pairs>, Option<Pairs>) {
    let text = text.replace(['*', '#'], "");
    if !revise {
        return (pairs(&text), Some(Pairs::new()));
    }
    let first = text
        .find("First pass scores:")
        .and_then(|s| {
            let body = &text[s + "First pass scores:".len()..];
            body.find("Revised scores:").map(|e| &body[..e])
        })
        .and_then(pairs);
    let revised = text
        .find("Revised scores:")
        .and_then(|s| pairs(&text[s + "Revised scores:".len()..]));
    (first, revised)
}

fn penalty(d: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else if d <= 5.0 {
        6.5 / (1.0 + (-1.2 * (d - 4.0)).exp())
    } else {
        d
    }
}

/// Whether every pair names one of the item's emotions and all four are named.
fn matches_item(item: &EqItem, answer: &Pairs) -> bool {
    if answer.len() != 4 {
        return false;
    }
    let named = |e: &String| answer.keys().any(|k| k.to_lowercase() == e.to_lowercase());
    answer
        .keys()
        .all(|k| item.emotions.iter().any(|e| e.to_lowercase() == k.to_lowercase()))
        && item.emotions.iter().all(named)
}

/// The reference's per-question v2 score, or `None` when the answer does not name exactly the
/// four emotions.
pub fn question_score(item: &EqItem, answer: &Pairs) -> Option<f64> {
    if !matches_item(item, answer) {
        return None;
    }
    let tally: f64 = answer
        .iter()
        .filter_map(|(k, v)| {
            let i = item
                .emotions
                .iter()
                .position(|e| e.to_lowercase() == k.to_lowercase())?;
            Some(penalty((*v as f64 - item.reference[i] as f64).abs()))
        })
        .sum();
    Some(10.0 - 0.7477 * tally)
}

/// Kindred's intensities (floats from the logits mode) scored with the same formula.
pub fn intensity_score(item: &EqItem, values: &[f32; 4]) -> f64 {
    let tally: f64 = values
        .iter()
        .zip(item.reference)
        .map(|(v, r)| penalty((*v as f64 - r as f64).abs()))
        .sum();
    10.0 - 0.7477 * tally
}

/// The v2 score of the best answer that gives all four emotions one intensity: what a model
/// earns on this item without telling the emotions apart. The logits mode answers fractional
/// intensities, so constants are tried on a 0.001 grid over 0..=10, not only whole numbers; the
/// score's slope is below 8 per unit, so no constant between grid points beats this by more
/// than 0.004.
pub fn constant_baseline(item: &EqItem) -> f64 {
    const STEPS: usize = 10_000;
    // References are whole numbers in every bank, which puts each grid distance on the grid
    // too: the penalties come from one table instead of 40,000 `exp` calls per item.
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let whole: Option<Vec<usize>> = item
        .reference
        .iter()
        .map(|&r| (r.fract() == 0.0 && (0.0..=10.0).contains(&r)).then_some(r as usize * 1000))
        .collect();
    let Some(refs) = whole else {
        return (0..=STEPS)
            .map(|c| intensity_score(item, &[c as f32 / 1000.0; 4]))
            .fold(f64::NEG_INFINITY, f64::max);
    };
    let table = TABLE.get_or_init(|| (0..=STEPS).map(|d| penalty(d as f64 / 1000.0)).collect());
    (0..=STEPS)
        .map(|c| 10.0 - 0.7477 * refs.iter().map(|&r| table[c.abs_diff(r)]).sum::<f64>())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The reference accepts an answer only if it would also pass its legacy scorer: four matching
/// pairs whose scores sum to more than zero.
fn accepted(item: &EqItem, answer: &Pairs) -> bool {
    matches_item(item, answer) && answer.values().map(|&v| v as u128).sum::<u128>() > 0
}

/// One answer's outcome, as printed by the conformance command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerOutcome {
    pub id: String,
    /// The pairs that were scored (revised ones when revise chose them), or null.
    pub parsed: Option<Pairs>,
    pub score: Option<f64>,
    #[serde(skip)]
    first: Option<f64>,
    #[serde(skip)]
    revised: Option<f64>,
}

/// Scores one answer to `item`.
pub fn score_answer(item: &EqItem, text: &str, revise: bool) -> AnswerOutcome {
    let (first, revised) = parse_answer(text, revise);
    let judge = |p: &Option<Pairs>| {
        p.as_ref()
            .filter(|p| accepted(item, p))
            .and_then(|p| question_score(item, p))
    };
    let (fs, rs) = (judge(&first), if revise { judge(&revised) } else { None });
    let (parsed, score) = match (revise, rs) {
        (true, Some(s)) => (revised, Some(s)),
        _ => (first.filter(|_| fs.is_some()), fs),
    };
    AnswerOutcome {
        id: item.id.clone(),
        parsed,
        score,
        first: fs,
        revised: rs,
    }
}

/// The run aggregate, as the reference reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// 0–100 (can go below 0 for very wrong answers; the reference does not clamp).
    pub benchmark_score: f64,
    pub parseable: usize,
    pub questions: usize,
    pub valid: bool,
    /// With revise: whether the revised scores were the ones reported.
    pub used_revised: bool,
}

/// Aggregates outcomes over a question set of `questions` items (missing answers count as
/// unparseable).
pub fn summarize(outcomes: &[AnswerOutcome], questions: usize, revise: bool) -> RunSummary {
    let mean10 = |xs: &[f64]| {
        if xs.is_empty() {
            0.0
        } else {
            10.0 * xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    let fp: Vec<f64> = outcomes.iter().filter_map(|o| o.first).collect();
    let rv: Vec<f64> = outcomes.iter().filter_map(|o| o.revised).collect();
    let (s_fp, s_rv) = (mean10(&fp), mean10(&rv));
    let used_revised = revise && s_rv >= s_fp && rv.len() as f64 >= 0.95 * fp.len() as f64 && !rv.is_empty();
    let (score, parseable) = if used_revised {
        (s_rv, rv.len())
    } else {
        (s_fp, fp.len())
    };
    RunSummary {
        benchmark_score: (score * 100.0).round() / 100.0,
        parseable,
        questions,
        valid: questions > 0 && parseable as f64 / questions as f64 >= 0.8333,
        used_revised,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> EqItem {
        crate::eq::example_item()
    }

    #[test]
    fn perfect_answer_scores_ten_and_penalties_follow_the_table() {
        let a = score_answer(
            &item(),
            "Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7",
            false,
        );
        assert_eq!(a.score, Some(10.0));
        for (d, f) in [
            (1.0, 0.1729),
            (2.0, 0.5406),
            (3.0, 1.5046),
            (4.0, 3.25),
            (5.0, 4.9954),
            (6.0, 6.0),
        ] {
            assert!((penalty(d) - f).abs() < 1e-4, "f({d}) = {}", penalty(d));
        }
        let off = score_answer(
            &item(),
            "Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 9",
            false,
        );
        assert!((off.score.expect("parsed") - (10.0 - 0.7477 * 0.5406)).abs() < 1e-4);
    }

    #[test]
    fn markdown_case_and_duplicates_follow_the_reference() {
        let text = "**Remorseful:** 3\n## indifferent: 2\nAffectionate: 1\nAnnoyed: 4\nAnnoyed: 7";
        let a = score_answer(&item(), text, false);
        let parsed = a.parsed.expect("parses");
        assert_eq!(parsed.get("Annoyed"), Some(&7), "the last duplicate wins");
        assert!(parsed.contains_key("indifferent"));
        assert!(a.score.is_some());
        // Decimals keep their integer digits; a colon glued to the number does not match.
        let (p, _) = parse_answer("Remorseful: 7.5 Annoyed:3", false);
        assert_eq!(p.expect("pairs"), Pairs::from([("Remorseful".to_string(), 7)]));
    }

    #[test]
    fn unusable_answers_are_none() {
        for text in [
            "Remorseful: 0\nIndifferent: 6\nAnnoyed: 7",
            "Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7\nJoy: 2",
            "Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nHappy: 7",
            "Remorseful: 0\nIndifferent: 0\nAffectionate: 0\nAnnoyed: 0",
            "I cannot answer that.",
        ] {
            assert_eq!(score_answer(&item(), text, false).score, None, "{text}");
        }
    }

    #[test]
    fn constant_baseline_table_matches_direct_scores() {
        let mut it = item();
        for reference in [[0.0, 6.0, 0.0, 7.0], [10.0, 3.0, 3.0, 9.0], [1.0, 2.0, 8.0, 5.0]] {
            it.reference = reference;
            let direct = (0..=10_000)
                .map(|c| intensity_score(&it, &[c as f32 / 1000.0; 4]))
                .fold(f64::NEG_INFINITY, f64::max);
            assert!((constant_baseline(&it) - direct).abs() < 1e-9, "{reference:?}");
        }
        // A fractional reference takes the direct path and still beats every whole constant.
        it.reference = [0.5, 6.0, 0.0, 7.0];
        let best_whole = (0..=10)
            .map(|c| intensity_score(&it, &[c as f32; 4]))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(constant_baseline(&it) >= best_whole);
    }

    #[test]
    fn revise_mode_uses_sections_and_the_choice_rule() {
        let text = "First pass scores:\nRemorseful: 0\nIndifferent: 2\nAffectionate: 0\nAnnoyed: 7\n\nCritique: fine\n\nRevised scores:\nRemorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7\n";
        let a = score_answer(&item(), text, true);
        assert_eq!(a.score, Some(10.0));
        let s = summarize(std::slice::from_ref(&a), 1, true);
        assert!(s.used_revised && s.valid);
        assert_eq!(s.benchmark_score, 100.0);
        let s = summarize(&[a], 2, false);
        assert!(!s.valid, "1 of 2 parsed is below 83.33%");
    }
}
