//! Why a miner's package was refused: data to store and show, not an error to retry.

use serde::{Deserialize, Serialize};

/// A miner's fault, with a machine-readable code (`code()`) and a human sentence (`Display`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    #[error("required file {file} is missing")]
    MissingFile { file: String },
    #[error(
        "file {file:?} is not allowed in a model package (only safetensors weights, config and tokenizer files)"
    )]
    ForbiddenFile { file: String },
    #[error("{file:?} is a symbolic link, directory or special file; packages hold regular files only")]
    NotRegularFile { file: String },
    #[error("{file} is {size} bytes, over the per-file limit of {limit} bytes")]
    FileTooLarge { file: String, size: u64, limit: u64 },
    #[error("the package is {total} bytes, over the competition's limit of {limit} bytes")]
    PackageTooLarge { total: u64, limit: u64 },
    #[error("the shard index is invalid: {detail}")]
    BadShardIndex { detail: String },
    #[error("config.json is invalid: {detail}")]
    BadConfig { detail: String },
    #[error("architecture {architecture} is not allowed in competition {competition}")]
    ArchitectureNotAllowed {
        architecture: String,
        competition: String,
    },
    #[error("max_position_embeddings is {positions}, below the {required} tokens the evaluation uses")]
    ContextTooShort { positions: usize, required: usize },
    #[error("the safetensors header of {file} is invalid: {detail}")]
    BadSafetensors { file: String, detail: String },
    #[error("tensor {name} has dtype {dtype}; allowed dtypes are F32, BF16 and F16")]
    BadDtype { name: String, dtype: String },
    #[error("tensor {name} appears more than once")]
    DuplicateTensor { name: String },
    #[error("tensor {name} is required by the architecture but missing")]
    MissingTensor { name: String },
    #[error("tensor {name} has shape {actual:?}, the config implies {expected:?}")]
    BadShape {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("tensor {name} is not part of the architecture")]
    UnexpectedTensor { name: String },
    #[error("the model has {params} parameters, outside competition {competition}'s band {min}..={max}")]
    ParameterCount {
        params: u64,
        min: u64,
        max: u64,
        competition: String,
    },
    #[error("tokenizer.json is invalid: {detail}")]
    BadTokenizer { detail: String },
    #[error(
        "the tokenizer (canonical hash {hash}) is not one competition {competition} allows; its tokenizer and chat template are fixed"
    )]
    TokenizerNotAllowed { hash: String, competition: String },
    #[error("{file} sets {field} to token id {id}, outside the vocabulary of {vocab}")]
    BadSpecialToken {
        file: String,
        field: String,
        id: u64,
        vocab: usize,
    },
    #[error("generation_config.json is invalid: {detail}")]
    BadGenerationConfig { detail: String },
    #[error("tokenizer_config.json is invalid: {detail}")]
    BadTokenizerConfig { detail: String },
    #[error("the tokenizer has token id {max_id} but the embedding has only {rows} rows")]
    VocabMismatch { max_id: u64, rows: usize },
    #[error("the chat template is unusable: {detail}")]
    BadChatTemplate { detail: String },
    #[error("tensor {name} contains NaN or infinite values")]
    NonFinite { name: String },
    #[error("tensor {name} has RMS {rms}, outside the sane bound of {limit}")]
    AbnormalNorm { name: String, rms: f64, limit: f64 },
}

impl Rejection {
    /// The stable machine-readable reason (what the API and database store).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingFile { .. } => "missing_file",
            Self::ForbiddenFile { .. } => "forbidden_file",
            Self::NotRegularFile { .. } => "not_regular_file",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::PackageTooLarge { .. } => "package_too_large",
            Self::BadShardIndex { .. } => "bad_shard_index",
            Self::BadConfig { .. } => "bad_config",
            Self::ArchitectureNotAllowed { .. } => "architecture_not_allowed",
            Self::ContextTooShort { .. } => "context_too_short",
            Self::BadSafetensors { .. } => "bad_safetensors",
            Self::BadDtype { .. } => "bad_dtype",
            Self::DuplicateTensor { .. } => "duplicate_tensor",
            Self::MissingTensor { .. } => "missing_tensor",
            Self::BadShape { .. } => "bad_shape",
            Self::UnexpectedTensor { .. } => "unexpected_tensor",
            Self::ParameterCount { .. } => "parameter_count",
            Self::BadTokenizer { .. } => "bad_tokenizer",
            Self::TokenizerNotAllowed { .. } => "tokenizer_not_allowed",
            Self::BadSpecialToken { .. } => "bad_special_token",
            Self::BadGenerationConfig { .. } => "bad_generation_config",
            Self::BadTokenizerConfig { .. } => "bad_tokenizer_config",
            Self::VocabMismatch { .. } => "vocab_mismatch",
            Self::BadChatTemplate { .. } => "bad_chat_template",
            Self::NonFinite { .. } => "non_finite",
            Self::AbnormalNorm { .. } => "abnormal_norm",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_matches_serialized_tag() {
        let r = Rejection::MissingTensor { name: "x".into() };
        let v = serde_json::to_value(&r).expect("serialize");
        assert_eq!(v["code"], r.code());
        let back: Rejection = serde_json::from_value(v).expect("deserialize");
        assert_eq!(back, r);
    }
}
