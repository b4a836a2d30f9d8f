//! The scoring crate's integration tests, one binary: validation of hostile and honest packages,
//! the forward pass against candle-transformers, whole evaluations of tiny models, and packages
//! built to game the score or pass off a copy (integrity).

mod evaluate;
mod forward;
mod integrity;
mod validation;

use std::path::PathBuf;

use kindred_scoring::template::Sandbox;

/// The chat-template sandbox: the standalone sandbox binary this crate builds beside its tests.
pub fn sandbox() -> Sandbox {
    Sandbox::new(
        PathBuf::from(env!("CARGO_BIN_EXE_kindred-template-sandbox")),
        Vec::new(),
    )
}
