//! Training a decoder on dialogue text: next-token cross-entropy, AdamW, a fixed seed. A run
//! starts from seeded random weights ([`Trainer::from_scratch`]) or from a validated package
//! ([`Trainer::from_package`], full fine-tuning: every parameter is trained).
//!
//! Kindred's scoring forward (`kindred_scoring::model`) is built for speed with fused matrices
//! and native kernels that candle cannot differentiate, so training has its own forward made
//! of plain candle operations over the Hugging Face-named parameters. The parameters live in a
//! [`VarMap`] under exactly the names and shapes `ModelConfig::expected_tensors` lists, which
//! is why the saved package loads in the validators' forward unchanged.
//!
//! Everything random (initial weights, which windows form each batch) comes from the seed, and
//! candle's CPU kernels do not split reductions by thread count, so a run on CPU is a function
//! of its inputs: the same data, spec, settings and seed give the same bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::ModelConfig;
use crate::dialogue::{Dialogue, Speaker};
use crate::package::{self, Dtype};
use crate::seed::SeedStream;
use crate::template::{ChatMessage, ChatTemplate, RenderRequest, TemplateError, TemplateLimits};
use crate::tiny::{self, TinyError, TinySpec};
use crate::validate::ValidatedModel;
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Tiny(#[from] TinyError),
    #[error("rendering a training dialogue: {0}")]
    Template(#[from] TemplateError),
    #[error("tokenising training text: {0}")]
    Tokenizer(String),
    #[error("reading training data: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the dialogue file: {source}")]
    Json { line: usize, source: serde_json::Error },
    #[error("the training text has {tokens} tokens with {scored} scored; a window needs {needed}")]
    TooLittleData {
        tokens: usize,
        scored: usize,
        needed: usize,
    },
    #[error("bad training settings: {0}")]
    Settings(&'static str),
    #[error("the base package cannot be fine-tuned here: {0}")]
    UnsupportedBase(String),
    #[error("{path}: {source}")]
    BaseFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to train on.
#[derive(Debug, Clone)]
pub enum Corpus {
    /// Conversations rendered with the chat template validators score with; the loss covers the
    /// character's replies and the end-of-turn token after each (see
    /// [`Corpus::dialogues_from_jsonl`]).
    Dialogues(Vec<Dialogue>),
    /// Plain text; the loss covers every token.
    Text(String),
}

impl Corpus {
    /// Reads Kindred's dialogue JSONL layout (one [`Dialogue`] per non-empty line), the same
    /// layout as the bundled suite and validators' private sets.
    pub fn dialogues_from_jsonl(text: &str) -> Result<Self, FinetuneError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(
                serde_json::from_str(line).map_err(|source| FinetuneError::Json { line: i + 1, source })?,
            );
        }
        Ok(Self::Dialogues(out))
    }
}

/// Training settings. The learning rate is constant (no schedule over the total), so the
/// weights after `k` steps of a longer run equal a `k`-step run: a ladder can checkpoint one run.
#[derive(Debug, Clone)]
pub struct FinetuneSettings {
    pub steps: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Tokens per window (the model also sees positions only up to this).
    pub seq_len: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Seeds the window sampling (the initial weights come from the [`TinySpec`]'s seed).
    pub seed: u64,
}

impl Default for FinetuneSettings {
    fn default() -> Self {
        Self {
            steps: 200,
            batch_size: 8,
            seq_len: 128,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

/// Token ids of the whole corpus with a per-token loss weight (1 where the token is learnt).
#[derive(Debug, Clone)]
pub struct TokenStream {
    pub ids: Vec<u32>,
    pub learn: Vec<bool>,
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, FinetuneError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| FinetuneError::Tokenizer(e.to_string()))
}

impl TokenStream {
    fn push(&mut self, ids: Vec<u32>, learn: bool) {
        self.learn.extend(std::iter::repeat_n(learn, ids.len()));
        self.ids.extend(ids);
    }

    /// Tokenises `corpus`. Each dialogue is rendered whole; every character reply (and the
    /// end-of-turn text right after it, so the model learns to stop) is tokenised as its own
    /// segment, as the scoring path tokenises context and reply separately.
    pub fn build(
        corpus: &Corpus,
        tokenizer: &Tokenizer,
        template: &ChatTemplate,
    ) -> Result<Self, FinetuneError> {
        let mut out = Self {
            ids: Vec::new(),
            learn: Vec::new(),
        };
        let dialogues = match corpus {
            Corpus::Text(text) => {
                out.push(encode(tokenizer, text)?, true);
                return Ok(out);
            }
            Corpus::Dialogues(d) => d,
        };
        let limits = TemplateLimits::default();
        for d in dialogues {
            let mut messages = vec![ChatMessage::new("system", &d.persona)];
            messages.extend(d.turns.iter().map(|t| {
                let role = match t.speaker {
                    Speaker::Partner => "user",
                    Speaker::Character => "assistant",
                };
                ChatMessage::new(role, &t.text)
            }));
            let text = template.render(
                &RenderRequest {
                    messages,
                    add_generation_prompt: false,
                },
                &limits,
            )?;
            // Walk the rendering, cutting out each reply where it appears (in order).
            let mut at = 0;
            for turn in &d.turns {
                let Some(found) = text[at..].find(&turn.text) else {
                    continue;
                };
                let start = at + found;
                if turn.speaker != Speaker::Character || turn.text.trim().is_empty() {
                    continue;
                }
                out.push(encode(tokenizer, &text[at..start])?, false);
                let mut end = start + turn.text.len();
                if !template.eos_token.is_empty() && text[end..].starts_with(&template.eos_token) {
                    end += template.eos_token.len();
                }
                out.push(encode(tokenizer, &text[start..end])?, true);
                at = end;
            }
            out.push(encode(tokenizer, &text[at..])?, false);
        }
        Ok(out)
    }
}

/// The parameters as tensors tracked by autograd, fetched once from the [`VarMap`] (the
/// optimiser updates the variables in place, so these stay current).
#[derive(Debug)]
struct Params {
    embed: Tensor,
    norm: Tensor,
    lm_head: Tensor,
    layers: Vec<LayerParams>,
}

#[derive(Debug)]
struct LayerParams {
    input_norm: Tensor,
    post_norm: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    qkv_bias: Option<[Tensor; 3]>,
    qk_norm: Option<[Tensor; 2]>,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

impl Params {
    /// Fetches every tensor `cfg` implies, checking each shape against the map.
    fn new(cfg: &ModelConfig, vb: &VarBuilder<'_>) -> candle_core::Result<Self> {
        let shapes: HashMap<String, Vec<usize>> = cfg.expected_tensors().into_iter().collect();
        let get = |name: &str| -> candle_core::Result<Tensor> {
            let shape = shapes
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("{name} is not a tensor of this config")))?;
            vb.get(shape.as_slice(), name)
        };
        let embed = get("model.embed_tokens.weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            embed.clone()
        } else {
            get("lm_head.weight")?
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            let a = |n: &str| get(&format!("{p}.self_attn.{n}"));
            layers.push(LayerParams {
                input_norm: get(&format!("{p}.input_layernorm.weight"))?,
                post_norm: get(&format!("{p}.post_attention_layernorm.weight"))?,
                q: a("q_proj.weight")?,
                k: a("k_proj.weight")?,
                v: a("v_proj.weight")?,
                o: a("o_proj.weight")?,
                qkv_bias: if cfg.qkv_bias {
                    Some([a("q_proj.bias")?, a("k_proj.bias")?, a("v_proj.bias")?])
                } else {
                    None
                },
                qk_norm: if cfg.qk_norm {
                    Some([a("q_norm.weight")?, a("k_norm.weight")?])
                } else {
                    None
                },
                gate: get(&format!("{p}.mlp.gate_proj.weight"))?,
                up: get(&format!("{p}.mlp.up_proj.weight"))?,
                down: get(&format!("{p}.mlp.down_proj.weight"))?,
            });
        }
        Ok(Self {
            embed,
            norm: get("model.norm.weight")?,
            lm_head,
            layers,
        })
    }
}

/// RMS norm from differentiable primitives (candle_nn's fused one has no backward pass).
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
}

/// `x · wᵀ` for `x` of any rank.
fn linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_matmul(&w.t()?)
}

/// Rotary embedding in the Hugging Face (half-split) layout the scoring forward uses;
/// `cos`/`sin` are `(t, head_dim)`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// The differentiable forward: `(b, t)` token ids → `(b·t, vocab)` logits, causal attention,
/// no padding (every window is full).
struct TrainingForward {
    cfg: ModelConfig,
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
}

impl TrainingForward {
    fn new(cfg: &ModelConfig, t: usize) -> candle_core::Result<Self> {
        let hd = cfg.head_dim;
        let half = hd / 2;
        // The same f32 frequencies as the scoring forward, so positions mean the same there.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1f32 / (cfg.rope_theta as f32).powf((2 * i) as f32 / hd as f32))
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), &Device::Cpu)?;
        let pos = Tensor::arange(0u32, t as u32, &Device::Cpu)?
            .to_dtype(DType::F32)?
            .reshape((t, 1))?;
        let freqs = pos.matmul(&inv_freq)?;
        let freqs = Tensor::cat(&[&freqs, &freqs], 1)?;
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        Ok(Self {
            cfg: cfg.clone(),
            cos: freqs.cos()?,
            sin: freqs.sin()?,
            mask: Tensor::from_vec(mask, (t, t), &Device::Cpu)?,
        })
    }

    fn logits(&self, p: &Params, ids: &Tensor) -> candle_core::Result<Tensor> {
        let cfg = &self.cfg;
        let (b, t) = ids.dims2()?;
        let (h, kv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let group = h / kv;
        let eps = cfg.rms_norm_eps;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut x = p.embed.index_select(&ids.flatten_all()?, 0)?;
        for layer in &p.layers {
            let normed = rms_norm(&x, &layer.input_norm, eps)?;
            let mut q = linear(&normed, &layer.q)?;
            let mut k = linear(&normed, &layer.k)?;
            let mut v = linear(&normed, &layer.v)?;
            if let Some([qb, kb, vb]) = &layer.qkv_bias {
                q = q.broadcast_add(qb)?;
                k = k.broadcast_add(kb)?;
                v = v.broadcast_add(vb)?;
            }
            let heads = |x: Tensor, n: usize| x.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous();
            let (mut q, mut k, v) = (heads(q, h)?, heads(k, kv)?, heads(v, kv)?);
            if let Some([qn, kn]) = &layer.qk_norm {
                q = rms_norm(&q, qn, eps)?;
                k = rms_norm(&k, kn, eps)?;
            }
            let q = (rope(&q, &self.cos, &self.sin)? * scale)?;
            let k = rope(&k, &self.cos, &self.sin)?;
            // Query heads [j·group, (j+1)·group) share key/value head j, as in the scoring forward.
            let widen = |x: Tensor| -> candle_core::Result<Tensor> {
                x.unsqueeze(2)?
                    .broadcast_as((b, kv, group, t, hd))?
                    .contiguous()?
                    .reshape((b, h, t, hd))
            };
            let (k, v) = (widen(k)?, widen(v)?);
            let scores = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(&self.mask)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let attn = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * t, h * hd))?;
            x = (x + linear(&attn, &layer.o)?)?;
            let normed = rms_norm(&x, &layer.post_norm, eps)?;
            let act = (linear(&normed, &layer.gate)?.silu()? * linear(&normed, &layer.up)?)?;
            x = (x + linear(&act, &layer.down)?)?;
        }
        let x = rms_norm(&x, &p.norm, eps)?;
        linear(&x, &p.lm_head)
    }
}

