//! Kindred's on-chain boundary.
//!
//! Validators and miners see subtensor only through the [`Chain`] trait, in subnet terms; the one
//! real implementation, [`subtensor::Subtensor`], speaks to any subtensor node over subxt's dynamic
//! API with metadata read from the node at run time.
//!
//! Modules:
//! - [`account`]: `Hotkey` and `Coldkey` (SS58).
//! - [`subnet`]: `Netuid`, `Uid`, `Block`, `Metagraph`, `Commitment`, `Hyperparameters`.
//! - [`weights`]: scores → `u16` weights (the Python SDK's normalisation), chain pre-checks, the
//!   commit-reveal hash.
//! - [`wallet`]: btcli's wallet keyfiles, plaintext and `$NACL`-encrypted.
//! - [`network`]: `finney`, `test`, `local` or a URL.
//! - [`shutdown`]: SIGINT/SIGTERM for the long-running processes.
//! - [`submission`]: the model commitment miners write and validators read, and its content hash.
//! - [`subtensor`]: the subxt client and its typed errors.
//! - [`timelock`]: drand timelock encryption (BF-IBE on BLS12-381) as subtensor decrypts it.
//! - [`timelocked`]: timelocked weight commits: payload, reveal round, sealing.
//! - [`values`]: SCALE values shaped by runtime metadata (read here, built by the devnet crate).

pub mod account;
pub mod error;
pub mod network;
pub mod shutdown;
pub mod submission;
pub mod subnet;
pub mod subtensor;
pub mod timelock;
pub mod timelocked;
pub mod values;
pub mod wallet;
pub mod weights;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use error::ChainError;
pub use network::Network;
pub use subnet::{Block, Commitment, Hyperparameters, Metagraph, Netuid, Neuron, Uid};

/// A transaction that made it into a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Included {
    pub block: Block,
    pub extrinsic_hash: [u8; 32],
}

/// The chain as a subnet sees it. Validators and miners hold an `Arc<dyn Chain>`; the real
/// implementation is [`subtensor::Subtensor`].
#[async_trait]
pub trait Chain: Send + Sync + std::fmt::Debug {
    /// The newest block the node has imported.
    async fn best_block(&self) -> Result<Block, ChainError>;
    /// The newest finalised block.
    async fn finalized_block(&self) -> Result<Block, ChainError>;
    /// The hash of a block: the validators' shared source of randomness (epoch seeds).
    async fn block_hash(&self, block: Block) -> Result<[u8; 32], ChainError>;
    /// Finalised blocks as they come.
    async fn blocks(&self) -> Result<BoxStream<'static, Result<Block, ChainError>>, ChainError>;
    async fn metagraph(&self, netuid: Netuid) -> Result<Metagraph, ChainError>;
    /// Every hotkey's current commitment on the subnet, with the block it was made at; for a
    /// timelocked commitment, its latest reveal and the block it was revealed in, whichever of the
    /// two is newer.
    async fn commitments(&self, netuid: Netuid) -> Result<Vec<Commitment>, ChainError>;
    async fn hyperparameters(&self, netuid: Netuid) -> Result<Hyperparameters, ChainError>;
    async fn set_weights(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        weights: &weights::EmitWeights,
        version_key: u64,
    ) -> Result<Included, ChainError>;
    async fn commit_weights(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        hash: [u8; 32],
    ) -> Result<Included, ChainError>;
    async fn reveal_weights(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        weights: &weights::EmitWeights,
        salt: &[u16],
        version_key: u64,
    ) -> Result<Included, ChainError>;
    /// What a timelocked weights commit needs (beacon, commit-reveal version, epoch schedule,
    /// block time), read at one block; `None` when the chain has no drand beacon (no Drand
    /// pallet or no `commit_timelocked_weights` call), so only hash commit-reveal is possible.
    async fn timelock_context(
        &self,
        netuid: Netuid,
    ) -> Result<Option<timelocked::TimelockContext>, ChainError>;
    /// `commit_timelocked_weights`: weights sealed to a drand round, revealed by the chain itself.
    async fn commit_timelocked_weights(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        commit: &[u8],
        reveal_round: timelock::Round,
        commit_reveal_version: u16,
    ) -> Result<Included, ChainError>;
    /// Commit a sealed field (`TimelockEncrypted`) for the signer's hotkey; the chain reveals it
    /// into `RevealedCommitments` once it holds the round's pulse, and [`Chain::commitments`]
    /// then reports it with the reveal block.
    async fn set_timelocked_commitment(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        encrypted: &[u8],
        reveal_round: timelock::Round,
    ) -> Result<Included, ChainError>;
    /// Commit UTF-8 text (a model id) for the signer's hotkey.
    async fn set_commitment(
        &self,
        signer: &wallet::Signer,
        netuid: Netuid,
        data: &str,
    ) -> Result<Included, ChainError>;
}
