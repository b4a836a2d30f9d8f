//! The validator service: the chain loop (sync, then a weights round when one is due), the
//! submission pipeline (claim → fetch → verify → evaluate → store, the next download overlapping
//! the current evaluation) and the HTTP API, run together until cancelled.
//!
//! On cancellation nothing new is claimed, the evaluation in flight is released back to the
//! queue (its lease cleared, so another process can take it at once) and the API drains its
//! open requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kindred_chain::account::Hotkey;
use kindred_chain::submission::ModelCommitment;
use kindred_chain::{Chain, Netuid};
use kindred_scoring::Competition;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::api::{self, ApiState};
use crate::fetch::{FetchError, Fetched, Fetcher};
use crate::metrics::{Metrics, outcome};
use crate::store::{Claimed, Store, StoreError};
use crate::sync::{epoch_seed, sync};
use crate::weights::{Round, WeightSetter};
use kindred_scoring::evaluator::{Assessment, EvalFailure, Evaluator, Identity, PANICKED};
use kindred_scoring::identity::{Fingerprint, NEAR_DUPLICATE_SIMILARITY, similarity};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("API server: {0}")]
    Api(#[source] std::io::Error),
}

/// Timing and identity of one validator process.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub netuid: Netuid,
    /// Name of this process in leases (host and pid by default).
    pub worker: String,
    /// How often the chain is polled for a new block.
    pub poll: Duration,
    /// Blocks per seed period: every evaluation in one period uses the same items.
    pub seed_period: u64,
    /// Lease on a claimed submission; renewed while the work goes on.
    pub lease: Duration,
    /// Wait before an infrastructure failure is tried again.
    pub retry_after: Duration,
}

#[derive(Debug)]
pub struct Validator {
    pub chain: Arc<dyn Chain>,
    pub store: Store,
    pub fetcher: Arc<Fetcher>,
    pub evaluator: Arc<Evaluator>,
    /// `None` for an evaluation-only worker (more GPUs on one PostgreSQL store).
    pub weights: Option<WeightSetter>,
    pub metrics: Arc<Metrics>,
    pub api: Option<tokio::net::TcpListener>,
    pub config: ServiceConfig,
}

/// A fetched package waiting for the evaluator.
struct Ready {
    claim: Claimed,
    competition: String,
    fetched: Fetched,
    seed: [u8; 32],
}

