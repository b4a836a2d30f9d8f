//! Timelocked weight commits (commit-reveal v3 and later): the payload subtensor decrypts, the
//! drand round it should be sealed to, and sealing itself.
//!
//! The chain keeps a commit until its reveal epoch (`commit epoch + RevealPeriodEpochs`) and then,
//! on every block of that epoch, tries to open it with the Drand pallet's pulse for the commit's
//! round; once opened the weights are applied as `set_weights` would. The round must therefore be
//! one whose pulse the chain holds by the time the reveal epoch starts, and not much earlier, or
//! the weights are public before the epoch is over. Like the Python SDK (`bittensor-drand`'s
//! `get_encrypted_commit_v2`), Kindred replays subtensor's epoch scheduler from the chain's
//! current state to find the first block of the reveal epoch, aims three blocks past it, turns
//! those blocks into wall-clock time with the chain's block time, and takes the beacon's round
//! at that time.

use std::time::Duration;

use codec::Encode;

use crate::account::Hotkey;
use crate::subnet::Block;
use crate::timelock::{self, BeaconKey, Round, TimelockError};
use crate::weights::EmitWeights;

/// subtensor's bound on a subnet's tempo (`MAX_TEMPO`): a subnet that has not stepped for longer
/// runs its epoch regardless.
pub const MAX_TEMPO: u64 = 50_400;

/// Blocks past the first block of the reveal epoch the round is aimed at, so the chain has
/// ingested the pulse when it looks (the SDK's `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCKS: u64 = 3;

/// A drand beacon as the Drand pallet describes it (`BeaconConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beacon {
    pub key: BeaconKey,
    /// Unix seconds of round 1.
    pub genesis_time: u64,
    /// Seconds between rounds.
    pub period: u64,
}

impl Beacon {
    /// The newest round published at `unix` seconds (round 1 at genesis), 0 before genesis.
    pub fn round_at(&self, unix: u64) -> Round {
        if unix < self.genesis_time || self.period == 0 {
            return Round(0);
        }
        Round((unix - self.genesis_time) / self.period + 1)
    }

    /// When round `round` is published.
    pub fn time_of(&self, round: Round) -> u64 {
        self.genesis_time + round.0.saturating_sub(1) * self.period
    }
}

/// One subnet's epoch scheduler state, as subtensor keeps it (`LastEpochBlock`, `PendingEpochAt`,
/// `SubnetEpochIndex`, `BlocksSinceLastStep`), read at `current_block`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochSchedule {
    pub tempo: u16,
    pub last_epoch_block: u64,
    /// An owner-triggered epoch due at this block (0: none).
    pub pending_epoch_at: u64,
    pub epoch_index: u64,
    pub blocks_since_last_step: u64,
    pub current_block: Block,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("tempo is 0: the subnet runs no epochs, so a commit would never be revealed")]
    NoEpochs,
    #[error("no reveal epoch within {0} blocks")]
    TooFar(u64),
}

impl EpochSchedule {
    /// Whether the subnet's epoch runs at `block` (subtensor's `should_run_epoch`).
    pub fn fires_at(&self, block: u64) -> bool {
        if self.tempo == 0 {
            return false;
        }
        (self.pending_epoch_at > 0 && block >= self.pending_epoch_at)
            || self.blocks_since_last_step > MAX_TEMPO
            || block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo)
    }

    /// The epoch a commit or reveal in `block` belongs to: the counter, plus one when the epoch
    /// fires in that block (the chain reveals before it steps the counter).
    pub fn epoch_at(&self, block: u64) -> u64 {
        self.epoch_index + u64::from(self.fires_at(block))
    }

    /// The scheduler after the end of `block`.
    pub fn step(&mut self, block: u64) {
        self.blocks_since_last_step += 1;
        if self.fires_at(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.epoch_index += 1;
            self.blocks_since_last_step = 0;
        }
        self.current_block = Block(block);
    }

    /// The first block at which the chain will try to reveal a commit included in the next
    /// block, `reveal_period` epochs on.
    pub fn first_reveal_block(&self, reveal_period: u64) -> Result<Block, ScheduleError> {
        if self.tempo == 0 {
            return Err(ScheduleError::NoEpochs);
        }
        let included = self.current_block.0 + 1;
        let target = self.epoch_at(included) + reveal_period;
        let limit = reveal_period.saturating_mul(MAX_TEMPO).saturating_add(MAX_TEMPO);
        let mut state = self.clone();
        for block in included..=included.saturating_add(limit) {
            if state.epoch_at(block) == target {
                return Ok(Block(block));
            }
            state.step(block);
        }
        Err(ScheduleError::TooFar(limit))
    }
}

/// Everything a timelocked commit needs to know about the chain, read at one block.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelockContext {
    pub beacon: Beacon,
    /// `CommitRevealWeightsVersion`: commits carrying another version are refused.
    pub commit_reveal_version: u16,
    pub schedule: EpochSchedule,
    pub reveal_period_epochs: u64,
    /// The chain's slot duration (`Aura::SlotDuration`).
    pub block_time: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Timelock(#[from] TimelockError),
}

