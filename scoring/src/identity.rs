//! What makes two submissions the same model, so the earlier commitment keeps the credit.
//!
//! - [`ContentDigest`]: a hash over what scoring reads, not over file bytes: the canonical
//!   tokenizer hash, the config fields the forward pass uses, and every tensor's name, shape and
//!   values rounded to bf16. Re-indented JSON, an edited `generation_config.json`, shards
//!   re-cut, or weights re-saved in another dtype give the same digest.
//!
//!   Why bf16: it is the narrowest dtype a package may use for its weights short of f16, every
//!   bf16 and f16 value survives the way to f32 and back, and a GPU validator runs in bf16
//!   anyway. So an f32 re-save of a bf16 package and a bf16 conversion of an f32 package both
//!   collide with their original; two models that differ only below bf16 precision in every
//!   single weight are not two models.
//! - [`Fingerprint`]: what the model *does* at fixed probe positions of the practice dialogues
//!   (the greedy next token and the log-probability of the reference token, quantised). A
//!   copy with invisible noise on its weights has a new digest but the same fingerprint;
//!   [`similarity`] above [`NEAR_DUPLICATE_SIMILARITY`] makes the later submission a near
//!   duplicate.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use candle_core::{D, DType, Device};
use half::bf16;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::dialogue::{self, Dialogue};
use crate::model::{CausalLm, ForwardError, argmax};
use crate::template::{TemplateError, TemplateLimits};
use crate::tokenizer::{TextError, TokenizerHash};
use crate::validate::ValidatedModel;

/// SHA-256 over a package's scoring-relevant content (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest(pub [u8; 32]);

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same 64-digit hex as tokenizer hashes.
        fmt::Display::fmt(&TokenizerHash(self.0), f)
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

impl FromStr for ContentDigest {
    type Err = crate::tokenizer::BadHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<TokenizerHash>().map(|h| Self(h.0))
    }
}

