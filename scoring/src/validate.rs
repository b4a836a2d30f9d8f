//! From a package directory to a [`ValidatedModel`] (nothing loaded yet) and from that to a
//! runnable [`CausalLm`] (weights checked after loading).
//!
//! The tokenizer must be one the competition allows (by canonical hash), and the chat template
//! evaluation uses is the competition's for that tokenizer: the package's own template is read
//! by nobody here. Every rule yields a [`Rejection`] naming what broke; only failures on our side (disk, the
//! template sandbox not starting, candle) are errors to retry.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::competition::Competition;
use crate::config::{ConfigBounds, ModelConfig};
use crate::model::{CausalLm, ForwardError};
use crate::package::{self, PackageError, PackageFiles, TensorEntry};
use crate::rejection::Rejection;
use crate::template::{ChatTemplate, Sandbox, TemplateError};
use crate::tokenizer::{TokenizerHash, tokenizer_hash};

/// Weights whose root-mean-square exceeds this are not a trained model but an attack on our
/// arithmetic (overflow to Inf mid-forward).
pub const MAX_TENSOR_RMS: f64 = 1_000.0;

/// A package that passed every check that can be made without loading weights.
#[derive(Debug, Clone)]
pub struct ValidatedModel {
    pub files: PackageFiles,
    pub config: ModelConfig,
    pub tensors: BTreeMap<String, TensorEntry>,
    pub parameters: u64,
    pub tokenizer: tokenizers::Tokenizer,
    /// Canonical hash of the tokenizer: one the competition allows.
    pub tokenizer_hash: TokenizerHash,
    /// The competition's template for this tokenizer (never the package's own).
    pub chat_template: ChatTemplate,
    pub competition: Competition,
}

/// Validation failed: the miner's fault (rejected) or ours (retry).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("rejected: {0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Io(#[from] package::IoError),
    #[error("the template sandbox failed: {0}")]
    Sandbox(#[source] TemplateError),
}

impl From<PackageError> for ValidateError {
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::Rejected(r) => Self::Rejected(r),
            PackageError::Io(io) => Self::Io(io),
        }
    }
}

impl From<Rejection> for ValidateError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// Loading failed: the weights are bad (rejected) or something on our side broke.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("rejected: {0}")]
    Rejected(Rejection),
    #[error("loading weights: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// Runs every pre-load rule on the package in `dir` for `competition`.
///
/// `_sandbox` is unused since validators stopped running packages' chat templates; it goes
/// once every caller has dropped it.
pub fn validate(
    dir: &Path,
    competition: &Competition,
    _sandbox: &Sandbox,
) -> Result<ValidatedModel, ValidateError> {
    let files = package::scan(dir, competition.max_file_bytes, competition.max_total_bytes)?;

    let config_bytes = files.read_json_bytes(package::CONFIG, package::JSON_LIMIT)?;
    let config =
        ModelConfig::parse(&config_bytes, &ConfigBounds::default()).map_err(|e| Rejection::BadConfig {
            detail: e.to_string(),
        })?;
    if !competition.architectures.contains(&config.architecture) {
        return Err(Rejection::ArchitectureNotAllowed {
            architecture: config.architecture.to_string(),
            competition: competition.name.clone(),
        }
        .into());
    }
    if config.max_position_embeddings < competition.max_context {
        return Err(Rejection::ContextTooShort {
            positions: config.max_position_embeddings,
            required: competition.max_context,
        }
        .into());
    }

    let tensors = package::read_tensor_index(&files)?;
    let expected = config.expected_tensors();
    for (name, shape) in &expected {
        let entry = tensors
            .get(name)
            .ok_or_else(|| Rejection::MissingTensor { name: name.clone() })?;
        if &entry.shape != shape {
            return Err(Rejection::BadShape {
                name: name.clone(),
                expected: shape.clone(),
                actual: entry.shape.clone(),
            }
            .into());
        }
    }
    if tensors.len() != expected.len() {
        let known: std::collections::HashSet<&String> = expected.iter().map(|(n, _)| n).collect();
        if let Some(extra) = tensors.keys().find(|n| !known.contains(n)) {
            return Err(Rejection::UnexpectedTensor { name: extra.clone() }.into());
        }
    }
    let parameters: u64 = tensors.values().map(TensorEntry::elements).sum();
    if parameters < competition.min_params || parameters > competition.max_params {
        return Err(Rejection::ParameterCount {
            params: parameters,
            min: competition.min_params,
            max: competition.max_params,
            competition: competition.name.clone(),
        }
        .into());
    }

    let tokenizer_bytes = files.read_json_bytes(package::TOKENIZER, package::TOKENIZER_LIMIT)?;
    let tokenizer =
        tokenizers::Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| Rejection::BadTokenizer {
            detail: e.to_string(),
        })?;
    let tokenizer_hash = tokenizer_hash(&tokenizer).map_err(|e| Rejection::BadTokenizer {
        detail: e.to_string(),
    })?;
    let allowed =
        competition
            .allowed_tokenizer(&tokenizer_hash)
            .ok_or_else(|| Rejection::TokenizerNotAllowed {
                hash: tokenizer_hash.to_string(),
                competition: competition.name.clone(),
            })?;
    let max_id =
        tokenizer
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .ok_or_else(|| Rejection::BadTokenizer {
                detail: "empty vocabulary".into(),
            })?;
    if max_id as usize >= config.vocab_size {
        return Err(Rejection::VocabMismatch {
            max_id: max_id.into(),
            rows: config.vocab_size,
        }
        .into());
    }
    let special = SpecialIds {
        tokenizer: &tokenizer,
        rows: config.vocab_size,
    };
    special.check(
        package::CONFIG,
        "bos_token_id",
        config.bos_token_id.map(u64::from),
    )?;
    special.check(
        package::CONFIG,
        "eos_token_id",
        config.eos_token_ids.iter().map(|&i| u64::from(i)),
    )?;
    if files.sizes.contains_key(package::GENERATION_CONFIG) {
        let bytes = files.read_json_bytes(package::GENERATION_CONFIG, package::JSON_LIMIT)?;
        check_generation_config(&bytes, &special)?;
    }

    // Read so a broken file is refused (tools load it), but its chat template is never run:
    // prompts are rendered with the competition's template for this tokenizer.
    let tc_bytes = files.read_json_bytes(package::TOKENIZER_CONFIG, package::JSON_LIMIT)?;
    match serde_json::from_slice::<serde_json::Value>(&tc_bytes) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => {
            return Err(Rejection::BadTokenizerConfig {
                detail: "not a JSON object".into(),
            }
            .into());
        }
        Err(e) => {
            return Err(Rejection::BadTokenizerConfig {
                detail: e.to_string(),
            }
            .into());
        }
    }

    Ok(ValidatedModel {
        files,
        config,
        tensors,
        parameters,
        tokenizer,
        tokenizer_hash,
        chat_template: allowed.template.clone(),
        competition: competition.clone(),
    })
}

