//! Account ids: a neuron's `Hotkey` and its owner's `Coldkey`, both 32-byte sr25519 public keys
//! shown in SS58 (generic Substrate prefix 42, as Bittensor uses).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subxt::utils::AccountId32;

/// A malformed SS58 address.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not an SS58 account address")]
pub struct ParseAccountError {
    pub input: String,
}

macro_rules! account_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            pub fn to_account_id(self) -> AccountId32 {
                AccountId32(self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                AccountId32(self.0).fmt(f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
        impl FromStr for $name {
            type Err = ParseAccountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                AccountId32::from_str(s.trim())
                    .map(|a| $name(a.0))
                    .map_err(|_| ParseAccountError { input: s.to_owned() })
            }
        }
        impl From<AccountId32> for $name {
            fn from(a: AccountId32) -> Self {
                $name(a.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

account_newtype!(
    /// The key a neuron registers and signs with.
    Hotkey
);
account_newtype!(
    /// The key that owns hotkeys and stake.
    Coldkey
);
