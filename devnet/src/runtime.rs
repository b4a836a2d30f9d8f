//! The bridge between the devnet's typed [`State`] and the bytes clients see: decoding and
//! verifying signed extrinsics, projecting state into storage keys and values, events, and the
//! runtime APIs answered through `state_call`. Every encoding follows the runtime metadata the
//! devnet serves.

use std::collections::BTreeMap;

use codec::{Compact, Decode, Encode};
use scale_info::{PortableRegistry, TypeDef};
use subxt::client::OfflineClient;
use subxt::config::SubstrateConfig;
use subxt::config::substrate::{SpecVersionForRange, SubstrateConfigBuilder};
use subxt::dynamic::Value;
use subxt::metadata::{ArcMetadata, Metadata};
use subxt::utils::{AccountId32, Era, H256};
use tracing::debug;

use super::metadata::MetadataSet;
use super::state::{AccountId, Call, DispatchError, Param, State};
use kindred_chain::values::{self, ValueError, as_bytes, as_u128, items, set_in, some};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("runtime metadata does not decode: {0}")]
    Metadata(String),
    #[error("metadata lacks {0}")]
    Missing(String),
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// Why the pool refuses a transaction (`InvalidTransaction` / `UnknownTransaction` as a node
/// reports them over JSON-RPC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    Undecodable(String),
    Unsigned,
    BadProof,
    Stale,
    Future,
    AncientBirthBlock,
    Payment,
    /// A call this devnet does not implement.
    UnsupportedCall {
        pallet: String,
        call: String,
    },
    /// Arguments that do not fit the call.
    BadArguments(&'static str),
}

impl Invalid {
    /// `(code, message, data)` as Substrate's author RPC reports it.
    pub fn rpc_error(&self) -> (i32, &'static str, String) {
        match self {
            Invalid::Undecodable(why) => (
                1002,
                "Verification Error",
                format!("Could not decode extrinsic: {why}"),
            ),
            Invalid::Unsigned => (
                1010,
                "Invalid Transaction",
                "Transaction call is not expected".into(),
            ),
            Invalid::BadProof => (
                1010,
                "Invalid Transaction",
                "Transaction has a bad signature".into(),
            ),
            Invalid::Stale => (1010, "Invalid Transaction", "Transaction is outdated".into()),
            Invalid::Future => (
                1010,
                "Invalid Transaction",
                "Transaction will be valid in the future".into(),
            ),
            Invalid::AncientBirthBlock => (
                1010,
                "Invalid Transaction",
                "Transaction has an ancient birth block".into(),
            ),
            Invalid::Payment => (
                1010,
                "Invalid Transaction",
                "Inability to pay some fees (e.g. account balance too low)".into(),
            ),
            Invalid::UnsupportedCall { pallet, call } => (
                1010,
                "Invalid Transaction",
                format!(
                    "Transaction call is not expected: {pallet}::{call} is not implemented by the Kindred devnet"
                ),
            ),
            Invalid::BadArguments(what) => (
                1010,
                "Invalid Transaction",
                format!("Transaction call is not expected: bad {what}"),
            ),
        }
    }
}

