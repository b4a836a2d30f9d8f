//! Kindred's own forward pass for the allowed decoder architectures (Llama/Mistral, Qwen2, Qwen3).
//!
//! Written here rather than taken from candle-transformers because scoring needs log-probs at
//! every position of left-padded batches with a per-sequence attention mask and per-sequence
//! rotary positions; the ready-made models return last-position logits only. Tests check this
//! forward against candle-transformers' implementations on the same weights.
//!
//! Layout choices for speed on CPU: q/k/v and gate/up projections are fused into one matrix each
//! at load time, activations are kept as `(batch·time, hidden)` matrices between layers so every
//! projection is a single GEMM, grouped-query attention multiplies each key/value head against
//! its group of query heads without copying keys, and the output head is applied only at the
//! positions being scored.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::kernels::{self, AttentionSpan, Ops};

/// The per-layer weights, fused for fewer, larger matrix multiplications.
#[derive(Debug)]
struct Layer {
    input_norm: Tensor,
    qkv: Tensor,
    qkv_bias: Option<Tensor>,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    o_proj: Tensor,
    post_norm: Tensor,
    gate_up: Tensor,
    down: Tensor,
}

/// Keys and values of the positions seen so far, one entry per layer (greedy decoding).
/// Cloning is cheap (tensors are shared), which lets callers branch a prefix.
#[derive(Debug, Default, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A causal language model ready to run.
#[derive(Debug)]
pub struct CausalLm {
    cfg: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    cos: Tensor,
    sin: Tensor,
    max_positions: usize,
    dtype: DType,
    device: Device,
    ops: Ops,
}

/// One sequence to score: `tokens[target_start..]` are scored given everything before them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRequest {
    pub tokens: Vec<u32>,
    pub target_start: usize,
}

/// Errors of the forward pass itself (shapes, devices): infrastructure, not the miner's fault.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("tensor {0} is missing")]
    MissingTensor(String),
    #[error("sequence of {len} tokens exceeds the {max} positions this model was loaded for")]
    TooLong { len: usize, max: usize },
    #[error("a scored sequence needs at least one context token before its targets")]
    NoContext,
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    TokenOutOfRange { id: u32, vocab: usize },
    /// candle's rotary kernels panic on a zero-length sequence, so this is refused first.
    #[error("a forward pass needs at least one token")]
    EmptyInput,
}

fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::rms_norm(x, w, eps as f32)
}

