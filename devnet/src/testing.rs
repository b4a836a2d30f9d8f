//! Test fixture (feature `test-utils`): a devnet on a free loopback port with fast blocks, some
//! dev keys registered on subnet 1, btcli-format wallets for every dev key, and Kindred's client
//! connected to it. It is the devnet, not a double of subtensor: what it proves is that Kindred
//! works against the devnet.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kindred_chain::Network;
use kindred_chain::subnet::Netuid;
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::wallet::Signer;
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::{Devnet, DevnetConfig, Spawned, wallets};

/// The subnet every devnet starts with.
pub const NETUID: Netuid = Netuid(1);

/// A running devnet for one test; stops when dropped.
#[derive(Debug)]
pub struct TestNet {
    pub url: String,
    pub node: Arc<Node>,
    /// A client connected to it.
    pub chain: Subtensor,
    dir: tempfile::TempDir,
    stop: CancellationToken,
}

/// A dev key by name (`alice` … `ferdie`); a test that asks for another name is wrong.
pub fn dev(name: &str) -> Signer {
    Signer::dev(name).unwrap_or_else(|| panic!("`{name}` is not a dev key"))
}

impl TestNet {
    /// Starts a devnet with 100 ms blocks and registers `registered` (dev key names) on subnet 1
    /// by burned registration, in that order, so their UIDs follow it.
    pub async fn start(registered: &[&str]) -> TestNet {
        let devnet = Devnet::bind(DevnetConfig::on_any_port(Duration::from_millis(100)))
            .await
            .expect("devnet binds a loopback port");
        let stop = CancellationToken::new();
        let Spawned { url, node, .. } = devnet.spawn(stop.clone());
        let chain = Subtensor::connect(&Network::Url(url.clone()))
            .await
            .expect("client connects to the devnet");
        for name in registered {
            let who = dev(name);
            chain
                .submit(&who, &calls::burned_register(NETUID, who.public()))
                .await
                .unwrap_or_else(|e| panic!("registering {name}: {e}"));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        wallets::write_dev_wallets(&dir.path().join("wallets")).expect("dev wallets");
        TestNet {
            url,
            node,
            chain,
            dir,
            stop,
        }
    }

    /// btcli's wallet directory holding a wallet (coldkey and `default` hotkey) per dev key.
    pub fn wallets(&self) -> PathBuf {
        self.dir.path().join("wallets")
    }

    /// A scratch directory that lives as long as the devnet.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn network(&self) -> Network {
        Network::Url(self.url.clone())
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
