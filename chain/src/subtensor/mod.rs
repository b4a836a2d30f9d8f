//! The subtensor client: [`Subtensor`] implements [`Chain`] over subxt's dynamic API.
//!
//! Reads (metagraph, commitments, hyperparameters) are retried on transport faults with a fresh
//! connection; transactions are mortal (`SubmitOptions::mortality` blocks), serialised per signer
//! so nonces never race, watched until included, and their failures decoded into
//! [`ChainError`] with subtensor's error names.

pub mod calls;
mod metagraph;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use subxt::client::OnlineClient;
use subxt::config::{DefaultExtrinsicParamsBuilder, RpcConfigFor, SubstrateConfig};
use subxt::dynamic::Value;
use subxt::rpcs::methods::LegacyRpcMethods;
use subxt::transactions::TransactionStatus;
use tracing::{debug, warn};

use crate::account::Hotkey;
use crate::error::{ChainError, PoolRejection, Refusal};
use crate::network::Network;
use crate::subnet::{Block, Commitment, Hyperparameters, Metagraph, Netuid};
use crate::timelock::{BeaconKey, Round};
use crate::timelocked::{Beacon, EpochSchedule, TimelockContext};
use crate::wallet::Signer;
use crate::weights::{self, EmitWeights, SignerState, Submission};
use crate::{Chain, Included};

type Rpc = LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>;

/// The `SubtensorModule` storage items behind [`Hyperparameters`], in field order.
const HYPERPARAMETERS: [&str; 9] = [
    "Tempo",
    "ImmunityPeriod",
    "MaxAllowedUids",
    "MinAllowedWeights",
    "MaxWeightsLimit",
    "WeightsVersionKey",
    "WeightsSetRateLimit",
    "CommitRevealWeightsEnabled",
    "RevealPeriodEpochs",
];

/// How transactions are sent.
#[derive(Clone, Debug)]
pub struct SubmitOptions {
    /// Blocks a transaction stays valid for (a mortal era; the SDK's default is 128).
    pub mortality: u64,
    /// Wait for finalisation rather than inclusion in a best block.
    pub wait_for_finalization: bool,
    /// Attempts for retryable failures (dropped connection, lost nonce race, expired era).
    pub attempts: u32,
    /// First back-off; doubles per attempt.
    pub backoff: Duration,
    /// Check weights the way the chain will before paying for a transaction (reads the
    /// metagraph and hyperparameters once per submission).
    pub precheck: bool,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions {
            mortality: 128,
            wait_for_finalization: false,
            attempts: 3,
            backoff: Duration::from_millis(500),
            precheck: true,
        }
    }
}

struct Connection {
    client: OnlineClient<SubstrateConfig>,
    rpc: Rpc,
}

/// A subtensor node, reached by URL.
pub struct Subtensor {
    url: String,
    conn: RwLock<Arc<Connection>>,
    signers: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    options: SubmitOptions,
}

