//! The Kindred miner operator's toolkit: everything behind the `miner` command.
//!
//! Module map:
//! - [`check`]: run the validators' exact package validation and weight checks on a directory
//!   and report the verdict.
//! - [`finetune`]: train a tiny decoder on dialogue text (AdamW, seeded, deterministic on CPU)
//!   and write it as a package validators accept.
//! - [`import`]: convert a llama.cpp GGUF file into a Hugging Face package a miner can submit.
//! - [`submit`]: the on-chain commitment for a published package, hashed as validators hash it.

pub mod check;
pub mod finetune;
pub mod import;
pub mod submit;