/// Where a run's weights came from, which decides what a saved package holds besides them.
#[derive(Debug, Clone)]
enum Origin {
    /// Seeded random weights over the tiny tokenizer and ChatML.
    Scratch,
    /// A validated package: its config, tokenizer, tokenizer config (chat template) and
    /// generation config are kept byte for byte, the weights saved in its dtype.
    Package { dir: PathBuf, dtype: DType },
}

/// One training run in progress: call [`Trainer::step`] as often as wanted, save whenever.
pub struct Trainer {
    cfg: ModelConfig,
    origin: Origin,
    varmap: VarMap,
    params: Params,
    forward: TrainingForward,
    optimizer: AdamW,
    stream: TokenStream,
    /// Window starts whose targets include at least one learnt token.
    starts: Vec<usize>,
    rng: SeedStream,
    settings: FinetuneSettings,
    steps_done: usize,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("cfg", &self.cfg)
            .field("settings", &self.settings)
            .field("steps_done", &self.steps_done)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TrainingForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingForward").finish_non_exhaustive()
    }
}

impl Trainer {
    /// A model with `spec`'s architecture and seeded random weights, over the tiny byte-level
    /// tokenizer and the ChatML template, ready to train on `corpus`.
    pub fn from_scratch(
        spec: &TinySpec,
        corpus: &Corpus,
        settings: &FinetuneSettings,
    ) -> Result<Self, FinetuneError> {
        let cfg = spec.config();
        let template = ChatTemplate {
            source: tiny::CHATML_TEMPLATE.to_string(),
            bos_token: tiny::SPECIAL_TOKENS[0].to_string(),
            eos_token: tiny::SPECIAL_TOKENS[2].to_string(),
        };
        let weights = tiny::random_weights(&cfg, spec.init_std, spec.seed)?;
        Self::new(
            cfg,
            weights,
            &tiny::tiny_tokenizer()?,
            &template,
            Origin::Scratch,
            corpus,
            settings,
        )
    }

