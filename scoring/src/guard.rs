//! The degeneration guard: a model may predict reference replies well under teacher forcing yet
//! be useless as a chat partner (silent, stuck in a loop, never stopping). A few fixed prompts
//! are answered greedily under the competition's chat template; one bad reply fails the gate.
//!
//! Greedy decoding with lowest-id tie-breaking makes the replies, and so the verdict, a function
//! of the model alone.

use serde::{Deserialize, Serialize};

use crate::spec::GuardSpec;
use crate::template::{ChatMessage, RenderRequest};

/// The guard's fixed prompts: (persona, user line). Each asks for a short in-character reply,
/// so a reply that runs to the token limit has not learned to stop.
pub const PROMPTS: [(&str, &str); 4] = [
    (
        "You are Odile, a retired ferry captain who speaks plainly and kindly.",
        "My brother stopped answering my calls after our argument. What should I do? Answer in one or two sentences.",
    ),
    (
        "You are Bram, a cheerful baker in a small mountain town.",
        "I burnt the bread for my daughter's birthday and I feel awful. Reply briefly.",
    ),
    (
        "You are Sefa, a calm night-shift nurse.",
        "I can't sleep before my surgery tomorrow. Say something short to help me.",
    ),
    (
        "You are Ivo, a sarcastic but loyal old friend.",
        "I got the job! Tell me what you think in a sentence.",
    ),
];

/// The conversations the guard renders, in order (the first `spec.prompts` of [`PROMPTS`]).
pub fn requests(spec: &GuardSpec) -> Vec<RenderRequest> {
    PROMPTS
        .iter()
        .take(spec.prompts)
        .map(|(persona, user)| RenderRequest {
            messages: vec![
                ChatMessage::new("system", persona),
                ChatMessage::new("user", user),
            ],
            add_generation_prompt: true,
        })
        .collect()
}

/// Why one reply fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// No tokens, or only whitespace.
    Empty,
    /// Too few distinct n-grams (ratio in thousandths, so the value stays `Eq`).
    Looping {
        distinct_permille: u32,
    },
    /// Reached the token limit without an end token.
    Runaway {
        tokens: usize,
    },
}

/// Share of distinct `n`-grams among a sequence's n-grams; 1 for sequences shorter than `n`.
pub fn distinct_ratio(tokens: &[u32], n: usize) -> f64 {
    let n = n.max(1);
    if tokens.len() < n {
        return 1.0;
    }
    let mut grams: Vec<&[u32]> = tokens.windows(n).collect();
    let total = grams.len();
    grams.sort_unstable();
    grams.dedup();
    grams.len() as f64 / total as f64
}

/// Judges one greedy reply: `tokens` (without the stop token), its decoded text, and whether
/// decoding ended at a stop token.
pub fn judge(tokens: &[u32], text: &str, stopped: bool, spec: &GuardSpec) -> Verdict {
    if tokens.is_empty() || text.trim().is_empty() {
        return Verdict::Empty;
    }
    let ratio = distinct_ratio(tokens, spec.ngram);
    if ratio < spec.min_distinct_ratio {
        return Verdict::Looping {
            distinct_permille: (ratio * 1000.0).round() as u32,
        };
    }
    if spec.fail_runaway && !stopped {
        return Verdict::Runaway { tokens: tokens.len() };
    }
    Verdict::Ok
}

/// A human sentence for a failing verdict of prompt `index`.
pub fn describe(index: usize, verdict: &Verdict, spec: &GuardSpec) -> String {
    match verdict {
        Verdict::Ok => format!("reply {index} is fine"),
        Verdict::Empty => format!("reply {index} to a guard prompt is empty"),
        Verdict::Looping { distinct_permille } => format!(
            "reply {index} to a guard prompt loops: {:.3} of its {}-grams are distinct, below {}",
            *distinct_permille as f64 / 1000.0,
            spec.ngram,
            spec.min_distinct_ratio
        ),
        Verdict::Runaway { tokens } => format!(
            "reply {index} to a guard prompt runs away: {tokens} tokens without an end token (limit {})",
            spec.max_new_tokens
        ),
    }
}

/// The end-of-turn tokens: the competition template's end token. The package's config names
/// EOS ids too, but those are the miner's to choose, and declaring a common token the end
/// would let a model that never stops pass as one that does.
pub fn stop_tokens(tokenizer: &tokenizers::Tokenizer, template_eos: &str) -> Vec<u32> {
    tokenizer.token_to_id(template_eos).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ScoringSpec;

    fn spec() -> GuardSpec {
        ScoringSpec::current().guard
    }

    #[test]
    fn verdicts() {
        let s = spec();
        assert_eq!(judge(&[], "", true, &s), Verdict::Empty);
        assert_eq!(judge(&[5, 6], "  \n", true, &s), Verdict::Empty);
        let varied: Vec<u32> = (10..40).collect();
        assert_eq!(judge(&varied, "fine words", true, &s), Verdict::Ok);
        assert_eq!(
            judge(&varied, "fine words", false, &s),
            Verdict::Runaway { tokens: 30 }
        );
        let looping: Vec<u32> = [7, 8, 9].iter().copied().cycle().take(60).collect();
        assert!(matches!(
            judge(&looping, "la la la", true, &s),
            Verdict::Looping { .. }
        ));
        let sentence = describe(2, &judge(&looping, "la", true, &s), &s);
        assert!(sentence.contains("loops"), "{sentence}");
    }

    #[test]
    fn distinct_ratio_edges() {
        assert_eq!(distinct_ratio(&[1, 2], 4), 1.0);
        assert_eq!(distinct_ratio(&[1, 1, 1, 1, 1], 4), 0.5);
        assert_eq!(distinct_ratio(&[1, 2, 3, 4, 5], 4), 1.0);
    }

    #[test]
    fn requests_follow_the_spec() {
        let r = requests(&spec());
        assert_eq!(r.len(), spec().prompts);
        assert!(r.iter().all(|r| r.add_generation_prompt && r.messages.len() == 2));
    }
}