impl std::fmt::Debug for Subtensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtensor")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Subtensor {
    pub async fn connect(network: &Network) -> Result<Subtensor, ChainError> {
        Subtensor::connect_with(network, SubmitOptions::default()).await
    }

    pub async fn connect_with(network: &Network, options: SubmitOptions) -> Result<Subtensor, ChainError> {
        let url = network.url().to_owned();
        let conn = open(&url).await?;
        Ok(Subtensor {
            url,
            conn: RwLock::new(Arc::new(conn)),
            signers: Mutex::default(),
            options,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn current(&self) -> Arc<Connection> {
        match self.conn.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replace the connection unless another task already did since `stale` was taken.
    async fn reconnect(&self, stale: &Arc<Connection>) -> Result<(), ChainError> {
        if !Arc::ptr_eq(stale, &self.current()) {
            return Ok(());
        }
        let fresh = Arc::new(open(&self.url).await?);
        let mut guard = match self.conn.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if Arc::ptr_eq(stale, &guard) {
            *guard = fresh;
        }
        Ok(())
    }

    /// Run a read, reconnecting and retrying while the failure is the transport's.
    async fn read<R, F, Fut>(&self, f: F) -> Result<R, ChainError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<R, ChainError>>,
    {
        let mut delay = self.options.backoff;
        let mut attempt = 1;
        loop {
            let conn = self.current();
            match f(conn.clone()).await {
                Err(ChainError::Transport { reason, .. }) if attempt < self.options.attempts => {
                    warn!(url = %self.url, attempt, %reason, "chain read failed; reconnecting");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                    if let Err(e) = self.reconnect(&conn).await {
                        debug!(error = %e, "reconnect failed");
                    }
                }
                other => return other,
            }
        }
    }

    fn signer_lock(&self, signer: &Signer) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.signers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(signer.public()).or_default().clone()
    }

    /// Sign, submit and watch `call` until it is included; retry what is retryable.
    pub async fn submit(&self, signer: &Signer, call: &calls::Call) -> Result<Included, ChainError> {
        let lock = self.signer_lock(signer);
        let _serial = lock.lock().await;
        let mut delay = self.options.backoff;
        let mut attempt = 1;
        loop {
            let conn = self.current();
            match self.submit_once(&conn, signer, call).await {
                Err(e) if e.is_retryable() && attempt < self.options.attempts => {
                    warn!(url = %self.url, attempt, error = %e, call = call.call_name(), "transaction retry");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                    if matches!(e, ChainError::Transport { .. })
                        && let Err(e) = self.reconnect(&conn).await
                    {
                        debug!(error = %e, "reconnect failed");
                    }
                }
                other => return other,
            }
        }
    }

    async fn submit_once(
        &self,
        conn: &Connection,
        signer: &Signer,
        call: &calls::Call,
    ) -> Result<Included, ChainError> {
        let url = &self.url;
        let at = conn
            .client
            .at_current_block()
            .await
            .map_err(|e| classify(url, "current block", &e))?;
        let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
            .mortal(self.options.mortality)
            .build();
        let mut progress = at
            .transactions()
            .sign_and_submit_then_watch(call, signer.keypair(), params)
            .await
            .map_err(|e| classify(url, "submit", &e))?;
        while let Some(status) = progress.next().await {
            let status = status.map_err(|e| classify(url, "transaction status", &e))?;
            let in_block = match status {
                TransactionStatus::InBestBlock(b) if !self.options.wait_for_finalization => b,
                TransactionStatus::InFinalizedBlock(b) => b,
                TransactionStatus::Invalid { message } | TransactionStatus::Dropped { message } => {
                    return Err(ChainError::Rejected(PoolRejection::from_node_message(&message)));
                }
                TransactionStatus::Error { message } => {
                    return Err(ChainError::Transport {
                        url: url.clone(),
                        reason: message,
                    });
                }
                _ => continue,
            };
            let block_hash = in_block.block_hash();
            in_block
                .wait_for_success()
                .await
                .map_err(|e| dispatch_failure(url, e))?;
            let block = match conn.rpc.chain_get_header(Some(block_hash)).await {
                Ok(Some(header)) => Block(header.number),
                _ => Block(0),
            };
            return Ok(Included {
                block,
                extrinsic_hash: in_block.extrinsic_hash().0,
            });
        }
        Err(ChainError::StreamEnded)
    }

    /// Run [`weights::precheck`] for `signer` against the chain's current view.
    async fn precheck(
        &self,
        signer: &Signer,
        netuid: Netuid,
        weights: &EmitWeights,
        version_key: u64,
        submission: Submission,
    ) -> Result<(), ChainError> {
        if !self.options.precheck {
            return Ok(());
        }
        let hyper = self.hyperparameters(netuid).await?;
        let metagraph = self.metagraph(netuid).await?;
        let now = self.best_block().await?;
        let me = metagraph.neurons.iter().find(|n| n.hotkey == signer.hotkey());
        let state = SignerState {
            n: metagraph.n(),
            uid: me.map(|n| n.uid),
            validator_permit: me.is_some_and(|n| n.validator_permit),
            last_update: me.map(|n| n.last_update).unwrap_or(Block(0)),
            now,
        };
        weights::precheck(weights, version_key, &hyper, &state, submission)?;
        Ok(())
    }
}

/// The Drand pallet's beacon, the commit-reveal version, the subnet's epoch scheduler and the slot
/// duration, all at the current block.
async fn read_timelock_context(
    url: &str,
    client: &OnlineClient<SubstrateConfig>,
    netuid: Netuid,
) -> Result<Option<TimelockContext>, ChainError> {
    use subxt::dynamic::At;
    let at = client
        .at_current_block()
        .await
        .map_err(|e| classify(url, "timelock context", &e))?;
    let metadata = at.metadata_ref();
    let has_call = metadata
        .pallet_by_name("SubtensorModule")
        .and_then(|p| p.call_variant_by_name("commit_timelocked_weights"))
        .is_some();
    if !has_call || metadata.pallet_by_name("Drand").is_none() {
        return Ok(None);
    }
    let storage = at.storage();
    let plain = |pallet: &'static str, item: &'static str| subxt::dynamic::storage::<(), Value>(pallet, item);
    let config = storage
        .fetch(plain("Drand", "BeaconConfig"), ())
        .await
        .map_err(|e| classify(url, "BeaconConfig", &e))?
        .decode()
        .map_err(|e| unexpected("BeaconConfig", &e))?;
    let bad = |reason: String| ChainError::Unexpected {
        what: "BeaconConfig",
        reason,
    };
    let key_bytes = config
        .at("public_key")
        .and_then(crate::values::as_bytes)
        .ok_or_else(|| bad(format!("no public_key in {config}")))?;
    let key = BeaconKey::from_bytes(&key_bytes).map_err(|e| bad(e.to_string()))?;
    let period = config.at("period").and_then(number).unwrap_or(0);
    let genesis_time = config.at("genesis_time").and_then(number).unwrap_or(0);
    if period == 0 {
        return Err(bad("period is 0".into()));
    }
    let version = storage
        .fetch(plain("SubtensorModule", "CommitRevealWeightsVersion"), ())
        .await
        .map_err(|e| classify(url, "CommitRevealWeightsVersion", &e))?
        .decode()
        .map_err(|e| unexpected("CommitRevealWeightsVersion", &e))?;
    let version = number(&version)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or(ChainError::Unexpected {
            what: "CommitRevealWeightsVersion",
            reason: format!("not a u16: {version}"),
        })?;
    let mut per_subnet = [0u64; 6];
    let items = [
        "Tempo",
        "RevealPeriodEpochs",
        "LastEpochBlock",
        "PendingEpochAt",
        "SubnetEpochIndex",
        "BlocksSinceLastStep",
    ];
    for (slot, item) in per_subnet.iter_mut().zip(items) {
        let addr = subxt::dynamic::storage::<(u16,), Value>("SubtensorModule", item);
        let value = storage
            .fetch(addr, (netuid.0,))
            .await
            .map_err(|e| classify(url, item, &e))?
            .decode()
            .map_err(|e| unexpected(item, &e))?;
        *slot = number(&value).ok_or(ChainError::Unexpected {
            what: item,
            reason: format!("not a number: {value}"),
        })?;
    }
    let slot_ms = at
        .constants()
        .entry(subxt::dynamic::constant::<u64>("Aura", "SlotDuration"))
        .map_err(|e| unexpected("Aura::SlotDuration", &e))?;
    let [
        tempo,
        reveal_period_epochs,
        last_epoch_block,
        pending_epoch_at,
        epoch_index,
        blocks_since_last_step,
    ] = per_subnet;
    Ok(Some(TimelockContext {
        beacon: Beacon {
            key,
            genesis_time,
            period,
        },
        commit_reveal_version: version,
        schedule: EpochSchedule {
            tempo: u16::try_from(tempo).unwrap_or(u16::MAX),
            last_epoch_block,
            pending_epoch_at,
            epoch_index,
            blocks_since_last_step,
            current_block: Block(at.block_number()),
        },
        reveal_period_epochs,
        block_time: Duration::from_millis(slot_ms),
    }))
}

fn number(value: &Value) -> Option<u64> {
    crate::values::as_u128(value).and_then(|v| u64::try_from(v).ok())
}

async fn open(url: &str) -> Result<Connection, ChainError> {
    let transport = |reason: String| ChainError::Transport {
        url: url.to_owned(),
        reason,
    };
    let rpc_client = subxt::rpcs::RpcClient::from_insecure_url(url)
        .await
        .map_err(|e| transport(e.to_string()))?;
    let client = OnlineClient::from_rpc_client_with_config(SubstrateConfig::new(), rpc_client.clone())
        .await
        .map_err(|e| transport(e.to_string()))?;
    Ok(Connection {
        client,
        rpc: LegacyRpcMethods::new(rpc_client),
    })
}

fn unexpected(what: &'static str, e: &dyn std::fmt::Display) -> ChainError {
    ChainError::Unexpected {
        what,
        reason: e.to_string(),
    }
}

/// The backend (RPC) failure inside the subxt errors this client meets, if any. subxt keeps it
/// in a field rather than as an error source, so it is dug out variant by variant.
fn backend_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e subxt::error::BackendError> {
    use subxt::error::{
        AccountNonceError, BackendError, BlocksError, ExtrinsicError, OnlineClientAtBlockError,
        RuntimeApiError, StorageError, TransactionProgressError,
    };
    fn at_block(e: &OnlineClientAtBlockError) -> Option<&BackendError> {
        match e {
            OnlineClientAtBlockError::CannotGetCurrentBlock { reason }
            | OnlineClientAtBlockError::CannotGetBlockHash { reason, .. }
            | OnlineClientAtBlockError::CannotGetBlockHeader { reason, .. }
            | OnlineClientAtBlockError::CannotGetSpecVersion { reason, .. } => Some(reason),
            _ => None,
        }
    }
    if let Some(e) = err.downcast_ref::<BackendError>() {
        return Some(e);
    }
    if let Some(e) = err.downcast_ref::<ExtrinsicError>() {
        return match e {
            ExtrinsicError::ErrorSubmittingTransaction(b)
            | ExtrinsicError::TransactionStatusStreamError(b)
            | ExtrinsicError::CannotGetBlockBody(b)
            | ExtrinsicError::AccountNonceError {
                reason: AccountNonceError::CouldNotRetrieve(b),
                ..
            } => Some(b),
            _ => None,
        };
    }
    if let Some(e) = err.downcast_ref::<OnlineClientAtBlockError>() {
        return at_block(e);
    }
    if let Some(e) = err.downcast_ref::<StorageError>() {
        return match e {
            StorageError::CannotFetchValue(b)
            | StorageError::CannotIterateValues(b)
            | StorageError::StreamFailure(b) => Some(b),
            _ => None,
        };
    }
    if let Some(RuntimeApiError::CannotCallApi(b)) = err.downcast_ref::<RuntimeApiError>() {
        return Some(b);
    }
    if let Some(TransactionProgressError::CannotGetNextProgressUpdate(b)) =
        err.downcast_ref::<TransactionProgressError>()
    {
        return Some(b);
    }
    if let Some(e) = err.downcast_ref::<BlocksError>() {
        return match e {
            BlocksError::CannotGetCurrentBlock(e) => at_block(e),
            BlocksError::CannotGetBlockHeaderStream(b) | BlocksError::CannotGetBlockHeader(b) => Some(b),
            _ => None,
        };
    }
    None
}

/// Sort a subxt error: a JSON-RPC error from the pool is a rejection, a client-side transport
/// fault is retryable, anything else is an answer we did not expect.
fn classify(url: &str, what: &'static str, e: &(dyn std::error::Error + 'static)) -> ChainError {
    use subxt::error::{BackendError, RpcError};
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let rpc = match backend_error(err) {
            Some(BackendError::Rpc(RpcError::ClientError(rpc))) => Some(rpc),
            Some(BackendError::Rpc(RpcError::SubscriptionDropped)) => {
                return ChainError::Transport {
                    url: url.to_owned(),
                    reason: chain_text(e),
                };
            }
            _ => err.downcast_ref::<subxt::rpcs::Error>(),
        };
        if let Some(rpc) = rpc {
            return match rpc {
                subxt::rpcs::Error::User(user) if (1010..=1020).contains(&user.code) => {
                    let data = user.data.as_ref().map(|d| d.get()).unwrap_or_default();
                    ChainError::Rejected(PoolRejection::from_node_message(&format!(
                        "{} {data}",
                        user.message
                    )))
                }
                subxt::rpcs::Error::Client(_) | subxt::rpcs::Error::DisconnectedWillReconnect(_) => {
                    ChainError::Transport {
                        url: url.to_owned(),
                        reason: chain_text(e),
                    }
                }
                _ => ChainError::Unexpected {
                    what,
                    reason: chain_text(e),
                },
            };
        }
        cur = err.source();
    }
    ChainError::Unexpected {
        what,
        reason: chain_text(e),
    }
}