impl TimelockContext {
    /// The round to seal to for a commit sent now (`now_unix`: seconds since the Unix epoch).
    pub fn reveal_round(&self, now_unix: f64) -> Result<Round, ScheduleError> {
        let first = self.schedule.first_reveal_block(self.reveal_period_epochs)?;
        let blocks = (first.0 + SECURITY_BLOCKS).saturating_sub(self.schedule.current_block.0);
        let at = now_unix + blocks as f64 * self.block_time.as_secs_f64();
        let since_genesis = (at - self.beacon.genesis_time as f64) / self.beacon.period.max(1) as f64;
        Ok(Round((since_genesis.floor().max(1.0)) as u64))
    }

    /// Seal `weights` for `hotkey`: the ciphertext for `commit_timelocked_weights` and its round.
    pub fn seal(
        &self,
        hotkey: &Hotkey,
        weights: &EmitWeights,
        version_key: u64,
        now_unix: f64,
    ) -> Result<(Vec<u8>, Round), SealError> {
        let round = self.reveal_round(now_unix)?;
        let payload = payload(hotkey, weights, version_key);
        Ok((timelock::encrypt(&self.beacon.key, round, &payload)?, round))
    }
}

/// subtensor's `WeightsTlockPayload`: SCALE `(hotkey bytes, uids, values, version_key)`. The
/// chain drops a revealed payload whose hotkey is not the committer's.
pub fn payload(hotkey: &Hotkey, weights: &EmitWeights, version_key: u64) -> Vec<u8> {
    (
        hotkey.as_bytes().to_vec(),
        weights.raw_uids(),
        &weights.values,
        version_key,
    )
        .encode()
}

/// What [`payload`] encodes, read back (the devnet's reveal).
#[derive(Clone, Debug, PartialEq, Eq, codec::Decode)]
pub struct Payload {
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// The largest timelocked commitment field subtensor accepts (`MAX_TIMELOCK_COMMITMENT_SIZE_BYTES`).
pub const MAX_SEALED_COMMITMENT_BYTES: usize = 1024;

/// The round a commitment revealed `blocks` blocks from now is sealed to, as `bittensor-drand`'s
/// `get_encrypted_commitment` computes it: whole seconds since the beacon's genesis plus the
/// blocks' duration rounded to a second, divided by the period.
pub fn commitment_round(beacon: &Beacon, now_unix: u64, blocks: u64, block_time: Duration) -> Round {
    let ahead = (blocks as f64 * block_time.as_secs_f64()).round() as u64;
    Round((now_unix.saturating_sub(beacon.genesis_time) + ahead) / beacon.period.max(1))
}

/// Seal commitment text for `Commitments::set_commitment`'s `TimelockEncrypted` field: the SCALE
/// encoding of the string, as the Python SDK seals it, so either side reads the other's reveal.
pub fn seal_commitment(
    beacon: &Beacon,
    text: &str,
    blocks: u64,
    block_time: Duration,
    now_unix: u64,
) -> Result<(Vec<u8>, Round), TimelockError> {
    let round = commitment_round(beacon, now_unix, blocks, block_time);
    Ok((timelock::encrypt(&beacon.key, round, &text.encode())?, round))
}

/// The text of a revealed commitment (`RevealedCommitments`): a SCALE string as sealed by
/// [`seal_commitment`] and the SDK, or plain UTF-8 from other tools.
pub fn revealed_text(bytes: &[u8]) -> Option<String> {
    use codec::Decode;
    let mut input = bytes;
    if let Ok(text) = String::decode(&mut input)
        && input.is_empty()
    {
        return Some(text);
    }
    String::from_utf8(bytes.to_vec()).ok()
}

/// Seconds since the Unix epoch, as the round arithmetic wants it.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(tempo: u16, last: u64, now: u64) -> EpochSchedule {
        EpochSchedule {
            tempo,
            last_epoch_block: last,
            pending_epoch_at: 0,
            epoch_index: 5,
            blocks_since_last_step: now - last,
            current_block: Block(now),
        }
    }

    #[test]
    fn the_reveal_epoch_starts_a_reveal_period_after_the_commit_epoch() {
        // Epochs fire every 10 blocks from block 100: at 110, 120, 130.
        let s = schedule(10, 100, 104);
        assert_eq!(s.first_reveal_block(1), Ok(Block(110)));
        assert_eq!(s.first_reveal_block(2), Ok(Block(120)));
        // A commit landing in the firing block belongs to the new epoch.
        let s = schedule(10, 100, 109);
        assert_eq!(s.first_reveal_block(1), Ok(Block(120)));
    }

    #[test]
    fn an_owner_triggered_epoch_moves_the_reveal_earlier() {
        let mut s = schedule(10, 100, 102);
        s.pending_epoch_at = 105;
        assert_eq!(s.first_reveal_block(1), Ok(Block(105)));
        assert_eq!(s.first_reveal_block(2), Ok(Block(115)));
        s.tempo = 0;
        assert_eq!(s.first_reveal_block(1), Err(ScheduleError::NoEpochs));
    }

    #[test]
    fn beacon_rounds_follow_genesis_and_period() {
        let beacon = Beacon {
            key: timelock::BeaconSecret::from_seed(b"t").public(),
            genesis_time: 1000,
            period: 3,
        };
        assert_eq!(beacon.round_at(999), Round(0));
        assert_eq!(beacon.round_at(1000), Round(1));
        assert_eq!(beacon.round_at(1005), Round(2));
        assert_eq!(beacon.time_of(Round(2)), 1003);
    }
}
