//! Subnet-level domain types, in subtensor's own words. Each is parsed once where it enters Kindred
//! (chain storage, CLI flags) and carried typed from there on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::account::{Coldkey, Hotkey};

/// A subnet's id (`NetUid` on chain, a `u16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Netuid(pub u16);

/// A neuron's slot in a subnet. The same UID can change hands: a new registration replaces the
/// hotkey and resets `registered_at`, so `(uid, hotkey, registered_at)` identifies a miner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(pub u16);

/// A block number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Block(pub u64);

macro_rules! number_newtype {
    ($name:ident, $inner:ty) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse::<$inner>().map($name)
            }
        }
        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }
    };
}
number_newtype!(Netuid, u16);
number_newtype!(Uid, u16);
number_newtype!(Block, u64);

impl Block {
    /// Blocks from `earlier` to `self`, zero if `earlier` is later (a reorg or a reset devnet).
    pub fn since(self, earlier: Block) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Where a neuron says it serves (subtensor's `AxonInfo`, reduced to what an operator reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axon {
    pub ip: String,
    pub port: u16,
}

/// One registered neuron of a subnet, as the metagraph reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    pub uid: Uid,
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
    /// Stake behind the hotkey on this subnet, in the subnet's smallest unit (rao of alpha).
    pub stake: u64,
    pub validator_permit: bool,
    /// Block of the neuron's last weights (`LastUpdate`).
    pub last_update: Block,
    /// Block of the registration that gave this hotkey the UID (`BlockAtRegistration`).
    pub registered_at: Block,
    /// Incentive share in `0.0..=1.0` (the chain stores it as a `u16` fraction).
    pub incentive: f64,
    pub axon: Option<Axon>,
}

/// The neurons of one subnet at one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metagraph {
    pub netuid: Netuid,
    pub block: Block,
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    pub fn neuron(&self, uid: Uid) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.uid == uid)
    }

    pub fn uid_of(&self, hotkey: &Hotkey) -> Option<Uid> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey).map(|n| n.uid)
    }

    /// One past the largest UID: the length of the chain's per-UID vectors.
    pub fn n(&self) -> u16 {
        self.neurons
            .iter()
            .map(|n| n.uid.0.saturating_add(1))
            .max()
            .unwrap_or(0)
    }
}

/// A hotkey's commitment on a subnet (`Commitments::CommitmentOf`): UTF-8 text in one `Raw`
/// field, and the block it was made at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    pub hotkey: Hotkey,
    pub block: Block,
    pub data: String,
}

/// The subnet hyperparameters Kindred reads; names follow subtensor's storage items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub tempo: u16,
    pub immunity_period: u16,
    pub max_allowed_uids: u16,
    pub min_allowed_weights: u16,
    /// Largest share one UID may get, as a `u16` fraction of `u16::MAX`.
    pub max_weights_limit: u16,
    pub weights_version_key: u64,
    pub weights_set_rate_limit: u64,
    pub commit_reveal_weights_enabled: bool,
    /// Reveal delay in tempos (`RevealPeriodEpochs`).
    pub reveal_period_epochs: u64,
}
