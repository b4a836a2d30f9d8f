//! The weigh and set-weights stages: the latest scored submission of each registered hotkey →
//! `scoring::weigh` (pairwise wins with a first-mover margin, softmax, moving average) → UIDs
//! and `u16` weights → `set_weights`, or commit then reveal when the subnet has commit-reveal on.
//!
//! Every attempt is written to the store before it is sent and finished after, so a crash
//! between the two is visible and never turns into a second send of the same round.

use kindred_chain::account::Hotkey;
use kindred_chain::wallet::Signer;
use kindred_chain::weights::{EmitWeights, Zeros, commit_hash, normalise};
use kindred_chain::{Chain, ChainError, Netuid, Uid};
use kindred_scoring::weigh::{Entry, WeighConfig, WeighError, WeighState, weigh};
use tracing::{info, warn};

use crate::store::{Scored, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("weighing: {0}")]
    Weigh(#[from] WeighError),
}

/// What one round did.
#[derive(Clone, Debug, PartialEq)]
pub enum Round {
    /// Not due yet, nothing scored, or no permit: nothing sent.
    Skipped(&'static str),
    Set {
        uids: Vec<u16>,
        values: Vec<u16>,
    },
    Committed {
        uids: Vec<u16>,
        values: Vec<u16>,
    },
    Revealed,
    Failed(String),
}

/// A commit waiting for its reveal window.
#[derive(Clone, Debug)]
struct PendingReveal {
    attempt: i64,
    weights: EmitWeights,
    salt: Vec<u16>,
}

#[derive(Debug)]
pub struct WeightSetter {
    pub netuid: Netuid,
    pub signer: Signer,
    pub version_key: u64,
    pub config: WeighConfig,
    /// Blocks between rounds (at least the subnet's rate limit is also respected).
    pub interval: u64,
    state: WeighState,
    last_round: Option<u64>,
    pending: Option<PendingReveal>,
}

/// `scoring::weigh` input from stored evaluations.
pub fn entries(scored: &[Scored]) -> Vec<Entry> {
    scored
        .iter()
        .map(|s| Entry {
            key: s.hotkey.clone(),
            competition: s.competition.clone(),
            commit_block: s.commit_block,
            seed_hex: s.seed.clone(),
            spec_version: s.spec_version,
            samples: s
                .detail
                .get("samples")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            total: s.total,
        })
        .collect()
}

impl WeightSetter {
    pub fn new(netuid: Netuid, signer: Signer, version_key: u64, config: WeighConfig, interval: u64) -> Self {
        WeightSetter {
            netuid,
            signer,
            version_key,
            config,
            interval,
            state: WeighState::default(),
            last_round: None,
            pending: None,
        }
    }

