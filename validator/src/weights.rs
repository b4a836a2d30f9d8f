//! The weigh and set-weights stages: the latest scored submission of each registered hotkey →
//! `scoring::weigh` (pairwise wins with a first-mover margin, softmax, moving average) → UIDs
//! and `u16` weights → `set_weights` when the subnet has commit-reveal off; when it is on, a
//! timelocked commit sealed to a drand round that the chain opens itself in the reveal epoch
//! (subtensor's commit-reveal v3+), or, on a chain without a drand beacon, the older hash commit
//! followed by our own reveal.
//!
//! Every attempt is written to the store before it is sent and finished after, so a crash
//! between the two is visible and never turns into a second send of the same round.

use kindred_chain::account::Hotkey;
use kindred_chain::timelocked::{TimelockContext, unix_now};
use kindred_chain::wallet::Signer;
use kindred_chain::weights::{EmitWeights, Zeros, commit_hash, normalise};
use kindred_chain::{Chain, ChainError, Netuid, Uid};
use kindred_scoring::weigh::{Entry, WeighConfig, WeighError, WeighState, weigh};
use tracing::{info, warn};

use crate::store::{Scored, Store, StoreError, WeightOutcome};

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
    /// Weights sealed to a drand round; the chain reveals them.
    Sealed {
        uids: Vec<u16>,
        values: Vec<u16>,
        round: u64,
    },
    /// A commit's weights are on chain (revealed by us, or by the chain for a timelocked one).
    Revealed,
    Failed(String),
}