impl Serialize for ContentDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentDigest {
    fn deserialize<D2: Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a digest or fingerprint could not be computed. Packages reaching here passed
/// validation, so these are failures on our side, except where [`Self::is_miner_fault`] says.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("reading weights: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("forward pass: {0}")]
    Forward(#[from] ForwardError),
    #[error("rendering a probe conversation: {0}")]
    Template(#[from] TemplateError),
    #[error("tokenizing a probe: {0}")]
    Tokenizer(String),
    #[error("a probe reply cannot be scored exactly: {0}")]
    ProbeText(#[from] TextError),
    #[error("the practice dialogues hold no probe")]
    NoProbes,
}

impl IdentityError {
    /// A tokenizer that cannot encode the probes exactly, or feeds the forward ids it cannot
    /// take, is the package's fault (only possible with a tokenizer no competition allows).
    pub fn is_miner_fault(&self) -> bool {
        matches!(
            self,
            Self::Tokenizer(_)
                | Self::ProbeText(_)
                | Self::Forward(ForwardError::TokenOutOfRange { .. } | ForwardError::EmptyInput)
        )
    }
}

/// Domain separation, and the version of the canonical form below.
const DIGEST_TAG: &[u8] = b"kindred-content-digest-v1\0";

/// bf16 bits with the two zeros made one and every NaN made one (load checks refuse NaN, but
/// the digest must not depend on that order of checks).
fn canonical_bits(v: bf16) -> u16 {
    if v.is_nan() {
        0x7fc0
    } else if v == bf16::ZERO {
        0
    } else {
        v.to_bits()
    }
}

/// The canonical content digest of a validated package (reads every weight file once).
pub fn content_digest(model: &ValidatedModel) -> Result<ContentDigest, IdentityError> {
    let mut h = Sha256::new();
    h.update(DIGEST_TAG);
    h.update(model.tokenizer_hash.0);
    // The config as the forward pass reads it. Token ids (bos, eos) are left out: evaluation
    // takes its stop token from the competition's template and adds no BOS, and the context
    // length is fixed by the competition.
    let c = &model.config;
    h.update(c.architecture.model_type().as_bytes());
    h.update([0]);
    for n in [
        c.vocab_size,
        c.hidden_size,
        c.intermediate_size,
        c.num_layers,
        c.num_heads,
        c.num_kv_heads,
        c.head_dim,
    ] {
        h.update((n as u64).to_le_bytes());
    }
    h.update(c.rms_norm_eps.to_bits().to_le_bytes());
    h.update(c.rope_theta.to_bits().to_le_bytes());
    h.update([
        u8::from(c.tie_word_embeddings),
        u8::from(c.qkv_bias),
        u8::from(c.qk_norm),
    ]);

    // Tensors in name order whatever file or shard holds them.
    let mut tensors = BTreeMap::new();
    for path in model.files.weight_paths() {
        tensors.extend(candle_core::safetensors::load(&path, &Device::Cpu)?);
    }
    h.update((tensors.len() as u64).to_le_bytes());
    let mut bytes = Vec::new();
    for (name, t) in tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((t.dims().len() as u64).to_le_bytes());
        for &d in t.dims() {
            h.update((d as u64).to_le_bytes());
        }
        let values = t.to_dtype(DType::BF16)?.flatten_all()?.to_vec1::<bf16>()?;
        bytes.clear();
        bytes.extend(values.into_iter().flat_map(|v| canonical_bits(v).to_le_bytes()));
        h.update(&bytes);
    }
    Ok(ContentDigest(h.finalize().into()))
}

/// Version of the probe set and quantisation; fingerprints of different versions never compare.
pub const FINGERPRINT_VERSION: u32 = 1;
/// Practice dialogues probed (one unit each).
pub const PROBE_DIALOGUES: usize = 8;
/// Reply positions probed per unit, from the reply's start.
pub const PROBES_PER_UNIT: usize = 32;
/// Log-probabilities are stored in steps of this many nats.
pub const LOGPROB_STEP: f64 = 0.01;
/// Two probes agree when their greedy tokens are equal and their quantised log-probabilities
/// are at most this many steps apart.
pub const LOGPROB_TOLERANCE: i32 = 2;
/// At or above this [`similarity`], a later submission is a near duplicate of an earlier one.
///
/// Measured on a tiny model trained from scratch on the practice dialogues
/// (`fingerprint_threshold_separates_noised_copies_from_fine_tunes` in the scoring tests prints
/// the figures): copies with Gaussian noise of σ = 1e-6, 1e-5 and 1e-4 on every weight score
/// 1.000 against the original and σ = 1e-3 scores 0.832; fine-tunes of it for 24 or 48 steps
/// at learning rates 3e-3 and 3e-4 score 0.031–0.055, and an unrelated model 0.008. The
/// threshold sits near the middle of that gap, so neither side is within 0.3 of it.
pub const NEAR_DUPLICATE_SIMILARITY: f64 = 0.5;

/// One probe position's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The most likely next token (lowest id on ties).
    pub greedy: u32,
    /// log p(reference next token) in [`LOGPROB_STEP`]s, rounded.
    pub logprob: i32,
}

/// What a model does at the fixed probe positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub version: u32,
    /// Probes only mean the same thing under the same tokenizer.
    pub tokenizer: TokenizerHash,
    pub probes: Vec<Probe>,
}

/// The probe sequences: fixed practice units (chosen by a constant seed, never an epoch's),
/// rendered with the competition's template, as `(tokens, first reply position)`.
fn probe_sequences(
    model: &ValidatedModel,
    practice: &[Dialogue],
    max_positions: usize,
) -> Result<Vec<(Vec<u32>, usize)>, IdentityError> {
    let seed = b"kindred-fingerprint-v1";
    let units = dialogue::epoch_units(practice, seed, PROBE_DIALOGUES);
    if units.is_empty() {
        return Err(IdentityError::NoProbes);
    }
    let contexts: Vec<_> = units.iter().map(|u| u.context.clone()).collect();
    let rendered = model
        .chat_template
        .render_all(&contexts, &TemplateLimits::default())
        .into_iter()
        .collect::<Result<Vec<String>, _>>()?;
    let requests = dialogue::requests(&model.tokenizer, &rendered, &units).map_err(|e| match e {
        dialogue::RequestError::Reply(t) => IdentityError::ProbeText(t),
        other => IdentityError::Tokenizer(other.to_string()),
    })?;
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        // Only the probed reply positions and what precedes them are needed; the context is
        // cut from the left to fit, as evaluation does.
        let end = (r.target_start + PROBES_PER_UNIT).min(r.tokens.len());
        let start = end.saturating_sub(max_positions);
        if start >= r.target_start {
            continue;
        }
        out.push((r.tokens[start..end].to_vec(), r.target_start - start));
    }
    if out.is_empty() {
        return Err(IdentityError::NoProbes);
    }
    Ok(out)
}

