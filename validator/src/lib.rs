//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! Module map:
//! - [`hub`]: the `ModelHub` boundary: the Hugging Face hub protocol and a local directory hub.
//! - [`fetch`]: a commitment → a verified package in the content-addressed cache.
//! - [`store`]: submissions, evaluations, rejections, the chain's view and weight attempts in SQL
//!   (SQLite by default, PostgreSQL by URL).
//! - [`eqbench`]: the EQ-Bench v2 reference-conformance command.

pub mod eqbench;
pub mod fetch;
pub mod hub;
pub mod store;
