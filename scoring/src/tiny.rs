//! Tiny models written from scratch in the Hugging Face layout: for tests, benchmarks' quality
//! ladder and the demo, which cannot download weights.
//!
//! The tokenizer is a byte-level BPE over the 256 byte symbols plus ChatML special tokens, so any
//! text round-trips; weights come from a seeded generator, so the same spec gives the same bytes.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::config::{Architecture, ModelConfig};
use crate::seed::SeedStream;

/// Special tokens of the tiny tokenizer, at ids 0, 1, 2.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// Vocabulary size of the tiny tokenizer (specials + 256 bytes).
pub const TINY_TOKENIZER_SIZE: usize = SPECIAL_TOKENS.len() + 256;

/// The ChatML template the tiny packages ship (the competitions' own, see
/// [`crate::template::CHATML`]).
pub use crate::template::CHATML as CHATML_TEMPLATE;

#[derive(Debug, thiserror::Error)]
pub enum TinyError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("building the tokenizer: {0}")]
    Tokenizer(#[source] tokenizers::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What tiny model to write.
#[derive(Debug, Clone)]
pub struct TinySpec {
    pub architecture: Architecture,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    /// Embedding rows; at least [`TINY_TOKENIZER_SIZE`] (extra rows are padding, as real models have).
    pub vocab_size: usize,
    pub tie_word_embeddings: bool,
    /// Standard deviation of the random matrices.
    pub init_std: f32,
    pub seed: u64,
    pub dtype: DType,
}

impl TinySpec {
    pub fn new(architecture: Architecture, seed: u64) -> Self {
        Self {
            architecture,
            hidden_size: 64,
            intermediate_size: 128,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            vocab_size: 320,
            tie_word_embeddings: architecture != Architecture::Mistral,
            init_std: 0.05,
            seed,
            dtype: DType::F32,
        }
    }

    pub fn config(&self) -> ModelConfig {
        ModelConfig {
            architecture: self.architecture,
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_layers,
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            head_dim: self.hidden_size / self.num_heads,
            max_position_embeddings: 4096,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: self.tie_word_embeddings,
            qkv_bias: self.architecture == Architecture::Qwen2,
            qk_norm: self.architecture == Architecture::Qwen3,
            bos_token_id: Some(0),
            eos_token_ids: vec![2],
        }
    }
}

/// Seeded normal deviates as tensors: reproducible across machines, unlike candle's
/// thread-local RNG.
#[derive(Debug, Clone)]
pub struct SeededNormal(SeedStream);

impl SeededNormal {
    pub fn new(seed: u64) -> Self {
        Self(SeedStream::from_u64(seed))
    }

    pub fn tensor(&mut self, shape: &[usize], mean: f32, std: f32) -> candle_core::Result<Tensor> {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| mean + std * self.0.normal()).collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
    }
}

/// Random weights for `cfg`, in Hugging Face naming.
pub fn random_weights(
    cfg: &ModelConfig,
    init_std: f32,
    seed: u64,
) -> candle_core::Result<HashMap<String, Tensor>> {
    let mut rng = SeededNormal::new(seed);
    let mut out = HashMap::new();
    for (name, shape) in cfg.expected_tensors() {
        let t = if name.ends_with("norm.weight") {
            rng.tensor(&shape, 1.0, 0.1)?
        } else {
            rng.tensor(&shape, 0.0, init_std)?
        };
        out.insert(name, t);
    }
    Ok(out)
}

/// The tiny byte-level tokenizer.
pub fn tiny_tokenizer() -> Result<Tokenizer, TinyError> {
    let mut vocab: Vec<(String, u32)> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), i as u32))
        .collect();
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    vocab.extend(
        alphabet
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), (SPECIAL_TOKENS.len() + i) as u32)),
    );
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<Vocab>(), Vec::new())
        .build()
        .map_err(TinyError::Tokenizer)?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevel::default()));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|s| AddedToken::from(*s, true))
        .collect();
    tok.add_special_tokens(specials).map_err(TinyError::Tokenizer)?;
    Ok(tok)
}

/// `tokenizer_config.json` for ChatML-style packages.
pub fn chatml_tokenizer_config(bos: &str, eos: &str) -> serde_json::Value {
    serde_json::json!({
        "chat_template": CHATML_TEMPLATE,
        "bos_token": bos,
        "eos_token": eos,
        "add_bos_token": false,
        "model_max_length": 4096,
    })
}

/// Writes a package (config, weights, tokenizer, tokenizer config) for `weights` into `dir`.
pub fn write_package(
    dir: &Path,
    cfg: &ModelConfig,
    weights: &HashMap<String, Tensor>,
    dtype: DType,
) -> Result<(), TinyError> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&cfg.to_hf_json())?,
    )?;
    let converted: HashMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_dtype(dtype)?)))
        .collect::<candle_core::Result<_>>()?;
    candle_core::safetensors::save(&converted, dir.join("model.safetensors"))?;
    tiny_tokenizer()?
        .save(dir.join("tokenizer.json"), false)
        .map_err(TinyError::Tokenizer)?;
    let tc = chatml_tokenizer_config(SPECIAL_TOKENS[0], SPECIAL_TOKENS[2]);
    std::fs::write(dir.join("tokenizer_config.json"), serde_json::to_vec_pretty(&tc)?)?;
    std::fs::write(
        dir.join("generation_config.json"),
        serde_json::to_vec_pretty(&serde_json::json!({"bos_token_id": 0, "eos_token_id": 2}))?,
    )?;
    Ok(())
}

/// Writes a random tiny model for `spec` into `dir`.
pub fn write_tiny_model(dir: &Path, spec: &TinySpec) -> Result<ModelConfig, TinyError> {
    let cfg = spec.config();
    let weights = random_weights(&cfg, spec.init_std, spec.seed)?;
    write_package(dir, &cfg, &weights, spec.dtype)?;
    Ok(cfg)
}
