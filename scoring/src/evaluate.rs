//! One model's evaluation for one epoch: the degeneration guard, the EQ questions (logits or
//! generate mode, as the spec says) and the held-out dialogue units, combined into a total as the [`ScoringSpec`] says.
//!
//! Everything is a function of the model, the suites, the spec and the seed: prompts are
//! rendered with the competition's chat template (never the package's), tokenised once, batched
//! by length, and every reduction runs in a fixed order, so two runs on a CPU agree bit for bit.
//!
//! Scored replies must survive the tokenizer exactly (`decode(encode(reply)) == reply`, at least
//! one token), so the bytes charged for are the bytes predicted. [`evaluate`] is a boundary: a
//! panic anywhere below it becomes [`EvaluateError::Panicked`], the submission's failure, and
//! never takes the validator down.

use serde::{Deserialize, Serialize};

use crate::dialogue;
use crate::eq::{self, AnswerError};
use crate::guard::{self, Verdict};
use crate::model::{CausalLm, ForwardError, ScoreRequest};
use crate::spec::{EqMode, ScoringSpec};
use crate::template::{ChatMessage, RenderRequest, Sandbox, TemplateError, TemplateLimits};
use crate::tokenizer::TextError;
use crate::validate::ValidatedModel;

pub use crate::suites::Suites;

/// A pass/fail check; a failed gate zeroes the total and `detail` says why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Everything needed to show, compare and reproduce one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// 0..1: the parts weighted by the spec, or 0 when a gate failed.
    pub total: f64,
    /// 0..100: the EQ part from the items' EQ-Bench v2 per-question scores, under the spec's
    /// [`crate::spec::EqScale`] (see [`ScoringSpec::eq_part`]).
    pub eq_score: f64,
    /// Bits per UTF-8 byte over every scored dialogue reply (lower is better).
    pub dialogue_bpb: f64,
    /// 0..1: `2^(−dialogue_bpb)`.
    pub dialogue_score: f64,
    pub gates: Vec<Gate>,
    pub eq_items: usize,
    pub dialogue_units: usize,
    /// Per-sample scores on 0..1 (higher better): EQ items, then dialogue units, in the epoch's
    /// order, which is the same for every model under the same seed and spec. All 0 when a
    /// gate failed, so a gated model cannot win sample-by-sample comparisons.
    pub samples: Vec<f64>,
    pub seed_hex: String,
    pub spec_version: u64,
}

impl Evaluation {
    /// The first failed gate's reason, if any.
    pub fn failure(&self) -> Option<&Gate> {
        self.gates.iter().find(|g| !g.passed)
    }
}

/// Why an evaluation could not produce a score. [`Self::is_miner_fault`] splits these into
/// the model's fault (record a rejection) and ours (retry later, never blame the miner).
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("the spec names {part} suite {expected:?} but {found:?} was supplied")]
    SuiteMismatch {
        part: &'static str,
        expected: String,
        found: String,
    },
    #[error("the scoring spec is unusable: {0}")]
    BadSpec(&'static str),
    #[error("the competition's chat template fails on an evaluation conversation: {0}")]
    Template(#[source] TemplateError),
    #[error("the template sandbox failed: {0}")]
    Sandbox(#[source] TemplateError),
    #[error("the tokenizer fails on evaluation text: {0}")]
    Tokenizer(String),
    #[error("a scored reply cannot be scored exactly: {0}")]
    ReplyText(#[source] TextError),
    #[error("evaluation panicked: {0}")]
    Panicked(String),
    #[error("the tokenizer spells the intensity {0:?} in more than two tokens")]
    NumberSpelling(String),
    #[error("the rendered conversation tokenises to nothing")]
    EmptyPrompt,
    #[error("a reply of {tokens} tokens does not fit the {max} positions of the evaluation")]
    TooLong { tokens: usize, max: usize },
    #[error("the tokenizer produced token {id}, outside the model's {vocab} embeddings")]
    TokenOutOfRange { id: u32, vocab: usize },
    #[error("forward pass: {0}")]
    Forward(#[source] ForwardError),
}

impl EvaluateError {
    /// Whether the model package is to blame (its template, tokenizer or shapes), as opposed to
    /// our machine, our suites or our spec.
    pub fn is_miner_fault(&self) -> bool {
        match self {
            // A panic is recorded against the package that provoked it: retrying would only
            // provoke it again, and one package must never stall the queue.
            Self::Tokenizer(_)
            | Self::ReplyText(_)
            | Self::Panicked(_)
            | Self::NumberSpelling(_)
            | Self::EmptyPrompt
            | Self::TooLong { .. }
            | Self::TokenOutOfRange { .. } => true,
            // The template is the competition's, so its failures are ours.
            Self::Template(_)
            | Self::SuiteMismatch { .. }
            | Self::BadSpec(_)
            | Self::Sandbox(_)
            | Self::Forward(_) => false,
        }
    }
}

impl From<ForwardError> for EvaluateError {
    fn from(e: ForwardError) -> Self {
        match e {
            // Validation bounds token ids by the embedding, so this is a tokenizer that emits
            // ids its own vocabulary does not list: the package's fault.
            ForwardError::TokenOutOfRange { id, vocab } => Self::TokenOutOfRange { id, vocab },
            // Only a tokenizer that turns text into nothing leaves a forward pass with no input.
            ForwardError::EmptyInput => Self::EmptyPrompt,
            other => Self::Forward(other),
        }
    }
}

impl From<AnswerError> for EvaluateError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Forward(f) => f.into(),
            AnswerError::Tokenizer(msg) => Self::Tokenizer(msg),
            AnswerError::OddNumberTokens(n) => Self::NumberSpelling(n),
        }
    }
}

fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>, EvaluateError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| EvaluateError::Tokenizer(e.to_string()))
}

