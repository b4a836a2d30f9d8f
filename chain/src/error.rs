//! What can go wrong talking to a chain, split the way a caller must react: a `Transport` fault is
//! ours to retry, a `Rejected` or `Failed` transaction is the chain's verdict on what we sent.

use crate::weights::WeightsRejection;

/// Subtensor's refusals that callers act on, from a dispatch error or a pool rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Weights, commitments or serving set too soon (`SettingWeightsTooFast`,
    /// `CommittingWeightsTooFast`, `CommitmentSetRateLimitExceeded`, pool `RateLimitExceeded`…).
    RateLimited,
    /// `HotKeyNotRegisteredInSubNet` and friends.
    NotRegistered,
    /// `NeuronNoValidatorPermit`.
    NoValidatorPermit,
    /// `IncorrectWeightVersionKey`.
    StaleVersionKey,
    /// `CommitRevealEnabled`: this subnet takes weights by commit-reveal only.
    CommitRevealEnabled,
    /// `CommitRevealDisabled`.
    CommitRevealDisabled,
    /// `SubnetNotExists` / `SubNetworkDoesNotExist`.
    NoSuchSubnet,
    /// A commit-reveal hash that matches no commit, or a reveal outside its window.
    RevealMismatch,
    /// Any other named error.
    Other,
}

impl Refusal {
    /// Classify subtensor's error (or pool error) name.
    pub fn from_name(name: &str) -> Refusal {
        match name {
            "SettingWeightsTooFast"
            | "CommittingWeightsTooFast"
            | "CommitmentSetRateLimitExceeded"
            | "RateLimitExceeded"
            | "TxRateLimitExceeded"
            | "ServingRateLimitExceeded"
            | "TooManyRegistrationsThisBlock"
            | "TooManyRegistrationsThisInterval"
            | "TooManyUnrevealedCommits" => Refusal::RateLimited,
            "HotKeyNotRegisteredInSubNet"
            | "HotKeyNotRegisteredInNetwork"
            | "HotKeyAccountNotExists"
            | "HotkeyAccountDoesntExist"
            | "AccountNotAllowedCommit"
            | "UidNotFound" => Refusal::NotRegistered,
            "NeuronNoValidatorPermit" => Refusal::NoValidatorPermit,
            "IncorrectWeightVersionKey" => Refusal::StaleVersionKey,
            "CommitRevealEnabled" => Refusal::CommitRevealEnabled,
            "CommitRevealDisabled" => Refusal::CommitRevealDisabled,
            "SubNetworkDoesNotExist" | "SubnetNotExists" | "MechanismDoesNotExist" => Refusal::NoSuchSubnet,
            "NoWeightsCommitFound"
            | "InvalidRevealCommitHashNotMatch"
            | "ExpiredWeightCommit"
            | "RevealTooEarly"
            | "CommitNotFound"
            | "CommitBlockNotInRevealRange" => Refusal::RevealMismatch,
            _ => Refusal::Other,
        }
    }
}

/// Subtensor's `CustomTransactionError` codes (pool rejections as `Custom(code)`), by name.
pub fn custom_code_name(code: u8) -> &'static str {
    match code {
        0 => "ColdkeyInSwapSchedule",
        1 => "StakeAmountTooLow",
        2 => "BalanceTooLow",
        3 => "SubnetNotExists",
        4 => "HotkeyAccountDoesntExist",
        5 => "NotEnoughStakeToWithdraw",
        6 => "RateLimitExceeded",
        7 => "InsufficientLiquidity",
        8 => "SlippageTooHigh",
        9 => "TransferDisallowed",
        10 => "HotKeyNotRegisteredInNetwork",
        11 => "InvalidIpAddress",
        12 => "ServingRateLimitExceeded",
        13 => "InvalidPort",
        14 => "ZeroMaxAmount",
        15 => "InvalidRevealRound",
        16 => "CommitNotFound",
        17 => "CommitBlockNotInRevealRange",
        18 => "InputLengthsUnequal",
        19 => "UidNotFound",
        20 => "EvmKeyAssociateRateLimitExceeded",
        21 => "ColdkeySwapDisputed",
        22 => "InvalidRealAccount",
        23 => "FailedShieldedTxParsing",
        24 => "InvalidShieldedTxPubKeyHash",
        25 => "NonAssociatedColdKey",
        26 => "DelegateTakeTooLow",
        27 => "DelegateTakeTooHigh",
        255 => "BadRequest",
        _ => "UnknownCustomError",
    }
}

/// Why the transaction pool refused a transaction before it reached a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolRejection {
    /// Nonce already used (`Stale`): another transaction from this key got in first.
    StaleNonce,
    /// Signature does not verify (`BadProof`).
    BadSignature,
    /// The mortal era has passed (`AncientBirthBlock`).
    Expired,
    /// Cannot pay fees (`Payment`).
    Payment,
    /// A runtime check refused it: `Custom(code)` with subtensor's name for the code.
    Custom { code: u8, name: &'static str },
    /// Same transaction already in the pool, or one with a higher priority replaced it.
    Duplicate,
    /// Anything else the node said.
    Other(String),
}

