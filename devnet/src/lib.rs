//! `devnet`: a local development chain that speaks subtensor's JSON-RPC and follows its rules for
//! what subnet miners and validators do.
//!
//! One process, one authority, no consensus or networking: blocks on a timer, instant finality.
//! It serves its own runtime metadata ([`metadata`], V14 and V15, subtensor's indices and types
//! for the subset it implements) or, for compatibility checks, a real node's metadata file. Every
//! byte it serves (storage, events, runtime APIs) is encoded against that metadata; signed
//! extrinsics are decoded with it and their sr25519 signatures verified over the standard signing
//! payload.
//!
//! Modules: [`metadata`] (the runtime description), [`state`] (typed chain state and rules),
//! [`runtime`] (SCALE in and out), [`node`] (blocks and pool), [`store`] (the chain on disk, so a
//! restart continues), [`rpc`] (JSON-RPC), [`wallets`] (btcli wallets for the dev keys), and
//! `testing` (feature `test-utils`): a devnet with registered dev keys for other crates' tests.

pub mod metadata;
pub mod node;
pub mod rpc;
pub mod runtime;
pub mod state;
pub mod store;
pub mod wallets;

#[cfg(feature = "test-utils")]
pub mod testing;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use self::metadata::MetadataSet;
use self::node::Node;
use self::runtime::{Runtime, RuntimeError};
use self::state::State;
use self::store::{ChainStore, StoreError};

/// The well-known development keys, funded at genesis (Alice owns the first subnet).
pub const DEV_ACCOUNTS: [&str; 6] = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("RPC setup: {0}")]
    Rpc(#[from] jsonrpsee::core::RegisterMethodError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone, Debug)]
pub struct DevnetConfig {
    pub addr: SocketAddr,
    pub block_time: Duration,
    /// The runtime metadata the devnet serves and decodes with.
    pub metadata: MetadataSet,
    pub spec_name: String,
    pub spec_version: u32,
    pub transaction_version: u32,
    /// The subnet created at genesis.
    pub netuid: u16,
    /// Where the chain is kept between runs (SQLite); `None` keeps it in memory only.
    pub store: Option<PathBuf>,
    /// Forget what the store holds and start from genesis.
    pub reset: bool,
}

/// `~/.kindred/devnet.sqlite`: where the `devnet` binary keeps its chain unless told otherwise.
pub fn default_state_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".kindred")
        .join("devnet.sqlite")
}

impl DevnetConfig {
    /// The defaults on 127.0.0.1 at a port the system picks, with `block_time` blocks: a
    /// throwaway chain for tests, benches and the demo.
    pub fn on_any_port(block_time: Duration) -> DevnetConfig {
        DevnetConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            block_time,
            ..DevnetConfig::default()
        }
    }
}

impl Default for DevnetConfig {
    /// Subtensor's local port, 250 ms blocks, the devnet's own metadata reported as spec 424 (the
    /// Finney runtime its items follow), subnet 1, kept in memory.
    fn default() -> DevnetConfig {
        DevnetConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 9944)),
            block_time: Duration::from_millis(250),
            metadata: MetadataSet::kindred(),
            spec_name: "node-subtensor".into(),
            spec_version: 424,
            transaction_version: 1,
            netuid: 1,
            store: None,
            reset: false,
        }
    }
}

/// A devnet running in the background ([`Devnet::spawn`]); `task` ends once it has stopped.
#[derive(Debug)]
pub struct Spawned {
    pub url: String,
    pub node: Arc<Node>,
    pub task: tokio::task::JoinHandle<Result<(), DevnetError>>,
}

/// A devnet ready to run: its node is built and its socket bound.
#[derive(Debug)]
pub struct Devnet {
    node: Arc<Node>,
    server: jsonrpsee::server::Server,
    addr: SocketAddr,
    block_time: Duration,
    store: Option<ChainStore>,
}

impl Devnet {
    pub async fn bind(config: DevnetConfig) -> Result<Devnet, DevnetError> {
        // Kindred's own metadata reports the block time clients turn into drand rounds.
        let metadata = if config.metadata.is_own() {
            MetadataSet::kindred_for(u64::try_from(config.block_time.as_millis()).unwrap_or(u64::MAX))
        } else {
            config.metadata
        };
        let runtime = Runtime::new(
            metadata,
            &config.spec_name,
            config.spec_version,
            config.transaction_version,
        )?;
        let funded: Vec<[u8; 32]> = DEV_ACCOUNTS
            .iter()
            .filter_map(|n| kindred_chain::wallet::Signer::dev(n))
            .map(|s| s.public())
            .collect();
        let store = match &config.store {
            Some(path) => Some(ChainStore::open(path, config.reset).await?),
            None => None,
        };
        let saved = match &store {
            Some(s) => s.load().await?,
            None => None,
        };
        let node = match saved {
            Some(saved) => {
                info!(block = saved.state.block, "devnet resumes its saved chain");
                Arc::new(Node::resume(runtime, saved)?)
            }
            None => {
                let node = Node::new(runtime, State::genesis(&funded, config.netuid))?;
                if let Some(s) = &store {
                    let state = node.with_state(State::clone);
                    s.save(&node.best(), &state).await?;
                }
                Arc::new(node)
            }
        };
        let server = jsonrpsee::server::Server::builder()
            .build(config.addr)
            .await
            .map_err(|source| DevnetError::Listen {
                addr: config.addr,
                source,
            })?;
        let addr = server.local_addr().map_err(|source| DevnetError::Listen {
            addr: config.addr,
            source,
        })?;
        Ok(Devnet {
            node,
            server,
            addr,
            block_time: config.block_time,
            store,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn node(&self) -> Arc<Node> {
        self.node.clone()
    }

    /// Run in the background until `stop` fires: for tests, the demo and benches, which all
    /// need the URL and the node while the chain runs.
    pub fn spawn(self, stop: CancellationToken) -> Spawned {
        Spawned {
            url: self.url(),
            node: self.node(),
            task: tokio::spawn(self.run(stop)),
        }
    }

    /// Serve RPC and produce blocks until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), DevnetError> {
        let handle = self.server.start(rpc::module(self.node.clone())?);
        info!(url = %format!("ws://{}", self.addr), block_ms = self.block_time.as_millis() as u64, "devnet running");
        let mut tick = tokio::time::interval(self.block_time);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    match self.node.produce_block() {
                        Ok(block) => {
                            if let Some(store) = &self.store {
                                let state = self.node.with_state(State::clone);
                                if let Err(e) = store.save(&block, &state).await {
                                    // The chain goes on in memory; a restart would lose this block.
                                    warn!(error = %e, block = block.number, "saving the block failed");
                                }
                            }
                        }
                        // A projection failure is a devnet bug; keep serving the last good block.
                        Err(e) => warn!(error = %e, "block production failed"),
                    }
                }
            }
        }
        let _ = handle.stop();
        handle.stopped().await;
        Ok(())
    }
}
