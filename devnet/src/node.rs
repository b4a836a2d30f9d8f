//! The devnet node: the chain of blocks, the transaction pool, block production and the state each
//! RPC reads at a given block.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use super::runtime::{Checked, Invalid, Outcome, Runtime, RuntimeError, header};
use super::state::{AccountId, State};

/// Keep this many recent blocks' storage for queries at past blocks (and mortal-era hashes).
const KEEP_STATE: u64 = 512;

pub type Storage = Arc<BTreeMap<Vec<u8>, Vec<u8>>>;

#[derive(Clone, Debug)]
pub struct BlockRecord {
    pub number: u64,
    pub hash: [u8; 32],
    pub parent: [u8; 32],
    pub state_root: [u8; 32],
    pub extrinsics_root: [u8; 32],
    pub extrinsics: Vec<Vec<u8>>,
    /// `None` once the block is older than [`KEEP_STATE`].
    pub storage: Option<Storage>,
}

impl BlockRecord {
    pub fn header_json(&self) -> serde_json::Value {
        serde_json::json!({
            "parentHash": hex0x(&self.parent),
            "number": format!("0x{:x}", self.number),
            "stateRoot": hex0x(&self.state_root),
            "extrinsicsRoot": hex0x(&self.extrinsics_root),
            "digest": { "logs": [] },
        })
    }
}

/// What a previous run left (read back by the store): its blocks (oldest first, genesis
/// included) and the state after the last one.
#[derive(Debug)]
pub struct Saved {
    pub blocks: Vec<BlockRecord>,
    pub state: State,
}

pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Progress of a watched transaction, as `author_submitAndWatchExtrinsic` reports it.
#[derive(Clone, Debug)]
pub enum TxUpdate {
    InBlock([u8; 32]),
    Finalized([u8; 32]),
}

struct Inner {
    state: State,
    blocks: Vec<BlockRecord>,
    pool: Vec<Checked>,
    watchers: HashMap<[u8; 32], mpsc::UnboundedSender<TxUpdate>>,
}

pub struct Node {
    pub runtime: Runtime,
    inner: Mutex<Inner>,
    pub heads: broadcast::Sender<BlockRecord>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(runtime: Runtime, genesis: State) -> Result<Node, RuntimeError> {
        let storage = Arc::new(runtime.storage(&genesis, &[], &[])?);
        let state_root = root_of(&storage);
        let extrinsics_root = sp_crypto_hashing::blake2_256(&[]);
        let (_, hash) = header([0; 32], 0, state_root, extrinsics_root);
        // The genesis hash is only known now; store it so `System.BlockHash(0)` answers.
        let genesis_record = BlockRecord {
            number: 0,
            hash,
            parent: [0; 32],
            state_root,
            extrinsics_root,
            extrinsics: Vec::new(),
            storage: Some(Arc::new(runtime.storage(&genesis, &[], &[(0, hash)])?)),
        };
        let (heads, _) = broadcast::channel(64);
        Ok(Node {
            runtime,
            inner: Mutex::new(Inner {
                state: genesis,
                blocks: vec![genesis_record],
                pool: Vec::new(),
                watchers: HashMap::new(),
            }),
            heads,
        })
    }

