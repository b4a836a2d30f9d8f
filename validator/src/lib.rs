//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! Module map:
//! - [`eqbench`]: the EQ-Bench v2 reference-conformance command.
//!
//! The service itself (sync → fetch → verify → evaluate → store → weigh → set weights) arrives
//! with issue #6; model validation and scoring it will call already live in `kindred-scoring`.

pub mod eqbench;
