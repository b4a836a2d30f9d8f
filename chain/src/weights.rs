//! From scores to the `u16` vectors subtensor stores, the checks the chain will apply to them, and
//! the commit hash of commit-reveal.
//!
//! Normalisation follows the Python SDK's `convert_weights_and_uids_for_emit` exactly (divide by
//! the largest weight, scale to `u16::MAX`, round half to even as Python's `round` does, drop
//! zeros); `tests/weights.rs` holds golden vectors made with PyPI `bittensor`.

use std::collections::HashSet;

use codec::Encode;

use crate::account::Hotkey;
use crate::subnet::{Block, Hyperparameters, Netuid, Uid};

/// Weights ready for `set_weights` / `commit_weights`: parallel UID and value vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmitWeights {
    pub uids: Vec<Uid>,
    pub values: Vec<u16>,
}

impl EmitWeights {
    pub fn len(&self) -> usize {
        self.uids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }
    pub fn raw_uids(&self) -> Vec<u16> {
        self.uids.iter().map(|u| u.0).collect()
    }
}

/// Input the normaliser refuses, as the Python SDK does.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormaliseError {
    #[error("weight for uid {uid} is {weight}: weights must be finite and non-negative")]
    BadWeight { uid: Uid, weight: f64 },
}

/// Whether explicit zero weights are kept. The SDK drops them; the chain counts entries against
/// `MinAllowedWeights`, so a validator with few non-zero scores may need to keep them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zeros {
    Drop,
    Keep,
}

/// Max-upscale `(uid, weight)` pairs to `u16` values. All-zero input gives no weights.
pub fn normalise(weights: &[(Uid, f64)], zeros: Zeros) -> Result<EmitWeights, NormaliseError> {
    if let Some(&(uid, weight)) = weights.iter().find(|(_, w)| !w.is_finite() || *w < 0.0) {
        return Err(NormaliseError::BadWeight { uid, weight });
    }
    let max = weights.iter().map(|&(_, w)| w).fold(0.0_f64, f64::max);
    let mut out = EmitWeights::default();
    if max == 0.0 {
        return Ok(out);
    }
    for &(uid, weight) in weights {
        let value = ((weight / max) * f64::from(u16::MAX)).round_ties_even();
        // `max` is the largest weight, so `value` lies in 0..=65535.
        let value = value.clamp(0.0, f64::from(u16::MAX)) as u16;
        if value != 0 || zeros == Zeros::Keep {
            out.uids.push(uid);
            out.values.push(value);
        }
    }
    Ok(out)
}

/// Blake2-256 of the SCALE tuple `(hotkey, netuid_index, uids, values, salt, version_key)`: the
/// hash subtensor recomputes on `reveal_weights`. `netuid_index` is the netuid itself for a
/// subnet's first (and usually only) mechanism.
pub fn commit_hash(
    hotkey: &Hotkey,
    netuid: Netuid,
    weights: &EmitWeights,
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    let encoded = (
        hotkey.as_bytes(),
        netuid.0,
        weights.raw_uids(),
        &weights.values,
        salt,
        version_key,
    )
        .encode();
    sp_crypto_hashing::blake2_256(&encoded)
}

/// Why the chain would refuse these weights, named as subtensor's `Error` variants are.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WeightsRejection {
    #[error("WeightVecNotEqualSize: {uids} uids but {values} values")]
    WeightVecNotEqualSize { uids: usize, values: usize },
    #[error("HotKeyNotRegisteredInSubNet: the signing hotkey has no UID on this subnet")]
    HotKeyNotRegisteredInSubNet,
    #[error("NeuronNoValidatorPermit: the signing hotkey has no validator permit")]
    NeuronNoValidatorPermit,
    #[error("DuplicateUids: uid {0} appears twice")]
    DuplicateUids(Uid),
    #[error("UidVecContainInvalidOne: uid {uid} is not below the subnet size {n}")]
    UidVecContainInvalidOne { uid: Uid, n: u16 },
    #[error("WeightVecLengthIsLow: {len} weights, the subnet requires at least {min}")]
    WeightVecLengthIsLow { len: usize, min: u16 },
    #[error("MaxWeightExceeded: one uid would get {share:.4} of the weight, the limit is {limit:.4}")]
    MaxWeightExceeded { share: f64, limit: f64 },
    #[error("IncorrectWeightVersionKey: version key {given} is below the subnet's {required}")]
    IncorrectWeightVersionKey { given: u64, required: u64 },
    #[error("SettingWeightsTooFast: last update at block {last}, rate limit {limit} blocks, now {now}")]
    SettingWeightsTooFast { last: Block, limit: u64, now: Block },
    #[error("CommitRevealEnabled: this subnet takes weights through commit-reveal only")]
    CommitRevealEnabled,
}

