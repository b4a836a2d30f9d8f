//! Held-out roleplay dialogue scoring: how likely a model finds a character's reference reply,
//! given the persona and every earlier turn rendered with the competition's chat template.
//!
//! The metric is bits per UTF-8 byte of the replies, so models with different tokenizers
//! compare fairly. Tokens are `tokens(rendered context) ++ tokens(reply)`, each encoded alone;
//! the context is rendered with the competition's chat template.

use serde::{Deserialize, Serialize};

use crate::model::{CausalLm, ForwardError, ScoreRequest};
use crate::seed::SeedStream;
use crate::template::{ChatMessage, RenderRequest};
use crate::tokenizer::{self, TextError};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The user's character (rendered as the `user` role).
    Partner,
    /// The persona the model plays (the `assistant` role); its turns are scored.
    Character,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// A persona card and a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialogue {
    pub id: String,
    pub character: String,
    pub partner: String,
    /// System text describing the character.
    pub persona: String,
    pub turns: Vec<Turn>,
}

/// One scored reply: the conversation before it and the reply itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub dialogue: String,
    pub turn: usize,
    pub context: RenderRequest,
    pub reply: String,
}

/// Every character turn that has something before it, as a scored unit.
pub fn units(d: &Dialogue) -> Vec<Unit> {
    let mut out = Vec::new();
    for (k, turn) in d.turns.iter().enumerate() {
        if k == 0 || turn.speaker != Speaker::Character || turn.text.trim().is_empty() {
            continue;
        }
        let mut messages = vec![ChatMessage::new("system", &d.persona)];
        messages.extend(d.turns[..k].iter().map(|t| {
            let role = if t.speaker == Speaker::Partner {
                "user"
            } else {
                "assistant"
            };
            ChatMessage::new(role, &t.text)
        }));
        out.push(Unit {
            dialogue: d.id.clone(),
            turn: k,
            context: RenderRequest {
                messages,
                add_generation_prompt: true,
            },
            reply: turn.text.clone(),
        });
    }
    out
}

/// The epoch's units: `count` dialogues picked by the seed, one scored reply each (also picked
/// by the seed), in a fixed order.
pub fn epoch_units(dialogues: &[Dialogue], seed: &[u8], count: usize) -> Vec<Unit> {
    SeedStream::new(seed, "dialogue-selection")
        .sample_indices(dialogues.len(), count)
        .into_iter()
        .filter_map(|i| {
            let mut all = units(&dialogues[i]);
            if all.is_empty() {
                return None;
            }
            let pick = SeedStream::new(seed, &dialogues[i].id).below(all.len());
            Some(all.swap_remove(pick))
        })
        .collect()
}

/// Batches of request indices sorted by length (ties by index), cut into runs of
/// `batch_size`: a function of the requests only, never of timing.
pub fn plan_batches(requests: &[ScoreRequest], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&i| (requests[i].tokens.len(), i));
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Per-request summed log-probabilities (natural log) with the given batch plan.
pub fn score_requests(
    model: &CausalLm,
    requests: &[ScoreRequest],
    plan: &[Vec<usize>],
) -> Result<Vec<f64>, ForwardError> {
    let mut sums = vec![0f64; requests.len()];
    for batch in plan {
        let reqs: Vec<ScoreRequest> = batch.iter().map(|&i| requests[i].clone()).collect();
        for (&i, lps) in batch.iter().zip(model.score_batch(&reqs)?) {
            sums[i] = lps.iter().map(|&v| v as f64).sum();
        }
    }
    Ok(sums)
}

/// Bits per UTF-8 byte from summed natural-log probabilities and the replies' byte count.
pub fn bits_per_byte(logprob_sum: f64, bytes: usize) -> f64 {
    -logprob_sum / std::f64::consts::LN_2 / bytes.max(1) as f64
}

/// Why a unit could not become a scoring request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("tokenizing the context: {0}")]
    Context(#[source] tokenizers::Error),
    #[error("the rendered context tokenizes to nothing")]
    EmptyContext,
    #[error(transparent)]
    Reply(#[from] TextError),
}

/// Tokenises rendered contexts and replies into scoring requests. Each reply must encode to at
/// least one token and decode back to itself ([`tokenizer::encode_exact`]), so the bits summed
/// are for exactly the reply's bytes; the context must not vanish either.
pub fn requests(
    tokenizer: &tokenizers::Tokenizer,
    rendered: &[String],
    units: &[Unit],
) -> Result<Vec<ScoreRequest>, RequestError> {
    rendered
        .iter()
        .zip(units)
        .map(|(context, unit)| {
            let mut tokens = tokenizer
                .encode(context.as_str(), false)
                .map_err(RequestError::Context)?
                .get_ids()
                .to_vec();
            if tokens.is_empty() {
                return Err(RequestError::EmptyContext);
            }
            let target_start = tokens.len();
            tokens.extend(tokenizer::encode_exact(tokenizer, &unit.reply)?);
            Ok(ScoreRequest { tokens, target_start })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialogue(id: &str) -> Dialogue {
        let t = |speaker, text: &str| Turn {
            speaker,
            text: text.into(),
        };
        Dialogue {
            id: id.into(),
            character: "Wren".into(),
            partner: "Tomasz".into(),
            persona: "You are Wren, a lighthouse keeper.".into(),
            turns: vec![
                t(Speaker::Partner, "Storm tonight?"),
                t(Speaker::Character, "The worst in years."),
                t(Speaker::Partner, "Are you scared?"),
                t(Speaker::Character, "Only for the boats."),
            ],
        }
    }

    #[test]
    fn units_cover_character_turns_with_their_history() {
        let u = units(&dialogue("d"));
        assert_eq!(u.len(), 2);
        assert_eq!(u[1].turn, 3);
        assert_eq!(u[1].reply, "Only for the boats.");
        let roles: Vec<&str> = u[1].context.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(u[1].context.add_generation_prompt);
    }

    #[test]
    fn epoch_units_depend_only_on_the_seed() {
        let ds: Vec<Dialogue> = (0..20).map(|i| dialogue(&format!("d{i}"))).collect();
        let a = epoch_units(&ds, b"seed-a", 8);
        assert_eq!(a, epoch_units(&ds, b"seed-a", 8));
        assert_eq!(a.len(), 8);
        assert_ne!(a, epoch_units(&ds, b"seed-b", 8));
    }

    #[test]
    fn batch_plan_is_length_sorted_and_complete() {
        let reqs: Vec<ScoreRequest> = [5, 3, 9, 3, 7]
            .iter()
            .map(|&n| ScoreRequest {
                tokens: vec![1; n],
                target_start: 1,
            })
            .collect();
        assert_eq!(plan_batches(&reqs, 2), vec![vec![1, 3], vec![0, 4], vec![2]]);
    }
}