/// Special token ids must name a token of the tokenizer and a row of the embedding.
struct SpecialIds<'a> {
    tokenizer: &'a tokenizers::Tokenizer,
    rows: usize,
}

impl SpecialIds<'_> {
    fn check(&self, file: &str, field: &str, ids: impl IntoIterator<Item = u64>) -> Result<(), Rejection> {
        for id in ids {
            let known = u32::try_from(id)
                .ok()
                .filter(|&i| (i as usize) < self.rows)
                .and_then(|i| self.tokenizer.id_to_token(i));
            if known.is_none() {
                return Err(Rejection::BadSpecialToken {
                    file: file.into(),
                    field: field.into(),
                    id,
                    vocab: self.rows,
                });
            }
        }
        Ok(())
    }
}

/// `generation_config.json` is optional, but when present it must be a JSON object whose token
/// id fields (a number or a list of numbers) name real tokens: inference tools read it.
fn check_generation_config(bytes: &[u8], special: &SpecialIds<'_>) -> Result<(), Rejection> {
    let bad = |detail: String| Rejection::BadGenerationConfig { detail };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let obj = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    for field in [
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "decoder_start_token_id",
    ] {
        let ids: Vec<u64> = match obj.get(field) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::Number(n)) => vec![
                n.as_u64()
                    .ok_or_else(|| bad(format!("{field} is not a token id")))?,
            ],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| bad(format!("{field} is not a list of token ids")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad(format!("{field} is not a token id"))),
        };
        special.check(package::GENERATION_CONFIG, field, ids)?;
    }
    Ok(())
}

/// The dtype weights run in on a device: f32 on CPU (bitwise reproducible), bf16 on GPUs.
pub fn dtype_for(device: &Device) -> DType {
    if device.is_cpu() { DType::F32 } else { DType::BF16 }
}

/// Checks one loaded tensor: finite everywhere and a sane root-mean-square.
fn check_tensor(name: &str, t: &Tensor) -> Result<(), LoadError> {
    let n = t.elem_count().max(1) as f64;
    let sumsq = t.to_dtype(DType::F32)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    if !sumsq.is_finite() {
        return Err(LoadError::Rejected(Rejection::NonFinite {
            name: name.to_string(),
        }));
    }
    let rms = (sumsq / n).sqrt();
    if rms > MAX_TENSOR_RMS {
        return Err(LoadError::Rejected(Rejection::AbnormalNorm {
            name: name.to_string(),
            rms,
            limit: MAX_TENSOR_RMS,
        }));
    }
    Ok(())
}

/// Loads the weights of a validated package, checks them, and builds the model on `device`.
pub fn load(model: &ValidatedModel, device: &Device) -> Result<CausalLm, LoadError> {
    let mut tensors = HashMap::new();
    for path in model.files.weight_paths() {
        for (name, t) in candle_core::safetensors::load(&path, &Device::Cpu)? {
            check_tensor(&name, &t)?;
            tensors.insert(name, t);
        }
    }
    let max_positions = model.competition.max_context;
    Ok(CausalLm::from_tensors(
        &model.config,
        tensors,
        max_positions,
        dtype_for(device),
        device,
    )?)
}