    /// Continues training a package that passed validation (`kindred_scoring::validate`), with
    /// its own tokenizer and chat template. Weights train in f32 and are saved in the base's
    /// dtype beside copies of its other files, so the result is the same kind of package.
    pub fn from_package(
        base: &ValidatedModel,
        corpus: &Corpus,
        settings: &FinetuneSettings,
    ) -> Result<Self, FinetuneError> {
        let mut dtypes: Vec<Dtype> = Vec::new();
        for t in base.tensors.values() {
            if !dtypes.contains(&t.dtype) {
                dtypes.push(t.dtype);
            }
        }
        let dtype = match dtypes.as_slice() {
            [Dtype::F32] => DType::F32,
            [Dtype::BF16] => DType::BF16,
            [Dtype::F16] => DType::F16,
            other => {
                return Err(FinetuneError::UnsupportedBase(format!(
                    "weights mix dtypes {other:?}; convert them to one first"
                )));
            }
        };
        let mut weights = HashMap::new();
        for path in base.files.weight_paths() {
            for (name, t) in candle_core::safetensors::load(&path, &Device::Cpu)? {
                let t = t.to_dtype(DType::F32)?;
                // Training from non-finite weights only spreads them.
                let sum = t.sqr()?.sum_all()?.to_scalar::<f32>()?;
                if !sum.is_finite() {
                    return Err(FinetuneError::UnsupportedBase(format!("{name} is not finite")));
                }
                weights.insert(name, t);
            }
        }
        let dir = base
            .files
            .path(package::CONFIG)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::new(
            base.config.clone(),
            weights,
            &base.tokenizer,
            &base.chat_template,
            Origin::Package { dir, dtype },
            corpus,
            settings,
        )
    }

