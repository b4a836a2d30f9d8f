//! Competitions (size classes) as data: what a package must satisfy to enter one.

use serde::{Deserialize, Serialize};

use crate::config::Architecture;

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