/// What the pre-check needs to know about the signer and the subnet.
#[derive(Clone, Debug)]
pub struct SignerState {
    /// Subnet size (`SubnetworkN`).
    pub n: u16,
    /// The signing hotkey's UID, if registered.
    pub uid: Option<Uid>,
    pub validator_permit: bool,
    pub last_update: Block,
    pub now: Block,
}

/// How the weights will be submitted; commit-reveal subnets refuse a direct `set_weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submission {
    Direct,
    CommitReveal,
}

/// Mirror of subtensor's checks on `set_weights`/`reveal_weights`, run before paying for a
/// transaction so a refusal is explained in Kindred's words and logs.
pub fn precheck(
    weights: &EmitWeights,
    version_key: u64,
    hyper: &Hyperparameters,
    signer: &SignerState,
    submission: Submission,
) -> Result<(), WeightsRejection> {
    if weights.uids.len() != weights.values.len() {
        return Err(WeightsRejection::WeightVecNotEqualSize {
            uids: weights.uids.len(),
            values: weights.values.len(),
        });
    }
    if submission == Submission::Direct && hyper.commit_reveal_weights_enabled {
        return Err(WeightsRejection::CommitRevealEnabled);
    }
    let Some(own_uid) = signer.uid else {
        return Err(WeightsRejection::HotKeyNotRegisteredInSubNet);
    };
    if version_key < hyper.weights_version_key {
        return Err(WeightsRejection::IncorrectWeightVersionKey {
            given: version_key,
            required: hyper.weights_version_key,
        });
    }
    let only_self = weights.uids.len() == 1 && weights.uids[0] == own_uid;
    if !only_self && !signer.validator_permit {
        return Err(WeightsRejection::NeuronNoValidatorPermit);
    }
    let mut seen = HashSet::with_capacity(weights.uids.len());
    for &uid in &weights.uids {
        if !seen.insert(uid) {
            return Err(WeightsRejection::DuplicateUids(uid));
        }
        if uid.0 >= signer.n {
            return Err(WeightsRejection::UidVecContainInvalidOne { uid, n: signer.n });
        }
    }
    let min = hyper.min_allowed_weights.min(signer.n);
    if !only_self && weights.len() < usize::from(min) {
        return Err(WeightsRejection::WeightVecLengthIsLow {
            len: weights.len(),
            min,
        });
    }
    if hyper.max_weights_limit < u16::MAX && weights.len() > 1 {
        let total: u64 = weights.values.iter().map(|&v| u64::from(v)).sum();
        let top = weights.values.iter().copied().max().map(u64::from).unwrap_or(0);
        if total > 0 {
            let share = top as f64 / total as f64;
            let limit = f64::from(hyper.max_weights_limit) / f64::from(u16::MAX);
            if share > limit {
                return Err(WeightsRejection::MaxWeightExceeded { share, limit });
            }
        }
    }
    // A reveal pays no rate limit of its own: its commit did.
    let since = signer.now.since(signer.last_update);
    if submission == Submission::Direct && signer.last_update.0 > 0 && since < hyper.weights_set_rate_limit {
        return Err(WeightsRejection::SettingWeightsTooFast {
            last: signer.last_update,
            limit: hyper.weights_set_rate_limit,
            now: signer.now,
        });
    }
    Ok(())
}
