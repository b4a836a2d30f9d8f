//! `devnet`: run Kindred's local development chain.
//!
//! It serves its own runtime metadata unless given a real node's (`--metadata FILE`, for example
//! from `subxt metadata --url wss://entrypoint-finney.opentensor.ai:443 -f bytes`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kindred_devnet::{Devnet, DevnetConfig, MetadataSet};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(version, about = "Kindred's local subtensor-compatible development chain")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write btcli-format wallets (alice … ferdie) holding the devnet's funded dev keys.
    Wallets {
        /// Wallets directory (btcli's `--wallet.path`); existing wallets are never overwritten.
        #[arg(long = "wallet.path", env = "BT_WALLET_PATH", default_value_os_t = kindred_chain::wallet::default_wallets_dir())]
        path: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Address to serve JSON-RPC on (WebSocket and HTTP).
    #[arg(long, env = "KINDRED_DEVNET_ADDR", default_value = "127.0.0.1:9944")]
    addr: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(long, env = "KINDRED_DEVNET_BLOCK_MS", default_value_t = 250)]
    block_ms: u64,
    /// SCALE runtime metadata to serve instead of the devnet's own (`RuntimeMetadataPrefixed`).
    #[arg(long, env = "KINDRED_DEVNET_METADATA")]
    metadata: Option<PathBuf>,
    /// Runtime spec name and versions to report with that metadata.
    #[arg(long, env = "KINDRED_DEVNET_SPEC_NAME", default_value = "node-subtensor")]
    spec_name: String,
    #[arg(long, env = "KINDRED_DEVNET_SPEC_VERSION", default_value_t = 424)]
    spec_version: u32,
    #[arg(long, env = "KINDRED_DEVNET_TX_VERSION", default_value_t = 1)]
    transaction_version: u32,
    /// The subnet created at genesis.
    #[arg(long, env = "KINDRED_DEVNET_NETUID", default_value_t = 1)]
    netuid: u16,
    /// SQLite file the chain is kept in, so a restart continues where it stopped.
    #[arg(long, env = "KINDRED_DEVNET_STATE", default_value_os_t = kindred_devnet::default_state_path())]
    state: PathBuf,
    /// Keep the chain in memory only (nothing read or written on disk).
    #[arg(long, env = "KINDRED_DEVNET_IN_MEMORY")]
    in_memory: bool,
    /// Start again from genesis, forgetting the saved chain.
    #[arg(long, env = "KINDRED_DEVNET_RESET")]
    reset: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    if let Some(Command::Wallets { path }) = cli.command {
        let written = kindred_devnet::wallets::write_dev_wallets(&path).context("writing dev wallets")?;
        for w in written {
            println!("{}", w.display());
        }
        return Ok(());
    }
    let args = cli.run;
    let metadata = match &args.metadata {
        Some(path) => MetadataSet::single(
            std::fs::read(path).with_context(|| format!("reading metadata {}", path.display()))?,
        ),
        None => MetadataSet::kindred(),
    };
    let devnet = Devnet::bind(DevnetConfig {
        addr: args.addr,
        block_time: Duration::from_millis(args.block_ms),
        metadata,
        spec_name: args.spec_name,
        spec_version: args.spec_version,
        transaction_version: args.transaction_version,
        netuid: args.netuid,
        store: (!args.in_memory).then_some(args.state),
        reset: args.reset,
    })
    .await
    .context("starting the devnet")?;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        kindred_chain::shutdown::signal().await;
        on_signal.cancel();
    });
    devnet.run(cancel).await.context("running the devnet")
}
