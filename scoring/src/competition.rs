//! Competitions (size classes) as data: what a package must satisfy to enter one, and the
//! tokenizers (each with the chat template validators render prompts with) it allows.
//!
//! Allowing another tokenizer is a data change: compute its hash with
//! [`crate::tokenizer::tokenizer_hash`] (`miner check` names it when it refuses a package with
//! `tokenizer_not_allowed`) and add an [`AllowedTokenizer`] here.

use serde::{Deserialize, Serialize};

use crate::config::Architecture;
use crate::template::{CHATML, ChatTemplate};
use crate::tokenizer::TokenizerHash;

/// Canonical hash of SmolLM2's tokenizer (shared by SmolLM2-135M and -360M) as
/// `miner import-gguf` rebuilds it from the GGUF vocabulary and merges.
pub const SMOLLM2_TOKENIZER: TokenizerHash =
    TokenizerHash::from_hex("6024517317ec80c0cda6dae1445de603ec90f8b0b360bbc79188ad0112ad12f8");
/// Canonical hash of the tiny byte-level tokenizer the demo and `miner finetune` build
/// ([`crate::tiny::tiny_tokenizer`]).
pub const TINY_TOKENIZER: TokenizerHash =
    TokenizerHash::from_hex("10fc530aa1059dbbedb4e548883b1ac2bba775f31839daf39e858db2a07ae5b6");

/// A tokenizer a competition accepts, and the chat template every prompt for models using it
/// is rendered with. The package's own template is never executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedTokenizer {
    pub name: String,
    pub hash: TokenizerHash,
    pub template: ChatTemplate,
}

impl AllowedTokenizer {
    /// A ChatML tokenizer: `<|im_start|>`/`<|im_end|>` framing, `<|im_end|>` ends a turn.
    pub fn chatml(name: &str, hash: TokenizerHash) -> Self {
        Self {
            name: name.into(),
            hash,
            template: ChatTemplate {
                source: CHATML.into(),
                bos_token: "<|endoftext|>".into(),
                eos_token: "<|im_end|>".into(),
            },
        }
    }

    pub fn smollm2() -> Self {
        Self::chatml("SmolLM2", SMOLLM2_TOKENIZER)
    }

    pub fn tiny() -> Self {
        Self::chatml("kindred-tiny", TINY_TOKENIZER)
    }
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// A size class miners compete in. Pure data so operators and tests can define their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Competition {
    pub name: String,
    /// Inclusive parameter band, counted from safetensors headers (tied weights once).
    pub min_params: u64,
    pub max_params: u64,
    /// Sum of every file's size in the package.
    pub max_total_bytes: u64,
    /// Largest single file (a shard, or the tokenizer).
    pub max_file_bytes: u64,
    pub architectures: Vec<Architecture>,
    /// Longest token sequence the evaluation may feed the model; configs must allow at least this.
    pub max_context: usize,
    /// The tokenizers a package may use; any other is refused before a forward pass.
    pub tokenizers: Vec<AllowedTokenizer>,
}

impl Competition {
    /// Tiny models for tests, the demo and local rehearsal.
    pub fn dev() -> Self {
        Self {
            name: "dev".into(),
            min_params: 1_000,
            max_params: 20_000_000,
            max_total_bytes: 256 * MIB,
            max_file_bytes: 128 * MIB,
            architectures: Architecture::ALL.to_vec(),
            max_context: 2048,
            tokenizers: vec![AllowedTokenizer::tiny()],
        }
    }

    /// Small roleplay models around the SmolLM2-135M size.
    pub fn small() -> Self {
        Self {
            name: "small".into(),
            min_params: 50_000_000,
            max_params: 250_000_000,
            max_total_bytes: 2 * GIB,
            max_file_bytes: 2 * GIB,
            architectures: Architecture::ALL.to_vec(),
            max_context: 2048,
            tokenizers: vec![AllowedTokenizer::smollm2()],
        }
    }

    /// Half-billion class (Qwen2.5-0.5B, SmolLM2-360M and their fine-tunes).
    pub fn medium() -> Self {
        Self {
            name: "medium".into(),
            min_params: 250_000_000,
            max_params: 800_000_000,
            max_total_bytes: 4 * GIB,
            max_file_bytes: 4 * GIB,
            architectures: Architecture::ALL.to_vec(),
            max_context: 2048,
            tokenizers: vec![AllowedTokenizer::smollm2()],
        }
    }

    /// The competitions every validator knows without configuration.
    pub fn builtin() -> Vec<Self> {
        vec![Self::dev(), Self::small(), Self::medium()]
    }

    /// Looks a built-in competition up by name.
    pub fn by_name(name: &str) -> Option<Self> {
        Self::builtin().into_iter().find(|c| c.name == name)
    }

    /// The entry for a tokenizer with canonical hash `hash`, if this competition allows it.
    pub fn allowed_tokenizer(&self, hash: &TokenizerHash) -> Option<&AllowedTokenizer> {
        self.tokenizers.iter().find(|t| &t.hash == hash)
    }
}

/// A competition name that is not a built-in one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown competition `{0}` (known: dev, small, medium)")]
pub struct UnknownCompetition(pub String);

/// Parsed once where a name enters (a CLI flag, a commitment), so later code holds the rules.
impl std::str::FromStr for Competition {
    type Err = UnknownCompetition;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::by_name(name).ok_or_else(|| UnknownCompetition(name.chars().take(64).collect()))
    }
}