    /// Run a round at `block` if one is due.
    pub async fn tick(
        &mut self,
        chain: &dyn Chain,
        store: &Store,
        block: u64,
    ) -> Result<Round, WeightsError> {
        if let Some(p) = self.pending.clone() {
            return self.reveal(chain, store, block, p).await;
        }
        if self.last_round.is_some_and(|last| block < last + self.interval) {
            return Ok(Round::Skipped("not due"));
        }
        let hyper = chain.hyperparameters(self.netuid).await?;
        let metagraph = chain.metagraph(self.netuid).await?;
        let me = Hotkey(self.signer.public());
        let Some(mine) = metagraph.neurons.iter().find(|n| n.hotkey == me) else {
            self.last_round = Some(block);
            return Ok(Round::Skipped("validator hotkey not registered"));
        };
        if !mine.validator_permit {
            self.last_round = Some(block);
            return Ok(Round::Skipped("no validator permit"));
        }
        if block < mine.last_update.0 + hyper.weights_set_rate_limit {
            return Ok(Round::Skipped("rate limited"));
        }
        let scored = store.scored().await?;
        if scored.is_empty() {
            self.last_round = Some(block);
            return Ok(Round::Skipped("nothing scored yet"));
        }
        let weighing = weigh(&entries(&scored), block, &self.config, &self.state)?;
        let pairs: Vec<(Uid, f64)> = scored
            .iter()
            .filter_map(|s| weighing.weights.get(&s.hotkey).map(|w| (Uid(s.uid), *w)))
            .collect();
        let weights = normalise(&pairs, Zeros::Drop).unwrap_or_default();
        if weights.is_empty() {
            self.last_round = Some(block);
            return Ok(Round::Skipped("all weights zero"));
        }
        self.state = weighing.state;
        self.last_round = Some(block);
        let raw: Vec<(u16, u16)> = weights
            .raw_uids()
            .into_iter()
            .zip(weights.values.clone())
            .collect();
        if hyper.commit_reveal_weights_enabled {
            let salt = commit_salt(&self.signer, block);
            let salt_text = serde_json::to_string(&salt).unwrap_or_default();
            let attempt = store
                .begin_weights(block, "commit", &raw, self.version_key, Some(&salt_text))
                .await?;
            let hash = commit_hash(&me, self.netuid, &weights, &salt, self.version_key);
            match chain.commit_weights(&self.signer, self.netuid, hash).await {
                Ok(included) => {
                    store
                        .finish_weights(attempt, "committed", "awaiting reveal", Some(included.block.0))
                        .await?;
                    info!(block = included.block.0, n = weights.len(), "weights committed");
                    self.pending = Some(PendingReveal {
                        attempt,
                        weights: weights.clone(),
                        salt,
                    });
                    Ok(Round::Committed {
                        uids: weights.raw_uids(),
                        values: weights.values,
                    })
                }
                Err(e) => {
                    store
                        .finish_weights(attempt, "failed", &e.to_string(), None)
                        .await?;
                    warn!(error = %e, "commit failed");
                    Ok(Round::Failed(e.to_string()))
                }
            }
        } else {
            let attempt = store
                .begin_weights(block, "set", &raw, self.version_key, None)
                .await?;
            match chain
                .set_weights(&self.signer, self.netuid, &weights, self.version_key)
                .await
            {
                Ok(included) => {
                    store
                        .finish_weights(attempt, "included", "set", Some(included.block.0))
                        .await?;
                    info!(block = included.block.0, n = weights.len(), "weights set");
                    Ok(Round::Set {
                        uids: weights.raw_uids(),
                        values: weights.values,
                    })
                }
                Err(e) => {
                    store
                        .finish_weights(attempt, "failed", &e.to_string(), None)
                        .await?;
                    warn!(error = %e, "set weights failed");
                    Ok(Round::Failed(e.to_string()))
                }
            }
        }
    }

    async fn reveal(
        &mut self,
        chain: &dyn Chain,
        store: &Store,
        block: u64,
        p: PendingReveal,
    ) -> Result<Round, WeightsError> {
        match chain
            .reveal_weights(&self.signer, self.netuid, &p.weights, &p.salt, self.version_key)
            .await
        {
            Ok(included) => {
                store
                    .finish_weights(p.attempt, "revealed", "revealed", Some(included.block.0))
                    .await?;
                self.pending = None;
                info!(block = included.block.0, "weights revealed");
                Ok(Round::Revealed)
            }
            // Too early is the normal case until the reveal epoch comes; try on later blocks.
            Err(ChainError::Failed { name, .. }) if name == "RevealTooEarly" => {
                Ok(Round::Skipped("reveal not yet open"))
            }
            Err(e) => {
                store
                    .finish_weights(p.attempt, "failed", &format!("reveal at {block}: {e}"), None)
                    .await?;
                self.pending = None;
                Ok(Round::Failed(e.to_string()))
            }
        }
    }
}

/// The salt of a weights commit. It must be unpredictable to others until the reveal, or anyone
/// could test guessed weights against the commit hash: an sr25519 signature is randomised and
/// needs the secret key, so its hash serves.
fn commit_salt(signer: &Signer, block: u64) -> Vec<u16> {
    use sha2::Digest;
    let signature = signer.sign(&[&b"kindred-weights-salt"[..], &block.to_le_bytes()].concat());
    let seed: [u8; 32] = sha2::Sha256::digest(signature).into();
    seed.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_salts_cannot_be_derived_from_public_data() {
        let signer = Signer::dev("alice").expect("alice");
        let (a, b) = (commit_salt(&signer, 100), commit_salt(&signer, 100));
        assert_eq!(a.len(), 16);
        assert_ne!(
            a, b,
            "same key and block, yet a fresh salt: it depends on signing randomness"
        );
    }
}
