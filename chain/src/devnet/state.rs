//! The devnet's chain state and the rules miners and validators meet on subtensor, enforced with
//! subtensor's error names. Pure and synchronous: `runtime` decodes transactions into these calls
//! and projects the state into storage; nothing here knows about SCALE or RPC.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::account::Hotkey;
use crate::subnet::{Hyperparameters, Netuid};
use crate::weights::{EmitWeights, commit_hash};

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
                commit_reveal_weights_enabled: false,
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
    /// Commitment space used per hotkey: `(epoch, bytes)` (subtensor's `UsedSpaceOf`).
    #[serde(default, with = "pairs")]
    pub commitment_usage: BTreeMap<AccountId, (u64, u64)>,
    pub last_epoch: u64,
}

/// The least space one commitment uses, however short (subtensor charges 100 bytes).
pub const MIN_COMMITMENT_SPACE: u64 = 100;

/// Fields one commitment may carry (subtensor's `MaxFields`).
pub const MAX_COMMITMENT_FIELDS: usize = 3;

impl Subnet {
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
    SetCommitment {
        netuid: u16,
        fields: Vec<Vec<u8>>,
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
        let mut state = State::default();
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
                weight_commits: BTreeMap::new(),
                last_epoch: 0,
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
                    uids: uids.iter().map(|&u| crate::subnet::Uid(u)).collect(),
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
            Call::SetCommitment { netuid, fields } => {
                let subnet = self.subnet_mut(netuid)?;
                if subnet.uid_of(&who).is_none() {
                    return err("Commitments", "AccountNotAllowedCommit");
                }
                if fields.len() > MAX_COMMITMENT_FIELDS {
                    return err("Commitments", "TooManyFieldsInCommitmentInfo");
                }
                let tempo = u64::from(subnet.params.hyper.tempo);
                let epoch = epoch_index(netuid, tempo, now);
                let required = (fields.iter().map(|f| f.len() as u64).sum::<u64>()).max(MIN_COMMITMENT_SPACE);
                let usage = subnet.commitment_usage.entry(who).or_insert((epoch, 0));
                if usage.0 != epoch {
                    *usage = (epoch, 0);
                }
                if usage.1 + required > subnet.params.commitment_space {
                    return err("Commitments", "SpaceLimitExceeded");
                }
                usage.1 += required;
                subnet.commitments.insert(who, (now, fields));
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
                subnet.weight_commits.remove(&old);
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

    /// Advance to `block`, running each subnet's epoch when its tempo comes round.
    pub fn on_block(&mut self, block: u64) {
        self.block = block;
        let netuids: Vec<u16> = self.subnets.keys().copied().collect();
        for netuid in netuids {
            let tempo = self
                .subnets
                .get(&netuid)
                .map(|s| u64::from(s.params.hyper.tempo))
                .unwrap_or(0);
            // subtensor runs a subnet's epoch when (block + netuid + 1) % (tempo + 1) == 0.
            if tempo > 0 && (block + u64::from(netuid) + 1).is_multiple_of(tempo + 1) {
                self.epoch(netuid);
            }
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
