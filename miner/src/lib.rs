//! The Kindred miner operator's toolkit: everything behind the `miner` command, one module per
//! command, each holding its flags and its work.
//!
//! Module map:
//! - [`cli`]: the command line (flags, environment variables) and the dispatch.
//! - [`chain`]: the chain and wallet flags and the async runtime the chain and hub commands share.
//! - [`check`]: run the validators' exact package validation and weight checks on a directory
//!   and report the verdict; the check every other command runs before spending anything.
//! - [`evaluate`]: score a package through the validators' own evaluator.
//! - [`finetune`]: train on roleplay dialogues (the training is `kindred_scoring::finetune`).
//! - [`import`]: convert a llama.cpp GGUF file into a Hugging Face package a miner can submit.
//! - [`push`]: publish a package to a hub (`kindred_hub`) and flip its visibility.
//! - [`commit`]: the on-chain commitment for a published package, hashed as validators hash it.
//! - [`status`]: a hotkey's standing on chain and in validators' leaderboard APIs.

pub mod chain;
pub mod check;
pub mod cli;
pub mod commit;
pub mod evaluate;
pub mod finetune;
pub mod import;
pub mod push;
pub mod status;
