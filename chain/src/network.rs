//! Which subtensor to talk to, named as btcli names networks.

use std::fmt;
use std::str::FromStr;

/// `finney`, `test`, `local`, or any `ws://`/`wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    Finney,
    Test,
    Local,
    Url(String),
}

impl Network {
    pub fn url(&self) -> &str {
        match self {
            Network::Finney => "wss://entrypoint-finney.opentensor.ai:443",
            Network::Test => "wss://test.finney.opentensor.ai:443",
            Network::Local => "ws://127.0.0.1:9944",
            Network::Url(url) => url,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a network (finney, test, local) or a ws://, wss://, http:// or https:// URL")]
pub struct ParseNetworkError(String);

impl FromStr for Network {
    type Err = ParseNetworkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "finney" | "main" | "mainnet" => Ok(Network::Finney),
            "test" | "testnet" => Ok(Network::Test),
            "local" => Ok(Network::Local),
            _ if ["ws://", "wss://", "http://", "https://"]
                .iter()
                .any(|p| s.starts_with(p)) =>
            {
                Ok(Network::Url(s.to_owned()))
            }
            _ => Err(ParseNetworkError(s.to_owned())),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Finney => f.write_str("finney"),
            Network::Test => f.write_str("test"),
            Network::Local => f.write_str("local"),
            Network::Url(url) => f.write_str(url),
        }
    }
}
