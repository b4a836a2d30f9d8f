//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! `sync → fetch → verify → evaluate → store → weigh → set weights`, each a module:
//! - [`sync`]: metagraph and commitments → stored submissions (unparseable ones rejected).
//! - [`fetch`]: a commitment → a hash-verified package in the content-addressed cache, through
//!   the hubs of `kindred_hub`.
//! - evaluate: a verified package → `kindred_scoring::evaluator` (validated, loaded, scored
//!   with the epoch seed; failures sorted into the miner's fault and ours), run by [`service`]
//!   on a blocking thread.
//! - [`store`]: submissions, evaluations, rejections, the chain's view and weight attempts in SQL
//!   (SQLite by default, PostgreSQL by URL).
//! - [`weights`]: stored scores → `scoring::weigh` → set (or commit and reveal) weights.
//! - [`service`]: the stages run together until cancelled.
//! - [`api`]: the leaderboard over HTTP, its page, OpenAPI document and metrics.
//! - [`metrics`]: Prometheus counters and gauges.
//! - [`config`]: flags, environment and TOML settings.
//! - [`demo`]: a whole subnet on one machine (devnet, local hub, tiny models, this service).
//! - [`replay`]: `validator evaluate` and `validator replay`.
//! - [`eqbench`]: the EQ-Bench v2 reference-conformance command.

pub mod api;
pub mod config;
pub mod demo;
pub mod eqbench;
pub mod fetch;
pub mod metrics;
pub mod replay;
pub mod service;
pub mod store;
pub mod sync;
pub mod weights;
