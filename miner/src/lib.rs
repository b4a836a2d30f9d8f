//! The Kindred miner operator's toolkit: everything behind the `miner` command.
//!
//! Module map:
//! - [`check`]: run the validators' exact package validation and weight checks on a directory
//!   and report the verdict.
//! - [`finetune`]: re-exported from `kindred_scoring::finetune` (training lives with the
//!   scoring code so the validator's demo can train its miners too).
//! - [`import`]: convert a llama.cpp GGUF file into a Hugging Face package a miner can submit.
//! - [`push`]: publish a package to the Hugging Face hub over its HTTP upload API.
//! - [`status`]: a hotkey's standing on chain and in validators' leaderboard APIs.
//! - [`submit`]: the on-chain commitment for a published package, hashed as validators hash it.

pub mod check;
pub use kindred_scoring::finetune;
pub mod import;
pub mod push;
pub mod status;
pub mod submit;
