//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! Module map:
//! - [`eqbench`]: the EQ-Bench v2 reference-conformance command.
//! - [`hub`]: the `ModelHub` boundary (Hugging Face protocol, local directory) and the
//!   operator's hubs by short id.
//! - [`fetch`]: commitment + hotkey → capped, retried, resumed download → verified package in a
//!   cache keyed by content digest.
//!
//! The service itself (sync → fetch → verify → evaluate → store → weigh → set weights) arrives
//! with issue #6; model validation and scoring it will call already live in `kindred-scoring`.

pub mod eqbench;
pub mod fetch;
pub mod hub;
