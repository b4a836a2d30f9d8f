//! The Kindred miner operator's toolkit: everything behind the `miner` command.
//!
//! Module map:
//! - [`check`]: run the validators' exact package validation and weight checks on a directory
//!   and report the verdict.
//! - [`import`]: convert a llama.cpp GGUF file into a Hugging Face package a miner can submit.
//!
//! Evaluation, fine-tuning, upload and on-chain commitment arrive with their issues.

pub mod check;
pub mod import;
