//! The devnet's chain state and the rules miners and validators meet on subtensor, enforced with
//! subtensor's error names. Pure and synchronous: `runtime` decodes transactions into these calls
//! and projects the state into storage; nothing here knows about SCALE or RPC.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use codec::Decode;
use tracing::debug;

use kindred_chain::account::Hotkey;
use kindred_chain::subnet::{Hyperparameters, Netuid};
use kindred_chain::timelock::{self, BeaconSecret, Round, RoundSignature};
use kindred_chain::timelocked;
use kindred_chain::weights::{EmitWeights, commit_hash};

pub type AccountId = [u8; 32];

/// One TAO in rao.
pub const TAO: u128 = 1_000_000_000;

/// A refused call: the pallet and the subtensor error name the chain would emit. A `pallet` of
/// `"System"` with name `"BadOrigin"` is the runtime's own `DispatchError::BadOrigin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchError {
    pub pallet: &'static str,
    pub name: &'static str,
}

impl DispatchError {
    pub const BAD_ORIGIN: DispatchError = DispatchError {
        pallet: "System",
        name: "BadOrigin",
    };
}

/// Maps keyed by accounts or tuples, stored as lists of pairs: JSON keys must be strings.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

fn err<T>(pallet: &'static str, name: &'static str) -> Result<T, DispatchError> {
    Err(DispatchError { pallet, name })
}

