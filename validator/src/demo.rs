//! `validator demo`: a whole subnet on one machine with nothing to download or configure. The
//! devnet runs in-process; the miners' models are trained on the spot (one seeded run of
//! `kindred_scoring::finetune`, saved after 6, 20 and 60 steps) and published to a local hub;
//! the dev accounts register and commit; the validator service scores them, sets weights and
//! serves the leaderboard.
//!
//! The roster, in commit order: Bob (60 steps), Charlie (20), Dave (6), Eve (a byte-for-byte
//! copy of Bob's package under her own repository, committed after him) and Ferdie (Charlie's
//! package with its weights file cut short, like an interrupted upload). So a round shows the
//! three outcomes a validator has: scored in order of training, `duplicate` (no weight) and
//! `rejected` with its reason.
//!
//! Two departures from production, both because the models are trained for seconds: scoring
//! uses [`ScoringSpec::demo`] (small samples, no degeneration guard: models this young repeat
//! themselves and the guard would zero all of them), and the miners train on three quarters of
//! the bundled dialogue set that the validator scores with (every fourth dialogue is held out,
//! as in the benchmark ladder), where real validators score on private held-out sets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, salted_hash};
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, ChainError, Netuid, Network};
use kindred_devnet::{Devnet, DevnetConfig, DevnetError, Spawned};
use kindred_scoring::finetune::{Corpus, FinetuneError, FinetuneSettings, Trainer};
use kindred_scoring::tiny::TinySpec;
use kindred_scoring::weigh::WeighConfig;
use kindred_scoring::{Architecture, ScoringSpec};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::fetch::{FetchConfig, Fetcher};
use crate::metrics::Metrics;
use crate::service::{ServiceConfig, ServiceError, Validator};
use crate::store::{Store, StoreError};
use crate::weights::WeightSetter;
use kindred_hub::{HubError, Hubs, LocalHub, RepoId};
use kindred_scoring::evaluator::Evaluator;

