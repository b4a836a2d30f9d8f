//! `config.json` parsed into a typed, bounded model configuration.
//!
//! Every dimension is checked against hard bounds before anything is allocated, so a hostile
//! config cannot make the validator reserve absurd memory.

use serde::{Deserialize, Serialize};

/// Architectures Kindred knows how to run with its own forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [Self::Llama, Self::Mistral, Self::Qwen2, Self::Qwen3];

    /// The `architectures[0]` class name Hugging Face writes for it.
    pub fn hf_class(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Mistral => "MistralForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Qwen3 => "Qwen3ForCausalLM",
        }
    }

    /// The `model_type` Hugging Face writes for it.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Mistral => "mistral",
            Self::Qwen2 => "qwen2",
            Self::Qwen3 => "qwen3",
        }
    }

    fn from_hf_class(class: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.hf_class() == class)
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// Hard upper bounds on a config's dimensions, whatever the competition.
#[derive(Debug, Clone, Copy)]
pub struct ConfigBounds {
    pub max_layers: usize,
    pub max_hidden: usize,
    pub max_heads: usize,
    pub max_head_dim: usize,
    pub max_intermediate: usize,
    pub max_vocab: usize,
    pub max_positions: usize,
}

impl Default for ConfigBounds {
    fn default() -> Self {
        Self {
            max_layers: 128,
            max_hidden: 16_384,
            max_heads: 256,
            max_head_dim: 512,
            max_intermediate: 65_536,
            max_vocab: 524_288,
            max_positions: 1 << 20,
        }
    }
}