impl PoolRejection {
    /// Read the node's JSON-RPC error text (`Invalid Transaction`, code 1010/1011/1012).
    pub fn from_node_message(message: &str) -> PoolRejection {
        let lower = message.to_ascii_lowercase();
        if let Some(rest) = lower.split("custom error: ").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(code) = digits.parse::<u8>() {
                return PoolRejection::Custom {
                    code,
                    name: custom_code_name(code),
                };
            }
        }
        if lower.contains("outdated") || lower.contains("stale") {
            PoolRejection::StaleNonce
        } else if lower.contains("bad signature") || lower.contains("badproof") {
            PoolRejection::BadSignature
        } else if lower.contains("ancient birth block") || lower.contains("ancientbirthblock") {
            PoolRejection::Expired
        } else if lower.contains("inability to pay") || lower.contains("payment") {
            PoolRejection::Payment
        } else if lower.contains("already imported") || lower.contains("priority is too low") {
            PoolRejection::Duplicate
        } else {
            PoolRejection::Other(message.to_owned())
        }
    }

    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            PoolRejection::Custom { name, .. } => Some(Refusal::from_name(name)),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or the connection dropped: retryable.
    #[error("cannot reach the chain at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The node answered something this client cannot use (missing pallet, undecodable value):
    /// usually a runtime this version of Kindred does not know.
    #[error("unexpected answer from the chain for {what}: {reason}")]
    Unexpected { what: &'static str, reason: String },
    /// The pool refused the transaction.
    #[error("transaction refused by the pool: {0:?}")]
    Rejected(PoolRejection),
    /// The transaction was included but failed (`ExtrinsicFailed`).
    #[error("transaction failed on chain: {pallet}::{name}")]
    Failed {
        pallet: String,
        name: String,
        refusal: Refusal,
    },
    /// Kindred's own pre-check found what the chain would refuse.
    #[error("weights would be refused: {0}")]
    Weights(#[from] WeightsRejection),
    /// A commitment longer than the chain's `Raw128` field.
    #[error("commitment is {len} bytes; the chain stores at most {max}")]
    CommitmentTooLong { len: usize, max: usize },
    /// The subnet does not exist on this chain.
    #[error("subnet {0} does not exist")]
    NoSuchSubnet(crate::subnet::Netuid),
    /// A block stream ended.
    #[error("the block subscription ended")]
    StreamEnded,
}

impl ChainError {
    /// Whether trying again later can help (connection faults, a lost nonce race, an expired era).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChainError::Transport { .. }
                | ChainError::StreamEnded
                | ChainError::Rejected(
                    PoolRejection::StaleNonce | PoolRejection::Expired | PoolRejection::Duplicate
                )
        )
    }

    /// The chain's refusal, if this error is one.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            ChainError::Failed { refusal, .. } => Some(refusal.clone()),
            ChainError::Rejected(r) => r.refusal(),
            ChainError::Weights(w) => Some(match w {
                WeightsRejection::HotKeyNotRegisteredInSubNet => Refusal::NotRegistered,
                WeightsRejection::NeuronNoValidatorPermit => Refusal::NoValidatorPermit,
                WeightsRejection::IncorrectWeightVersionKey { .. } => Refusal::StaleVersionKey,
                WeightsRejection::SettingWeightsTooFast { .. } => Refusal::RateLimited,
                WeightsRejection::CommitRevealEnabled => Refusal::CommitRevealEnabled,
                _ => Refusal::Other,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_pool_errors_become_typed_rejections() {
        // Texts as substrate's author RPC reports them (code 1010, `data` appended).
        let custom = PoolRejection::from_node_message("Invalid Transaction \"Custom error: 6\"");
        assert_eq!(
            custom,
            PoolRejection::Custom {
                code: 6,
                name: "RateLimitExceeded"
            }
        );
        assert_eq!(custom.refusal(), Some(Refusal::RateLimited));
        let unregistered = PoolRejection::from_node_message("Invalid Transaction Custom error: 10");
        assert_eq!(unregistered.refusal(), Some(Refusal::NotRegistered));
        assert_eq!(
            PoolRejection::from_node_message("Invalid Transaction \"Transaction is outdated\""),
            PoolRejection::StaleNonce
        );
        assert_eq!(
            PoolRejection::from_node_message("Invalid Transaction \"Transaction has a bad signature\""),
            PoolRejection::BadSignature
        );
        assert_eq!(
            PoolRejection::from_node_message(
                "Invalid Transaction \"Transaction has an ancient birth block\""
            ),
            PoolRejection::Expired
        );
        assert!(ChainError::Rejected(PoolRejection::StaleNonce).is_retryable());
        assert!(!ChainError::Rejected(custom).is_retryable());
        assert!(matches!(
            PoolRejection::from_node_message("something new"),
            PoolRejection::Other(_)
        ));
    }
}