const NET: Netuid = Netuid(1);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("training the miners' models: {0}")]
    Train(#[from] FinetuneError),
    #[error("the training task stopped: {0}")]
    TrainTask(#[from] tokio::task::JoinError),
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
    /// Miners, at most five (the dev accounts after Alice, who validates), taken from the
    /// roster in the module doc in order.
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

    let devnet = Devnet::bind(DevnetConfig::on_any_port(Duration::from_millis(200))).await?;
    let chain_stop = cancel.child_token();
    let Spawned {
        url,
        node,
        task: devnet_task,
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

    let models = options.dir.join("models");
    let trained = {
        let models = models.clone();
        tokio::task::spawn_blocking(move || train_ladder(&models)).await??
    };
    let hub_dir = options.dir.join("hub");
    let hub = LocalHub::new(&hub_dir);
    for miner in ROSTER.iter().take(options.miners.clamp(1, ROSTER.len())) {
        let signer = Signer::dev(miner.name).ok_or(DemoError::DevKey(miner.name))?;
        chain
            .submit(&signer, &calls::burned_register(NET, signer.public()))
            .await?;
        let package = models.join(miner.name);
        miner.package.write(&trained, &package)?;
        let repo = RepoId::parse(&format!("{}/tiny-roleplay", miner.name)).map_err(HubError::from)?;
        let published = hub.publish(&package, &repo)?;
        let commitment = ModelCommitment {
            competition: "dev".into(),
            hub: "local".into(),
            repo: repo.to_string(),
            revision: published.revision,
            hash: salted_hash(&published.digest, &Hotkey(signer.public())),
        };
        chain.set_commitment(&signer, NET, &commitment.encode()?).await?;
        println!("{:<7} committed {repo}: {}", miner.name, miner.package.describe());
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
        let alice_key = Signer::dev("alice").ok_or(DemoError::DevKey("alice"))?.public();
        let miners = options.miners.clamp(1, ROSTER.len());
        // The round is over once every miner's submission is settled (scored, duplicate or
        // rejected) and weights reached the chain after that.
        let mut settled_at = None;
        loop {
            let latest = store.latest_per_hotkey().await?;
            let all_in = latest.len() >= miners
                && latest
                    .iter()
                    .all(|s| s.status != crate::store::SubmissionStatus::Queued);
            // Weights on chain after everyone settled: set directly, or (commit-reveal being the
            // devnet's default, as subtensor's) revealed by the chain; a timelocked commit alone
            // moves `LastUpdate` too, so the weights row is what says they are in.
            let sets = store.weight_sets(5).await?;
            let landed = |at: u64| {
                sets.iter()
                    .any(|s| s.status.is_applied() && s.done_block.is_some_and(|b| b > at))
            };
            match settled_at {
                None if all_in => settled_at = Some(node.best().number),
                Some(at) if landed(at) => break,
                _ => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        println!("\nLeaderboard:");
        for row in crate::api::leaderboard(&store).await? {
            println!(
                "#{} uid {} {} score {} weight {:.3} {}{}",
                row.rank,
                row.uid,
                row.model.as_deref().unwrap_or("-"),
                row.score.map_or("-".into(), |s| format!("{s:.4}")),
                row.weight,
                row.status,
                row.reason.map(|r| format!(" ({r})")).unwrap_or_default()
            );
        }
        let (_, on_chain) = chain_weights(&node, &alice_key);
        let total: f64 = on_chain.iter().map(|&(_, w)| f64::from(w)).sum();
        println!("\nAlice's weights on chain (uid: share):");
        for (uid, w) in on_chain {
            println!("  uid {uid}: {:.3}", f64::from(w) / total.max(1.0));
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

/// The validator's last weights update block and weights `(uid, u16 weight)` as the devnet
/// holds them.
fn chain_weights(node: &kindred_devnet::node::Node, validator: &[u8; 32]) -> (u64, Vec<(u16, u16)>) {
    node.with_state(|s| {
        let subnet = &s.subnets[&NET.0];
        subnet
            .uid_of(validator)
            .map(|uid| {
                let n = &subnet.neurons[usize::from(uid)];
                (n.last_update, n.weights.clone())
            })
            .unwrap_or_default()
    })
}

/// Training steps of the three checkpoints, lowest first.
const CHECKPOINTS: [usize; 3] = [6, 20, 60];

/// The three checkpoints' package directories, lowest first.
#[derive(Debug)]
struct Trained([PathBuf; 3]);

/// What a demo miner submits.
#[derive(Debug)]
enum Package {
    /// The checkpoint at this index of [`CHECKPOINTS`].
    Trained(usize),
    /// A byte-for-byte copy of that checkpoint (another miner's upload).
    Copy(usize),
    /// That checkpoint with `model.safetensors` cut to half its length.
    Truncated(usize),
}

impl Package {
    fn describe(&self) -> String {
        match self {
            Self::Trained(i) => format!("trained for {} steps", CHECKPOINTS[*i]),
            Self::Copy(i) => format!("a copy of the {}-step model", CHECKPOINTS[*i]),
            Self::Truncated(i) => format!("the {}-step model with its weights cut short", CHECKPOINTS[*i]),
        }
    }

    fn write(&self, trained: &Trained, to: &std::path::Path) -> Result<(), DemoError> {
        let io = |what| move |source| DemoError::Io { what, source };
        let (Self::Trained(i) | Self::Copy(i) | Self::Truncated(i)) = self;
        let from = &trained.0[*i];
        std::fs::create_dir_all(to).map_err(io("creating a package directory"))?;
        for entry in std::fs::read_dir(from).map_err(io("reading a trained package"))? {
            let entry = entry.map_err(io("reading a trained package"))?;
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(io("copying a package"))?;
        }
        if let Self::Truncated(_) = self {
            let weights = to.join("model.safetensors");
            let len = std::fs::metadata(&weights)
                .map_err(io("sizing the weights"))?
                .len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&weights)
                .and_then(|f| f.set_len(len / 2))
                .map_err(io("truncating the weights"))?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Miner {
    name: &'static str,
    package: Package,
}

const ROSTER: [Miner; 5] = [
    Miner {
        name: "bob",
        package: Package::Trained(2),
    },
    Miner {
        name: "charlie",
        package: Package::Trained(1),
    },
    Miner {
        name: "dave",
        package: Package::Trained(0),
    },
    Miner {
        name: "eve",
        package: Package::Copy(2),
    },
    Miner {
        name: "ferdie",
        package: Package::Truncated(1),
    },
];

/// One seeded training run on three quarters of the bundled dialogues, saved at each
/// checkpoint, with a progress bar (the one slow step of the demo).
fn train_ladder(models: &std::path::Path) -> Result<Trained, DemoError> {
    let dialogues = crate::config::bundled_suites()?.dialogues;
    let train: Vec<_> = dialogues
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 0)
        .map(|(_, d)| d)
        .collect();
    let last = CHECKPOINTS[CHECKPOINTS.len() - 1];
    let settings = FinetuneSettings {
        steps: last,
        seed: 7,
        ..FinetuneSettings::default()
    };
    let mut trainer = Trainer::from_scratch(
        &TinySpec::new(Architecture::Llama, 11),
        &Corpus::Dialogues(train),
        &settings,
    )?;
    let bar = indicatif::ProgressBar::new(last as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "training the miners' models {bar:30} {pos}/{len} steps, loss {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut dirs = Vec::new();
    for (i, target) in CHECKPOINTS.into_iter().enumerate() {
        while trainer.steps_done() < target {
            let loss = trainer.step()?;
            bar.set_message(format!("{loss:.3}"));
            bar.inc(1);
        }
        let dir = models.join(format!("checkpoint-{i}-{target}-steps"));
        trainer.save(&dir)?;
        dirs.push(dir);
    }
    bar.finish();
    let [a, b, c]: [PathBuf; 3] = dirs.try_into().map_err(|_| DemoError::Io {
        what: "collecting checkpoints",
        source: std::io::Error::other("checkpoint count"),
    })?;
    Ok(Trained([a, b, c]))
}
