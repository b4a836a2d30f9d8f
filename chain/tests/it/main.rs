//! The chain crate's integration tests, one binary: encoding against Finney's metadata, wallets,
//! weights, timelock interop and the opt-in live-node suite.

mod finney_encoding;
mod subtensor_live;
mod timelock;
mod wallet;
mod weights;
