//! GGUF (llama.cpp) → Hugging Face package: dequantised safetensors, `config.json`,
//! `tokenizer.json` rebuilt from the GGUF vocabulary and merges, `tokenizer_config.json` with the
//! embedded chat template.
//!
//! llama.cpp's converter reorders the rows of Llama's q/k projections (interleaved rotary
//! halves); that is undone here so the weights run under the Hugging Face rotary convention.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::config::{Architecture, ModelConfig};

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("GGUF metadata lacks {0}")]
    MissingKey(String),
    #[error("GGUF architecture {0:?} is not supported (llama, qwen2, qwen3)")]
    UnsupportedArchitecture(String),
    #[error("GGUF tokenizer {0:?} is not supported (gpt2-style BPE only)")]
    UnsupportedTokenizer(String),
    #[error("GGUF pre-tokenizer {0:?} is not supported")]
    UnsupportedPreTokenizer(String),
    #[error("building the tokenizer: {0}")]
    Tokenizer(#[source] tokenizers::Error),
    #[error("tensor {0} is missing from the GGUF file")]
    MissingTensor(String),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

struct Meta<'a> {
    md: &'a HashMap<String, Value>,
    arch: &'a str,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.md
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    fn arch_u32(&self, key: &str) -> Result<u32, GgufError> {
        Ok(self.get(&format!("{}.{key}", self.arch))?.to_u32()?)
    }

    fn arch_f32(&self, key: &str) -> Result<f32, GgufError> {
        Ok(self.get(&format!("{}.{key}", self.arch))?.to_f32()?)
    }

    fn opt_u32(&self, key: &str) -> Option<u32> {
        self.md.get(key).and_then(|v| v.to_u32().ok())
    }
}

/// Parses the shortest decimal of an f32 metadata value, so 1e-5 stays 1e-5 rather than
/// 9.99999974e-6.
fn f32_to_f64(v: f32) -> f64 {
    format!("{v}").parse().unwrap_or(v as f64)
}

/// Inverse of llama.cpp's q/k row permutation for `heads` heads.
fn unpermute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, inp) = w.dims2()?;
    w.reshape((heads, out / heads / 2, 2, inp))?
        .transpose(1, 2)?
        .reshape((out, inp))
}

fn hf_name(gguf: &str) -> Option<String> {
    let direct = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(d) = direct {
        return Some(d.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let mapped = match tail {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "attn_q_norm.weight" => "self_attn.q_norm.weight",
        "attn_k_norm.weight" => "self_attn.k_norm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{mapped}"))
}

fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, GgufError> {
    let byte_level = ByteLevel::default().add_prefix_space(false);
    let split = |pattern: &str| -> Result<PreTokenizerWrapper, GgufError> {
        let s = Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(GgufError::Tokenizer)?;
        Ok(Sequence::new(vec![
            s.into(),
            ByteLevel::default()
                .add_prefix_space(false)
                .use_regex(false)
                .into(),
        ])
        .into())
    };
    match pre {
        "default" | "gpt2" | "gpt-2" => Ok(byte_level.into()),
        // SmolLM, StarCoder: every digit on its own, then GPT-2 byte-level splitting.
        "smollm" | "starcoder" | "refact" => {
            Ok(Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into())
        }
        "qwen2" => split(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ),
        "llama-bpe" | "llama3" => split(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ),
        other => Err(GgufError::UnsupportedPreTokenizer(other.to_string())),
    }
}

fn strings(v: &Value) -> Result<Vec<String>, GgufError> {
    v.to_vec()?.iter().map(|s| Ok(s.to_string()?.clone())).collect()
}

/// Rebuilds a Hugging Face tokenizer from GGUF `tokenizer.ggml.*` metadata.
fn build_tokenizer(meta: &Meta<'_>) -> Result<(Tokenizer, Vec<String>), GgufError> {
    let model = meta.get("tokenizer.ggml.model")?.to_string()?;
    if model != "gpt2" {
        return Err(GgufError::UnsupportedTokenizer(model.clone()));
    }
    let tokens = strings(meta.get("tokenizer.ggml.tokens")?)?;
    let merges: Vec<(String, String)> = strings(meta.get("tokenizer.ggml.merges")?)?
        .into_iter()
        .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    let types: Vec<i32> = match meta.md.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => vec![1; tokens.len()],
    };
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(GgufError::Tokenizer)?;
    let mut tok = Tokenizer::new(bpe);
    let pre = match meta.md.get("tokenizer.ggml.pre") {
        Some(v) => v.to_string()?.clone(),
        None => "default".to_string(),
    };
    tok.with_pre_tokenizer(Some(pre_tokenizer(&pre)?));
    tok.with_decoder(Some(ByteLevel::default()));
    // GGUF token types: 3 = control (special), 4 = user-defined (added, not special).
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, t)| **t == 3 || **t == 4)
        .map(|(s, t)| AddedToken::from(s.clone(), *t == 3))
        .collect();
    tok.add_special_tokens(added).map_err(GgufError::Tokenizer)?;
    Ok((tok, tokens))
}