impl Validator {
    pub async fn run(self, cancel: CancellationToken) -> Result<(), ServiceError> {
        let Validator {
            chain,
            store,
            fetcher,
            evaluator,
            weights,
            metrics,
            api,
            config,
        } = self;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = api {
            let state = ApiState::new(store.clone(), metrics.clone());
            let cancel = cancel.clone();
            tasks.spawn(async move {
                api::serve(listener, state, cancel)
                    .await
                    .map_err(ServiceError::Api)
            });
        }
        if let Some(weights) = weights {
            tasks.spawn(chain_loop(
                chain.clone(),
                store.clone(),
                weights,
                metrics.clone(),
                config.clone(),
                cancel.clone(),
            ));
        }
        // One package waits while another is evaluated: downloads overlap evaluation, and no more
        // than one model sits on disk unevaluated per process.
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>(1);
        tasks.spawn(fetch_loop(
            chain.clone(),
            store.clone(),
            fetcher,
            metrics.clone(),
            config.clone(),
            ready_tx,
            cancel.clone(),
        ));
        tasks.spawn(eval_loop(
            store.clone(),
            evaluator,
            metrics,
            config,
            ready_rx,
            cancel.clone(),
        ));
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!(error = %e, "validator task failed; stopping");
                    cancel.cancel();
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    warn!(error = %e, "validator task panicked; stopping");
                    cancel.cancel();
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

async fn chain_loop(
    chain: Arc<dyn Chain>,
    store: Store,
    mut weights: WeightSetter,
    metrics: Arc<Metrics>,
    config: ServiceConfig,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let mut last = 0;
    let mut tick = tokio::time::interval(config.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let block = match chain.best_block().await {
            Ok(b) => b.0,
            Err(e) => {
                // The node is down or restarting: our problem, retried on the next tick.
                metrics.sync_errors.inc();
                warn!(error = %e, "chain unreachable");
                continue;
            }
        };
        if block == last {
            continue;
        }
        last = block;
        match sync(chain.as_ref(), config.netuid, &store).await {
            Ok(s) => {
                metrics.chain_block.set(s.block as i64);
                if s.new_submissions > 0 {
                    info!(
                        block = s.block,
                        new = s.new_submissions,
                        rejected = s.rejected,
                        "synced"
                    );
                }
            }
            Err(crate::sync::SyncError::Store(e)) => return Err(e.into()),
            Err(e) => {
                metrics.sync_errors.inc();
                warn!(error = %e, "sync failed");
                continue;
            }
        }
        let round = weights.tick(chain.as_ref(), &store, block).await;
        let label = match &round {
            Ok(Round::Set { .. }) => "set",
            Ok(Round::Committed { .. }) => "committed",
            Ok(Round::Sealed { .. }) => "sealed",
            Ok(Round::Revealed) => "revealed",
            Ok(Round::Failed(_)) => "failed",
            Ok(Round::Skipped(_)) => "skipped",
            Err(_) => "error",
        };
        metrics.weight_rounds.get_or_create(&outcome(label)).inc();
        match round {
            Err(crate::weights::WeightsError::Store(e)) => return Err(e.into()),
            Err(e) => warn!(error = %e, "weights round failed"),
            Ok(_) => {}
        }
    }
}

async fn fetch_loop(
    chain: Arc<dyn Chain>,
    store: Store,
    fetcher: Arc<Fetcher>,
    metrics: Arc<Metrics>,
    config: ServiceConfig,
    ready: mpsc::Sender<Ready>,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let lease_ms = config.lease.as_millis() as i64;
    let retry_ms = config.retry_after.as_millis() as i64;
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let Some(claim) = store.claim(&config.worker, lease_ms).await? else {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.poll) => continue,
            }
        };
        let span = info_span!("submission", id = claim.id, uid = claim.uid, hotkey = %claim.hotkey, model = %claim.commitment);
        let outcome_of = async {
            let commitment: ModelCommitment = match claim.commitment.parse() {
                Ok(c) => c,
                Err(e) => {
                    store.reject(claim.id, e.code(), &e.to_string()).await?;
                    return Ok(None);
                }
            };
            let Some(competition) = Competition::by_name(&commitment.competition) else {
                store
                    .reject(
                        claim.id,
                        "unknown_competition",
                        &format!("no competition `{}`", commitment.competition),
                    )
                    .await?;
                metrics.submissions.get_or_create(&outcome("rejected")).inc();
                return Ok(None);
            };
            let hotkey: Hotkey = match claim.hotkey.parse() {
                Ok(h) => h,
                Err(_) => {
                    store
                        .reject(claim.id, "bad_hotkey", "hotkey is not an SS58 address")
                        .await?;
                    return Ok(None);
                }
            };
            let fetched = tokio::select! {
                _ = cancel.cancelled() => {
                    store.defer(claim.id, 0, "validator stopped during download").await?;
                    return Ok(None);
                }
                f = fetcher.fetch(&commitment, &hotkey, &competition) => f,
            };
            let fetched = match fetched {
                Ok(f) => f,
                Err(e @ FetchError::Rejected { .. }) => {
                    let code = e.code().unwrap_or("fetch_rejected");
                    warn!(code, reason = %e, "rejected at fetch");
                    store.reject(claim.id, code, &e.to_string()).await?;
                    metrics.submissions.get_or_create(&outcome("rejected")).inc();
                    return Ok(None);
                }
                Err(e) => {
                    warn!(error = %e, "fetch failed on our side; will retry");
                    store.defer(claim.id, retry_ms, &format!("retrying: {e}")).await?;
                    metrics.submissions.get_or_create(&outcome("deferred")).inc();
                    return Ok(None);
                }
            };
            metrics
                .fetched_bytes
                .inc_by(fetched.files.iter().map(|f| f.size).sum());
            if let Some(original) = store.set_digest(claim.id, &hex::encode(fetched.digest)).await? {
                info!(original, "identical content committed earlier by another hotkey");
                metrics.submissions.get_or_create(&outcome("duplicate")).inc();
                return Ok(None);
            }
            let block = match chain.best_block().await {
                Ok(b) => b.0,
                Err(e) => {
                    store
                        .defer(claim.id, retry_ms, &format!("retrying: chain unreachable: {e}"))
                        .await?;
                    return Ok(None);
                }
            };
            let seed = match epoch_seed(chain.as_ref(), block, config.seed_period).await {
                Ok((_, seed)) => seed,
                Err(e) => {
                    store
                        .defer(claim.id, retry_ms, &format!("retrying: epoch seed: {e}"))
                        .await?;
                    return Ok(None);
                }
            };
            Ok::<_, StoreError>(Some(Ready {
                competition: commitment.competition,
                claim: claim.clone(),
                fetched,
                seed,
            }))
        }
        .instrument(span)
        .await?;
        if let Some(r) = outcome_of {
            let id = r.claim.id;
            if ready.send(r).await.is_err() {
                store.defer(id, 0, "validator stopped").await?;
                return Ok(());
            }
        }
    }
}