/// Keeps the last `max` tokens: the end of a prompt (the question, the latest turns) matters
/// most, and only a verbose tokenizer or template ever needs this.
fn keep_last(mut tokens: Vec<u32>, max: usize) -> Result<Vec<u32>, EvaluateError> {
    if tokens.len() > max {
        tokens.drain(..tokens.len() - max);
    }
    if tokens.is_empty() {
        return Err(EvaluateError::EmptyPrompt);
    }
    Ok(tokens)
}

/// Lowercase hex, as seeds are shown and stored.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens the EQ logits mode may add after the prompt (four `Emotion: ` heads and numbers).
const EQ_ANSWER_ROOM: usize = 128;

/// Evaluates `model` (loaded from `validated`) for the epoch `seed` under `spec`.
///
/// A panic inside (a hostile tokenizer meeting a corner of a library, say) is caught here and
/// returned as [`EvaluateError::Panicked`]. `_sandbox` is unused since prompts are rendered with
/// the competition's own template; it goes once every caller has dropped it.
pub fn evaluate(
    validated: &ValidatedModel,
    model: &CausalLm,
    _sandbox: &Sandbox,
    suites: &Suites,
    spec: &ScoringSpec,
    seed: &[u8],
) -> Result<Evaluation, EvaluateError> {
    contain(|| evaluate_unguarded(validated, model, suites, spec, seed))
}

/// Runs `f`, turning a panic into [`EvaluateError::Panicked`] with the panic's message.
pub fn contain<T>(f: impl FnOnce() -> Result<T, EvaluateError>) -> Result<T, EvaluateError> {
    // Nothing `f` borrows is used after a panic except to drop it, so observing a broken
    // invariant through it is impossible.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Err(EvaluateError::Panicked(message))
    })
}

