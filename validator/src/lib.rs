//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! Module map:
//! - [`store`]: submissions, evaluations, rejections, the chain's view and weight attempts in SQL
//!   (SQLite by default, PostgreSQL by URL).
//! - [`eqbench`]: the EQ-Bench v2 reference-conformance command.

pub mod eqbench;
pub mod store;