async fn eval_loop(
    store: Store,
    evaluator: Arc<Evaluator>,
    metrics: Arc<Metrics>,
    config: ServiceConfig,
    mut ready: mpsc::Receiver<Ready>,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    loop {
        let r = tokio::select! {
            _ = cancel.cancelled() => {
                // Release what was fetched but not started.
                ready.close();
                while let Some(r) = ready.recv().await {
                    store.defer(r.claim.id, 0, "validator stopped").await?;
                }
                return Ok(());
            }
            r = ready.recv() => match r { Some(r) => r, None => return Ok(()) },
        };
        let span = info_span!("evaluate", id = r.claim.id, uid = r.claim.uid, hotkey = %r.claim.hotkey, model = %r.claim.commitment);
        let stop = evaluate_one(&store, &evaluator, &metrics, &config, r, &cancel)
            .instrument(span)
            .await?;
        if stop {
            return Ok(());
        }
    }
}

/// The earlier submission a package copies, as the copy checks found it.
#[derive(Debug, Clone, Copy)]
struct Original {
    id: i64,
    /// Fingerprint similarity, for a near copy; `None` for the same canonical content.
    similarity: Option<f64>,
}

/// Evaluate one fetched package and record the outcome; `Ok(true)` when cancelled meanwhile.
async fn evaluate_one(
    store: &Store,
    evaluator: &Arc<Evaluator>,
    metrics: &Metrics,
    config: &ServiceConfig,
    r: Ready,
    cancel: &CancellationToken,
) -> Result<bool, ServiceError> {
    let lease_ms = config.lease.as_millis() as i64;
    let retry_ms = config.retry_after.as_millis() as i64;
    let started = Instant::now();
    let (ev, dir, competition, seed) = (
        evaluator.clone(),
        r.fetched.dir.clone(),
        r.competition.clone(),
        r.seed,
    );
    // The copy checks run inside the blocking evaluation (between its stages), so they reach the
    // database through this runtime's handle.
    let handle = tokio::runtime::Handle::current();
    let (exact_store, near_store, id) = (store.clone(), store.clone(), r.claim.id);
    let exact_handle = handle.clone();
    let mut work = tokio::task::spawn_blocking(move || {
        let ours = |e: StoreError| EvalFailure::Ours(format!("database: {e}"));
        let exact = move |identity: &Identity| {
            exact_handle
                .block_on(exact_store.set_content_digest(id, &identity.digest.to_string()))
                .map(|o| {
                    o.map(|original| Original {
                        id: original,
                        similarity: None,
                    })
                })
                .map_err(ours)
        };
        let near = move |identity: &Identity| {
            let Some(mine) = &identity.fingerprint else {
                return Ok(None);
            };
            let earlier = handle
                .block_on(near_store.earlier_fingerprints(id))
                .map_err(ours)?;
            Ok(earlier.into_iter().find_map(|(other, json)| {
                let theirs: Fingerprint = serde_json::from_str(&json).ok()?;
                let s = similarity(mine, &theirs)?;
                (s >= NEAR_DUPLICATE_SIMILARITY).then_some(Original {
                    id: other,
                    similarity: Some(s),
                })
            }))
        };
        ev.assess(&dir, &competition, &seed, &exact, &near)
    });
    let mut renew = tokio::time::interval(config.lease / 3);
    renew.tick().await;
    let result = loop {
        tokio::select! {
            done = &mut work => break Some(done),
            _ = renew.tick() => { store.renew(r.claim.id, &config.worker, lease_ms).await?; }
            _ = cancel.cancelled() => break None,
        }
    };
    let Some(result) = result else {
        // The blocking evaluation cannot be interrupted; hand the submission back now.
        store
            .defer(r.claim.id, 0, "validator stopped during evaluation")
            .await?;
        return Ok(true);
    };
    metrics
        .evaluation_seconds
        .observe(started.elapsed().as_secs_f64());
    let fingerprint_json = |identity: &Identity| {
        identity
            .fingerprint
            .as_ref()
            .and_then(|f| serde_json::to_string(f).ok())
    };
    match result {
        Ok(Ok(Assessment::Copy { identity, original })) => match original.similarity {
            // The exact check already marked it a duplicate.
            None => {
                info!(
                    original = original.id,
                    "same canonical content committed earlier by another hotkey"
                );
                metrics.submissions.get_or_create(&outcome("duplicate")).inc();
            }
            Some(similarity) => {
                if let Some(json) = fingerprint_json(&identity) {
                    store.set_fingerprint(r.claim.id, &json).await?;
                }
                store.near_duplicate(r.claim.id, original.id, similarity).await?;
                info!(
                    original = original.id,
                    similarity, "near duplicate of an earlier submission"
                );
                metrics
                    .submissions
                    .get_or_create(&outcome("near_duplicate"))
                    .inc();
            }
        },
        Ok(Ok(Assessment::Scored { identity, evaluation })) => {
            if let Some(json) = fingerprint_json(&identity) {
                store.set_fingerprint(r.claim.id, &json).await?;
            }
            let detail = serde_json::to_value(&evaluation).unwrap_or_default();
            store
                .record_evaluation(
                    r.claim.id,
                    &evaluation.seed_hex,
                    evaluation.spec_version,
                    evaluation.total,
                    &detail,
                    r.claim.commit_block,
                    &config.worker,
                )
                .await?;
            metrics.submissions.get_or_create(&outcome("scored")).inc();
            info!(
                total = evaluation.total,
                secs = started.elapsed().as_secs_f64(),
                "scored"
            );
        }
        Ok(Err(EvalFailure::Miner { code, reason })) => {
            if code == PANICKED {
                metrics.evaluation_panics.inc();
            }
            warn!(code, %reason, "rejected at evaluation");
            store.reject(r.claim.id, code, &reason).await?;
            metrics.submissions.get_or_create(&outcome("rejected")).inc();
        }
        Ok(Err(EvalFailure::Ours(reason))) => {
            warn!(%reason, "evaluation failed on our side; will retry");
            store
                .defer(r.claim.id, retry_ms, &format!("retrying: {reason}"))
                .await?;
            metrics.submissions.get_or_create(&outcome("deferred")).inc();
        }
        Err(join) => {
            // Panics inside the evaluation are contained there; one that escapes is ours (the
            // copy checks, the runtime), not the miner's.
            metrics.evaluation_panics.inc();
            warn!(error = %join, "evaluation task failed outside its panic boundary; will retry");
            store
                .defer(r.claim.id, retry_ms, "retrying: evaluation panicked")
                .await?;
        }
    }
    Ok(false)
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
    #[error(transparent)]
    Suites(#[from] crate::config::SuiteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("connecting to the chain: {0}")]
    Chain(#[from] kindred_chain::ChainError),
    #[error("wallet: {0}")]
    Wallet(#[from] kindred_chain::wallet::WalletError),
    #[error("template sandbox: {0}")]
    Sandbox(#[source] std::io::Error),
    #[error("API address {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl From<crate::config::ConfigError> for BuildError {
    fn from(e: crate::config::ConfigError) -> BuildError {
        BuildError::Config(Box::new(e))
    }
}

/// The evaluate stage's fixed inputs from settings: bundled suites, spec, sandbox, device.
pub fn evaluator(settings: &crate::config::Settings) -> Result<Evaluator, BuildError> {
    Ok(Evaluator {
        suites: crate::config::bundled_suites()?,
        spec: settings.spec()?,
        sandbox: crate::config::sandbox().map_err(BuildError::Sandbox)?,
        device: settings.device()?,
    })
}

/// A validator as the settings describe it: chain client, wallet, store, hubs, evaluator, API.
/// `weights: false` builds an evaluation-only worker.
pub async fn build(settings: &crate::config::Settings, weights: bool) -> Result<Validator, BuildError> {
    use crate::fetch::FetchConfig;
    use kindred_chain::subtensor::Subtensor;
    let netuid = settings.netuid();
    let chain: Arc<dyn Chain> = Arc::new(Subtensor::connect(&settings.network()?).await?);
    let store = Store::open(&settings.db()).await?;
    if store.backend() == crate::store::Backend::Sqlite {
        // SQLite is one process's store: leases left by a run that died are free to take now
        // rather than when they expire.
        let released = store.release_leases().await?;
        if released > 0 {
            tracing::info!(released, "took back submissions a previous run left unfinished");
        }
    }
    let fetcher = Arc::new(Fetcher::new(
        settings.hubs()?,
        FetchConfig::new(settings.cache_dir()),
        Arc::new(tokio::sync::Semaphore::new(4)),
    ));
    let weights = if weights {
        let signer = settings.wallet().hotkey_signer(None)?;
        let spec = settings.spec()?;
        Some(WeightSetter::new(
            netuid,
            signer,
            spec.version,
            kindred_scoring::weigh::WeighConfig::default(),
            settings.weights_interval(),
        ))
    } else {
        None
    };
    let api = match settings.api_addr() {
        Some(addr) if weights.is_some() => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| BuildError::Listen { addr, source })?,
        ),
        _ => None,
    };
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "validator".into());
    Ok(Validator {
        chain,
        store,
        fetcher,
        evaluator: Arc::new(evaluator(settings)?),
        weights,
        metrics: Arc::new(Metrics::new()),
        api,
        config: ServiceConfig {
            netuid,
            worker: format!("{host}-{}", std::process::id()),
            poll: settings.poll(),
            seed_period: settings.seed_period(),
            lease: Duration::from_secs(600),
            retry_after: Duration::from_secs(60),
        },
    })
}
