//! `validator demo`: a whole subnet on one machine with nothing to download or configure. The
//! devnet runs in-process, miners' models are tiny ones written on the spot and published to a
//! local hub, the dev accounts register and commit, and the validator service scores them, sets
//! weights and serves the leaderboard.
//!
//! The models are random, so the demo scores them with the quick spec and without the
//! degeneration guard (random weights cannot hold a conversation; the guard would zero every
//! one of them). Everything else is the production path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::devnet::{Devnet, DevnetConfig, DevnetError, Spawned};
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, ChainError, Netuid, Network};
use kindred_scoring::tiny::{TinySpec, write_tiny_model};
use kindred_scoring::weigh::WeighConfig;
use kindred_scoring::{Architecture, ScoringSpec};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::evaluate::Evaluator;
use crate::fetch::{FetchConfig, Fetcher};
use crate::hub::{HubError, Hubs, LocalHub};
use crate::metrics::Metrics;
use crate::service::{ServiceConfig, ServiceError, Validator};
use crate::store::{Store, StoreError};
use crate::weights::WeightSetter;

const NET: Netuid = Netuid(1);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("writing a model: {0}")]
    Model(#[from] kindred_scoring::tiny::TinyError),
    #[error("hub: {0}")]
    Hub(#[from] HubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("suites: {0}")]
    Suites(#[from] crate::config::SuiteError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("commitment: {0}")]
    Commitment(#[from] kindred_chain::submission::SubmissionError),
    #[error("no dev key `{0}`")]
    DevKey(&'static str),
}

#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Where models, the hub, the cache and the database go (emptied first).
    pub dir: PathBuf,
    /// Leaderboard address.
    pub api: SocketAddr,
    /// Miners, at most five (the dev accounts after Alice, who validates).
    pub miners: usize,
    /// Stop once weights are on chain, instead of running until cancelled.
    pub once: bool,
}

/// The demo's spec: the quick samples, no degeneration guard (see the module doc).
pub fn demo_spec() -> ScoringSpec {
    ScoringSpec::demo()
}

pub async fn run(options: DemoOptions, cancel: CancellationToken) -> Result<(), DemoError> {
    let io = |what| move |source| DemoError::Io { what, source };
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir).map_err(io("clearing the demo directory"))?;
    }
    std::fs::create_dir_all(&options.dir).map_err(io("creating the demo directory"))?;

    let devnet = Devnet::bind(DevnetConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        block_time: Duration::from_millis(200),
        ..DevnetConfig::default()
    })
    .await?;
    let chain_stop = cancel.child_token();
    let Spawned {
        url,
        task: devnet_task,
        ..
    } = devnet.spawn(chain_stop.clone());
    info!(%url, "devnet running");
    let chain = Subtensor::connect(&Network::Url(url.clone())).await?;

    let alice = Signer::dev("alice").ok_or(DemoError::DevKey("alice"))?;
    chain
        .submit(&alice, &calls::burned_register(NET, alice.public()))
        .await?;
    chain
        .submit(&alice, &calls::add_stake(alice.public(), NET, 100_000_000_000))
        .await?;

    let hub_dir = options.dir.join("hub");
    let hub = LocalHub::new(&hub_dir);
    let names = ["bob", "charlie", "dave", "eve", "ferdie"];
    for (i, name) in names.iter().take(options.miners.clamp(1, 5)).enumerate() {
        let miner = Signer::dev(name).ok_or(DemoError::DevKey(name))?;
        chain
            .submit(&miner, &calls::burned_register(NET, miner.public()))
            .await?;
        let package = options.dir.join("models").join(name);
        write_tiny_model(&package, &TinySpec::new(Architecture::Llama, 100 + i as u64))?;
        let repo = format!("{name}/tiny-roleplay");
        let published = hub.publish(&package, &repo)?;
        let commitment = ModelCommitment {
            competition: "dev".into(),
            hub: "local".into(),
            repo: repo.clone(),
            revision: published.revision,
            hash: salted_hash(&published.digest, &Hotkey(miner.public())),
        };
        chain.set_commitment(&miner, NET, &commitment.encode()?).await?;
        info!(miner = name, %repo, "model committed");
    }

    let store = Store::open(&options.dir.join("validator.sqlite").display().to_string()).await?;
    let spec = demo_spec();
    let listener = tokio::net::TcpListener::bind(options.api)
        .await
        .map_err(io("binding the leaderboard address"))?;
    let api = listener.local_addr().map_err(io("leaderboard address"))?;
    let validator = Validator {
        chain: Arc::new(Subtensor::connect(&Network::Url(url)).await?),
        store: store.clone(),
        fetcher: Arc::new(Fetcher::new(
            Hubs::new().with("local", Arc::new(LocalHub::new(&hub_dir))),
            FetchConfig::new(options.dir.join("cache")),
            Arc::new(tokio::sync::Semaphore::new(2)),
        )),
        evaluator: Arc::new(Evaluator {
            suites: crate::config::bundled_suites()?,
            spec: spec.clone(),
            sandbox: crate::config::sandbox().map_err(io("template sandbox"))?,
            device: candle_core::Device::Cpu,
        }),
        weights: Some(WeightSetter::new(
            NET,
            alice,
            spec.version,
            WeighConfig {
                shares: [("dev".to_string(), 1.0)].into(),
                ..WeighConfig::default()
            },
            25,
        )),
        metrics: Arc::new(Metrics::new()),
        api: Some(listener),
        config: ServiceConfig {
            netuid: NET,
            worker: "demo".into(),
            poll: Duration::from_millis(400),
            seed_period: 100,
            lease: Duration::from_secs(120),
            retry_after: Duration::from_secs(5),
        },
    };
    println!("Kindred demo: leaderboard at http://{api}/ (JSON at /leaderboard); Ctrl-C stops it.");
    let service_stop = cancel.child_token();
    let service = tokio::spawn(validator.run(service_stop.clone()));
    if options.once {
        loop {
            let sets = store.weight_sets(5).await?;
            // Set directly, or (commit-reveal being the devnet's default) revealed by the chain.
            if sets
                .iter()
                .any(|s| matches!(s.status.as_str(), "included" | "revealed"))
            {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        for row in crate::api::leaderboard(&store).await? {
            println!(
                "#{} uid {} {} score {} weight {:.3} {}",
                row.rank,
                row.uid,
                row.model.as_deref().unwrap_or("-"),
                row.score.map_or("-".into(), |s| format!("{s:.4}")),
                row.weight,
                row.status
            );
        }
        service_stop.cancel();
    } else {
        cancel.cancelled().await;
    }
    service_stop.cancel();
    if let Ok(r) = service.await {
        r?;
    }
    chain_stop.cancel();
    let _ = devnet_task.await;
    Ok(())
}
