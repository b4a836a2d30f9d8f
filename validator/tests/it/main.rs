//! The validator crate's integration tests, one binary: the store on SQLite and PostgreSQL, hubs
//! and fetching, the whole service against the devnet (end to end, restart, the demo as the README
//! runs it), the EQ-Bench command, `validator evaluate` on hostile packages, and the miner's
//! status command against this API.

mod demo;
mod e2e;
mod eqbench_cli;
mod evaluate_cli;
mod hub;
mod miner_status;
mod restart;
mod store;

/// A repository name the tests know to be valid.
pub fn repo(name: &str) -> kindred_hub::RepoId {
    kindred_hub::RepoId::parse(name).expect("a valid repository name")
}
