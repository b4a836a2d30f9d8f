//! The teacher-forced dialogue scoring protocol of `../shared/perf/README.md`.
//!
//! Token ids are `tokenize(context) ++ tokenize(reply)` (each alone, no special tokens); the
//! score of an item is the sum of log p(reply token | everything before it); bits per byte is
//! the total negative log-likelihood in bits over the UTF-8 bytes of all replies.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use kindred_scoring::{CausalLm, ScoreRequest};
use serde::Deserialize;

/// One scoring item: `reply` is scored given `context`.
#[derive(Debug, Clone, Deserialize)]
pub struct Item {
    pub id: String,
    pub context: String,
    pub reply: String,
}

/// Reads a JSONL file of items.
pub fn load_items(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}: line {}", path.display(), i + 1)))
        .collect()
}

/// Tokenises items per the protocol; the tokenizer adds no special tokens.
pub fn tokenize(tokenizer: &tokenizers::Tokenizer, items: &[Item]) -> anyhow::Result<Vec<ScoreRequest>> {
    items
        .iter()
        .map(|item| {
            let ctx = tokenizer
                .encode(item.context.as_str(), false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let reply = tokenizer
                .encode(item.reply.as_str(), false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut tokens = ctx.get_ids().to_vec();
            let target_start = tokens.len();
            tokens.extend_from_slice(reply.get_ids());
            Ok(ScoreRequest { tokens, target_start })
        })
        .collect()
}

pub use kindred_scoring::dialogue::plan_batches;

/// The outcome of scoring a set of items.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Per item, the summed natural-log probability of its reply.
    pub item_logprobs: Vec<f64>,
    /// Real (unpadded) tokens fed to the model.
    pub tokens_processed: usize,
    pub reply_tokens: usize,
    pub elapsed: Duration,
}

impl Scored {
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens_processed as f64 / self.elapsed.as_secs_f64()
    }

    /// Bits per UTF-8 byte of the replies.
    pub fn bits_per_byte(&self, items: &[Item]) -> f64 {
        let nats: f64 = self.item_logprobs.iter().sum();
        let bytes: usize = items.iter().map(|i| i.reply.len()).sum();
        -nats / std::f64::consts::LN_2 / bytes as f64
    }
}

/// Scores every request with the given batch plan.
pub fn score(model: &CausalLm, requests: &[ScoreRequest], plan: &[Vec<usize>]) -> anyhow::Result<Scored> {
    let started = Instant::now();
    let item_logprobs = kindred_scoring::dialogue::score_requests(model, requests, plan)?;
    let tokens_processed = requests.iter().map(|r| r.tokens.len()).sum();
    let reply_tokens = requests
        .iter()
        .map(|r| r.tokens.len().saturating_sub(r.target_start))
        .sum();
    Ok(Scored {
        item_logprobs,
        tokens_processed,
        reply_tokens,
        elapsed: started.elapsed(),
    })
}

/// Approximate forward FLOPs for `scored` (2 per multiply-add): every projection at every
/// position, attention over each sequence's own causal span, the output head at reply
/// positions only.
pub fn forward_flops(cfg: &kindred_scoring::ModelConfig, requests: &[ScoreRequest]) -> f64 {
    let d = cfg.hidden_size as f64;
    let (q, kv) = (
        (cfg.num_heads * cfg.head_dim) as f64,
        (cfg.num_kv_heads * cfg.head_dim) as f64,
    );
    let per_token_layer = 2.0 * (d * (q + 2.0 * kv) + q * d + 3.0 * d * cfg.intermediate_size as f64);
    let mut flops = 0.0;
    for r in requests {
        let t = r.tokens.len() as f64;
        let attn = 2.0 * 2.0 * q * t * (t + 1.0) / 2.0;
        flops += cfg.num_layers as f64 * (per_token_layer * t + attn);
        flops += 2.0 * d * cfg.vocab_size as f64 * (r.tokens.len() - r.target_start) as f64;
    }
    flops
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