fn subtensor<T>(name: &'static str) -> Result<T, DispatchError> {
    err("SubtensorModule", name)
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Account {
    pub nonce: u32,
    pub free: u128,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AxonState {
    pub block: u64,
    pub version: u32,
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
    pub protocol: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NeuronState {
    pub hotkey: AccountId,
    pub coldkey: AccountId,
    pub registered_at: u64,
    pub last_update: u64,
    pub validator_permit: bool,
    /// Incentive, dividends and emission of the last epoch (`u16` fractions; emission in rao).
    pub incentive: u16,
    pub dividends: u16,
    pub emission: u64,
    pub weights: Vec<(u16, u16)>,
    pub axon: Option<AxonState>,
}

/// A weights commit: `(hash, commit block, first reveal block, last reveal block)` as subtensor's
/// `WeightCommits` stores it.
pub type WeightCommit = ([u8; 32], u64, u64, u64);

/// A timelocked weights commit: `(hotkey, commit block, ciphertext, drand round)` as subtensor's
/// `TimelockedWeightCommits` stores it, keyed by the epoch it was made in.
pub type TimelockedCommit = (AccountId, u64, Vec<u8>, u64);

/// subtensor's `CommitRevealWeightsVersion` at genesis: timelocked commits must carry it.
pub const COMMIT_REVEAL_VERSION: u16 = 4;

/// Seconds between the devnet beacon's rounds: shorter than quicknet's 3 s so that fast
/// development blocks still reveal within a short epoch.
pub const BEACON_PERIOD: u64 = 1;

/// Pulses the devnet keeps: older rounds are pruned (subtensor's `OldestStoredRound`).
pub const PULSES_KEPT: u64 = 600;

/// The seed of the devnet beacon's BLS key. Public on purpose: a development chain's "future"
/// is only as secret as its key, and a fixed key keeps ciphertexts valid across restarts.
pub const BEACON_SEED: &[u8] = b"kindred devnet drand beacon";

/// The devnet's own drand beacon: a local BLS key that signs every round of its period, stored
/// as subtensor's Drand pallet stores quicknet's pulses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevBeacon {
    /// The compressed public key, kept because deriving it costs a G2 multiplication.
    pub public_key: Vec<u8>,
    pub genesis_time: u64,
    pub period: u64,
    pub last_stored_round: u64,
    /// Round → compressed G1 signature.
    #[serde(with = "pairs")]
    pub pulses: BTreeMap<u64, Vec<u8>>,
}

impl DevBeacon {
    pub fn secret() -> BeaconSecret {
        BeaconSecret::from_seed(BEACON_SEED)
    }

    pub fn oldest_stored_round(&self) -> u64 {
        self.pulses.keys().next().copied().unwrap_or(0)
    }

    /// A beacon whose round 1 is at `unix` seconds.
    pub fn starting_at(unix: u64) -> DevBeacon {
        DevBeacon {
            public_key: DevBeacon::secret().public().to_bytes(),
            genesis_time: unix,
            period: BEACON_PERIOD,
            last_stored_round: 0,
            pulses: BTreeMap::new(),
        }
    }

    /// The newest round published at `unix` seconds.
    pub fn round_at(&self, unix: u64) -> u64 {
        if unix < self.genesis_time || self.period == 0 {
            return 0;
        }
        (unix - self.genesis_time) / self.period + 1
    }

    /// Sign every round published by `unix` seconds that is not stored yet (at most
    /// [`PULSES_KEPT`] of them after a long stop), and prune old ones.
    fn ingest(&mut self, unix: u64) {
        let current = self.round_at(unix);
        if current <= self.last_stored_round {
            return;
        }
        let first = (self.last_stored_round + 1)
            .max(current.saturating_sub(PULSES_KEPT - 1))
            .max(1);
        let secret = DevBeacon::secret();
        for round in first..=current {
            self.pulses.insert(round, secret.sign(Round(round)).to_bytes());
        }
        self.last_stored_round = current;
        let keep_from = current.saturating_sub(PULSES_KEPT - 1);
        self.pulses.retain(|&r, _| r >= keep_from);
    }
}

fn default_commit_reveal_version() -> u16 {
    COMMIT_REVEAL_VERSION
}

/// A subnet's parameters: the hyperparameters clients read, plus what only the devnet's rules use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubnetParams {
    pub hyper: Hyperparameters,
    pub max_allowed_validators: u16,
    pub burn: u128,
    /// Commitment bytes one hotkey may use per epoch (subtensor's `MaxSpace`); every commitment
    /// counts at least [`MIN_COMMITMENT_SPACE`].
    pub commitment_space: u64,
}

impl SubnetParams {
    /// Fast development settings: epochs every 10 blocks, no rate limits to wait out.
    pub fn development() -> SubnetParams {
        SubnetParams {
            hyper: Hyperparameters {
                tempo: 10,
                immunity_period: 20,
                max_allowed_uids: 64,
                min_allowed_weights: 1,
                max_weights_limit: u16::MAX,
                weights_version_key: 0,
                weights_set_rate_limit: 0,
                // subtensor creates subnets with commit-reveal on.
                commit_reveal_weights_enabled: true,
                reveal_period_epochs: 1,
            },
            max_allowed_validators: 8,
            burn: TAO,
            commitment_space: 3100,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subnet {
    pub owner: AccountId,
    pub params: SubnetParams,
    pub neurons: Vec<NeuronState>,
    /// Per hotkey: the block of the commitment and its raw fields.
    #[serde(with = "pairs")]
    pub commitments: BTreeMap<AccountId, (u64, Vec<Vec<u8>>)>,
    #[serde(with = "pairs")]
    pub weight_commits: BTreeMap<AccountId, VecDeque<WeightCommit>>,
    /// Sealed commitment fields per hotkey, `(ciphertext, reveal round)`: the commitment's
    /// `TimelockEncrypted` fields, listed after its raw ones.
    #[serde(default, with = "pairs")]
    pub sealed_commitments: BTreeMap<AccountId, Vec<(Vec<u8>, u64)>>,
    /// Revealed commitments per hotkey, `(bytes, reveal block)`, newest last
    /// (`RevealedCommitments`).
    #[serde(default, with = "pairs")]
    pub revealed_commitments: BTreeMap<AccountId, Vec<(Vec<u8>, u64)>>,
    /// Commitment space used per hotkey: `(epoch, bytes)` (subtensor's `UsedSpaceOf`).
    #[serde(default, with = "pairs")]
    pub commitment_usage: BTreeMap<AccountId, (u64, u64)>,
    pub last_epoch: u64,
    /// Timelocked weight commits by the epoch they were made in.
    #[serde(default, with = "pairs")]
    pub timelocked: BTreeMap<u64, VecDeque<TimelockedCommit>>,
    /// subtensor's epoch scheduler: `SubnetEpochIndex`, `BlocksSinceLastStep`, `PendingEpochAt`
    /// (`last_epoch` is its `LastEpochBlock`).
    #[serde(default)]
    pub epoch_index: u64,
    #[serde(default)]
    pub blocks_since_last_step: u64,
    #[serde(default)]
    pub pending_epoch_at: u64,
}

/// The least space one commitment uses, however short (subtensor charges 100 bytes).
pub const MIN_COMMITMENT_SPACE: u64 = 100;

/// Revealed commitments kept per hotkey (pallet_commitments' `MAX_REVEALS`).
pub const MAX_REVEALS: usize = 10;

/// Fields one commitment may carry (subtensor's `MaxFields`).
pub const MAX_COMMITMENT_FIELDS: usize = 3;

impl Subnet {
    /// The scheduler as clients read it at `block`.
    pub fn schedule(&self, block: u64) -> timelocked::EpochSchedule {
        timelocked::EpochSchedule {
            tempo: self.params.hyper.tempo,
            last_epoch_block: self.last_epoch,
            pending_epoch_at: self.pending_epoch_at,
            epoch_index: self.epoch_index,
            blocks_since_last_step: self.blocks_since_last_step,
            current_block: kindred_chain::subnet::Block(block),
        }
    }

    /// The epoch a commit or reveal at `block` belongs to (subtensor's
    /// `current_epoch_with_lookahead`).
    pub fn epoch_with_lookahead(&self, block: u64) -> u64 {
        self.schedule(block).epoch_at(block)
    }

    pub fn uid_of(&self, hotkey: &AccountId) -> Option<u16> {
        self.neurons
            .iter()
            .position(|n| &n.hotkey == hotkey)
            .and_then(|i| u16::try_from(i).ok())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub block: u64,
    #[serde(with = "pairs")]
    pub accounts: BTreeMap<AccountId, Account>,
    pub subnets: BTreeMap<u16, Subnet>,
    /// Hotkey → coldkey (`Owner`).
    #[serde(with = "pairs")]
    pub owners: BTreeMap<AccountId, AccountId>,
    /// Stake per hotkey per subnet (`TotalHotkeyAlpha`), in rao.
    #[serde(with = "pairs")]
    pub stake: BTreeMap<(AccountId, u16), u64>,
    /// The key allowed to change hyperparameters of any subnet (`Sudo::Key`).
    pub sudo: Option<AccountId>,
    #[serde(default = "default_commit_reveal_version")]
    pub commit_reveal_version: u16,
    /// The drand beacon, started at the first block.
    #[serde(default)]
    pub beacon: Option<DevBeacon>,
}

/// What one call changed, for the events of its extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    WeightsSet {
        netuid: u16,
        uid: u16,
    },
    WeightsCommitted {
        netuid: u16,
        who: AccountId,
        hash: [u8; 32],
    },
    WeightsRevealed {
        netuid: u16,
        who: AccountId,
    },
    TimelockedWeightsCommitted {
        netuid: u16,
        who: AccountId,
        reveal_round: u64,
    },
    Commitment {
        netuid: u16,
        who: AccountId,
    },
    NeuronRegistered {
        netuid: u16,
        uid: u16,
        hotkey: AccountId,
    },
    StakeAdded {
        hotkey: AccountId,
        netuid: u16,
        amount: u64,
    },
    AxonServed {
        netuid: u16,
        hotkey: AccountId,
    },
    Transfer {
        from: AccountId,
        to: AccountId,
        amount: u128,
    },
    ParamsChanged {
        netuid: u16,
    },
}

/// The calls the devnet implements, already decoded and typed.
#[derive(Clone, Debug)]
pub enum Call {
    SetWeights {
        netuid: u16,
        uids: Vec<u16>,
        values: Vec<u16>,
        version_key: u64,
    },
    CommitWeights {
        netuid: u16,
        hash: [u8; 32],
    },
    RevealWeights {
        netuid: u16,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
    },
    CommitTimelockedWeights {
        netuid: u16,
        mecid: u8,
        commit: Vec<u8>,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
    SetCommitment {
        netuid: u16,
        fields: Vec<Vec<u8>>,
        /// `TimelockEncrypted` fields: `(ciphertext, reveal round)`.
        sealed: Vec<(Vec<u8>, u64)>,
    },
    BurnedRegister {
        netuid: u16,
        hotkey: AccountId,
    },
    AddStake {
        hotkey: AccountId,
        netuid: u16,
        amount: u64,
    },
    ServeAxon {
        netuid: u16,
        version: u32,
        ip: u128,
        port: u16,
        ip_type: u8,
        protocol: u8,
    },
    Transfer {
        dest: AccountId,
        value: u128,
    },
    /// An admin change of one hyperparameter, by the subnet owner or the sudo key.
    SetParam {
        netuid: u16,
        param: Param,
    },
}

#[derive(Clone, Debug)]
pub enum Param {
    Tempo(u16),
    WeightsSetRateLimit(u64),
    WeightsVersionKey(u64),
    CommitRevealWeightsEnabled(bool),
    MinAllowedWeights(u16),
    MaxAllowedUids(u16),
    ImmunityPeriod(u16),
}

impl State {
    /// Dev accounts funded, one subnet (netuid 1, owned by the first account) with development
    /// parameters.
    pub fn genesis(funded: &[AccountId], netuid: u16) -> State {
        let mut state = State {
            commit_reveal_version: COMMIT_REVEAL_VERSION,
            ..State::default()
        };
        for who in funded {
            state.accounts.insert(
                *who,
                Account {
                    nonce: 0,
                    free: 1_000_000 * TAO,
                },
            );
        }
        let owner = funded.first().copied().unwrap_or([0; 32]);
        state.sudo = Some(owner);
        state.subnets.insert(
            netuid,
            Subnet {
                owner,
                params: SubnetParams::development(),
                neurons: Vec::new(),
                commitments: BTreeMap::new(),
                commitment_usage: BTreeMap::new(),
                sealed_commitments: BTreeMap::new(),
                revealed_commitments: BTreeMap::new(),
                weight_commits: BTreeMap::new(),
                last_epoch: 0,
                timelocked: BTreeMap::new(),
                epoch_index: 0,
                blocks_since_last_step: 0,
                pending_epoch_at: 0,
            },
        );
        state
    }

    pub fn nonce(&self, who: &AccountId) -> u32 {
        self.accounts.get(who).map(|a| a.nonce).unwrap_or(0)
    }

    fn subnet_mut(&mut self, netuid: u16) -> Result<&mut Subnet, DispatchError> {
        match self.subnets.get_mut(&netuid) {
            Some(s) => Ok(s),
            None => subtensor("SubnetNotExists"),
        }
    }

    /// Apply `call` signed by `who` at the current block. On error nothing changed.
    pub fn apply(&mut self, who: AccountId, call: Call) -> Result<Vec<Effect>, DispatchError> {
        let now = self.block;
        match call {
            Call::SetWeights {
                netuid,
                uids,
                values,
                version_key,
            } => {
                let subnet = self.subnet_mut(netuid)?;
                if subnet.params.hyper.commit_reveal_weights_enabled {
                    return subtensor("CommitRevealEnabled");
                }
                let uid = set_weights(subnet, &who, &uids, &values, version_key, now)?;
                Ok(vec![Effect::WeightsSet { netuid, uid }])
            }
            Call::CommitWeights { netuid, hash } => {
                let subnet = self.subnet_mut(netuid)?;
                if !subnet.params.hyper.commit_reveal_weights_enabled {
                    return subtensor("CommitRevealDisabled");
                }
                let Some(uid) = subnet.uid_of(&who) else {
                    return subtensor("HotKeyNotRegisteredInSubNet");
                };
                let neuron = &subnet.neurons[usize::from(uid)];
                if neuron.last_update > 0
                    && now.saturating_sub(neuron.last_update) < subnet.params.hyper.weights_set_rate_limit
                {
                    return subtensor("CommittingWeightsTooFast");
                }
                let tempo = u64::from(subnet.params.hyper.tempo);
                let epoch = epoch_index(netuid, tempo, now);
                let reveal_epoch = epoch + subnet.params.hyper.reveal_period_epochs;
                let first = first_block_of_epoch(netuid, tempo, reveal_epoch);
                let last = first_block_of_epoch(netuid, tempo, reveal_epoch + 1).saturating_sub(1);
                let queue = subnet.weight_commits.entry(who).or_default();
                if queue.len() >= 10 {
                    return subtensor("TooManyUnrevealedCommits");
                }
                queue.push_back((hash, now, first, last));
                subnet.neurons[usize::from(uid)].last_update = now;
                Ok(vec![Effect::WeightsCommitted { netuid, who, hash }])
            }
            Call::RevealWeights {
                netuid,
                uids,
                values,
                salt,
                version_key,
            } => {
                let subnet = self.subnet_mut(netuid)?;
                if !subnet.params.hyper.commit_reveal_weights_enabled {
                    return subtensor("CommitRevealDisabled");
                }
                let weights = EmitWeights {
                    uids: uids.iter().map(|&u| kindred_chain::subnet::Uid(u)).collect(),
                    values: values.clone(),
                };
                let hash = commit_hash(&Hotkey(who), Netuid(netuid), &weights, &salt, version_key);
                let Some(queue) = subnet.weight_commits.get_mut(&who) else {
                    return subtensor("NoWeightsCommitFound");
                };
                queue.retain(|c| c.3 >= now);
                let Some(pos) = queue.iter().position(|c| c.0 == hash) else {
                    return if queue.is_empty() {
                        subtensor("ExpiredWeightCommit")
                    } else {
                        subtensor("InvalidRevealCommitHashNotMatch")
                    };
                };
                if now < queue[pos].2 {
                    return subtensor("RevealTooEarly");
                }
                // Weights are checked as a direct set would be, but without its rate limit: the
                // commit already paid it.
                let mut probe = subnet.clone();
                if let Some(uid) = probe.uid_of(&who) {
                    probe.neurons[usize::from(uid)].last_update = 0;
                }
                set_weights(&mut probe, &who, &uids, &values, version_key, now)?;
                if let Some(queue) = probe.weight_commits.get_mut(&who) {
                    queue.remove(pos);
                }
                *subnet = probe;
                Ok(vec![Effect::WeightsRevealed { netuid, who }])
            }
            Call::CommitTimelockedWeights {
                netuid,
                mecid,
                commit,
                reveal_round,
                commit_reveal_version,
            } => {
                let version = self.commit_reveal_version;
                let subnet = self.subnet_mut(netuid)?;
                if mecid != 0 {
                    return subtensor("MechanismDoesNotExist");
                }
                if !subnet.params.hyper.commit_reveal_weights_enabled {
                    return subtensor("CommitRevealDisabled");
                }
                if commit_reveal_version != version {
                    return subtensor("IncorrectCommitRevealVersion");
                }
                let Some(uid) = subnet.uid_of(&who) else {
                    return subtensor("HotKeyNotRegisteredInSubNet");
                };
                let neuron = &subnet.neurons[usize::from(uid)];
                if neuron.last_update > 0
                    && now.saturating_sub(neuron.last_update) < subnet.params.hyper.weights_set_rate_limit
                {
                    return subtensor("CommittingWeightsTooFast");
                }
                let epoch = subnet.epoch_with_lookahead(now);
                let queue = subnet.timelocked.entry(epoch).or_default();
                if queue.iter().filter(|c| c.0 == who).count() >= 10 {
                    return subtensor("TooManyUnrevealedCommits");
                }
                queue.push_back((who, now, commit, reveal_round));
                subnet.neurons[usize::from(uid)].last_update = now;
                Ok(vec![Effect::TimelockedWeightsCommitted {
                    netuid,
                    who,
                    reveal_round,
                }])
            }
            Call::SetCommitment {
                netuid,
                fields,
                sealed,
            } => {
                let subnet = self.subnet_mut(netuid)?;
                if subnet.uid_of(&who).is_none() {
                    return err("Commitments", "AccountNotAllowedCommit");
                }
                if fields.len() + sealed.len() > MAX_COMMITMENT_FIELDS {
                    return err("Commitments", "TooManyFieldsInCommitmentInfo");
                }
                let tempo = u64::from(subnet.params.hyper.tempo);
                let epoch = epoch_index(netuid, tempo, now);
                let required = (fields.iter().map(|f| f.len() as u64).sum::<u64>()
                    + sealed.iter().map(|(c, _)| c.len() as u64).sum::<u64>())
                .max(MIN_COMMITMENT_SPACE);
                let usage = subnet.commitment_usage.entry(who).or_insert((epoch, 0));
                if usage.0 != epoch {
                    *usage = (epoch, 0);
                }
                if usage.1 + required > subnet.params.commitment_space {
                    return err("Commitments", "SpaceLimitExceeded");
                }
                usage.1 += required;
                subnet.commitments.insert(who, (now, fields));
                if sealed.is_empty() {
                    subnet.sealed_commitments.remove(&who);
                } else {
                    subnet.sealed_commitments.insert(who, sealed);
                }
                Ok(vec![Effect::Commitment { netuid, who }])
            }
            Call::BurnedRegister { netuid, hotkey } => self.burned_register(who, netuid, hotkey),
            Call::AddStake {
                hotkey,
                netuid,
                amount,
            } => {
                if !self.subnets.contains_key(&netuid) {
                    return subtensor("SubnetNotExists");
                }
                if !self.owners.contains_key(&hotkey) {
                    return subtensor("HotKeyAccountNotExists");
                }
                let balance = self.accounts.entry(who).or_default();
                if balance.free < u128::from(amount) {
                    return subtensor("NotEnoughBalanceToStake");
                }
                balance.free -= u128::from(amount);
                *self.stake.entry((hotkey, netuid)).or_default() += amount;
                Ok(vec![Effect::StakeAdded {
                    hotkey,
                    netuid,
                    amount,
                }])
            }
            Call::ServeAxon {
                netuid,
                version,
                ip,
                port,
                ip_type,
                protocol,
            } => {
                let subnet = self.subnet_mut(netuid)?;
                let Some(uid) = subnet.uid_of(&who) else {
                    return subtensor("HotKeyNotRegisteredInNetwork");
                };
                if !matches!(ip_type, 4 | 6) {
                    return subtensor("InvalidIpType");
                }
                if port == 0 {
                    return subtensor("InvalidPort");
                }
                subnet.neurons[usize::from(uid)].axon = Some(AxonState {
                    block: now,
                    version,
                    ip,
                    port,
                    ip_type,
                    protocol,
                });
                Ok(vec![Effect::AxonServed { netuid, hotkey: who }])
            }
            Call::Transfer { dest, value } => {
                let from = self.accounts.entry(who).or_default();
                if from.free < value {
                    return err("Balances", "InsufficientBalance");
                }
                from.free -= value;
                self.accounts.entry(dest).or_default().free += value;
                Ok(vec![Effect::Transfer {
                    from: who,
                    to: dest,
                    amount: value,
                }])
            }
            Call::SetParam { netuid, param } => {
                let sudo = self.sudo;
                let subnet = self.subnet_mut(netuid)?;
                if subnet.owner != who && sudo != Some(who) {
                    return Err(DispatchError::BAD_ORIGIN);
                }
                let p = &mut subnet.params;
                match param {
                    Param::Tempo(v) => p.hyper.tempo = v.max(1),
                    Param::WeightsSetRateLimit(v) => p.hyper.weights_set_rate_limit = v,
                    Param::WeightsVersionKey(v) => p.hyper.weights_version_key = v,
                    Param::CommitRevealWeightsEnabled(v) => p.hyper.commit_reveal_weights_enabled = v,
                    Param::MinAllowedWeights(v) => p.hyper.min_allowed_weights = v,
                    Param::MaxAllowedUids(v) => p.hyper.max_allowed_uids = v.max(1),
                    Param::ImmunityPeriod(v) => p.hyper.immunity_period = v,
                }
                Ok(vec![Effect::ParamsChanged { netuid }])
            }
        }
    }

    fn burned_register(
        &mut self,
        coldkey: AccountId,
        netuid: u16,
        hotkey: AccountId,
    ) -> Result<Vec<Effect>, DispatchError> {
        let now = self.block;
        let Some(subnet) = self.subnets.get(&netuid) else {
            return subtensor("SubnetNotExists");
        };
        if subnet.uid_of(&hotkey).is_some() {
            return subtensor("HotKeyAlreadyRegisteredInSubNet");
        }
        if let Some(owner) = self.owners.get(&hotkey)
            && owner != &coldkey
        {
            return subtensor("NonAssociatedColdKey");
        }
        let burn = subnet.params.burn;
        let free = self.accounts.get(&coldkey).map(|a| a.free).unwrap_or(0);
        if free < burn {
            return subtensor("NotEnoughBalanceToStake");
        }
        let params = subnet.params.clone();
        let slot = if subnet.neurons.len() < usize::from(params.hyper.max_allowed_uids) {
            None
        } else {
            // Replace the non-immune neuron with the lowest pruning score (its incentive), the
            // oldest registration breaking ties.
            let candidate = subnet
                .neurons
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    now.saturating_sub(n.registered_at) >= u64::from(params.hyper.immunity_period)
                })
                .min_by_key(|(_, n)| (n.incentive, n.registered_at))
                .map(|(i, _)| i);
            match candidate {
                Some(i) => Some(i),
                None => return subtensor("NoNeuronIdAvailable"),
            }
        };
        if let Some(a) = self.accounts.get_mut(&coldkey) {
            a.free -= burn;
        }
        self.owners.entry(hotkey).or_insert(coldkey);
        let neuron = NeuronState {
            hotkey,
            coldkey,
            registered_at: now,
            last_update: 0,
            validator_permit: false,
            incentive: 0,
            dividends: 0,
            emission: 0,
            weights: Vec::new(),
            axon: None,
        };
        let subnet = self.subnet_mut(netuid)?;
        let uid = match slot {
            Some(i) => {
                let old = subnet.neurons[i].hotkey;
                subnet.commitments.remove(&old);
                subnet.sealed_commitments.remove(&old);
                subnet.revealed_commitments.remove(&old);
                subnet.weight_commits.remove(&old);
                for queue in subnet.timelocked.values_mut() {
                    queue.retain(|c| c.0 != old);
                }
                subnet.neurons[i] = neuron;
                // Weights pointing at the replaced neuron no longer apply to the newcomer.
                let replaced = u16::try_from(i).unwrap_or(u16::MAX);
                for n in &mut subnet.neurons {
                    n.weights.retain(|(u, _)| *u != replaced);
                }
                i
            }
            None => {
                subnet.neurons.push(neuron);
                subnet.neurons.len() - 1
            }
        };
        let uid = u16::try_from(uid).unwrap_or(u16::MAX);
        Ok(vec![Effect::NeuronRegistered { netuid, uid, hotkey }])
    }

    /// Advance to `block` at `unix` seconds, in the order of subtensor's block step: reveal
    /// timelocked commits whose reveal epoch has come (with the pulses stored before this block),
    /// then run each subnet's epoch when its scheduler says so, then store the beacon's new
    /// pulses (on chain they arrive in an extrinsic of the block).
    pub fn on_block(&mut self, block: u64, unix: u64) {
        self.block = block;
        let netuids: Vec<u16> = self.subnets.keys().copied().collect();
        for &netuid in &netuids {
            self.reveal_timelocked(netuid, block);
            self.reveal_commitments(netuid, block);
        }
        for &netuid in &netuids {
            let Some(subnet) = self.subnets.get_mut(&netuid) else {
                continue;
            };
            subnet.blocks_since_last_step += 1;
            if subnet.schedule(block).fires_at(block) {
                subnet.epoch_index += 1;
                subnet.blocks_since_last_step = 0;
                subnet.pending_epoch_at = 0;
                // `epoch` records the block as `LastEpochBlock`.
                self.epoch(netuid);
            }
        }
        let beacon = self.beacon.get_or_insert_with(|| DevBeacon::starting_at(unix));
        beacon.ingest(unix);
    }

    /// pallet_commitments' `reveal_timelocked_commitments`: each sealed field whose round's pulse
    /// is stored is opened (or dropped if it does not open) and its bytes appended to the
    /// hotkey's revealed commitments with this block, keeping the newest ten; a commitment left
    /// without fields is removed.
    fn reveal_commitments(&mut self, netuid: u16, block: u64) {
        let beacon = self.beacon.as_ref();
        let Some(subnet) = self.subnets.get_mut(&netuid) else {
            return;
        };
        let hotkeys: Vec<AccountId> = subnet.sealed_commitments.keys().copied().collect();
        for who in hotkeys {
            let Some(sealed) = subnet.sealed_commitments.remove(&who) else {
                continue;
            };
            let mut remain = Vec::new();
            let mut opened = Vec::new();
            let mut processed = false;
            for (ciphertext, round) in sealed {
                let Some(signature) = beacon.and_then(|b| b.pulses.get(&round)) else {
                    remain.push((ciphertext, round));
                    continue;
                };
                processed = true;
                match RoundSignature::from_bytes(signature)
                    .and_then(|sig| timelock::decrypt(&ciphertext, &sig))
                {
                    Ok(bytes) if !bytes.is_empty() => opened.push(bytes),
                    Ok(_) => debug!(netuid, round, "revealed commitment is empty; dropped"),
                    Err(e) => debug!(netuid, round, error = %e, "timelocked commitment dropped"),
                }
            }
            if !processed {
                subnet.sealed_commitments.insert(who, remain);
                continue;
            }
            if !opened.is_empty() {
                let reveals = subnet.revealed_commitments.entry(who).or_default();
                reveals.extend(opened.into_iter().map(|bytes| (bytes, block)));
                let excess = reveals.len().saturating_sub(MAX_REVEALS);
                reveals.drain(..excess);
            }
            if remain.is_empty() {
                if subnet
                    .commitments
                    .get(&who)
                    .is_some_and(|(_, raw)| raw.is_empty())
                {
                    subnet.commitments.remove(&who);
                }
            } else {
                subnet.sealed_commitments.insert(who, remain);
            }
        }
    }

    /// subtensor's `reveal_crv3_commits_for_subnet`: drop commits older than the reveal epoch;
    /// open those of the reveal epoch whose round's pulse is stored and apply their weights as
    /// `set_weights` would (less the rate limit, which the commit paid); keep those whose pulse
    /// has not come yet for the next block of the epoch; drop any that fail.
    fn reveal_timelocked(&mut self, netuid: u16, block: u64) {
        let beacon = self.beacon.as_ref();
        let Some(subnet) = self.subnets.get_mut(&netuid) else {
            return;
        };
        let period = subnet.params.hyper.reveal_period_epochs;
        let current = subnet.epoch_with_lookahead(block);
        let reveal_epoch = current.saturating_sub(period);
        subnet.timelocked.retain(|&epoch, _| epoch >= reveal_epoch);
        if current < period {
            return;
        }
        let Some(entries) = subnet.timelocked.remove(&reveal_epoch) else {
            return;
        };
        let mut unrevealed = VecDeque::new();
        for (who, commit_block, commit, round) in entries {
            let Some(signature) = beacon.and_then(|b| b.pulses.get(&round)) else {
                unrevealed.push_back((who, commit_block, commit, round));
                continue;
            };
            let opened =
                RoundSignature::from_bytes(signature).and_then(|sig| timelock::decrypt(&commit, &sig));
            let plain = match opened {
                Ok(p) => p,
                Err(e) => {
                    debug!(netuid, round, error = %e, "timelocked commit dropped: cannot open");
                    continue;
                }
            };
            let Some((uids, values, version_key)) = revealed_weights(&plain, &who) else {
                debug!(
                    netuid,
                    round, "timelocked commit dropped: payload or hotkey mismatch"
                );
                continue;
            };
            let mut probe = subnet.clone();
            if let Some(uid) = probe.uid_of(&who) {
                probe.neurons[usize::from(uid)].last_update = 0;
            }
            match set_weights(&mut probe, &who, &uids, &values, version_key, block) {
                Ok(_) => *subnet = probe,
                Err(e) => debug!(netuid, round, error = ?e, "timelocked weights refused"),
            }
        }
        if !unrevealed.is_empty() {
            subnet.timelocked.insert(reveal_epoch, unrevealed);
        }
    }

    /// A simplified Yuma consensus: validator permits go to the top stakes; each miner's
    /// consensus weight is the stake-weighted median of the permitted validators' normalised
    /// weights; weights above consensus are clipped to it; incentive is the stake-weighted sum of
    /// clipped weights, normalised; dividends follow each validator's stake share of the clipped
    /// weight it gave. Emission per epoch is one TAO per block of tempo, split half to miners by
    /// incentive and half to validators by dividends.
    pub fn epoch(&mut self, netuid: u16) {
        let block = self.block;
        let stakes: Vec<u64> = match self.subnets.get(&netuid) {
            Some(s) => s
                .neurons
                .iter()
                .map(|n| self.stake.get(&(n.hotkey, netuid)).copied().unwrap_or(0))
                .collect(),
            None => return,
        };
        let Some(subnet) = self.subnets.get_mut(&netuid) else {
            return;
        };
        let n = subnet.neurons.len();
        subnet.last_epoch = block;
        let mut order: Vec<usize> = (0..n).filter(|&i| stakes[i] > 0).collect();
        order.sort_by(|&a, &b| stakes[b].cmp(&stakes[a]).then(a.cmp(&b)));
        order.truncate(usize::from(subnet.params.max_allowed_validators));
        for (i, neuron) in subnet.neurons.iter_mut().enumerate() {
            neuron.validator_permit = order.contains(&i);
        }
        let validators: Vec<usize> = order;
        let total_stake: f64 = validators.iter().map(|&i| stakes[i] as f64).sum();
        if n == 0 || total_stake == 0.0 {
            return;
        }
        // Row-normalised weights of each validator.
        let rows: Vec<Vec<f64>> = validators
            .iter()
            .map(|&i| {
                let mut row = vec![0.0; n];
                let sum: f64 = subnet.neurons[i].weights.iter().map(|&(_, w)| f64::from(w)).sum();
                if sum > 0.0 {
                    for &(u, w) in &subnet.neurons[i].weights {
                        if usize::from(u) < n {
                            row[usize::from(u)] = f64::from(w) / sum;
                        }
                    }
                }
                row
            })
            .collect();
        let stake_share: Vec<f64> = validators
            .iter()
            .map(|&i| stakes[i] as f64 / total_stake)
            .collect();
        let mut incentive = vec![0.0; n];
        let mut bonds = vec![0.0; validators.len()];
        for j in 0..n {
            // Stake-weighted median of column j.
            let mut col: Vec<(f64, f64)> = rows.iter().zip(&stake_share).map(|(r, &s)| (r[j], s)).collect();
            col.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut acc = 0.0;
            let mut consensus = 0.0;
            for (w, s) in &col {
                acc += s;
                if acc >= 0.5 {
                    consensus = *w;
                    break;
                }
            }
            for (v, row) in rows.iter().enumerate() {
                let clipped = row[j].min(consensus);
                incentive[j] += stake_share[v] * clipped;
                bonds[v] += stake_share[v] * clipped;
            }
        }
        let inc_sum: f64 = incentive.iter().sum();
        let div_sum: f64 = bonds.iter().sum();
        let emission = u64::from(subnet.params.hyper.tempo) * 1_000_000_000;
        for (j, neuron) in subnet.neurons.iter_mut().enumerate() {
            let share = if inc_sum > 0.0 {
                incentive[j] / inc_sum
            } else {
                0.0
            };
            neuron.incentive = (share * f64::from(u16::MAX)).round() as u16;
            neuron.dividends = 0;
            neuron.emission = (share * emission as f64 / 2.0) as u64;
        }
        for (v, &i) in validators.iter().enumerate() {
            let share = if div_sum > 0.0 { bonds[v] / div_sum } else { 0.0 };
            let neuron = &mut subnet.neurons[i];
            neuron.dividends = (share * f64::from(u16::MAX)).round() as u16;
            neuron.emission += (share * emission as f64 / 2.0) as u64;
        }
    }
}

/// The weights in a revealed payload if it is the committer's: subtensor's current payload
/// `(hotkey, uids, values, version_key)`, or its legacy one without the hotkey.
fn revealed_weights(plain: &[u8], who: &AccountId) -> Option<(Vec<u16>, Vec<u16>, u64)> {
    if let Ok(p) = timelocked::Payload::decode(&mut &plain[..])
        && p.hotkey.len() >= 32
    {
        return (p.hotkey[..32] == who[..]).then_some((p.uids, p.values, p.version_key));
    }
    <(Vec<u16>, Vec<u16>, u64)>::decode(&mut &plain[..]).ok()
}

/// subtensor's epoch numbering for commit-reveal: `(block + netuid + 1) / (tempo + 1)`.
pub fn epoch_index(netuid: u16, tempo: u64, block: u64) -> u64 {
    (block + u64::from(netuid) + 1) / (tempo + 1)
}

fn first_block_of_epoch(netuid: u16, tempo: u64, epoch: u64) -> u64 {
    (epoch * (tempo + 1)).saturating_sub(u64::from(netuid) + 1)
}

fn set_weights(
    subnet: &mut Subnet,
    who: &AccountId,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
    now: u64,
) -> Result<u16, DispatchError> {
    if uids.len() != values.len() {
        return subtensor("WeightVecNotEqualSize");
    }
    let Some(uid) = subnet.uid_of(who) else {
        return subtensor("HotKeyNotRegisteredInSubNet");
    };
    let p = &subnet.params;
    if version_key < p.hyper.weights_version_key {
        return subtensor("IncorrectWeightVersionKey");
    }
    let neuron = &subnet.neurons[usize::from(uid)];
    if neuron.last_update > 0 && now.saturating_sub(neuron.last_update) < p.hyper.weights_set_rate_limit {
        return subtensor("SettingWeightsTooFast");
    }
    let only_self = uids.len() == 1 && uids[0] == uid;
    if !only_self && !neuron.validator_permit {
        return subtensor("NeuronNoValidatorPermit");
    }
    let n = subnet.neurons.len();
    let mut seen = std::collections::HashSet::new();
    for &u in uids {
        if !seen.insert(u) {
            return subtensor("DuplicateUids");
        }
        if usize::from(u) >= n {
            return subtensor("UidVecContainInvalidOne");
        }
    }
    if !only_self && uids.len() < usize::from(p.hyper.min_allowed_weights).min(n) {
        return subtensor("WeightVecLengthIsLow");
    }
    if p.hyper.max_weights_limit < u16::MAX && !only_self {
        let total: u64 = values.iter().map(|&v| u64::from(v)).sum();
        let top = values.iter().copied().max().map(u64::from).unwrap_or(0);
        if total > 0 && top * u64::from(u16::MAX) > u64::from(p.hyper.max_weights_limit) * total {
            return subtensor("MaxWeightExceeded");
        }
    }
    let neuron = &mut subnet.neurons[usize::from(uid)];
    neuron.weights = uids
        .iter()
        .copied()
        .zip(values.iter().copied())
        .filter(|&(_, v)| v > 0)
        .collect();
    neuron.last_update = now;
    Ok(uid)
}
