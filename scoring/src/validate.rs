//! From a package directory to a [`ValidatedModel`] (nothing loaded yet) and from that to a
//! runnable [`CausalLm`] (weights checked after loading).
//!
//! Every rule yields a [`Rejection`] naming what broke; only failures on our side (disk, the
//! template sandbox not starting, candle) are errors to retry.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::competition::Competition;
use crate::config::{ConfigBounds, ModelConfig};
use crate::model::{CausalLm, ForwardError};
use crate::package::{self, PackageError, PackageFiles, TensorEntry};
use crate::rejection::Rejection;
use crate::template::{ChatMessage, ChatTemplate, RenderRequest, Sandbox, TemplateError};

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

/// The conversation every chat template must render, in order, to be usable for evaluation.
pub fn probe_conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", "You are Mirela, a warm and observant innkeeper."),
        ChatMessage::new("user", "The storm took our roof last night. Do you have a room?"),
        ChatMessage::new(
            "assistant",
            "Come in out of the rain, love. There is always a room for you here.",
        ),
    ]
}

/// Runs every pre-load rule on the package in `dir` for `competition`.
pub fn validate(
    dir: &Path,
    competition: &Competition,
    sandbox: &Sandbox,
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

    let tc_bytes = files.read_json_bytes(package::TOKENIZER_CONFIG, package::JSON_LIMIT)?;
    let chat_template =
        ChatTemplate::from_tokenizer_config(&tc_bytes).map_err(|e| Rejection::BadChatTemplate {
            detail: e.to_string(),
        })?;
    check_template(&chat_template, sandbox)?;

    Ok(ValidatedModel {
        files,
        config,
        tensors,
        parameters,
        tokenizer,
        chat_template,
        competition: competition.clone(),
    })
}

fn check_template(template: &ChatTemplate, sandbox: &Sandbox) -> Result<(), ValidateError> {
    let full = probe_conversation();
    let requests = [
        RenderRequest {
            messages: full.clone(),
            add_generation_prompt: false,
        },
        RenderRequest {
            messages: full[..2].to_vec(),
            add_generation_prompt: true,
        },
    ];
    let outcomes = match sandbox.render_all(template, &requests) {
        Ok(o) => o,
        Err(e) if e.is_infrastructure() => return Err(ValidateError::Sandbox(e)),
        Err(e) => {
            return Err(Rejection::BadChatTemplate {
                detail: e.to_string(),
            }
            .into());
        }
    };
    for (request, outcome) in requests.iter().zip(outcomes) {
        let text = outcome.map_err(|e| Rejection::BadChatTemplate {
            detail: e.to_string(),
        })?;
        let mut at = 0;
        for m in &request.messages {
            match text[at..].find(&m.content) {
                Some(i) => at += i + m.content.len(),
                None => {
                    return Err(Rejection::BadChatTemplate {
                        detail: format!(
                            "the rendered conversation lacks the {} message (or has it out of order)",
                            m.role
                        ),
                    }
                    .into());
                }
            }
        }
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
