//! `devnet`: a local, subtensor-compatible development chain (issue #5, in progress).

pub mod values;