/// Converts `gguf_path` into a Hugging Face package in `out_dir` (f32 weights).
/// `progress(done, total)` is called after each tensor.
pub fn convert(
    gguf_path: &Path,
    out_dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ModelConfig, GgufError> {
    let io = |source| GgufError::Io {
        path: gguf_path.display().to_string(),
        source,
    };
    let mut reader = BufReader::new(File::open(gguf_path).map_err(io)?);
    let content = Content::read(&mut reader)?;
    let arch_name = content
        .metadata
        .get("general.architecture")
        .ok_or_else(|| GgufError::MissingKey("general.architecture".into()))?
        .to_string()?
        .clone();
    let architecture = match arch_name.as_str() {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        "qwen3" => Architecture::Qwen3,
        other => return Err(GgufError::UnsupportedArchitecture(other.to_string())),
    };
    let meta = Meta {
        md: &content.metadata,
        arch: &arch_name,
    };
    let (tokenizer, tokens) = build_tokenizer(&meta)?;

    let hidden = meta.arch_u32("embedding_length")? as usize;
    let heads = meta.arch_u32("attention.head_count")? as usize;
    let kv_heads = meta
        .arch_u32("attention.head_count_kv")
        .map(|v| v as usize)
        .unwrap_or(heads);
    let head_dim = meta
        .arch_u32("attention.key_length")
        .or_else(|_| meta.arch_u32("rope.dimension_count"))
        .map(|v| v as usize)
        .unwrap_or(hidden / heads);
    let embed_rows = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| GgufError::MissingTensor("token_embd.weight".into()))?
        .shape
        .dims()[0];
    let tie = !content.tensor_infos.contains_key("output.weight");
    let cfg = ModelConfig {
        architecture,
        vocab_size: embed_rows,
        hidden_size: hidden,
        intermediate_size: meta.arch_u32("feed_forward_length")? as usize,
        num_layers: meta.arch_u32("block_count")? as usize,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        max_position_embeddings: meta.arch_u32("context_length")? as usize,
        rms_norm_eps: f32_to_f64(meta.arch_f32("attention.layer_norm_rms_epsilon")?),
        rope_theta: meta
            .arch_f32("rope.freq_base")
            .map(f32_to_f64)
            .unwrap_or(10_000.0),
        tie_word_embeddings: tie,
        qkv_bias: architecture == Architecture::Qwen2,
        qk_norm: architecture == Architecture::Qwen3,
        bos_token_id: meta.opt_u32("tokenizer.ggml.bos_token_id"),
        eos_token_ids: meta.opt_u32("tokenizer.ggml.eos_token_id").into_iter().collect(),
    };

    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let total = names.len();
    let mut weights = HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        // Tensors llama.cpp adds for its own use (e.g. rope frequency tables) have no HF name.
        let Some(hf) = hf_name(name) else { continue };
        let q = content.tensor(&mut reader, name, &Device::Cpu)?;
        let mut t = q.dequantize(&Device::Cpu)?.to_dtype(DType::F32)?;
        if architecture == Architecture::Llama {
            if name.ends_with("attn_q.weight") {
                t = unpermute(&t, heads)?;
            } else if name.ends_with("attn_k.weight") {
                t = unpermute(&t, kv_heads)?;
            }
        }
        weights.insert(hf, t);
        progress(i + 1, total);
    }
    for (name, _) in cfg.expected_tensors() {
        if !weights.contains_key(&name) {
            return Err(GgufError::MissingTensor(name));
        }
    }

    let io_out = |source| GgufError::Io {
        path: out_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(out_dir).map_err(io_out)?;
    std::fs::write(
        out_dir.join("config.json"),
        serde_json::to_vec_pretty(&cfg.to_hf_json())?,
    )
    .map_err(io_out)?;
    candle_core::safetensors::save(&weights, out_dir.join("model.safetensors"))?;
    tokenizer
        .save(out_dir.join("tokenizer.json"), false)
        .map_err(GgufError::Tokenizer)?;
    let token = |id: Option<u32>| {
        id.and_then(|i| tokens.get(i as usize))
            .cloned()
            .unwrap_or_default()
    };
    let mut tc = serde_json::json!({
        "bos_token": token(cfg.bos_token_id),
        "eos_token": token(cfg.eos_token_ids.first().copied()),
        "add_bos_token": content.metadata.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false),
        "model_max_length": cfg.max_position_embeddings,
    });
    if let Some(pad) = meta.opt_u32("tokenizer.ggml.padding_token_id") {
        tc["pad_token"] = token(Some(pad)).into();
    }
    if let Some(t) = content.metadata.get("tokenizer.chat_template") {
        tc["chat_template"] = t.to_string()?.clone().into();
    }
    std::fs::write(
        out_dir.join("tokenizer_config.json"),
        serde_json::to_vec_pretty(&tc)?,
    )
    .map_err(io_out)?;
    let mut gen_cfg = serde_json::json!({});
    if let Some(b) = cfg.bos_token_id {
        gen_cfg["bos_token_id"] = b.into();
    }
    if let Some(e) = cfg.eos_token_ids.first() {
        gen_cfg["eos_token_id"] = (*e).into();
    }
    std::fs::write(
        out_dir.join("generation_config.json"),
        serde_json::to_vec_pretty(&gen_cfg)?,
    )
    .map_err(io_out)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // llama.cpp: w.reshape(heads, 2, hd/2, in).swapaxes(1, 2).reshape(out, in)
        let (heads, hd, inp) = (3, 4, 2);
        let w = Tensor::arange(0f32, (heads * hd * inp) as f32, &Device::Cpu)
            .and_then(|t| t.reshape((heads * hd, inp)))
            .expect("tensor");
        let permuted = w
            .reshape((heads, 2, hd / 2, inp))
            .and_then(|t| t.transpose(1, 2))
            .and_then(|t| t.reshape((heads * hd, inp)))
            .expect("permute");
        assert_ne!(
            permuted.to_vec2::<f32>().expect("v"),
            w.to_vec2::<f32>().expect("v")
        );
        let back = unpermute(&permuted, heads).expect("unpermute");
        assert_eq!(back.to_vec2::<f32>().expect("v"), w.to_vec2::<f32>().expect("v"));
    }

    #[test]
    fn maps_tensor_names() {
        assert_eq!(
            hf_name("blk.7.ffn_gate.weight").as_deref(),
            Some("model.layers.7.mlp.gate_proj.weight")
        );
        assert_eq!(hf_name("output.weight").as_deref(), Some("lm_head.weight"));
        assert_eq!(hf_name("rope_freqs.weight"), None);
    }

    #[test]
    fn smollm_pre_tokenizer_splits_digits() {
        let pre = pre_tokenizer("smollm").expect("known");
        let mut tok = Tokenizer::new(
            BPE::builder()
                .vocab_and_merges(
                    ByteLevel::alphabet()
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| (c.to_string(), i as u32))
                        .collect::<Vocab>(),
                    Vec::new(),
                )
                .build()
                .expect("bpe"),
        );
        tok.with_pre_tokenizer(Some(pre));
        let enc = tok.encode("ab 12", false).expect("encode");
        assert_eq!(enc.get_tokens(), ["a", "b", "Ġ", "1", "2"]);
        assert!(matches!(
            pre_tokenizer("mystery"),
            Err(GgufError::UnsupportedPreTokenizer(_))
        ));
    }
}
