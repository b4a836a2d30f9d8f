//! The calls Kindred submits, built with subxt's dynamic API: pallet, call and argument names are
//! looked up in the node's metadata when the transaction is made, so a runtime upgrade that keeps
//! the names keeps working, and one that changes them fails with a clear error before signing.

use subxt::dynamic::Value;
use subxt::transactions::DynamicPayload;

use crate::error::ChainError;
use crate::subnet::Netuid;
use crate::weights::EmitWeights;

/// The largest `Raw` commitment field subtensor accepts (`Data::Raw128`).
pub const MAX_COMMITMENT_BYTES: usize = 128;

pub type Call = DynamicPayload<Vec<Value>>;

fn u16s(values: impl IntoIterator<Item = u16>) -> Value {
    Value::unnamed_composite(values.into_iter().map(|v| Value::u128(u128::from(v))))
}

/// `SubtensorModule::set_weights(netuid, dests, weights, version_key)`.
pub fn set_weights(netuid: Netuid, weights: &EmitWeights, version_key: u64) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "set_weights",
        vec![
            Value::u128(u128::from(netuid.0)),
            u16s(weights.uids.iter().map(|u| u.0)),
            u16s(weights.values.iter().copied()),
            Value::u128(u128::from(version_key)),
        ],
    )
}

/// `SubtensorModule::commit_weights(netuid, commit_hash)`.
pub fn commit_weights(netuid: Netuid, hash: [u8; 32]) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "commit_weights",
        vec![Value::u128(u128::from(netuid.0)), Value::from_bytes(hash)],
    )
}

/// `SubtensorModule::reveal_weights(netuid, uids, values, salt, version_key)`.
pub fn reveal_weights(netuid: Netuid, weights: &EmitWeights, salt: &[u16], version_key: u64) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "reveal_weights",
        vec![
            Value::u128(u128::from(netuid.0)),
            u16s(weights.uids.iter().map(|u| u.0)),
            u16s(weights.values.iter().copied()),
            u16s(salt.iter().copied()),
            Value::u128(u128::from(version_key)),
        ],
    )
}

/// `SubtensorModule::commit_timelocked_weights(netuid, commit, reveal_round, commit_reveal_version)`.
pub fn commit_timelocked_weights(netuid: Netuid, commit: &[u8], reveal_round: u64, version: u16) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "commit_timelocked_weights",
        vec![
            Value::u128(u128::from(netuid.0)),
            Value::from_bytes(commit),
            Value::u128(u128::from(reveal_round)),
            Value::u128(u128::from(version)),
        ],
    )
}

/// `Commitments::set_commitment(netuid, CommitmentInfo { fields: [Raw<n>(text)] })`: the one-field
/// UTF-8 convention btcli and the Python SDK read back.
pub fn set_commitment(netuid: Netuid, data: &str) -> Result<Call, ChainError> {
    let bytes = data.as_bytes();
    if bytes.len() > MAX_COMMITMENT_BYTES {
        return Err(ChainError::CommitmentTooLong {
            len: bytes.len(),
            max: MAX_COMMITMENT_BYTES,
        });
    }
    let field = Value::unnamed_variant(format!("Raw{}", bytes.len()), [Value::from_bytes(bytes)]);
    let info = Value::named_composite([("fields", Value::unnamed_composite([field]))]);
    Ok(subxt::dynamic::transaction(
        "Commitments",
        "set_commitment",
        vec![Value::u128(u128::from(netuid.0)), info],
    ))
}

/// `Commitments::set_commitment(netuid, CommitmentInfo { fields: [TimelockEncrypted { encrypted,
/// reveal_round }] })`: a commitment the chain reveals into `RevealedCommitments` at the round.
pub fn set_timelocked_commitment(
    netuid: Netuid,
    encrypted: &[u8],
    reveal_round: u64,
) -> Result<Call, ChainError> {
    if encrypted.len() > crate::timelocked::MAX_SEALED_COMMITMENT_BYTES {
        return Err(ChainError::CommitmentTooLong {
            len: encrypted.len(),
            max: crate::timelocked::MAX_SEALED_COMMITMENT_BYTES,
        });
    }
    let field = Value::named_variant(
        "TimelockEncrypted",
        [
            ("encrypted", Value::from_bytes(encrypted)),
            ("reveal_round", Value::u128(u128::from(reveal_round))),
        ],
    );
    let info = Value::named_composite([("fields", Value::unnamed_composite([field]))]);
    Ok(subxt::dynamic::transaction(
        "Commitments",
        "set_commitment",
        vec![Value::u128(u128::from(netuid.0)), info],
    ))
}

/// `SubtensorModule::burned_register(netuid, hotkey)`, signed by the coldkey.
pub fn burned_register(netuid: Netuid, hotkey: [u8; 32]) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "burned_register",
        vec![Value::u128(u128::from(netuid.0)), Value::from_bytes(hotkey)],
    )
}

/// Decode the UTF-8 text of a commitment's fields (`Raw<n>` variants), as the SDK's
/// `get_commitment` does: the raw fields concatenated. `None` if a field is not raw bytes or the
/// text is not UTF-8.
pub fn commitment_text(info: &Value) -> Option<String> {
    use subxt::dynamic::At;
    let mut bytes = Vec::new();
    let mut raw = false;
    for field in crate::values::items(info.at("fields")?) {
        let subxt::ext::scale_value::ValueDef::Variant(variant) = &field.value else {
            return None;
        };
        if !variant.name.starts_with("Raw") {
            continue;
        }
        raw = true;
        bytes.extend(crate::values::as_bytes(variant.values.values().next()?)?);
    }
    // A commitment of sealed fields only has no text until the chain reveals it.
    if !raw {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// `SubtensorModule::add_stake(hotkey, netuid, amount_staked)`, signed by the coldkey.
pub fn add_stake(hotkey: [u8; 32], netuid: Netuid, amount: u64) -> Call {
    subxt::dynamic::transaction(
        "SubtensorModule",
        "add_stake",
        vec![
            Value::from_bytes(hotkey),
            Value::u128(u128::from(netuid.0)),
            Value::u128(u128::from(amount)),
        ],
    )
}

/// An `AdminUtils::sudo_set_*(netuid, value)` hyperparameter change, signed by the subnet owner.
pub fn admin_set(name: &str, netuid: Netuid, value: u128) -> Call {
    let value = if name.ends_with("enabled") {
        Value::bool(value != 0)
    } else {
        Value::u128(value)
    };
    subxt::dynamic::transaction(
        "AdminUtils",
        name.to_owned(),
        vec![Value::u128(u128::from(netuid.0)), value],
    )
}