    /// Continue a chain a previous run saved: its blocks and the state after the last one. Only
    /// the best block's storage is rebuilt (without the events of its extrinsics).
    pub fn resume(runtime: Runtime, saved: Saved) -> Result<Node, RuntimeError> {
        let Saved { mut blocks, state } = saved;
        let best = blocks.last().map(|b| b.number).unwrap_or(0);
        let first_kept = best.saturating_sub(KEEP_STATE);
        let hashes: Vec<(u64, [u8; 32])> = blocks
            .iter()
            .filter(|b| b.number >= first_kept || b.number == 0)
            .map(|b| (b.number, b.hash))
            .collect();
        let storage = Arc::new(runtime.storage(&state, &[], &hashes)?);
        if let Some(last) = blocks.last_mut() {
            last.storage = Some(storage);
        }
        let (heads, _) = broadcast::channel(64);
        Ok(Node {
            runtime,
            inner: Mutex::new(Inner {
                state,
                blocks,
                pool: Vec::new(),
                watchers: HashMap::new(),
            }),
            heads,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn genesis_hash(&self) -> [u8; 32] {
        self.lock().blocks[0].hash
    }

    pub fn best(&self) -> BlockRecord {
        let inner = self.lock();
        inner.blocks[inner.blocks.len() - 1].clone()
    }

    pub fn block_by_number(&self, n: u64) -> Option<BlockRecord> {
        let inner = self.lock();
        usize::try_from(n).ok().and_then(|i| inner.blocks.get(i)).cloned()
    }

    pub fn block_by_hash(&self, hash: &[u8; 32]) -> Option<BlockRecord> {
        self.lock().blocks.iter().rev().find(|b| &b.hash == hash).cloned()
    }

    /// The state's next nonce for `who`, counting transactions waiting in the pool.
    pub fn next_nonce(&self, who: &AccountId) -> u32 {
        let inner = self.lock();
        next_nonce(&inner, who)
    }

    /// Read the current state under the node's lock. Not re-entrant: calling back into the node
    /// from `f` deadlocks.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// Answer a runtime API call against the current state (nonces count the pool).
    pub fn call_api(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        let inner = self.lock();
        let pending = |who: &AccountId| next_nonce(&inner, who);
        self.runtime.call_api(name, args, &inner.state, &pending)
    }

    /// Check a transaction and queue it for the next block.
    pub fn submit(
        &self,
        bytes: &[u8],
        watcher: Option<mpsc::UnboundedSender<TxUpdate>>,
    ) -> Result<[u8; 32], Invalid> {
        let mut inner = self.lock();
        let now = inner.blocks.len() as u64 - 1;
        let genesis = inner.blocks[0].hash;
        let checked = {
            let blocks = &inner.blocks;
            let hash_of = |n: u64| {
                usize::try_from(n)
                    .ok()
                    .and_then(|i| blocks.get(i))
                    .map(|b| b.hash)
            };
            let inner_ref = &*inner;
            self.runtime
                .check(bytes, genesis, now, hash_of, |who| next_nonce(inner_ref, who))?
        };
        if inner.pool.iter().any(|t| t.hash == checked.hash) {
            return Err(Invalid::Stale);
        }
        let hash = checked.hash;
        debug!(signer = %hex0x(&checked.signer), nonce = checked.nonce, call = ?checked.call, "transaction queued");
        inner.pool.push(checked);
        if let Some(w) = watcher {
            inner.watchers.insert(hash, w);
        }
        Ok(hash)
    }

    /// Produce the next block from the pool.
    pub fn produce_block(&self) -> Result<BlockRecord, RuntimeError> {
        let mut inner = self.lock();
        let parent = inner.blocks[inner.blocks.len() - 1].clone();
        let number = parent.number + 1;
        let before_block = inner.state.clone();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        inner.state.on_block(number, unix);
        let pool = std::mem::take(&mut inner.pool);
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut included = Vec::new();
        for tx in pool {
            if inner.state.nonce(&tx.signer) != tx.nonce {
                warn!(signer = %hex0x(&tx.signer), "transaction dropped: nonce changed while queued");
                inner.watchers.remove(&tx.hash);
                continue;
            }
            inner.state.accounts.entry(tx.signer).or_default().nonce += 1;
            // A failed call keeps the nonce bump (as on chain) but no other change.
            let before = inner.state.clone();
            let outcome = inner.state.apply(tx.signer, tx.call.clone()).map(|_| ());
            if let Err(e) = &outcome {
                let nonce = inner.state.nonce(&tx.signer);
                inner.state = before;
                inner.state.accounts.entry(tx.signer).or_default().nonce = nonce;
                debug!(error = ?e, "extrinsic failed");
            }
            outcomes.push(outcome);
            included.push(tx);
        }
        let first_kept = number.saturating_sub(KEEP_STATE);
        let mut hashes: Vec<(u64, [u8; 32])> = inner
            .blocks
            .iter()
            .filter(|b| b.number >= first_kept || b.number == 0)
            .map(|b| (b.number, b.hash))
            .collect();
        hashes.sort_unstable();
        let storage = match self.runtime.storage(&inner.state, &outcomes, &hashes) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                // A devnet bug: forget the block, and end the watchers so clients see a dropped
                // transaction instead of waiting forever.
                inner.state = before_block;
                for tx in &included {
                    inner.watchers.remove(&tx.hash);
                }
                return Err(e);
            }
        };
        let extrinsics: Vec<Vec<u8>> = included.iter().map(|t| t.bytes.clone()).collect();
        let extrinsics_root = sp_crypto_hashing::blake2_256(&extrinsics.concat());
        let state_root = root_of(&storage);
        let (_, hash) = header(parent.hash, number, state_root, extrinsics_root);
        let record = BlockRecord {
            number,
            hash,
            parent: parent.hash,
            state_root,
            extrinsics_root,
            extrinsics,
            storage: Some(storage),
        };
        inner.blocks.push(record.clone());
        if let Some(old) = number
            .checked_sub(KEEP_STATE)
            .and_then(|n| usize::try_from(n).ok())
            && old > 0
        {
            inner.blocks[old].storage = None;
        }
        for tx in &included {
            if let Some(w) = inner.watchers.remove(&tx.hash) {
                // Instant finality: in a block and final at once.
                let _ = w.send(TxUpdate::InBlock(hash));
                let _ = w.send(TxUpdate::Finalized(hash));
            }
        }
        drop(inner);
        if number.is_multiple_of(100) {
            info!(block = number, "devnet block");
        }
        let _ = self.heads.send(record.clone());
        Ok(record)
    }
}

fn next_nonce(inner: &Inner, who: &AccountId) -> u32 {
    let pending = inner.pool.iter().filter(|t| &t.signer == who).count() as u32;
    inner.state.nonce(who) + pending
}

fn root_of(storage: &BTreeMap<Vec<u8>, Vec<u8>>) -> [u8; 32] {
    let mut acc = Vec::new();
    for (k, v) in storage {
        acc.extend(sp_crypto_hashing::blake2_256(k));
        acc.extend(sp_crypto_hashing::blake2_256(v));
    }
    sp_crypto_hashing::blake2_256(&acc)
}