/// A commit waiting for its reveal.
#[derive(Clone, Debug)]
enum Pending {
    /// A hash commit: we reveal in its window.
    Reveal {
        attempt: i64,
        weights: EmitWeights,
        salt: Vec<u16>,
    },
    /// A timelocked commit: the chain reveals it from `first_reveal`, within one epoch.
    Timelocked {
        attempt: i64,
        first_reveal: u64,
        tempo: u64,
    },
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
    pending: Option<Pending>,
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
        match self.pending.clone() {
            Some(Pending::Reveal {
                attempt,
                weights,
                salt,
            }) => return self.reveal(chain, store, block, attempt, weights, salt).await,
            Some(Pending::Timelocked {
                attempt,
                first_reveal,
                tempo,
            }) => {
                return self
                    .await_chain_reveal(chain, store, block, attempt, first_reveal, tempo)
                    .await;
            }
            None => {}
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
        if hyper.commit_reveal_weights_enabled
            && let Some(ctx) = chain.timelock_context(self.netuid).await?
        {
            self.commit_timelocked(chain, store, block, &me, ctx, weights, &raw)
                .await
        } else if hyper.commit_reveal_weights_enabled {
            let salt = commit_salt(&self.signer, block);
            let salt_text = serde_json::to_string(&salt).unwrap_or_default();
            let attempt = store
                .begin_weights(block, "commit", &raw, self.version_key, Some(&salt_text))
                .await?;
            let hash = commit_hash(&me, self.netuid, &weights, &salt, self.version_key);
            match chain.commit_weights(&self.signer, self.netuid, hash).await {
                Ok(included) => {
                    store
                        .finish_weights(
                            attempt,
                            WeightOutcome::Committed,
                            "awaiting reveal",
                            Some(included.block.0),
                        )
                        .await?;
                    info!(block = included.block.0, n = weights.len(), "weights committed");
                    self.pending = Some(Pending::Reveal {
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
                        .finish_weights(attempt, WeightOutcome::Failed, &e.to_string(), None)
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
                        .finish_weights(attempt, WeightOutcome::Included, "set", Some(included.block.0))
                        .await?;
                    info!(block = included.block.0, n = weights.len(), "weights set");
                    Ok(Round::Set {
                        uids: weights.raw_uids(),
                        values: weights.values,
                    })
                }
                Err(e) => {
                    store
                        .finish_weights(attempt, WeightOutcome::Failed, &e.to_string(), None)
                        .await?;
                    warn!(error = %e, "set weights failed");
                    Ok(Round::Failed(e.to_string()))
                }
            }
        }
    }

    /// Seal the weights to the round the chain will hold when their reveal epoch starts, and
    /// commit them.
    #[allow(clippy::too_many_arguments)]
    async fn commit_timelocked(
        &mut self,
        chain: &dyn Chain,
        store: &Store,
        block: u64,
        me: &Hotkey,
        ctx: TimelockContext,
        weights: EmitWeights,
        raw: &[(u16, u16)],
    ) -> Result<Round, WeightsError> {
        let attempt = store
            .begin_weights(block, "timelocked", raw, self.version_key, None)
            .await?;
        let sealed = ctx
            .seal(me, &weights, self.version_key, unix_now())
            .and_then(|(ct, round)| {
                let first = ctx.schedule.first_reveal_block(ctx.reveal_period_epochs)?;
                Ok((ct, round, first))
            });
        let (commit, round, first_reveal) = match sealed {
            Ok(s) => s,
            Err(e) => {
                store
                    .finish_weights(attempt, WeightOutcome::Failed, &e.to_string(), None)
                    .await?;
                warn!(error = %e, "cannot seal weights");
                return Ok(Round::Failed(e.to_string()));
            }
        };
        match chain
            .commit_timelocked_weights(
                &self.signer,
                self.netuid,
                &commit,
                round,
                ctx.commit_reveal_version,
            )
            .await
        {
            Ok(included) => {
                let detail = format!(
                    "sealed to drand round {round}; the chain reveals from block {}",
                    first_reveal.0
                );
                store
                    .finish_weights(attempt, WeightOutcome::Committed, &detail, Some(included.block.0))
                    .await?;
                info!(
                    block = included.block.0,
                    round = round.0,
                    reveal_from = first_reveal.0,
                    n = weights.len(),
                    "weights committed, timelocked"
                );
                self.pending = Some(Pending::Timelocked {
                    attempt,
                    first_reveal: first_reveal.0,
                    tempo: u64::from(ctx.schedule.tempo),
                });
                Ok(Round::Sealed {
                    uids: weights.raw_uids(),
                    values: weights.values,
                    round: round.0,
                })
            }
            Err(e) => {
                store
                    .finish_weights(attempt, WeightOutcome::Failed, &e.to_string(), None)
                    .await?;
                warn!(error = %e, "timelocked commit failed");
                Ok(Round::Failed(e.to_string()))
            }
        }
    }

    /// Watch for the chain's reveal of a timelocked commit: it sets our `LastUpdate` to the
    /// reveal block. A commit still unrevealed a whole epoch after its reveal epoch began was
    /// dropped by the chain (its round never came, or its weights were refused).
    async fn await_chain_reveal(
        &mut self,
        chain: &dyn Chain,
        store: &Store,
        block: u64,
        attempt: i64,
        first_reveal: u64,
        tempo: u64,
    ) -> Result<Round, WeightsError> {
        if block < first_reveal {
            return Ok(Round::Skipped("timelocked commit awaiting its reveal epoch"));
        }
        let metagraph = chain.metagraph(self.netuid).await?;
        let me = Hotkey(self.signer.public());
        let last_update = metagraph
            .neurons
            .iter()
            .find(|n| n.hotkey == me)
            .map(|n| n.last_update.0)
            .unwrap_or(0);
        if last_update >= first_reveal {
            store
                .finish_weights(
                    attempt,
                    WeightOutcome::Revealed,
                    "revealed by the chain",
                    Some(last_update),
                )
                .await?;
            self.pending = None;
            info!(block = last_update, "timelocked weights revealed");
            return Ok(Round::Revealed);
        }
        if block > first_reveal + tempo + 1 {
            let detail = format!("not revealed by block {block}: dropped by the chain");
            store
                .finish_weights(attempt, WeightOutcome::Failed, &detail, None)
                .await?;
            self.pending = None;
            warn!(block, first_reveal, "timelocked commit was not revealed");
            return Ok(Round::Failed(detail));
        }
        Ok(Round::Skipped("timelocked commit awaiting the chain's reveal"))
    }

    async fn reveal(
        &mut self,
        chain: &dyn Chain,
        store: &Store,
        block: u64,
        attempt: i64,
        weights: EmitWeights,
        salt: Vec<u16>,
    ) -> Result<Round, WeightsError> {
        match chain
            .reveal_weights(&self.signer, self.netuid, &weights, &salt, self.version_key)
            .await
        {
            Ok(included) => {
                store
                    .finish_weights(
                        attempt,
                        WeightOutcome::Revealed,
                        "revealed",
                        Some(included.block.0),
                    )
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
                    .finish_weights(
                        attempt,
                        WeightOutcome::Failed,
                        &format!("reveal at {block}: {e}"),
                        None,
                    )
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