/// Why a `config.json` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not valid JSON for a model config: {0}")]
    Json(#[from] serde_json::Error),
    #[error("architecture {0:?} is not supported (allowed: Llama, Mistral, Qwen2, Qwen3)")]
    UnsupportedArchitecture(String),
    #[error("config.json is missing `{0}`")]
    Missing(&'static str),
    #[error("`{field}` = {value} is outside the allowed range {min}..={max}")]
    OutOfBounds {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("inconsistent config: {0}")]
    Inconsistent(&'static str),
    #[error("unsupported feature: {0}")]
    Unsupported(String),
}

/// Token id fields may be a single id or a list of ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The fields of `config.json` Kindred reads; everything optional so errors name the field.
#[derive(Debug, Deserialize)]
struct RawConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: Option<u64>,
    hidden_size: Option<u64>,
    intermediate_size: Option<u64>,
    num_hidden_layers: Option<u64>,
    num_attention_heads: Option<u64>,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    max_position_embeddings: Option<u64>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    rope_scaling: Option<serde_json::Value>,
    sliding_window: Option<serde_json::Value>,
    use_sliding_window: Option<bool>,
    bos_token_id: Option<OneOrMany>,
    eos_token_id: Option<OneOrMany>,
}

/// A validated model configuration: every dimension bounded and consistent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
    /// Biases on the q/k/v projections (always on for Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMS norm on queries and keys (Qwen3).
    pub qk_norm: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

fn bounded(field: &'static str, value: Option<u64>, min: u64, max: usize) -> Result<usize, ConfigError> {
    let value = value.ok_or(ConfigError::Missing(field))?;
    if value < min || value > max as u64 {
        return Err(ConfigError::OutOfBounds {
            field,
            value,
            min,
            max: max as u64,
        });
    }
    Ok(value as usize)
}

impl ModelConfig {
    /// Parses and bounds-checks `config.json` bytes.
    pub fn parse(bytes: &[u8], bounds: &ConfigBounds) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_slice(bytes)?;
        let class = raw
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .ok_or(ConfigError::Missing("architectures"))?;
        let architecture = Architecture::from_hf_class(&class)
            .ok_or_else(|| ConfigError::UnsupportedArchitecture(class.clone()))?;
        if let Some(mt) = &raw.model_type
            && mt != architecture.model_type()
        {
            return Err(ConfigError::Inconsistent(
                "model_type does not match architectures",
            ));
        }
        if let Some(act) = &raw.hidden_act
            && act != "silu"
        {
            return Err(ConfigError::Unsupported(format!(
                "hidden_act {act:?} (only silu)"
            )));
        }
        if raw.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ConfigError::Unsupported("rope_scaling".into()));
        }
        if raw.mlp_bias == Some(true) {
            return Err(ConfigError::Unsupported("mlp_bias".into()));
        }
        if raw.use_sliding_window == Some(true)
            || (architecture == Architecture::Mistral
                && raw
                    .sliding_window
                    .as_ref()
                    .is_some_and(|v| v.as_u64().is_some_and(|w| w < 4096)))
        {
            return Err(ConfigError::Unsupported("sliding-window attention".into()));
        }

        let b = bounds;
        let hidden_size = bounded("hidden_size", raw.hidden_size, 1, b.max_hidden)?;
        let num_heads = bounded("num_attention_heads", raw.num_attention_heads, 1, b.max_heads)?;
        let num_kv_heads = bounded(
            "num_key_value_heads",
            raw.num_key_value_heads.or(raw.num_attention_heads),
            1,
            b.max_heads,
        )?;
        let head_dim = match raw.head_dim {
            Some(_) => bounded("head_dim", raw.head_dim, 2, b.max_head_dim)?,
            None => {
                if hidden_size % num_heads != 0 {
                    return Err(ConfigError::Inconsistent(
                        "hidden_size is not a multiple of num_attention_heads",
                    ));
                }
                bounded(
                    "head_dim",
                    Some((hidden_size / num_heads) as u64),
                    2,
                    b.max_head_dim,
                )?
            }
        };
        if head_dim % 2 != 0 {
            return Err(ConfigError::Inconsistent(
                "head_dim must be even for rotary embeddings",
            ));
        }
        if num_heads % num_kv_heads != 0 {
            return Err(ConfigError::Inconsistent(
                "num_attention_heads is not a multiple of num_key_value_heads",
            ));
        }
        let rms_norm_eps = raw.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_norm_eps > 0.0 && rms_norm_eps < 1.0) {
            return Err(ConfigError::Inconsistent("rms_norm_eps must be in (0, 1)"));
        }
        let rope_theta = raw.rope_theta.unwrap_or(10_000.0);
        if !(rope_theta.is_finite() && rope_theta > 1.0) {
            return Err(ConfigError::Inconsistent(
                "rope_theta must be a finite number > 1",
            ));
        }
        let ids = |v: Option<OneOrMany>| match v {
            None => Vec::new(),
            Some(OneOrMany::One(id)) => vec![id],
            Some(OneOrMany::Many(ids)) => ids,
        };
        Ok(Self {
            architecture,
            vocab_size: bounded("vocab_size", raw.vocab_size, 2, b.max_vocab)?,
            hidden_size,
            intermediate_size: bounded("intermediate_size", raw.intermediate_size, 1, b.max_intermediate)?,
            num_layers: bounded("num_hidden_layers", raw.num_hidden_layers, 1, b.max_layers)?,
            num_heads,
            num_kv_heads,
            head_dim,
            max_position_embeddings: bounded(
                "max_position_embeddings",
                raw.max_position_embeddings,
                1,
                b.max_positions,
            )?,
            rms_norm_eps,
            rope_theta,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: architecture == Architecture::Qwen2 || raw.attention_bias == Some(true),
            qk_norm: architecture == Architecture::Qwen3,
            bos_token_id: ids(raw.bos_token_id).first().copied(),
            eos_token_ids: ids(raw.eos_token_id),
        })
    }

    /// The Hugging Face `config.json` for this config (used by converters and tiny-model builders).
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "architectures": [self.architecture.hf_class()],
            "model_type": self.architecture.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        });
        if self.architecture != Architecture::Qwen2 {
            v["attention_bias"] = self.qkv_bias.into();
        }
        if let Some(bos) = self.bos_token_id {
            v["bos_token_id"] = bos.into();
        }
        match self.eos_token_ids.as_slice() {
            [] => {}
            [one] => v["eos_token_id"] = (*one).into(),
            many => v["eos_token_id"] = many.into(),
        }
        v
    }

    /// Every tensor the architecture needs, with its shape, in Hugging Face naming.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, hd, i, v) = (
            self.hidden_size,
            self.head_dim,
            self.intermediate_size,
            self.vocab_size,
        );
        let (q, kv) = (self.num_heads * hd, self.num_kv_heads * hd);
        let mut out = vec![
            ("model.embed_tokens.weight".to_string(), vec![v, d]),
            ("model.norm.weight".to_string(), vec![d]),
        ];
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".to_string(), vec![v, d]));
        }
        for l in 0..self.num_layers {
            let p = format!("model.layers.{l}");
            out.push((format!("{p}.input_layernorm.weight"), vec![d]));
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![d]));
            out.push((format!("{p}.self_attn.q_proj.weight"), vec![q, d]));
            out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, d]));
            out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, d]));
            out.push((format!("{p}.self_attn.o_proj.weight"), vec![d, q]));
            if self.qkv_bias {
                out.push((format!("{p}.self_attn.q_proj.bias"), vec![q]));
                out.push((format!("{p}.self_attn.k_proj.bias"), vec![kv]));
                out.push((format!("{p}.self_attn.v_proj.bias"), vec![kv]));
            }
            if self.qk_norm {
                out.push((format!("{p}.self_attn.q_norm.weight"), vec![hd]));
                out.push((format!("{p}.self_attn.k_norm.weight"), vec![hd]));
            }
            out.push((format!("{p}.mlp.gate_proj.weight"), vec![i, d]));
            out.push((format!("{p}.mlp.up_proj.weight"), vec![i, d]));
            out.push((format!("{p}.mlp.down_proj.weight"), vec![d, i]));
        }
        out
    }

    /// Parameters the architecture implies (tied embeddings counted once).
    pub fn parameter_count(&self) -> u64 {
        self.expected_tensors()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 100,
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512
        })
    }

    fn parse(v: &serde_json::Value) -> Result<ModelConfig, ConfigError> {
        ModelConfig::parse(v.to_string().as_bytes(), &ConfigBounds::default())
    }

    #[test]
    fn derives_head_dim_and_defaults() {
        let c = parse(&base()).expect("valid");
        assert_eq!(c.head_dim, 8);
        assert!(!c.tie_word_embeddings && !c.qkv_bias && !c.qk_norm);
        let again = ModelConfig::parse(c.to_hf_json().to_string().as_bytes(), &ConfigBounds::default())
            .expect("roundtrip");
        assert_eq!(again, c);
    }

    #[test]
    fn huge_dimensions_are_refused_before_allocation() {
        let mut v = base();
        v["num_hidden_layers"] = 1_000_000.into();
        assert!(matches!(
            parse(&v),
            Err(ConfigError::OutOfBounds {
                field: "num_hidden_layers",
                ..
            })
        ));
        let mut v = base();
        v["vocab_size"] = serde_json::json!(u64::MAX);
        assert!(matches!(
            parse(&v),
            Err(ConfigError::OutOfBounds {
                field: "vocab_size",
                ..
            })
        ));
    }

    #[test]
    fn refuses_unknown_architectures_and_inconsistencies() {
        let mut v = base();
        v["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
        v["model_type"] = "gpt2".into();
        assert!(matches!(parse(&v), Err(ConfigError::UnsupportedArchitecture(_))));
        let mut v = base();
        v["num_key_value_heads"] = 3.into();
        assert!(matches!(parse(&v), Err(ConfigError::Inconsistent(_))));
        let mut v = base();
        v["rope_scaling"] = serde_json::json!({"type": "llama3", "factor": 8.0});
        assert!(matches!(parse(&v), Err(ConfigError::Unsupported(_))));
        let mut v = base();
        v.as_object_mut().expect("object").remove("hidden_size");
        assert!(matches!(parse(&v), Err(ConfigError::Missing("hidden_size"))));
    }

    #[test]
    fn qwen_flavours_set_their_extras() {
        let mut v = base();
        v["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
        v["model_type"] = "qwen2".into();
        assert!(parse(&v).expect("qwen2").qkv_bias);
        v["architectures"] = serde_json::json!(["Qwen3ForCausalLM"]);
        v["model_type"] = "qwen3".into();
        let c = parse(&v).expect("qwen3");
        assert!(c.qk_norm && !c.qkv_bias);
        assert!(
            c.expected_tensors()
                .iter()
                .any(|(n, _)| n.ends_with("q_norm.weight"))
        );
    }
}