fn dispatch_failure(url: &str, e: subxt::error::TransactionEventsError) -> ChainError {
    match &e {
        subxt::error::TransactionEventsError::ExtrinsicFailed(subxt::error::DispatchError::Module(
            module,
        )) => match module.details() {
            Ok(details) => {
                let name = details.variant.name.clone();
                ChainError::Failed {
                    pallet: details.pallet.name().to_owned(),
                    refusal: Refusal::from_name(&name),
                    name,
                }
            }
            Err(_) => ChainError::Failed {
                pallet: "?".into(),
                name: module.details_string(),
                refusal: Refusal::Other,
            },
        },
        subxt::error::TransactionEventsError::ExtrinsicFailed(other) => ChainError::Failed {
            pallet: "System".into(),
            name: format!("{other:?}"),
            refusal: Refusal::Other,
        },
        _ => classify(url, "transaction events", &e),
    }
}

#[async_trait]
impl Chain for Subtensor {
    async fn best_block(&self) -> Result<Block, ChainError> {
        let url = &self.url;
        self.read(|conn| async move {
            let header = conn
                .rpc
                .chain_get_header(None)
                .await
                .map_err(|e| classify(url, "best header", &e))?;
            header.map(|h| Block(h.number)).ok_or(ChainError::Unexpected {
                what: "best header",
                reason: "node returned no header".into(),
            })
        })
        .await
    }

