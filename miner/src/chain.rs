//! What the commands that reach a chain or a hub share: btcli-style chain and wallet flags, and
//! the async runtime they run on.

use std::path::PathBuf;

use anyhow::Context;

/// btcli-style chain and wallet flags, shared by the commands that talk to the chain.
#[derive(Debug, clap::Args)]
pub struct ChainArgs {
    #[arg(long, env = "KINDRED_NETUID", default_value_t = 1)]
    pub netuid: u16,
    /// finney, test, local or a ws:// URL.
    #[arg(
        long = "subtensor.network",
        env = "KINDRED_SUBTENSOR_NETWORK",
        default_value = "local"
    )]
    pub network: kindred_chain::Network,
    #[arg(long = "wallet.name", env = "BT_WALLET_NAME", default_value = "default")]
    pub wallet_name: String,
    #[arg(long = "wallet.hotkey", env = "BT_WALLET_HOTKEY", default_value = "default")]
    pub wallet_hotkey: String,
    #[arg(long = "wallet.path", env = "BT_WALLET_PATH")]
    pub wallet_path: Option<PathBuf>,
}

impl ChainArgs {
    pub fn wallet(&self) -> kindred_chain::wallet::Wallet {
        kindred_chain::wallet::Wallet {
            path: self
                .wallet_path
                .clone()
                .unwrap_or_else(kindred_chain::wallet::default_wallets_dir),
            name: self.wallet_name.clone(),
            hotkey: self.wallet_hotkey.clone(),
        }
    }

    pub fn netuid(&self) -> kindred_chain::Netuid {
        kindred_chain::Netuid(self.netuid)
    }

    /// The wallet's hotkey, for signing.
    pub fn signer(&self) -> anyhow::Result<kindred_chain::wallet::Signer> {
        self.wallet().hotkey_signer(None).context("loading the hotkey")
    }
}

/// A multi-threaded runtime for the commands that talk to a chain or a hub.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
