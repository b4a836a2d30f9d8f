//! Entering a model: publish the package to a hub, then commit its id on chain in the format
//! validators read (`kindred_chain::submission`), with the hash salted by the miner's own
//! hotkey, computed from the very files validators will download.

use std::path::Path;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, SubmissionError, salted_hash};
use kindred_validator::fetch::{HashError, hash_package};

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Commitment(#[from] SubmissionError),
    #[error("revision `{0}` is not a 40-digit hex commit id")]
    Revision(String),
}

/// The commitment for the package at `dir`, published as `repo` at `revision` (40 hex digits) on
/// the hub the validators know as `hub`, entered by `hotkey` in `competition`.
pub fn commitment_for(
    dir: &Path,
    competition: &str,
    hub: &str,
    repo: &str,
    revision: &str,
    hotkey: &Hotkey,
) -> Result<ModelCommitment, SubmitError> {
    let mut rev = [0u8; 20];
    hex::decode_to_slice(revision, &mut rev).map_err(|_| SubmitError::Revision(revision.to_owned()))?;
    let digest = hash_package(dir)?.digest;
    let commitment = ModelCommitment {
        competition: competition.to_owned(),
        hub: hub.to_owned(),
        repo: repo.to_owned(),
        revision: rev,
        hash: salted_hash(&digest, hotkey),
    };
    // Encoding checks the fields the way validators parse them, and the chain's size limit.
    let text = commitment.encode()?;
    text.parse::<ModelCommitment>()?;
    Ok(commitment)
}