    async fn finalized_block(&self) -> Result<Block, ChainError> {
        let url = &self.url;
        self.read(|conn| async move {
            let at = conn
                .client
                .at_current_block()
                .await
                .map_err(|e| classify(url, "finalized block", &e))?;
            Ok(Block(at.block_number()))
        })
        .await
    }

    async fn block_hash(&self, block: Block) -> Result<[u8; 32], ChainError> {
        let url = &self.url;
        self.read(|conn| async move {
            let hash = conn
                .rpc
                .chain_get_block_hash(Some(block.0.into()))
                .await
                .map_err(|e| classify(url, "block hash", &e))?;
            hash.map(|h| h.0).ok_or(ChainError::Unexpected {
                what: "block hash",
                reason: format!("node has no block {}", block.0),
            })
        })
        .await
    }

    async fn blocks(&self) -> Result<BoxStream<'static, Result<Block, ChainError>>, ChainError> {
        let url = self.url.clone();
        let conn = self.current();
        let stream = conn
            .client
            .stream_blocks()
            .await
            .map_err(|e| classify(&url, "block stream", &e))?;
        Ok(stream
            .map(move |b| {
                b.map(|b| Block(b.number()))
                    .map_err(|e| classify(&url, "block stream", &e))
            })
            .boxed())
    }

    async fn metagraph(&self, netuid: Netuid) -> Result<Metagraph, ChainError> {
        let url = &self.url;
        self.read(|conn| async move { metagraph::read(url, &conn.client, netuid).await })
            .await
    }

    async fn commitments(&self, netuid: Netuid) -> Result<Vec<Commitment>, ChainError> {
        let url = &self.url;
        self.read(|conn| async move {
            let at = conn
                .client
                .at_current_block()
                .await
                .map_err(|e| classify(url, "commitments", &e))?;
            let addr = subxt::dynamic::storage::<(u16, [u8; 32]), Value>("Commitments", "CommitmentOf");
            let mut entries = at
                .storage()
                .iter(addr, (netuid.0,))
                .await
                .map_err(|e| classify(url, "commitments", &e))?;
            let mut out = Vec::new();
            while let Some(entry) = entries.next().await {
                let entry = entry.map_err(|e| classify(url, "commitments", &e))?;
                let key = entry.key().map_err(|e| unexpected("commitment key", &e))?;
                let hotkey = key
                    .part(1)
                    .and_then(|p| p.decode_as::<[u8; 32]>().ok().flatten())
                    .ok_or(ChainError::Unexpected {
                        what: "commitment key",
                        reason: "no hotkey".into(),
                    })?;
                let value = entry.value().decode().map_err(|e| unexpected("commitment", &e))?;
                use subxt::dynamic::At;
                let block = value.at("block").and_then(number).unwrap_or(0);
                let Some(data) = value.at("info").and_then(calls::commitment_text) else {
                    debug!(hotkey = %Hotkey(hotkey), "commitment without UTF-8 raw fields; skipped");
                    continue;
                };
                out.push(Commitment {
                    hotkey: Hotkey(hotkey),
                    block: Block(block),
                    data,
                });
            }
            // Timelocked commitments, as the chain revealed them: the newest reveal counts, at
            // its reveal block (when the model id became public).
            if at
                .metadata_ref()
                .pallet_by_name("Commitments")
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name("RevealedCommitments"))
                .is_some()
            {
                let addr =
                    subxt::dynamic::storage::<(u16, [u8; 32]), Value>("Commitments", "RevealedCommitments");
                let mut entries = at
                    .storage()
                    .iter(addr, (netuid.0,))
                    .await
                    .map_err(|e| classify(url, "revealed commitments", &e))?;
                while let Some(entry) = entries.next().await {
                    let entry = entry.map_err(|e| classify(url, "revealed commitments", &e))?;
                    let key = entry
                        .key()
                        .map_err(|e| unexpected("revealed commitment key", &e))?;
                    let Some(hotkey) = key.part(1).and_then(|p| p.decode_as::<[u8; 32]>().ok().flatten())
                    else {
                        continue;
                    };
                    let value = entry
                        .value()
                        .decode()
                        .map_err(|e| unexpected("revealed commitment", &e))?;
                    use subxt::dynamic::At;
                    // A sequence of `(bytes, block)` tuples; `values::items` would look into a
                    // lone tuple as if it were a wrapper.
                    let subxt::ext::scale_value::ValueDef::Composite(reveals) = &value.value else {
                        continue;
                    };
                    let Some(newest) = reveals.values().last() else {
                        continue;
                    };
                    let (Some(bytes), Some(block)) = (
                        newest.at(0).and_then(crate::values::as_bytes),
                        newest.at(1).and_then(number),
                    ) else {
                        continue;
                    };
                    let Some(data) = crate::timelocked::revealed_text(&bytes) else {
                        debug!(hotkey = %Hotkey(hotkey), "revealed commitment is not text; skipped");
                        continue;
                    };
                    let revealed = Commitment {
                        hotkey: Hotkey(hotkey),
                        block: Block(block),
                        data,
                    };
                    match out.iter_mut().find(|c| c.hotkey == revealed.hotkey) {
                        Some(c) if c.block < revealed.block => *c = revealed,
                        Some(_) => {}
                        None => out.push(revealed),
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn hyperparameters(&self, netuid: Netuid) -> Result<Hyperparameters, ChainError> {
        let url = &self.url;
        // All nine items from one block, so a change between reads cannot mix two views.
        let read = self
            .read(|conn| async move {
                let at = conn
                    .client
                    .at_current_block()
                    .await
                    .map_err(|e| classify(url, "hyperparameters", &e))?;
                let mut out = [0u64; 9];
                for (slot, entry) in out.iter_mut().zip(HYPERPARAMETERS) {
                    let addr = subxt::dynamic::storage::<(u16,), Value>("SubtensorModule", entry);
                    let value = at
                        .storage()
                        .fetch(addr, (netuid.0,))
                        .await
                        .map_err(|e| classify(url, entry, &e))?
                        .decode()
                        .map_err(|e| unexpected(entry, &e))?;
                    *slot = number(&value).ok_or(ChainError::Unexpected {
                        what: entry,
                        reason: format!("not a number: {value}"),
                    })?;
                }
                Ok(out)
            })
            .await?;
        let small = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
        Ok(Hyperparameters {
            tempo: small(read[0]),
            immunity_period: small(read[1]),
            max_allowed_uids: small(read[2]),
            min_allowed_weights: small(read[3]),
            max_weights_limit: small(read[4]),
            weights_version_key: read[5],
            weights_set_rate_limit: read[6],
            commit_reveal_weights_enabled: read[7] != 0,
            reveal_period_epochs: read[8],
        })
    }

    async fn set_weights(
        &self,
        signer: &Signer,
        netuid: Netuid,
        weights: &EmitWeights,
        version_key: u64,
    ) -> Result<Included, ChainError> {
        self.precheck(signer, netuid, weights, version_key, Submission::Direct)
            .await?;
        self.submit(signer, &calls::set_weights(netuid, weights, version_key))
            .await
    }

    async fn commit_weights(
        &self,
        signer: &Signer,
        netuid: Netuid,
        hash: [u8; 32],
    ) -> Result<Included, ChainError> {
        self.submit(signer, &calls::commit_weights(netuid, hash)).await
    }

    async fn reveal_weights(
        &self,
        signer: &Signer,
        netuid: Netuid,
        weights: &EmitWeights,
        salt: &[u16],
        version_key: u64,
    ) -> Result<Included, ChainError> {
        self.precheck(signer, netuid, weights, version_key, Submission::CommitReveal)
            .await?;
        self.submit(signer, &calls::reveal_weights(netuid, weights, salt, version_key))
            .await
    }

    async fn timelock_context(&self, netuid: Netuid) -> Result<Option<TimelockContext>, ChainError> {
        let url = &self.url;
        self.read(|conn| async move { read_timelock_context(url, &conn.client, netuid).await })
            .await
    }

    async fn commit_timelocked_weights(
        &self,
        signer: &Signer,
        netuid: Netuid,
        commit: &[u8],
        reveal_round: Round,
        commit_reveal_version: u16,
    ) -> Result<Included, ChainError> {
        self.submit(
            signer,
            &calls::commit_timelocked_weights(netuid, commit, reveal_round.0, commit_reveal_version),
        )
        .await
    }

    async fn set_timelocked_commitment(
        &self,
        signer: &Signer,
        netuid: Netuid,
        encrypted: &[u8],
        reveal_round: Round,
    ) -> Result<Included, ChainError> {
        self.submit(
            signer,
            &calls::set_timelocked_commitment(netuid, encrypted, reveal_round.0)?,
        )
        .await
    }

    async fn set_commitment(
        &self,
        signer: &Signer,
        netuid: Netuid,
        data: &str,
    ) -> Result<Included, ChainError> {
        self.submit(signer, &calls::set_commitment(netuid, data)?).await
    }
}

/// An error and its sources, one line: subxt's top-level messages rarely say what went wrong.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    if e.source().is_none() {
        // Some subxt errors keep their cause in a field rather than as a source.
        return format!("{e} ({e:?})");
    }
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}