    fn new(
        cfg: ModelConfig,
        weights: HashMap<String, Tensor>,
        tokenizer: &Tokenizer,
        template: &ChatTemplate,
        origin: Origin,
        corpus: &Corpus,
        settings: &FinetuneSettings,
    ) -> Result<Self, FinetuneError> {
        if settings.batch_size == 0 || settings.seq_len < 2 {
            return Err(FinetuneError::Settings(
                "batch size ≥ 1 and sequence length ≥ 2 needed",
            ));
        }
        let stream = TokenStream::build(corpus, tokenizer, template)?;
        let window = settings.seq_len + 1;
        let starts: Vec<usize> = (0..stream.ids.len().saturating_sub(window - 1))
            .filter(|&s| stream.learn[s + 1..s + window].iter().any(|&l| l))
            .collect();
        if starts.is_empty() {
            return Err(FinetuneError::TooLittleData {
                tokens: stream.ids.len(),
                scored: stream.learn.iter().filter(|&&l| l).count(),
                needed: window,
            });
        }
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
            for (name, t) in weights {
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let params = Params::new(&cfg, &vb)?;
        let optimizer = AdamW::new(
            varmap.all_vars(),
            ParamsAdamW {
                lr: settings.learning_rate,
                weight_decay: settings.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        Ok(Self {
            forward: TrainingForward::new(&cfg, settings.seq_len)?,
            cfg,
            origin,
            varmap,
            params,
            optimizer,
            stream,
            starts,
            rng: SeedStream::new(&settings.seed.to_le_bytes(), "finetune-windows"),
            settings: settings.clone(),
            steps_done: 0,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// Tokens in the training stream and how many of them are learnt.
    pub fn corpus_tokens(&self) -> (usize, usize) {
        (
            self.stream.ids.len(),
            self.stream.learn.iter().filter(|&&l| l).count(),
        )
    }

    /// The next batch: `(inputs, targets, weights)` of `batch_size` windows at seeded starts.
    fn batch(&mut self) -> candle_core::Result<(Tensor, Tensor, Tensor, f32)> {
        let (b, t) = (self.settings.batch_size, self.settings.seq_len);
        let (mut inputs, mut targets, mut weights) = (
            Vec::with_capacity(b * t),
            Vec::with_capacity(b * t),
            Vec::with_capacity(b * t),
        );
        for _ in 0..b {
            let s = self.starts[self.rng.below(self.starts.len())];
            inputs.extend_from_slice(&self.stream.ids[s..s + t]);
            targets.extend_from_slice(&self.stream.ids[s + 1..s + t + 1]);
            weights.extend(
                self.stream.learn[s + 1..s + t + 1]
                    .iter()
                    .map(|&l| f32::from(u8::from(l))),
            );
        }
        let count = weights.iter().sum::<f32>();
        Ok((
            Tensor::from_vec(inputs, (b, t), &Device::Cpu)?,
            Tensor::from_vec(targets, (b * t, 1), &Device::Cpu)?,
            Tensor::from_vec(weights, b * t, &Device::Cpu)?,
            count,
        ))
    }

    /// Mean cross-entropy (nats per learnt token) of `logits` against `targets`.
    fn loss(logits: &Tensor, targets: &Tensor, weights: &Tensor, count: f32) -> candle_core::Result<Tensor> {
        let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        let picked = logp.gather(targets, 1)?.flatten_all()?;
        (picked * weights)?.sum_all()?.neg()? / f64::from(count.max(1.0))
    }

    /// One optimiser step on a fresh batch; returns the batch's loss before the update.
    pub fn step(&mut self) -> Result<f32, FinetuneError> {
        let (inputs, targets, weights, count) = self.batch()?;
        let logits = self.forward.logits(&self.params, &inputs)?;
        let loss = Self::loss(&logits, &targets, &weights, count)?;
        self.optimizer.backward_step(&loss)?;
        self.steps_done += 1;
        Ok(loss.to_scalar::<f32>()?)
    }

    /// The current weights under their Hugging Face names (copies, detached from training).
    pub fn weights(&self) -> Result<HashMap<String, Tensor>, FinetuneError> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
        data.iter()
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().detach().copy()?)))
            .collect()
    }

    /// Writes the current model as a Hugging Face package that `kindred_scoring::validate`
    /// accepts: from scratch, f32 safetensors with the tiny tokenizer and ChatML; from a base,
    /// one safetensors file in the base's dtype beside copies of the base's other files.
    pub fn save(&self, dir: &Path) -> Result<(), FinetuneError> {
        let (base, dtype) = match &self.origin {
            Origin::Scratch => {
                tiny::write_package(dir, &self.cfg, &self.weights()?, DType::F32)?;
                return Ok(());
            }
            Origin::Package { dir, dtype } => (dir, *dtype),
        };
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same(base, dir) {
            return Err(FinetuneError::Settings(
                "the output directory must not be the base",
            ));
        }
        std::fs::create_dir_all(dir)?;
        let file_err = |path: PathBuf| move |source| FinetuneError::BaseFile { path, source };
        for name in [
            package::CONFIG,
            package::TOKENIZER,
            package::TOKENIZER_CONFIG,
            package::GENERATION_CONFIG,
        ] {
            let from = base.join(name);
            if name == package::GENERATION_CONFIG && !from.exists() {
                continue;
            }
            std::fs::copy(&from, dir.join(name)).map_err(file_err(from.clone()))?;
        }
        // A sharded base becomes one file; an index left from an earlier run would contradict it.
        let index = dir.join(package::SHARD_INDEX);
        if index.exists() {
            std::fs::remove_file(&index).map_err(file_err(index.clone()))?;
        }
        let converted: HashMap<String, Tensor> = self
            .weights()?
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(dtype)?)))
            .collect::<candle_core::Result<_>>()?;
        candle_core::safetensors::save(&converted, dir.join(package::SINGLE_WEIGHTS))?;
        Ok(())
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneReport {
    pub steps: usize,
    /// Loss of the first and last batches (nats per learnt token).
    pub first_loss: Option<f32>,
    pub last_loss: Option<f32>,
    pub corpus_tokens: usize,
    pub learnt_tokens: usize,
    pub parameters: u64,
}

/// Trains `spec`'s architecture from scratch on `corpus` for `settings.steps` steps and writes
/// the package to `out`. `on_step(step, loss)` is called after every step (progress bars).
pub fn finetune(
    spec: &TinySpec,
    corpus: &Corpus,
    settings: &FinetuneSettings,
    out: &Path,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<FinetuneReport, FinetuneError> {
    let trainer = Trainer::from_scratch(spec, corpus, settings)?;
    train(trainer, settings.steps, out, on_step)
}

/// Runs `trainer` for `steps` more steps and writes the package to `out`.
pub fn train(
    mut trainer: Trainer,
    steps: usize,
    out: &Path,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<FinetuneReport, FinetuneError> {
    let (corpus_tokens, learnt_tokens) = trainer.corpus_tokens();
    let (mut first_loss, mut last_loss) = (None, None);
    for _ in 0..steps {
        let loss = trainer.step()?;
        first_loss.get_or_insert(loss);
        last_loss = Some(loss);
        on_step(trainer.steps_done(), loss);
    }
    trainer.save(out)?;
    Ok(FinetuneReport {
        steps: trainer.steps_done(),
        first_loss,
        last_loss,
        corpus_tokens,
        learnt_tokens,
        parameters: trainer.config().parameter_count(),
    })
}

#[cfg(test)]
mod tests {
    use crate::CausalLm;
    use crate::config::Architecture;
    use crate::dialogue::Turn;

    use super::*;

    fn corpus() -> Corpus {
        let turn = |speaker, text: &str| Turn {
            speaker,
            text: text.into(),
        };
        Corpus::Dialogues(
            (0..4)
                .map(|i| Dialogue {
                    id: format!("d{i}"),
                    character: "Wren".into(),
                    partner: "Tomasz".into(),
                    persona: "You are Wren, a lighthouse keeper who worries about the boats.".into(),
                    turns: vec![
                        turn(Speaker::Partner, "Storm tonight? The sky looks bruised."),
                        turn(Speaker::Character, "The worst in years, I think. Stay in."),
                        turn(Speaker::Partner, "Are you scared?"),
                        turn(
                            Speaker::Character,
                            &format!("Only for the boats, love. Number {i}."),
                        ),
                    ],
                })
                .collect(),
        )
    }

    fn settings(steps: usize) -> FinetuneSettings {
        FinetuneSettings {
            steps,
            batch_size: 2,
            seq_len: 32,
            ..FinetuneSettings::default()
        }
    }

    #[test]
    fn training_forward_matches_the_scoring_forward() {
        for arch in Architecture::ALL {
            let spec = TinySpec::new(arch, 3);
            let trainer = Trainer::from_scratch(&spec, &corpus(), &settings(0)).expect("trainer");
            let tokens: Vec<u32> = trainer.stream.ids[..32].to_vec();
            let ids = Tensor::from_vec(tokens.clone(), (1, 32), &Device::Cpu).expect("ids");
            let ours = trainer
                .forward
                .logits(&trainer.params, &ids)
                .and_then(|t| t.to_vec2::<f32>())
                .expect("training logits");
            let scoring = CausalLm::from_tensors(
                trainer.config(),
                trainer.weights().expect("weights"),
                64,
                DType::F32,
                &Device::Cpu,
            )
            .expect("scoring forward loads the trainer's tensors");
            let want = scoring
                .all_logits(&tokens)
                .and_then(|t| Ok(t.to_vec2::<f32>()?))
                .expect("scoring logits");
            let diff = ours
                .iter()
                .flatten()
                .zip(want.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-4, "{arch}: max |Δlogit| = {diff}");
        }
    }

    #[test]
    fn replies_and_their_end_token_are_learnt_and_nothing_else() {
        let trainer = Trainer::from_scratch(&TinySpec::new(Architecture::Llama, 1), &corpus(), &settings(0))
            .expect("t");
        let tok = tiny::tiny_tokenizer().expect("tokenizer");
        let s = &trainer.stream;
        let learnt: Vec<u32> = s
            .ids
            .iter()
            .zip(&s.learn)
            .filter(|(_, l)| **l)
            .map(|(i, _)| *i)
            .collect();
        let text = tok.decode(&learnt, false).expect("decode");
        assert!(
            text.starts_with(
                "The worst in years, I think. Stay in.<|im_end|>Only for the boats, love. Number 0.<|im_end|>"
            ),
            "{text}"
        );
        assert!(!text.contains("Storm") && !text.contains("lighthouse"));
    }

    #[test]
    fn runs_are_reproducible_and_lower_the_loss() {
        let spec = TinySpec::new(Architecture::Llama, 2);
        let run = || {
            let mut t = Trainer::from_scratch(&spec, &corpus(), &settings(0)).expect("trainer");
            let losses: Vec<f32> = (0..30).map(|_| t.step().expect("step")).collect();
            let mut w: Vec<(String, Vec<f32>)> = t
                .weights()
                .expect("weights")
                .into_iter()
                .map(|(n, v)| (n, v.flatten_all().and_then(|v| v.to_vec1()).expect("values")))
                .collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            (losses, w)
        };
        let (a, b) = (run(), run());
        assert!(a == b, "two runs with the same seed differ");
        let (first, last) = (a.0[..5].iter().sum::<f32>(), a.0[25..].iter().sum::<f32>());
        assert!(last < first * 0.8, "loss {first} → {last}");
    }

    #[test]
    fn saved_package_has_exactly_the_expected_tensors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let report = finetune(
            &TinySpec::new(Architecture::Qwen2, 4),
            &Corpus::Text("the quick brown fox jumps over the lazy dog. ".repeat(8)),
            &settings(2),
            tmp.path(),
            &mut |_, _| {},
        )
        .expect("finetune");
        assert_eq!(report.steps, 2);
        let saved = candle_core::safetensors::load(tmp.path().join("model.safetensors"), &Device::Cpu)
            .expect("weights");
        let cfg = TinySpec::new(Architecture::Qwen2, 4).config();
        for (name, shape) in cfg.expected_tensors() {
            assert_eq!(saved.get(&name).map(|t| t.dims().to_vec()), Some(shape), "{name}");
        }
        assert_eq!(saved.len(), cfg.expected_tensors().len());
    }
}