impl CausalLm {
    /// Builds the model from Hugging Face-named tensors. `max_positions` bounds the rotary table.
    pub fn from_tensors(
        cfg: &ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        max_positions: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self, ForwardError> {
        let mut take = |name: &str| -> Result<Tensor, ForwardError> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| ForwardError::MissingTensor(name.to_string()))?;
            Ok(t.to_dtype(dtype)?.to_device(device)?)
        };
        let embed = take("model.embed_tokens.weight")?;
        let norm = take("model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            embed.clone()
        } else {
            take("lm_head.weight")?
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            let q = take(&format!("{p}.self_attn.q_proj.weight"))?;
            let k = take(&format!("{p}.self_attn.k_proj.weight"))?;
            let v = take(&format!("{p}.self_attn.v_proj.weight"))?;
            let qkv_bias = if cfg.qkv_bias {
                let qb = take(&format!("{p}.self_attn.q_proj.bias"))?;
                let kb = take(&format!("{p}.self_attn.k_proj.bias"))?;
                let vb = take(&format!("{p}.self_attn.v_proj.bias"))?;
                Some(Tensor::cat(&[qb, kb, vb], 0)?)
            } else {
                None
            };
            let (q_norm, k_norm) = if cfg.qk_norm {
                (
                    Some(take(&format!("{p}.self_attn.q_norm.weight"))?),
                    Some(take(&format!("{p}.self_attn.k_norm.weight"))?),
                )
            } else {
                (None, None)
            };
            let gate = take(&format!("{p}.mlp.gate_proj.weight"))?;
            let up = take(&format!("{p}.mlp.up_proj.weight"))?;
            layers.push(Layer {
                input_norm: take(&format!("{p}.input_layernorm.weight"))?,
                qkv: Tensor::cat(&[q, k, v], 0)?,
                qkv_bias,
                q_norm,
                k_norm,
                o_proj: take(&format!("{p}.self_attn.o_proj.weight"))?,
                post_norm: take(&format!("{p}.post_attention_layernorm.weight"))?,
                gate_up: Tensor::cat(&[gate, up], 0)?,
                down: take(&format!("{p}.mlp.down_proj.weight"))?,
            });
        }
        let max_positions = max_positions.min(cfg.max_position_embeddings).max(1);
        let half = cfg.head_dim / 2;
        // f32 like the reference implementations, so rounding matches theirs.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1f32 / (cfg.rope_theta as f32).powf((2 * i) as f32 / cfg.head_dim as f32))
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), &Device::Cpu)?;
        let pos = Tensor::arange(0u32, max_positions as u32, &Device::Cpu)?
            .to_dtype(DType::F32)?
            .reshape((max_positions, 1))?;
        let freqs = pos.matmul(&inv_freq)?;
        Ok(Self {
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
            cos: freqs.cos()?.to_dtype(dtype)?.to_device(device)?,
            sin: freqs.sin()?.to_dtype(dtype)?.to_device(device)?,
            max_positions,
            dtype,
            device: device.clone(),
            ops: Ops::for_device(device, dtype),
        })
    }

    /// Forces an implementation of the hot operations (tests compare the two).
    pub fn with_ops(mut self, ops: Ops) -> Self {
        if ops == Ops::Portable || (self.device.is_cpu() && self.dtype == DType::F32) {
            self.ops = ops;
        }
        self
    }

    fn linear(&self, x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        kernels::matmul_nt(self.ops, x, w)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), ForwardError> {
        if tokens.is_empty() {
            return Err(ForwardError::EmptyInput);
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= self.cfg.vocab_size) {
            return Err(ForwardError::TokenOutOfRange {
                id,
                vocab: self.cfg.vocab_size,
            });
        }
        Ok(())
    }

    /// Runs the decoder stack on `x` (`(b·t, hidden)`), returning the final residual stream.
    /// `positions` is `(b, t)` u32; `span` says which keys each query sees; `cache` extends
    /// keys/values with earlier positions.
    fn decode(
        &self,
        mut x: Tensor,
        b: usize,
        t: usize,
        positions: &Tensor,
        span: &AttentionSpan,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor, ForwardError> {
        let cfg = &self.cfg;
        let (h, kv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let group = h / kv;
        let flat_pos = positions.flatten_all()?;
        let cos = self.cos.index_select(&flat_pos, 0)?.reshape((b, t, hd / 2))?;
        let sin = self.sin.index_select(&flat_pos, 0)?.reshape((b, t, hd / 2))?;
        let scale = 1.0 / (hd as f64).sqrt();
        for (li, layer) in self.layers.iter().enumerate() {
            let normed = rms_norm(&x, &layer.input_norm, cfg.rms_norm_eps)?;
            let mut qkv = self.linear(&normed, &layer.qkv)?;
            if let Some(bias) = &layer.qkv_bias {
                qkv = qkv.broadcast_add(bias)?;
            }
            let split = |start: usize, heads: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, start * hd, heads * hd)?
                    .reshape((b, t, heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (mut q, mut k, v) = (split(0, h)?, split(h, kv)?, split(h + kv, kv)?);
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = rms_norm(&q, qn, cfg.rms_norm_eps)?;
                k = rms_norm(&k, kn, cfg.rms_norm_eps)?;
            }
            let q = (candle_nn::rotary_emb::rope(&q, &cos, &sin)? * scale)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let (k, v) = match cache.as_deref_mut() {
                Some(c) => {
                    if c.layers.len() <= li {
                        c.layers.resize_with(li + 1, || None);
                    }
                    let (k, v) = match c.layers[li].take() {
                        Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                        None => (k, v),
                    };
                    c.layers[li] = Some((k.clone(), v.clone()));
                    (k, v)
                }
                None => (k, v),
            };
            let t_total = k.dim(2)?;
            // Query heads sharing a key/value head are stacked along time, so keys are not copied.
            let q = q.reshape((b, kv, group * t, hd))?;
            let scores = kernels::matmul_nt(self.ops, &q, &k)?
                .reshape((b, h, t, t_total))?
                .to_dtype(DType::F32)?;
            let probs = kernels::masked_softmax(self.ops, &scores, span)?.to_dtype(self.dtype)?;
            let probs = probs.reshape((b, kv, group * t, t_total))?;
            let attn = kernels::matmul_nn(self.ops, &probs, &v)?
                .reshape((b, h, t, hd))?
                .transpose(1, 2)?
                .reshape((b * t, h * hd))?;
            x = (x + self.linear(&attn, &layer.o_proj)?)?;
            let normed = rms_norm(&x, &layer.post_norm, cfg.rms_norm_eps)?;
            let act = kernels::swiglu(self.ops, &self.linear(&normed, &layer.gate_up)?)?;
            x = (x + self.linear(&act, &layer.down)?)?;
        }
        if let Some(c) = cache {
            c.len += t;
        }
        Ok(x)
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor, ForwardError> {
        let ids = Tensor::new(ids, &self.device)?;
        Ok(self.embed.index_select(&ids, 0)?)
    }

    /// Log-probabilities (natural log) of each target token of each request, in one left-padded
    /// batch. The batch composition is the caller's: results depend only on it, not on timing.
    pub fn score_batch(&self, requests: &[ScoreRequest]) -> Result<Vec<Vec<f32>>, ForwardError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let t = requests.iter().map(|r| r.tokens.len()).max().unwrap_or(0);
        if t > self.max_positions {
            return Err(ForwardError::TooLong {
                len: t,
                max: self.max_positions,
            });
        }
        let b = requests.len();
        let mut ids = Vec::with_capacity(b * t);
        let mut positions = Vec::with_capacity(b * t);
        let mut pads = Vec::with_capacity(b);
        let mut gather = Vec::new();
        let mut targets = Vec::new();
        for (bi, r) in requests.iter().enumerate() {
            if r.target_start == 0 || r.target_start > r.tokens.len() {
                return Err(ForwardError::NoContext);
            }
            self.check_tokens(&r.tokens)?;
            let pad = t - r.tokens.len();
            ids.extend(std::iter::repeat_n(0u32, pad).chain(r.tokens.iter().copied()));
            positions.extend((0..t).map(|i| i.saturating_sub(pad) as u32));
            pads.push(pad);
            for k in r.target_start..r.tokens.len() {
                gather.push((bi * t + pad + k - 1) as u32);
                targets.push(r.tokens[k]);
            }
        }
        let x = self.embed(&ids)?;
        let positions = Tensor::from_vec(positions, (b, t), &self.device)?;
        let x = self.decode(x, b, t, &positions, &AttentionSpan { pads, offset: 0 }, None)?;
        if gather.is_empty() {
            return Ok(vec![Vec::new(); b]);
        }
        let rows = x.index_select(&Tensor::new(gather.as_slice(), &self.device)?, 0)?;
        let rows = rms_norm(&rows, &self.norm, self.cfg.rms_norm_eps)?;
        let logits = self.linear(&rows, &self.lm_head)?.to_dtype(DType::F32)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let n = targets.len();
        let picked = logp
            .gather(&Tensor::from_vec(targets, (n, 1), &self.device)?, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(b);
        let mut cursor = 0;
        for r in requests {
            let len = r.tokens.len() - r.target_start;
            out.push(picked[cursor..cursor + len].to_vec());
            cursor += len;
        }
        Ok(out)
    }

    /// Logits (f32) at every position of one unpadded sequence; for tests and diagnostics.
    pub fn all_logits(&self, tokens: &[u32]) -> Result<Tensor, ForwardError> {
        self.check_tokens(tokens)?;
        let t = tokens.len();
        if t > self.max_positions {
            return Err(ForwardError::TooLong {
                len: t,
                max: self.max_positions,
            });
        }
        let x = self.embed(tokens)?;
        let positions = Tensor::arange(0u32, t as u32, &self.device)?.reshape((1, t))?;
        let span = AttentionSpan {
            pads: vec![0],
            offset: 0,
        };
        let x = self.decode(x, 1, t, &positions, &span, None)?;
        let x = rms_norm(&x, &self.norm, self.cfg.rms_norm_eps)?;
        Ok(self.linear(&x, &self.lm_head)?.to_dtype(DType::F32)?)
    }

    /// Feeds `tokens` after whatever `cache` holds and returns the f32 logits of the last one.
    pub fn step(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, ForwardError> {
        self.check_tokens(tokens)?;
        let (start, t) = (cache.len(), tokens.len());
        if start + t > self.max_positions {
            return Err(ForwardError::TooLong {
                len: start + t,
                max: self.max_positions,
            });
        }
        let x = self.embed(tokens)?;
        let positions = Tensor::arange(start as u32, (start + t) as u32, &self.device)?.reshape((1, t))?;
        let span = AttentionSpan {
            pads: vec![0],
            offset: start,
        };
        let x = self.decode(x, 1, t, &positions, &span, Some(cache))?;
        let last = x.narrow(0, t - 1, 1)?;
        let last = rms_norm(&last, &self.norm, self.cfg.rms_norm_eps)?;
        Ok(self
            .linear(&last, &self.lm_head)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// Greedy decoding with a KV cache: stops at any of `stop` (not included) or after
    /// `max_new` tokens. Ties pick the lowest token id, so the output is deterministic.
    pub fn generate_greedy(
        &self,
        prompt: &[u32],
        max_new: usize,
        stop: &[u32],
    ) -> Result<Vec<u32>, ForwardError> {
        let mut cache = KvCache::default();
        let mut out = Vec::new();
        let mut logits = self.step(prompt, &mut cache)?;
        for _ in 0..max_new {
            let next = argmax(&logits);
            if stop.contains(&next) {
                break;
            }
            out.push(next);
            if cache.len() + 1 > self.max_positions {
                break;
            }
            logits = self.step(&[next], &mut cache)?;
        }
        Ok(out)
    }
}

/// Index of the largest value; the first one wins ties and NaN never wins.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best as u32
}