fn evaluate_unguarded(
    validated: &ValidatedModel,
    model: &CausalLm,
    suites: &Suites,
    spec: &ScoringSpec,
    seed: &[u8],
) -> Result<Evaluation, EvaluateError> {
    check_inputs(suites, spec)?;
    let tokenizer = &validated.tokenizer;
    let max_positions = model.max_positions();
    let items = eq::epoch_items(&suites.eq, seed, spec.eq_items);
    let units = dialogue::epoch_units(&suites.dialogues, seed, spec.dialogue_units);

    let guard_requests = guard::requests(&spec.guard);
    let mut conversations = guard_requests.clone();
    conversations.extend(items.iter().map(|item| RenderRequest {
        messages: vec![ChatMessage::new("user", &eq::question_prompt(item))],
        add_generation_prompt: true,
    }));
    conversations.extend(units.iter().map(|u| u.context.clone()));
    // The competition's template is trusted code, so it renders in this process.
    let rendered = validated
        .chat_template
        .render_all(&conversations, &TemplateLimits::default())
        .into_iter()
        .collect::<Result<Vec<String>, TemplateError>>()
        .map_err(EvaluateError::Template)?;
    let (guard_texts, rest) = rendered.split_at(guard_requests.len());
    let (eq_texts, unit_texts) = rest.split_at(items.len());

    let mut gates = vec![run_guard(validated, model, guard_texts, spec)?];

    let mut eq_samples = Vec::with_capacity(items.len());
    for (item, text) in items.iter().zip(eq_texts) {
        let sample = match spec.eq_mode {
            EqMode::Logits => {
                let ids = keep_last(
                    encode(tokenizer, text)?,
                    max_positions.saturating_sub(EQ_ANSWER_ROOM).max(1),
                )?;
                let values = eq::answer_by_logits(model, tokenizer, &ids, &item.emotions)?;
                spec.eq_item_score(item, crate::eqbench::intensity_score(item, &values))
            }
            EqMode::Generate { max_new_tokens } => {
                let ids = keep_last(
                    encode(tokenizer, text)?,
                    max_positions.saturating_sub(max_new_tokens + 1).max(1),
                )?;
                let stop = guard::stop_tokens(tokenizer, &validated.chat_template.eos_token);
                let reply = model.generate_greedy(&ids, max_new_tokens, &stop)?;
                let answer = tokenizer
                    .decode(&reply, true)
                    .map_err(|e| EvaluateError::Tokenizer(e.to_string()))?;
                spec.generated_answer_score(item, &answer)
            }
        };
        eq_samples.push(sample);
    }

    let mut requests = dialogue::requests(tokenizer, unit_texts, &units).map_err(|e| match e {
        dialogue::RequestError::Context(e) => EvaluateError::Tokenizer(e.to_string()),
        dialogue::RequestError::EmptyContext => EvaluateError::EmptyPrompt,
        dialogue::RequestError::Reply(e) => EvaluateError::ReplyText(e),
    })?;
    for r in &mut requests {
        fit(r, max_positions)?;
    }
    let plan = dialogue::plan_batches(&requests, spec.batch_size);
    let sums = dialogue::score_requests(model, &requests, &plan)?;
    let mut unit_samples = Vec::with_capacity(units.len());
    let (mut bits_sum, mut bytes) = (0f64, 0usize);
    // Every reply round-tripped through the tokenizer when its request was built, so its length
    // is the number of bytes the model was actually asked to predict.
    for (unit, sum) in units.iter().zip(&sums) {
        unit_samples.push(ScoringSpec::bpb_score(dialogue::bits_per_byte(
            *sum,
            unit.reply.len(),
        )));
        bits_sum += sum;
        bytes += unit.reply.len();
    }
    let mut dialogue_bpb = if units.is_empty() {
        0.0
    } else {
        dialogue::bits_per_byte(bits_sum, bytes)
    };

    // A forward pass that overflows (weights pass the load checks but activations blow up)
    // yields NaN; such a model scores nothing, and JSON cannot carry the NaN anyway.
    let finite = eq_samples.iter().chain(&unit_samples).all(|s| s.is_finite()) && dialogue_bpb.is_finite();
    gates.push(Gate {
        name: "finite".into(),
        passed: finite,
        detail: if finite {
            "every score is a finite number".into()
        } else {
            "the forward pass produced NaN or infinite log-probabilities".into()
        },
    });
    for s in eq_samples.iter_mut().chain(&mut unit_samples) {
        if !s.is_finite() {
            *s = 0.0;
        }
    }
    if !dialogue_bpb.is_finite() {
        dialogue_bpb = 0.0;
    }

    let eq_score = spec.eq_part(&eq_samples);
    let dialogue_score = if units.is_empty() || !finite {
        0.0
    } else {
        ScoringSpec::bpb_score(dialogue_bpb)
    };
    let passed = gates.iter().all(|g| g.passed);
    let weights = spec.eq_weight + spec.dialogue_weight;
    let total = if passed {
        (spec.eq_weight * eq_score / 100.0 + spec.dialogue_weight * dialogue_score) / weights
    } else {
        0.0
    };
    let mut samples = eq_samples;
    samples.extend(unit_samples);
    if !passed {
        samples.iter_mut().for_each(|s| *s = 0.0);
    }
    Ok(Evaluation {
        total,
        eq_score,
        dialogue_bpb,
        dialogue_score,
        gates,
        eq_items: items.len(),
        dialogue_units: units.len(),
        samples,
        seed_hex: to_hex(seed),
        spec_version: spec.version,
    })
}