/// A decoded, signature-checked transaction.
#[derive(Clone, Debug)]
pub struct Checked {
    pub signer: AccountId,
    pub nonce: u32,
    pub call: Call,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// The outcome of one extrinsic in a block, for `System.Events`.
pub type Outcome = Result<(), DispatchError>;

pub struct Runtime {
    metadata: ArcMetadata,
    metadata_set: MetadataSet,
    pub spec_name: String,
    pub spec_version: u32,
    pub transaction_version: u32,
    offline: OfflineClient<SubstrateConfig>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("spec_version", &self.spec_version)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime answering with `metadata_set`, decoding and encoding with its latest version.
    pub fn new(
        metadata_set: MetadataSet,
        spec_name: &str,
        spec_version: u32,
        transaction_version: u32,
    ) -> Result<Runtime, RuntimeError> {
        let metadata = Metadata::decode_from(metadata_set.latest())
            .map_err(|e| RuntimeError::Metadata(e.to_string()))?;
        let metadata: ArcMetadata = metadata.into();
        let config = SubstrateConfigBuilder::new()
            .set_metadata_for_spec_versions([(spec_version, metadata.clone())])
            .set_spec_version_for_block_ranges([SpecVersionForRange {
                block_range: 0..u64::MAX,
                spec_version,
                transaction_version,
            }])
            .build();
        Ok(Runtime {
            metadata,
            metadata_set,
            spec_name: spec_name.to_owned(),
            spec_version,
            transaction_version,
            offline: OfflineClient::new_with_config(config),
        })
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// What `state_getMetadata` answers.
    pub fn legacy_metadata(&self) -> &[u8] {
        self.metadata_set.legacy()
    }

    fn types(&self) -> &PortableRegistry {
        self.metadata.types()
    }

    /// Decode `bytes` as a signed extrinsic, check its signature over the standard signing
    /// payload, its mortality against `block_hash_of`, and its nonce against `next_nonce`.
    pub fn check(
        &self,
        bytes: &[u8],
        genesis: [u8; 32],
        now: u64,
        block_hash_of: impl Fn(u64) -> Option<[u8; 32]>,
        next_nonce: impl Fn(&AccountId) -> u32,
    ) -> Result<Checked, Invalid> {
        let at = self
            .offline
            .at_block(now)
            .map_err(|e| Invalid::Undecodable(e.to_string()))?;
        let list = futures::executor::block_on(at.extrinsics().from_bytes(vec![bytes.to_vec()]));
        let ext = list
            .iter()
            .next()
            .ok_or_else(|| Invalid::Undecodable("empty".into()))?
            .map_err(|e| Invalid::Undecodable(e.to_string()))?;
        let (Some(address), Some(signature), Some(extensions)) = (
            ext.address_bytes(),
            ext.signature_bytes(),
            ext.transaction_extensions(),
        ) else {
            return Err(Invalid::Unsigned);
        };
        // MultiAddress::Id(AccountId32) and MultiSignature::Sr25519 only.
        let signer: AccountId = match address {
            [0, rest @ ..] if rest.len() == 32 => rest.try_into().map_err(|_| Invalid::BadProof)?,
            _ => return Err(Invalid::BadProof),
        };
        let sig: [u8; 64] = match signature {
            [1, rest @ ..] if rest.len() == 64 => rest.try_into().map_err(|_| Invalid::BadProof)?,
            _ => return Err(Invalid::BadProof),
        };

        let mut implicit = Vec::new();
        let mut nonce = None;
        for e in extensions.iter() {
            match e.name() {
                "CheckSpecVersion" => implicit.extend(self.spec_version.encode()),
                "CheckTxVersion" => implicit.extend(self.transaction_version.encode()),
                "CheckGenesis" => implicit.extend(genesis),
                "CheckMortality" | "CheckEra" => {
                    let era =
                        Era::decode(&mut &e.bytes()[..]).map_err(|_| Invalid::Undecodable("era".into()))?;
                    let birth = match era {
                        Era::Immortal => 0,
                        Era::Mortal { period, phase } => {
                            let birth = (now.max(phase) - phase) / period * period + phase;
                            if now >= birth + period {
                                return Err(Invalid::AncientBirthBlock);
                            }
                            birth
                        }
                    };
                    implicit.extend(block_hash_of(birth).ok_or(Invalid::AncientBirthBlock)?);
                }
                "CheckNonce" => {
                    let n = <Compact<u32>>::decode(&mut &e.bytes()[..])
                        .map_err(|_| Invalid::Undecodable("nonce".into()))?;
                    nonce = Some(n.0);
                }
                "CheckMetadataHash" => {
                    if e.bytes().first().copied().unwrap_or(0) != 0 {
                        // Mode::Enabled would commit to a metadata hash the devnet does not compute.
                        return Err(Invalid::BadProof);
                    }
                    implicit.push(0);
                }
                _ => {}
            }
        }
        let mut payload = ext.call_data_bytes().to_vec();
        payload.extend(ext.transaction_extensions_bytes().unwrap_or_default());
        payload.extend(implicit);
        if payload.len() > 256 {
            payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
        }
        let public = subxt_signer::sr25519::PublicKey(signer);
        if !subxt_signer::sr25519::verify(&subxt_signer::sr25519::Signature(sig), &payload, &public) {
            return Err(Invalid::BadProof);
        }
        let nonce = nonce.ok_or(Invalid::Undecodable("no CheckNonce extension".into()))?;
        let expected = next_nonce(&signer);
        if nonce < expected {
            return Err(Invalid::Stale);
        }
        if nonce > expected {
            return Err(Invalid::Future);
        }

        let fields: Vec<Value> = ext
            .iter_call_data_fields()
            .map(|f| {
                f.decode_as::<Value>()
                    .map_err(|e| Invalid::Undecodable(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let call = typed_call(ext.pallet_name(), ext.call_name(), &fields)?;
        Ok(Checked {
            signer,
            nonce,
            call,
            hash: sp_crypto_hashing::blake2_256(bytes),
            bytes: bytes.to_vec(),
        })
    }

    fn value_ty(&self, pallet: &str, entry: &str) -> Option<u32> {
        Some(
            self.metadata
                .pallet_by_name(pallet)?
                .storage()?
                .entry_by_name(entry)?
                .value_ty(),
        )
    }

    /// All of the devnet's storage at the state's block, as raw key → SCALE value.
    pub fn storage(
        &self,
        state: &State,
        outcomes: &[Outcome],
        block_hashes: &[(u64, [u8; 32])],
    ) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, RuntimeError> {
        let at = self
            .offline
            .at_block(0u64)
            .map_err(|e| RuntimeError::Metadata(e.to_string()))?;
        let mut out = Projection {
            rt: self,
            at,
            map: BTreeMap::new(),
        };
        let acct = |a: &AccountId| Value::from_bytes(a);
        let num = |x: u128| Value::u128(x);

        out.put("System", "Number", vec![], |_| Ok(num(u128::from(state.block))))?;
        for (n, hash) in block_hashes {
            out.put("System", "BlockHash", vec![num(u128::from(*n))], |_| {
                Ok(Value::from_bytes(hash))
            })?;
        }
        for (who, account) in &state.accounts {
            out.put("System", "Account", vec![acct(who)], |ty| {
                let mut v = values::default_for(self.types(), ty)?;
                set_in(&mut v, &["nonce"], num(u128::from(account.nonce)));
                set_in(&mut v, &["providers"], num(1));
                set_in(&mut v, &["data", "free"], num(account.free));
                Ok(v)
            })?;
        }
        out.put("System", "Events", vec![], |ty| self.events(ty, outcomes))?;
        out.put("SubtensorModule", "CommitRevealWeightsVersion", vec![], |_| {
            Ok(num(u128::from(state.commit_reveal_version)))
        })?;
        if let Some(beacon) = &state.beacon {
            let key = &beacon.public_key;
            let hash = sp_crypto_hashing::sha2_256(key);
            out.put("Drand", "BeaconConfig", vec![], |_| {
                Ok(Value::named_composite([
                    ("public_key", Value::from_bytes(key)),
                    ("period", num(u128::from(beacon.period))),
                    ("genesis_time", num(u128::from(beacon.genesis_time))),
                    ("hash", Value::from_bytes(hash)),
                    ("group_hash", Value::from_bytes(hash)),
                    ("scheme_id", Value::from_bytes(b"bls-unchained-g1-rfc9380")),
                    (
                        "metadata",
                        Value::named_composite([("beacon_id", Value::from_bytes(b"kindred-devnet"))]),
                    ),
                ]))
            })?;
            out.put("Drand", "LastStoredRound", vec![], |_| {
                Ok(num(u128::from(beacon.last_stored_round)))
            })?;
            out.put("Drand", "OldestStoredRound", vec![], |_| {
                Ok(num(u128::from(beacon.oldest_stored_round())))
            })?;
            for (round, signature) in &beacon.pulses {
                out.put("Drand", "Pulses", vec![num(u128::from(*round))], |_| {
                    Ok(Value::named_composite([
                        ("round", num(u128::from(*round))),
                        (
                            "randomness",
                            Value::from_bytes(sp_crypto_hashing::sha2_256(signature)),
                        ),
                        ("signature", Value::from_bytes(signature)),
                    ]))
                })?;
            }
        }
        if let Some(sudo) = state.sudo {
            out.put("Sudo", "Key", vec![], |_| Ok(acct(&sudo)))?;
        }
        for (hotkey, coldkey) in &state.owners {
            out.put("SubtensorModule", "Owner", vec![acct(hotkey)], |_| {
                Ok(acct(coldkey))
            })?;
        }
        for ((hotkey, netuid), stake) in &state.stake {
            out.put(
                "SubtensorModule",
                "TotalHotkeyAlpha",
                vec![acct(hotkey), num(u128::from(*netuid))],
                |_| Ok(num(u128::from(*stake))),
            )?;
        }
        for (&netuid, subnet) in &state.subnets {
            let key = || vec![num(u128::from(netuid))];
            let p = &subnet.params;
            out.put("SubtensorModule", "NetworksAdded", key(), |_| {
                Ok(Value::bool(true))
            })?;
            out.put("SubtensorModule", "TokenSymbol", key(), |_| {
                Ok(Value::from_bytes("τ".as_bytes()))
            })?;
            out.put("SubtensorModule", "SubnetOwner", key(), |_| {
                Ok(acct(&subnet.owner))
            })?;
            out.put("SubtensorModule", "SubnetworkN", key(), |_| {
                Ok(num(subnet.neurons.len() as u128))
            })?;
            out.put("SubtensorModule", "Tempo", key(), |_| {
                Ok(num(u128::from(p.hyper.tempo)))
            })?;
            out.put("SubtensorModule", "ImmunityPeriod", key(), |_| {
                Ok(num(u128::from(p.hyper.immunity_period)))
            })?;
            out.put("SubtensorModule", "MaxAllowedUids", key(), |_| {
                Ok(num(u128::from(p.hyper.max_allowed_uids)))
            })?;
            out.put("SubtensorModule", "MaxAllowedValidators", key(), |_| {
                Ok(num(u128::from(p.max_allowed_validators)))
            })?;
            out.put("SubtensorModule", "MinAllowedWeights", key(), |_| {
                Ok(num(u128::from(p.hyper.min_allowed_weights)))
            })?;
            out.put("SubtensorModule", "MaxWeightsLimit", key(), |_| {
                Ok(num(u128::from(p.hyper.max_weights_limit)))
            })?;
            out.put("SubtensorModule", "WeightsVersionKey", key(), |_| {
                Ok(num(u128::from(p.hyper.weights_version_key)))
            })?;
            out.put("SubtensorModule", "WeightsSetRateLimit", key(), |_| {
                Ok(num(u128::from(p.hyper.weights_set_rate_limit)))
            })?;
            out.put("SubtensorModule", "CommitRevealWeightsEnabled", key(), |_| {
                Ok(Value::bool(p.hyper.commit_reveal_weights_enabled))
            })?;
            out.put("SubtensorModule", "RevealPeriodEpochs", key(), |_| {
                Ok(num(u128::from(p.hyper.reveal_period_epochs)))
            })?;
            out.put("SubtensorModule", "Burn", key(), |_| Ok(num(p.burn)))?;
            let column = |f: &dyn Fn(&super::state::NeuronState) -> u128| {
                Value::unnamed_composite(subnet.neurons.iter().map(|n| num(f(n))))
            };
            out.put("SubtensorModule", "LastUpdate", key(), |_| {
                Ok(column(&|n| u128::from(n.last_update)))
            })?;
            out.put("SubtensorModule", "Incentive", key(), |_| {
                Ok(column(&|n| u128::from(n.incentive)))
            })?;
            out.put("SubtensorModule", "Dividends", key(), |_| {
                Ok(column(&|n| u128::from(n.dividends)))
            })?;
            out.put("SubtensorModule", "Emission", key(), |_| {
                Ok(column(&|n| u128::from(n.emission)))
            })?;
            out.put("SubtensorModule", "ValidatorPermit", key(), |_| {
                Ok(Value::unnamed_composite(
                    subnet.neurons.iter().map(|n| Value::bool(n.validator_permit)),
                ))
            })?;
            out.put("SubtensorModule", "Active", key(), |_| {
                Ok(Value::unnamed_composite(
                    subnet.neurons.iter().map(|_| Value::bool(true)),
                ))
            })?;
            for (uid, n) in subnet.neurons.iter().enumerate() {
                let uid = num(uid as u128);
                let nk = || vec![num(u128::from(netuid)), uid.clone()];
                out.put("SubtensorModule", "Keys", nk(), |_| Ok(acct(&n.hotkey)))?;
                out.put(
                    "SubtensorModule",
                    "Uids",
                    vec![num(u128::from(netuid)), acct(&n.hotkey)],
                    |_| Ok(uid.clone()),
                )?;
                out.put("SubtensorModule", "BlockAtRegistration", nk(), |_| {
                    Ok(num(u128::from(n.registered_at)))
                })?;
                if !n.weights.is_empty() {
                    out.put("SubtensorModule", "Weights", nk(), |_| {
                        Ok(Value::unnamed_composite(n.weights.iter().map(|&(u, w)| {
                            Value::unnamed_composite([num(u128::from(u)), num(u128::from(w))])
                        })))
                    })?;
                }
                if let Some(axon) = &n.axon {
                    out.put(
                        "SubtensorModule",
                        "Axons",
                        vec![num(u128::from(netuid)), acct(&n.hotkey)],
                        |ty| {
                            values::composite_with(
                                self.types(),
                                ty,
                                vec![
                                    ("block", num(u128::from(axon.block))),
                                    ("version", num(u128::from(axon.version))),
                                    ("ip", num(axon.ip)),
                                    ("port", num(u128::from(axon.port))),
                                    ("ip_type", num(u128::from(axon.ip_type))),
                                    ("protocol", num(u128::from(axon.protocol))),
                                ],
                            )
                            .map_err(RuntimeError::from)
                        },
                    )?;
                }
            }
            for (who, commits) in &subnet.weight_commits {
                out.put(
                    "SubtensorModule",
                    "WeightCommits",
                    vec![num(u128::from(netuid)), acct(who)],
                    |_| {
                        Ok(Value::unnamed_composite(commits.iter().map(|c| {
                            Value::unnamed_composite([
                                Value::from_bytes(c.0),
                                num(u128::from(c.1)),
                                num(u128::from(c.2)),
                                num(u128::from(c.3)),
                            ])
                        })))
                    },
                )?;
            }
            out.put("SubtensorModule", "LastEpochBlock", key(), |_| {
                Ok(num(u128::from(subnet.last_epoch)))
            })?;
            out.put("SubtensorModule", "SubnetEpochIndex", key(), |_| {
                Ok(num(u128::from(subnet.epoch_index)))
            })?;
            out.put("SubtensorModule", "BlocksSinceLastStep", key(), |_| {
                Ok(num(u128::from(subnet.blocks_since_last_step)))
            })?;
            out.put("SubtensorModule", "PendingEpochAt", key(), |_| {
                Ok(num(u128::from(subnet.pending_epoch_at)))
            })?;
            out.put("SubtensorModule", "MechanismCountCurrent", key(), |_| Ok(num(1)))?;
            for (epoch, commits) in &subnet.timelocked {
                out.put(
                    "SubtensorModule",
                    "TimelockedWeightCommits",
                    vec![num(u128::from(netuid)), num(u128::from(*epoch))],
                    |_| {
                        Ok(Value::unnamed_composite(commits.iter().map(|c| {
                            Value::unnamed_composite([
                                acct(&c.0),
                                num(u128::from(c.1)),
                                Value::from_bytes(&c.2),
                                num(u128::from(c.3)),
                            ])
                        })))
                    },
                )?;
            }
            for (who, reveals) in &subnet.revealed_commitments {
                out.put(
                    "Commitments",
                    "RevealedCommitments",
                    vec![num(u128::from(netuid)), acct(who)],
                    |_| {
                        Ok(Value::unnamed_composite(reveals.iter().map(|(bytes, block)| {
                            Value::unnamed_composite([Value::from_bytes(bytes), num(u128::from(*block))])
                        })))
                    },
                )?;
            }
            for (who, (block, fields)) in &subnet.commitments {
                out.put(
                    "Commitments",
                    "CommitmentOf",
                    vec![num(u128::from(netuid)), acct(who)],
                    |_| {
                        let sealed =
                            subnet
                                .sealed_commitments
                                .get(who)
                                .into_iter()
                                .flatten()
                                .map(|(c, r)| {
                                    Value::named_variant(
                                        "TimelockEncrypted",
                                        [
                                            ("encrypted", Value::from_bytes(c)),
                                            ("reveal_round", num(u128::from(*r))),
                                        ],
                                    )
                                });
                        let raw = fields
                            .iter()
                            .map(|f| {
                                Value::unnamed_variant(format!("Raw{}", f.len()), [Value::from_bytes(f)])
                            })
                            .chain(sealed);
                        Ok(Value::named_composite([
                            ("deposit", num(0)),
                            ("block", num(u128::from(*block))),
                            (
                                "info",
                                Value::named_composite([("fields", Value::unnamed_composite(raw))]),
                            ),
                        ]))
                    },
                )?;
            }
        }
        Ok(out.map)
    }

    /// `System.Events` for a block: one `ExtrinsicSuccess`/`ExtrinsicFailed` per extrinsic.
    fn events(&self, events_ty: u32, outcomes: &[Outcome]) -> Result<Value, RuntimeError> {
        let types = self.types();
        let record_ty = match &types.resolve(events_ty).map(|t| &t.type_def) {
            Some(TypeDef::Sequence(s)) => s.type_param.id,
            _ => return Err(RuntimeError::Missing("System.Events as a sequence".into())),
        };
        let event_ty = field_ty(types, record_ty, "event")?;
        let system_event_ty = variant_field_ty(types, event_ty, "System")?;
        let mut records = Vec::new();
        for (i, outcome) in outcomes.iter().enumerate() {
            let event = match outcome {
                Ok(()) => values::variant_value(types, system_event_ty, "ExtrinsicSuccess", vec![])?,
                Err(e) => {
                    let failed_ty =
                        variant_named_field_ty(types, system_event_ty, "ExtrinsicFailed", "dispatch_error")?;
                    let dispatch_error = if *e == DispatchError::BAD_ORIGIN {
                        values::variant_value(types, failed_ty, "BadOrigin", vec![])?
                    } else {
                        match self.error_index(e) {
                            Ok((pallet_index, error_index)) => {
                                let module = Value::named_composite([
                                    ("index", Value::u128(u128::from(pallet_index))),
                                    ("error", Value::from_bytes([error_index, 0, 0, 0])),
                                ]);
                                values::variant_value(types, failed_ty, "Module", vec![("", module)])?
                            }
                            Err(missing) => {
                                // An error name this metadata lacks still fails the extrinsic.
                                debug!(%missing, "reporting DispatchError::Other");
                                values::variant_value(types, failed_ty, "Other", vec![])?
                            }
                        }
                    };
                    values::variant_value(
                        types,
                        system_event_ty,
                        "ExtrinsicFailed",
                        vec![("dispatch_error", dispatch_error)],
                    )?
                }
            };
            let runtime_event = Value::unnamed_variant("System", [event]);
            records.push(Value::named_composite([
                (
                    "phase",
                    Value::unnamed_variant("ApplyExtrinsic", [Value::u128(i as u128)]),
                ),
                ("event", runtime_event),
                ("topics", Value::unnamed_composite(Vec::<Value>::new())),
            ]));
        }
        Ok(Value::unnamed_composite(records))
    }

    fn error_index(&self, e: &DispatchError) -> Result<(u8, u8), RuntimeError> {
        let pallet = self
            .metadata
            .pallet_by_name(e.pallet)
            .ok_or_else(|| RuntimeError::Missing(format!("pallet {}", e.pallet)))?;
        let ty = pallet
            .error_ty_id()
            .ok_or_else(|| RuntimeError::Missing(format!("{} errors", e.pallet)))?;
        let Some(TypeDef::Variant(v)) = self.types().resolve(ty).map(|t| &t.type_def) else {
            return Err(RuntimeError::Missing(format!("{} error enum", e.pallet)));
        };
        let var = v
            .variants
            .iter()
            .find(|v| v.name == e.name)
            .ok_or_else(|| RuntimeError::Missing(format!("{}::{}", e.pallet, e.name)))?;
        Ok((pallet.error_index(), var.index))
    }

    /// Answer a runtime API call made through `state_call`.
    pub fn call_api(
        &self,
        name: &str,
        args: &[u8],
        state: &State,
        pending: &dyn Fn(&AccountId) -> u32,
    ) -> Result<Vec<u8>, RuntimeError> {
        match name {
            "Metadata_metadata_versions" => Ok(self.metadata_set.versions().encode()),
            "Metadata_metadata_at_version" => {
                let version =
                    u32::decode(&mut &args[..]).map_err(|e| RuntimeError::Metadata(e.to_string()))?;
                Ok(self
                    .metadata_set
                    .at_version(version)
                    .map(|bytes| bytes.to_vec())
                    .encode())
            }
            "Metadata_metadata" => Ok(self.metadata_set.legacy().to_vec().encode()),
            "Core_version" => Ok(self.runtime_version_scale()),
            "AccountNonceApi_account_nonce" => {
                let who =
                    <[u8; 32]>::decode(&mut &args[..]).map_err(|e| RuntimeError::Metadata(e.to_string()))?;
                Ok(pending(&who).encode())
            }
            "SubnetInfoRuntimeApi_get_selective_metagraph" => {
                let (netuid, indexes) = <(u16, Vec<u16>)>::decode(&mut &args[..])
                    .map_err(|e| RuntimeError::Metadata(e.to_string()))?;
                self.selective_metagraph(state, netuid, &indexes)
            }
            "SubnetInfoRuntimeApi_get_metagraph" => self.metagraph(state, netuid_arg(args)?),
            "SubnetInfoRuntimeApi_get_subnet_hyperparams_v3" => self.hyperparams(state, netuid_arg(args)?),
            "NeuronInfoRuntimeApi_get_neurons_lite" => self.neurons_lite(state, netuid_arg(args)?),
            other => Err(RuntimeError::Missing(format!("runtime API {other}"))),
        }
    }

    fn runtime_version_scale(&self) -> Vec<u8> {
        (
            self.spec_name.clone(),
            self.spec_name.clone(),
            1u32,
            self.spec_version,
            1u32,
            Vec::<([u8; 8], u32)>::new(),
            self.transaction_version,
            1u8,
        )
            .encode()
    }

    fn api_output_ty(&self, api: &str, method: &str) -> Result<u32, RuntimeError> {
        self.metadata
            .runtime_api_trait_by_name(api)
            .and_then(|t| t.method_by_name(method))
            .map(|m| m.output_ty())
            .ok_or_else(|| RuntimeError::Missing(format!("runtime API {api}_{method}")))
    }

    /// `get_selective_metagraph`: the asked-for fields of `SelectiveMetagraph`, each `Some`.
    fn selective_metagraph(
        &self,
        state: &State,
        netuid: u16,
        indexes: &[u16],
    ) -> Result<Vec<u8>, RuntimeError> {
        let types = self.types();
        let option_ty = self.api_output_ty("SubnetInfoRuntimeApi", "get_selective_metagraph")?;
        let Some(subnet) = state.subnets.get(&netuid) else {
            return Ok(vec![0]);
        };
        let inner_ty = option_item_ty(types, option_ty)?;
        let Some(TypeDef::Composite(def)) = types.resolve(inner_ty).map(|t| &t.type_def) else {
            return Err(RuntimeError::Missing("SelectiveMetagraph struct".into()));
        };
        let mut given: Vec<(&str, Value)> = Vec::new();
        for &i in indexes {
            let Some(field) = def.fields.get(usize::from(i)) else {
                continue;
            };
            let Some(name) = field.name.as_deref() else {
                continue;
            };
            if let Some(v) = metagraph_field(types, state, netuid, subnet, name, field.ty.id)? {
                given.push((name, some(v)));
            }
        }
        let inner = values::composite_with(types, inner_ty, given)?;
        Ok(values::encode(types, option_ty, &some(inner))?)
    }

    /// `get_metagraph`: every field of `Metagraph` (what the Python SDK's metagraph reads).
    fn metagraph(&self, state: &State, netuid: u16) -> Result<Vec<u8>, RuntimeError> {
        let types = self.types();
        let option_ty = self.api_output_ty("SubnetInfoRuntimeApi", "get_metagraph")?;
        let Some(subnet) = state.subnets.get(&netuid) else {
            return Ok(vec![0]);
        };
        let inner_ty = option_item_ty(types, option_ty)?;
        let Some(TypeDef::Composite(def)) = types.resolve(inner_ty).map(|t| &t.type_def) else {
            return Err(RuntimeError::Missing("Metagraph struct".into()));
        };
        let mut given: Vec<(&str, Value)> = Vec::new();
        for field in &def.fields {
            let Some(name) = field.name.as_deref() else {
                continue;
            };
            if let Some(v) = metagraph_field(types, state, netuid, subnet, name, field.ty.id)? {
                given.push((name, v));
            }
        }
        let inner = values::composite_with(types, inner_ty, given)?;
        Ok(values::encode(types, option_ty, &some(inner))?)
    }

    /// `NeuronInfoRuntimeApi_get_neurons_lite`.
    fn neurons_lite(&self, state: &State, netuid: u16) -> Result<Vec<u8>, RuntimeError> {
        let types = self.types();
        let list_ty = self.api_output_ty("NeuronInfoRuntimeApi", "get_neurons_lite")?;
        let item_ty = seq_item_ty(types, list_ty)?;
        let axon_ty = field_ty(types, item_ty, "axon_info")?;
        let Some(subnet) = state.subnets.get(&netuid) else {
            return Ok(values::encode(
                types,
                list_ty,
                &Value::unnamed_composite(Vec::<Value>::new()),
            )?);
        };
        let mut list = Vec::new();
        for (uid, n) in subnet.neurons.iter().enumerate() {
            let stake = state.stake.get(&(n.hotkey, netuid)).copied().unwrap_or(0);
            let num = |x: u128| Value::u128(x);
            let given = vec![
                ("hotkey", Value::from_bytes(n.hotkey)),
                ("coldkey", Value::from_bytes(n.coldkey)),
                ("uid", num(uid as u128)),
                ("netuid", num(u128::from(netuid))),
                ("active", Value::bool(true)),
                ("axon_info", axon_value(types, axon_ty, n)?),
                (
                    "stake",
                    Value::unnamed_composite([Value::unnamed_composite([
                        Value::from_bytes(n.coldkey),
                        num(u128::from(stake)),
                    ])]),
                ),
                ("emission", num(u128::from(n.emission))),
                ("incentive", num(u128::from(n.incentive))),
                ("dividends", num(u128::from(n.dividends))),
                ("last_update", num(u128::from(n.last_update))),
                ("validator_permit", Value::bool(n.validator_permit)),
            ];
            list.push(values::composite_with(types, item_ty, given)?);
        }
        Ok(values::encode(types, list_ty, &Value::unnamed_composite(list))?)
    }

    /// `get_subnet_hyperparams_v3`: the hyperparameters the devnet keeps, as named entries.
    fn hyperparams(&self, state: &State, netuid: u16) -> Result<Vec<u8>, RuntimeError> {
        let types = self.types();
        let option_ty = self.api_output_ty("SubnetInfoRuntimeApi", "get_subnet_hyperparams_v3")?;
        let Some(subnet) = state.subnets.get(&netuid) else {
            return Ok(vec![0]);
        };
        let h = &subnet.params.hyper;
        let u = |n: &str, kind: &str, x: u128| {
            Value::named_composite([
                ("name", Value::from_bytes(n.as_bytes())),
                ("value", Value::unnamed_variant(kind.to_owned(), [Value::u128(x)])),
            ])
        };
        let entries = vec![
            u("tempo", "U16", u128::from(h.tempo)),
            u("immunity_period", "U16", u128::from(h.immunity_period)),
            u("max_allowed_uids", "U16", u128::from(h.max_allowed_uids)),
            u("min_allowed_weights", "U16", u128::from(h.min_allowed_weights)),
            u("max_weights_limit", "U16", u128::from(h.max_weights_limit)),
            u("weights_version", "U64", u128::from(h.weights_version_key)),
            u("weights_rate_limit", "U64", u128::from(h.weights_set_rate_limit)),
            u("commit_reveal_period", "U64", u128::from(h.reveal_period_epochs)),
            u(
                "max_validators",
                "U16",
                u128::from(subnet.params.max_allowed_validators),
            ),
            u("burn", "TaoBalance", subnet.params.burn),
            Value::named_composite([
                ("name", Value::from_bytes(b"commit_reveal_weights_enabled")),
                (
                    "value",
                    Value::unnamed_variant("Bool", [Value::bool(h.commit_reveal_weights_enabled)]),
                ),
            ]),
        ];
        Ok(values::encode(
            types,
            option_ty,
            &some(Value::unnamed_composite(entries)),
        )?)
    }

    /// `state_getRuntimeVersion` as JSON.
    pub fn runtime_version_json(&self) -> serde_json::Value {
        serde_json::json!({
            "specName": self.spec_name,
            "implName": self.spec_name,
            "authoringVersion": 1,
            "specVersion": self.spec_version,
            "implVersion": 1,
            "apis": [],
            "transactionVersion": self.transaction_version,
            "systemVersion": 1,
            "stateVersion": 1,
        })
    }
}

struct Projection<'a> {
    rt: &'a Runtime,
    /// One offline view of the metadata for every key of the projection.
    at: subxt::client::ClientAtBlock<
        SubstrateConfig,
        subxt::client::OfflineClientAtBlockImpl<SubstrateConfig>,
    >,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Projection<'_> {
    /// Encode one storage item; items the metadata lacks are skipped (the drift test names them).
    fn put(
        &mut self,
        pallet: &str,
        entry: &str,
        keys: Vec<Value>,
        value: impl FnOnce(u32) -> Result<Value, RuntimeError>,
    ) -> Result<(), RuntimeError> {
        let Some(value_ty) = self.rt.value_ty(pallet, entry) else {
            debug!(pallet, entry, "storage item not in metadata; skipped");
            return Ok(());
        };
        let addr = subxt::dynamic::storage::<Vec<Value>, Value>(pallet, entry);
        let key = self
            .at
            .storage()
            .entry(addr)
            .and_then(|e| e.fetch_key(keys))
            .map_err(|e| RuntimeError::Missing(format!("{pallet}.{entry} key: {e}")))?;
        let v = value(value_ty)?;
        let bytes = values::encode(self.rt.types(), value_ty, &v)
            .map_err(|e| RuntimeError::Missing(format!("{pallet}.{entry} value: {e}")))?;
        self.map.insert(key, bytes);
        Ok(())
    }
}

/// One named field of subtensor's metagraph structures for `subnet`, `None` for fields the devnet
/// does not model (left at their zero value). `ty` is the field's type, `Option`-wrapped or not.
fn metagraph_field(
    types: &PortableRegistry,
    state: &State,
    netuid: u16,
    subnet: &super::state::Subnet,
    name: &str,
    ty: u32,
) -> Result<Option<Value>, RuntimeError> {
    let neurons = &subnet.neurons;
    let num = |x: u128| Value::u128(x);
    let col =
        |f: &dyn Fn(&super::state::NeuronState) -> Value| Value::unnamed_composite(neurons.iter().map(f));
    let stake = |n: &super::state::NeuronState| state.stake.get(&(n.hotkey, netuid)).copied().unwrap_or(0);
    let p = &subnet.params;
    let blocks_since = state.block.saturating_sub(subnet.last_epoch);
    Ok(Some(match name {
        "netuid" => num(u128::from(netuid)),
        "block" => num(u128::from(state.block)),
        "tempo" => num(u128::from(p.hyper.tempo)),
        "last_step" => num(u128::from(subnet.last_epoch)),
        "blocks_since_last_step" => num(u128::from(blocks_since)),
        "owner_hotkey" | "owner_coldkey" => Value::from_bytes(subnet.owner),
        "min_allowed_weights" => num(u128::from(p.hyper.min_allowed_weights)),
        "max_weights_limit" => num(u128::from(p.hyper.max_weights_limit)),
        "weights_version" => num(u128::from(p.hyper.weights_version_key)),
        "weights_rate_limit" => num(u128::from(p.hyper.weights_set_rate_limit)),
        "max_validators" => num(u128::from(p.max_allowed_validators)),
        "num_uids" => num(neurons.len() as u128),
        "max_uids" => num(u128::from(p.hyper.max_allowed_uids)),
        "immunity_period" => num(u128::from(p.hyper.immunity_period)),
        "burn" | "min_burn" | "max_burn" => num(p.burn),
        "registration_allowed" => Value::bool(true),
        "commit_reveal_weights_enabled" => Value::bool(p.hyper.commit_reveal_weights_enabled),
        "commit_reveal_period" => num(u128::from(p.hyper.reveal_period_epochs)),
        "hotkeys" => col(&|n| Value::from_bytes(n.hotkey)),
        "coldkeys" => col(&|n| Value::from_bytes(n.coldkey)),
        "active" => col(&|_| Value::bool(true)),
        "validator_permit" => col(&|n| Value::bool(n.validator_permit)),
        "last_update" => col(&|n| num(u128::from(n.last_update))),
        "emission" => col(&|n| num(u128::from(n.emission))),
        "dividends" => col(&|n| num(u128::from(n.dividends))),
        "incentives" => col(&|n| num(u128::from(n.incentive))),
        "block_at_registration" => col(&|n| num(u128::from(n.registered_at))),
        "alpha_stake" | "total_stake" => col(&|n| num(u128::from(stake(n)))),
        "tao_stake" | "pruning_score" | "consensus" | "trust" | "rank" => col(&|_| num(0)),
        "identities" => col(&|_| Value::unnamed_variant("None", [])),
        "axons" => {
            let list_ty = option_item_ty(types, ty).unwrap_or(ty);
            let axon_ty = seq_item_ty(types, list_ty)?;
            let mut list = Vec::new();
            for n in neurons {
                list.push(axon_value(types, axon_ty, n)?);
            }
            Value::unnamed_composite(list)
        }
        "commitments" => Value::unnamed_composite(subnet.commitments.iter().map(|(who, (_, fields))| {
            let bytes: Vec<u8> = fields.concat();
            Value::unnamed_composite([Value::from_bytes(who), Value::from_bytes(bytes)])
        })),
        _ => return Ok(None),
    }))
}

fn axon_value(
    types: &PortableRegistry,
    axon_ty: u32,
    n: &super::state::NeuronState,
) -> Result<Value, RuntimeError> {
    let mut v = values::default_for(types, axon_ty)?;
    if let Some(a) = &n.axon {
        for (k, x) in [
            ("block", u128::from(a.block)),
            ("version", u128::from(a.version)),
            ("ip", a.ip),
            ("port", u128::from(a.port)),
            ("ip_type", u128::from(a.ip_type)),
            ("protocol", u128::from(a.protocol)),
        ] {
            set_in(&mut v, &[k], Value::u128(x));
        }
    }
    Ok(v)
}

fn field_ty(types: &PortableRegistry, ty: u32, name: &str) -> Result<u32, RuntimeError> {
    match types.resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::Composite(c)) => c
            .fields
            .iter()
            .find(|f| f.name.as_deref() == Some(name))
            .map(|f| f.ty.id)
            .ok_or_else(|| RuntimeError::Missing(format!("field {name}"))),
        _ => Err(RuntimeError::Missing(format!("composite with {name}"))),
    }
}

fn variant_field_ty(types: &PortableRegistry, ty: u32, variant: &str) -> Result<u32, RuntimeError> {
    match types.resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::Variant(v)) => v
            .variants
            .iter()
            .find(|v| v.name == variant)
            .and_then(|v| v.fields.first())
            .map(|f| f.ty.id)
            .ok_or_else(|| RuntimeError::Missing(format!("variant {variant}"))),
        _ => Err(RuntimeError::Missing(format!("enum with {variant}"))),
    }
}

fn variant_named_field_ty(
    types: &PortableRegistry,
    ty: u32,
    variant: &str,
    field: &str,
) -> Result<u32, RuntimeError> {
    match types.resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::Variant(v)) => v
            .variants
            .iter()
            .find(|v| v.name == variant)
            .and_then(|v| v.fields.iter().find(|f| f.name.as_deref() == Some(field)))
            .map(|f| f.ty.id)
            .ok_or_else(|| RuntimeError::Missing(format!("{variant}.{field}"))),
        _ => Err(RuntimeError::Missing(format!("enum with {variant}"))),
    }
}