/// The fingerprint of `lm` (loaded from `model`) on `practice` dialogues.
pub fn fingerprint(
    model: &ValidatedModel,
    lm: &CausalLm,
    practice: &[Dialogue],
) -> Result<Fingerprint, IdentityError> {
    let mut probes = Vec::new();
    for (tokens, target_start) in probe_sequences(model, practice, lm.max_positions())? {
        let logits = lm.all_logits(&tokens)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        // Row `pos - 1` predicts token `pos`.
        for (pos, &next) in tokens.iter().enumerate().skip(target_start) {
            let row = logits.get(pos - 1)?.to_vec1::<f32>()?;
            let lp = logp.get(pos - 1)?.get(next as usize)?.to_scalar::<f32>()?;
            let q = (f64::from(lp) / LOGPROB_STEP).round();
            probes.push(Probe {
                greedy: argmax(&row),
                // Clamped so a hostile −inf (or NaN, which compares false) stays an integer.
                logprob: if q.is_nan() {
                    i32::MIN
                } else {
                    q.clamp(f64::from(i32::MIN), 0.0) as i32
                },
            });
        }
    }
    Ok(Fingerprint {
        version: FINGERPRINT_VERSION,
        tokenizer: model.tokenizer_hash,
        probes,
    })
}

/// The share of probe positions at which two models are indistinguishable at the fingerprint's
/// resolution (same greedy token, log-probabilities within [`LOGPROB_TOLERANCE`] steps): 1 for
/// a copy, near 0 for unrelated models. `None` when the fingerprints are not comparable
/// (another version, another tokenizer, another probe count).
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> Option<f64> {
    if a.version != b.version
        || a.tokenizer != b.tokenizer
        || a.probes.len() != b.probes.len()
        || a.probes.is_empty()
    {
        return None;
    }
    let agree = a
        .probes
        .iter()
        .zip(&b.probes)
        .filter(|(x, y)| x.greedy == y.greedy && x.logprob.abs_diff(y.logprob) <= LOGPROB_TOLERANCE as u32)
        .count();
    Some(agree as f64 / a.probes.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(probes: &[(u32, i32)]) -> Fingerprint {
        Fingerprint {
            version: FINGERPRINT_VERSION,
            tokenizer: TokenizerHash([1; 32]),
            probes: probes
                .iter()
                .map(|&(greedy, logprob)| Probe { greedy, logprob })
                .collect(),
        }
    }

    #[test]
    fn similarity_counts_positions_that_agree_within_tolerance() {
        let a = fp(&[(1, -100), (2, -50), (3, -7), (4, -300)]);
        assert_eq!(similarity(&a, &a), Some(1.0));
        let b = fp(&[(1, -102), (2, -53), (9, -7), (4, -300)]);
        // Within tolerance; three steps off; another greedy token; equal.
        assert_eq!(similarity(&a, &b), Some(0.5));
        let mut other_tokenizer = a.clone();
        other_tokenizer.tokenizer = TokenizerHash([2; 32]);
        assert_eq!(similarity(&a, &other_tokenizer), None);
        assert_eq!(similarity(&a, &fp(&[(1, -100)])), None);
        assert_eq!(similarity(&fp(&[]), &fp(&[])), None);
        assert_eq!(similarity(&fp(&[(1, i32::MIN)]), &fp(&[(1, 0)])), Some(0.0));
    }

    #[test]
    fn digests_print_as_hex_and_parse_back() {
        let d = ContentDigest([7; 32]);
        assert_eq!(d.to_string().parse::<ContentDigest>().expect("parses"), d);
        let json = serde_json::to_string(&d).expect("ser");
        assert_eq!(serde_json::from_str::<ContentDigest>(&json).expect("de"), d);
    }

    #[test]
    fn zeros_and_nans_have_one_spelling() {
        assert_eq!(canonical_bits(bf16::NEG_ZERO), canonical_bits(bf16::ZERO));
        assert_eq!(canonical_bits(bf16::from_bits(0x7fc1)), canonical_bits(bf16::NAN));
        assert_ne!(canonical_bits(bf16::ONE), canonical_bits(bf16::NEG_ONE));
    }
}