fn check_inputs(suites: &Suites, spec: &ScoringSpec) -> Result<(), EvaluateError> {
    if suites.eq_version != spec.eq_suite {
        return Err(EvaluateError::SuiteMismatch {
            part: "EQ",
            expected: spec.eq_suite.clone(),
            found: suites.eq_version.clone(),
        });
    }
    if suites.dialogue_version != spec.dialogue_suite {
        return Err(EvaluateError::SuiteMismatch {
            part: "dialogue",
            expected: spec.dialogue_suite.clone(),
            found: suites.dialogue_version.clone(),
        });
    }
    if spec.guard.prompts > guard::PROMPTS.len() {
        return Err(EvaluateError::BadSpec("more guard prompts than the guard has"));
    }
    let weights = [spec.eq_weight, spec.dialogue_weight];
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
        return Err(EvaluateError::BadSpec(
            "part weights must be non-negative with a positive sum",
        ));
    }
    Ok(())
}

/// Drops context tokens from the left until the request fits `max` positions; the reply itself
/// is never cut, so every model is scored on the same bytes.
fn fit(r: &mut ScoreRequest, max: usize) -> Result<(), EvaluateError> {
    if r.tokens.len() <= max {
        return Ok(());
    }
    let cut = r.tokens.len() - max;
    if cut >= r.target_start {
        return Err(EvaluateError::TooLong {
            tokens: r.tokens.len() - r.target_start,
            max,
        });
    }
    r.tokens.drain(..cut);
    r.target_start -= cut;
    Ok(())
}

fn run_guard(
    validated: &ValidatedModel,
    model: &CausalLm,
    prompts: &[String],
    spec: &ScoringSpec,
) -> Result<Gate, EvaluateError> {
    let g = &spec.guard;
    let stop = guard::stop_tokens(&validated.tokenizer, &validated.chat_template.eos_token);
    let room = model.max_positions().saturating_sub(g.max_new_tokens + 1).max(1);
    for (index, text) in prompts.iter().enumerate() {
        let ids = keep_last(encode(&validated.tokenizer, text)?, room)?;
        let reply = model.generate_greedy(&ids, g.max_new_tokens, &stop)?;
        let stopped = reply.len() < g.max_new_tokens;
        let decoded = validated
            .tokenizer
            .decode(&reply, true)
            .map_err(|e| EvaluateError::Tokenizer(e.to_string()))?;
        let verdict = guard::judge(&reply, &decoded, stopped, g);
        if verdict != Verdict::Ok {
            return Ok(Gate {
                name: "degeneration".into(),
                passed: false,
                detail: guard::describe(index, &verdict, g),
            });
        }
    }
    Ok(Gate {
        name: "degeneration".into(),
        passed: true,
        detail: format!("{} greedy replies are non-empty, varied and end", prompts.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_split_between_the_miner_and_us() {
        let e: EvaluateError = AnswerError::OddNumberTokens("10".into()).into();
        assert!(e.is_miner_fault());
        let e: EvaluateError = AnswerError::Tokenizer("bad".into()).into();
        assert!(e.is_miner_fault());
        let e: EvaluateError = ForwardError::TokenOutOfRange { id: 9, vocab: 3 }.into();
        assert!(e.is_miner_fault());
        let e: EvaluateError = ForwardError::NoContext.into();
        assert!(!e.is_miner_fault());
        assert!(!EvaluateError::Sandbox(TemplateError::Spawn(std::io::Error::other("x"))).is_miner_fault());
        assert!(!EvaluateError::BadSpec("x").is_miner_fault());
    }

    #[test]
    fn fitting_cuts_context_never_the_reply() {
        let mut r = ScoreRequest {
            tokens: (0..10).collect(),
            target_start: 6,
        };
        fit(&mut r, 8).expect("fits");
        assert_eq!((r.tokens[0], r.target_start, r.tokens.len()), (2, 4, 8));
        let mut r = ScoreRequest {
            tokens: (0..10).collect(),
            target_start: 2,
        };
        assert!(matches!(
            fit(&mut r, 8),
            Err(EvaluateError::TooLong { tokens: 8, max: 8 })
        ));
        assert_eq!(to_hex(&[0, 255, 16]), "00ff10");
    }
}