fn option_item_ty(types: &PortableRegistry, ty: u32) -> Result<u32, RuntimeError> {
    variant_field_ty(types, ty, "Some")
}

fn seq_item_ty(types: &PortableRegistry, ty: u32) -> Result<u32, RuntimeError> {
    match types.resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::Sequence(s)) => Ok(s.type_param.id),
        _ => Err(RuntimeError::Missing("sequence".into())),
    }
}

fn netuid_arg(args: &[u8]) -> Result<u16, RuntimeError> {
    u16::decode(&mut &args[..]).map_err(|e| RuntimeError::Metadata(e.to_string()))
}

fn arg(fields: &[Value], i: usize) -> Result<&Value, Invalid> {
    fields.get(i).ok_or(Invalid::BadArguments("argument count"))
}

fn u16_arg(fields: &[Value], i: usize) -> Result<u16, Invalid> {
    as_u128(arg(fields, i)?)
        .and_then(|x| u16::try_from(x).ok())
        .ok_or(Invalid::BadArguments("u16 argument"))
}

fn u64_arg(fields: &[Value], i: usize) -> Result<u64, Invalid> {
    as_u128(arg(fields, i)?)
        .and_then(|x| u64::try_from(x).ok())
        .ok_or(Invalid::BadArguments("u64 argument"))
}

