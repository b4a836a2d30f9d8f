//! The sync stage: the subnet's metagraph and commitments at a block, turned into stored
//! submissions. A new or changed commitment is a new submission; a commitment that does not parse
//! is stored as a rejection with its reason; a UID that changed hands is seen through the hotkey
//! it is now held by (scores follow the hotkey, not the UID).

use kindred_chain::submission::ModelCommitment;
use kindred_chain::{Block, Chain, ChainError, Netuid};
use tracing::debug;

use crate::store::{NeuronRow, NewSubmission, ParsedCommitment, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sync found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub block: u64,
    pub neurons: usize,
    pub new_submissions: usize,
    pub rejected: usize,
}

/// Read the chain at its best block and record what is new.
pub async fn sync(chain: &dyn Chain, netuid: Netuid, store: &Store) -> Result<Synced, SyncError> {
    let metagraph = chain.metagraph(netuid).await?;
    let commitments = chain.commitments(netuid).await?;
    let block = metagraph.block.0;
    let neurons: Vec<NeuronRow> = metagraph
        .neurons
        .iter()
        .map(|n| NeuronRow {
            uid: n.uid.0,
            hotkey: n.hotkey.to_string(),
            incentive: n.incentive,
            stake: n.stake,
        })
        .collect();
    store.set_neurons(&neurons, block).await?;
    let mut synced = Synced {
        block,
        neurons: neurons.len(),
        ..Synced::default()
    };
    for c in commitments {
        // Commitments of hotkeys that are not registered (deregistered, or never were) cannot
        // earn; they are not submissions.
        let Some(neuron) = metagraph.neurons.iter().find(|n| n.hotkey == c.hotkey) else {
            continue;
        };
        let hotkey = c.hotkey.to_string();
        let (parsed, rejection) = match c.data.parse::<ModelCommitment>() {
            Ok(m) => (
                Some(ParsedCommitment {
                    competition: m.competition.clone(),
                    hub: m.hub.clone(),
                    repo: m.repo.clone(),
                    revision: m.revision_hex(),
                    hash: m.hash_hex(),
                }),
                None,
            ),
            Err(e) => (None, Some((e.code(), e.to_string()))),
        };
        let new = NewSubmission {
            hotkey,
            uid: neuron.uid.0,
            registered_at: neuron.registered_at.0,
            commit_block: c.block.0,
            commitment: c.data.clone(),
            parsed,
            seen_block: block,
        };
        let inserted = store
            .add_submission(&new, rejection.as_ref().map(|(code, why)| (*code, why.as_str())))
            .await?;
        if inserted.is_some() {
            debug!(uid = neuron.uid.0, hotkey = %new.hotkey, model = %c.data, rejected = rejection.is_some(), "new submission");
            synced.new_submissions += 1;
            synced.rejected += usize::from(rejection.is_some());
        }
    }
    Ok(synced)
}

/// The epoch seed for `block`: the hash of the first block of its seed period, so every
/// validator evaluating in the same period uses the same items.
pub async fn epoch_seed(chain: &dyn Chain, block: u64, period: u64) -> Result<(u64, [u8; 32]), ChainError> {
    let start = block - block % period.max(1);
    Ok((start, chain.block_hash(Block(start)).await?))
}