fn u16s_arg(fields: &[Value], i: usize) -> Result<Vec<u16>, Invalid> {
    items(arg(fields, i)?)
        .into_iter()
        .map(|v| as_u128(v).and_then(|x| u16::try_from(x).ok()))
        .collect::<Option<_>>()
        .ok_or(Invalid::BadArguments("u16 list"))
}

fn account_arg(fields: &[Value], i: usize) -> Result<AccountId, Invalid> {
    let v = arg(fields, i)?;
    // A `MultiAddress::Id(..)` or a bare account id.
    let inner = match &v.value {
        subxt::ext::scale_value::ValueDef::Variant(var) if var.name == "Id" => var
            .values
            .values()
            .next()
            .ok_or(Invalid::BadArguments("address"))?,
        subxt::ext::scale_value::ValueDef::Variant(_) => return Err(Invalid::BadArguments("address kind")),
        _ => v,
    };
    as_bytes(inner)
        .and_then(|b| b.try_into().ok())
        .ok_or(Invalid::BadArguments("account id"))
}

fn typed_call(pallet: &str, call: &str, f: &[Value]) -> Result<Call, Invalid> {
    let unsupported = || Invalid::UnsupportedCall {
        pallet: pallet.to_owned(),
        call: call.to_owned(),
    };
    Ok(match (pallet, call) {
        ("SubtensorModule", "set_weights") => Call::SetWeights {
            netuid: u16_arg(f, 0)?,
            uids: u16s_arg(f, 1)?,
            values: u16s_arg(f, 2)?,
            version_key: u64_arg(f, 3)?,
        },
        ("SubtensorModule", "commit_weights") => Call::CommitWeights {
            netuid: u16_arg(f, 0)?,
            hash: as_bytes(arg(f, 1)?)
                .and_then(|b| b.try_into().ok())
                .ok_or(Invalid::BadArguments("hash"))?,
        },
        ("SubtensorModule", "reveal_weights") => Call::RevealWeights {
            netuid: u16_arg(f, 0)?,
            uids: u16s_arg(f, 1)?,
            values: u16s_arg(f, 2)?,
            salt: u16s_arg(f, 3)?,
            version_key: u64_arg(f, 4)?,
        },
        ("SubtensorModule", "commit_timelocked_weights") => Call::CommitTimelockedWeights {
            netuid: u16_arg(f, 0)?,
            mecid: 0,
            commit: as_bytes(arg(f, 1)?).ok_or(Invalid::BadArguments("commit"))?,
            reveal_round: u64_arg(f, 2)?,
            commit_reveal_version: u16_arg(f, 3)?,
        },
        ("SubtensorModule", "commit_timelocked_mechanism_weights") => Call::CommitTimelockedWeights {
            netuid: u16_arg(f, 0)?,
            mecid: u8::try_from(u16_arg(f, 1)?).map_err(|_| Invalid::BadArguments("mecid"))?,
            commit: as_bytes(arg(f, 2)?).ok_or(Invalid::BadArguments("commit"))?,
            reveal_round: u64_arg(f, 3)?,
            commit_reveal_version: u16_arg(f, 4)?,
        },
        ("SubtensorModule", "burned_register") => Call::BurnedRegister {
            netuid: u16_arg(f, 0)?,
            hotkey: account_arg(f, 1)?,
        },
        ("SubtensorModule", "add_stake") => Call::AddStake {
            hotkey: account_arg(f, 0)?,
            netuid: u16_arg(f, 1)?,
            amount: u64_arg(f, 2)?,
        },
        ("SubtensorModule", "serve_axon") => Call::ServeAxon {
            netuid: u16_arg(f, 0)?,
            version: u32::try_from(u64_arg(f, 1)?).map_err(|_| Invalid::BadArguments("version"))?,
            ip: as_u128(arg(f, 2)?).ok_or(Invalid::BadArguments("ip"))?,
            port: u16_arg(f, 3)?,
            ip_type: u8::try_from(u16_arg(f, 4)?).map_err(|_| Invalid::BadArguments("ip_type"))?,
            protocol: u8::try_from(u16_arg(f, 5)?).map_err(|_| Invalid::BadArguments("protocol"))?,
        },
        ("Commitments", "set_commitment") => {
            use subxt::dynamic::At;
            let info = arg(f, 1)?;
            let list = info
                .at("fields")
                .ok_or(Invalid::BadArguments("commitment fields"))?;
            let mut fields = Vec::new();
            let mut sealed = Vec::new();
            for field in items(list) {
                let subxt::ext::scale_value::ValueDef::Variant(var) = &field.value else {
                    return Err(Invalid::BadArguments("commitment field"));
                };
                let bytes = match var.values.values().next() {
                    Some(inner) => as_bytes(inner).ok_or(Invalid::BadArguments("commitment bytes"))?,
                    None => Vec::new(),
                };
                if var.name == "TimelockEncrypted" {
                    use subxt::dynamic::At;
                    let ciphertext = field
                        .at("encrypted")
                        .and_then(as_bytes)
                        .ok_or(Invalid::BadArguments("timelocked commitment"))?;
                    let round = field
                        .at("reveal_round")
                        .and_then(as_u128)
                        .and_then(|r| u64::try_from(r).ok())
                        .ok_or(Invalid::BadArguments("reveal round"))?;
                    sealed.push((ciphertext, round));
                } else if var.name.starts_with("Raw") {
                    fields.push(bytes);
                } else if var.name != "None" {
                    return Err(Invalid::UnsupportedCall {
                        pallet: pallet.into(),
                        call: format!("{call} with {}", var.name),
                    });
                }
            }
            Call::SetCommitment {
                netuid: u16_arg(f, 0)?,
                fields,
                sealed,
            }
        }
        ("Balances", "transfer_keep_alive" | "transfer_allow_death") => Call::Transfer {
            dest: account_arg(f, 0)?,
            value: as_u128(arg(f, 1)?).ok_or(Invalid::BadArguments("value"))?,
        },
        ("AdminUtils", admin) => {
            let netuid = u16_arg(f, 0)?;
            let param = match admin {
                "sudo_set_tempo" => Param::Tempo(u16_arg(f, 1)?),
                "sudo_set_weights_set_rate_limit" => Param::WeightsSetRateLimit(u64_arg(f, 1)?),
                "sudo_set_weights_version_key" => Param::WeightsVersionKey(u64_arg(f, 1)?),
                "sudo_set_commit_reveal_weights_enabled" => {
                    Param::CommitRevealWeightsEnabled(u64_arg(f, 1)? != 0)
                }
                "sudo_set_min_allowed_weights" => Param::MinAllowedWeights(u16_arg(f, 1)?),
                "sudo_set_max_allowed_uids" => Param::MaxAllowedUids(u16_arg(f, 1)?),
                "sudo_set_immunity_period" => Param::ImmunityPeriod(u16_arg(f, 1)?),
                _ => return Err(unsupported()),
            };
            Call::SetParam { netuid, param }
        }
        _ => return Err(unsupported()),
    })
}

/// The SCALE header and its hash (Blake2-256 of the header, as Substrate hashes blocks).
pub fn header(
    parent: [u8; 32],
    number: u64,
    state_root: [u8; 32],
    extrinsics_root: [u8; 32],
) -> (Vec<u8>, [u8; 32]) {
    let number = u32::try_from(number).unwrap_or(u32::MAX);
    let bytes = (
        H256(parent),
        Compact(number),
        H256(state_root),
        H256(extrinsics_root),
        Compact(0u32),
    )
        .encode();
    let hash = sp_crypto_hashing::blake2_256(&bytes);
    (bytes, hash)
}

/// The account id a `system_accountNextIndex` caller names (SS58 or hex).
pub fn parse_account(s: &str) -> Option<AccountId> {
    if let Some(hex_str) = s.strip_prefix("0x") {
        let mut out = [0u8; 32];
        return hex::decode_to_slice(hex_str, &mut out).ok().map(|_| out);
    }
    s.parse::<AccountId32>().ok().map(|a| a.0)
}
