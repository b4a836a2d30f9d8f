//! Reading a subnet's metagraph: one `SubnetInfoRuntimeApi_get_selective_metagraph` call asking
//! only for the fields Kindred uses, or plain storage reads where a node lacks that API.
//!
//! The selective API numbers its fields by their position in the `SelectiveMetagraph` struct; the
//! positions are read from the node's own metadata rather than hard-coded, so a runtime that adds
//! fields does not shift what we ask for.

use std::net::{Ipv4Addr, Ipv6Addr};

use scale_decode::DecodeAsType;
use scale_info::TypeDef;
use subxt::client::{ClientAtBlock, OnlineClient, OnlineClientAtBlockImpl};
use subxt::config::SubstrateConfig;
use subxt::metadata::Metadata;
use subxt::utils::AccountId32;

use super::{classify, unexpected};
use crate::account::{Coldkey, Hotkey};
use crate::error::ChainError;
use crate::subnet::{Axon, Block, Metagraph, Netuid, Neuron, Uid};

type AtBlock = ClientAtBlock<SubstrateConfig, OnlineClientAtBlockImpl<SubstrateConfig>>;

/// The `SelectiveMetagraph` fields Kindred reads, by name.
pub(crate) const FIELDS: [&str; 8] = [
    "hotkeys",
    "coldkeys",
    "axons",
    "validator_permit",
    "last_update",
    "incentives",
    "block_at_registration",
    "alpha_stake",
];

#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "scale_decode")]
pub(crate) struct AxonInfo {
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
}

impl AxonInfo {
    fn to_axon(&self) -> Option<Axon> {
        let ip = match self.ip_type {
            _ if self.ip == 0 => return None,
            4 => Ipv4Addr::from(u32::try_from(self.ip).ok()?).to_string(),
            6 => Ipv6Addr::from(self.ip).to_string(),
            _ => return None,
        };
        Some(Axon { ip, port: self.port })
    }
}

/// The part of subtensor's `SelectiveMetagraph` Kindred asks for; every field is `None` unless
/// requested.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "scale_decode")]
pub(crate) struct SelectiveMetagraph {
    pub hotkeys: Option<Vec<AccountId32>>,
    pub coldkeys: Option<Vec<AccountId32>>,
    pub axons: Option<Vec<AxonInfo>>,
    pub validator_permit: Option<Vec<bool>>,
    pub last_update: Option<Vec<u64>>,
    pub incentives: Option<Vec<u16>>,
    pub block_at_registration: Option<Vec<u64>>,
    pub alpha_stake: Option<Vec<u64>>,
}

/// Positions of [`FIELDS`] in the node's `SelectiveMetagraph`, or `None` if the node has no such
/// runtime API (or a shape we do not recognise).
pub(crate) fn selective_indexes(metadata: &Metadata) -> Option<Vec<u16>> {
    let method = metadata
        .runtime_api_trait_by_name("SubnetInfoRuntimeApi")?
        .method_by_name("get_selective_metagraph")?;
    let types = metadata.types();
    let TypeDef::Variant(option) = &types.resolve(method.output_ty())?.type_def else {
        return None;
    };
    let some = option.variants.iter().find(|v| v.name == "Some")?;
    let TypeDef::Composite(fields) = &types.resolve(some.fields.first()?.ty.id)?.type_def else {
        return None;
    };
    FIELDS
        .iter()
        .map(|name| {
            let pos = fields
                .fields
                .iter()
                .position(|f| f.name.as_deref() == Some(*name))?;
            u16::try_from(pos).ok()
        })
        .collect()
}

pub(crate) fn from_selective(
    netuid: Netuid,
    block: Block,
    m: SelectiveMetagraph,
) -> Result<Metagraph, ChainError> {
    let missing = |field: &'static str| ChainError::Unexpected {
        what: "selective metagraph",
        reason: format!("field `{field}` missing from the answer"),
    };
    let hotkeys = m.hotkeys.ok_or_else(|| missing("hotkeys"))?;
    let coldkeys = m.coldkeys.ok_or_else(|| missing("coldkeys"))?;
    let n = hotkeys.len();
    let at = |v: &Option<Vec<u64>>, i: usize| v.as_ref().and_then(|v| v.get(i)).copied().unwrap_or(0);
    let mut neurons = Vec::with_capacity(n);
    for (i, hotkey) in hotkeys.into_iter().enumerate() {
        let uid = Uid(u16::try_from(i).map_err(|_| missing("uid range"))?);
        neurons.push(Neuron {
            uid,
            hotkey: Hotkey(hotkey.0),
            coldkey: coldkeys.get(i).map(|c| Coldkey(c.0)).unwrap_or(Coldkey([0; 32])),
            stake: at(&m.alpha_stake, i),
            validator_permit: m
                .validator_permit
                .as_ref()
                .and_then(|v| v.get(i))
                .copied()
                .unwrap_or(false),
            last_update: Block(at(&m.last_update, i)),
            registered_at: Block(at(&m.block_at_registration, i)),
            incentive: m
                .incentives
                .as_ref()
                .and_then(|v| v.get(i))
                .map(|&x| f64::from(x) / f64::from(u16::MAX))
                .unwrap_or(0.0),
            axon: m
                .axons
                .as_ref()
                .and_then(|v| v.get(i))
                .and_then(AxonInfo::to_axon),
        });
    }
    Ok(Metagraph {
        netuid,
        block,
        neurons,
    })
}

pub(super) async fn read(
    url: &str,
    client: &OnlineClient<SubstrateConfig>,
    netuid: Netuid,
) -> Result<Metagraph, ChainError> {
    let at = client
        .at_current_block()
        .await
        .map_err(|e| classify(url, "metagraph", &e))?;
    let block = Block(at.block_number());
    let Some(indexes) = selective_indexes(at.metadata_ref()) else {
        return from_storage(url, &at, netuid).await;
    };
    let payload = subxt::dynamic::runtime_api_call::<_, Option<SelectiveMetagraph>>(
        "SubnetInfoRuntimeApi",
        "get_selective_metagraph",
        (netuid.0, indexes),
    );
    let answer = at
        .runtime_apis()
        .call(payload)
        .await
        .map_err(|e| classify(url, "metagraph", &e))?;
    let metagraph = answer.ok_or(ChainError::NoSuchSubnet(netuid))?;
    from_selective(netuid, block, metagraph)
}

/// The same metagraph from storage items, for nodes without the selective runtime API.
async fn from_storage(url: &str, at: &AtBlock, netuid: Netuid) -> Result<Metagraph, ChainError> {
    let block = Block(at.block_number());
    let storage = at.storage();
    let err = |what: &'static str| move |e: subxt::error::StorageError| classify(url, what, &e);
    let added = storage
        .fetch(
            subxt::dynamic::storage::<(u16,), bool>("SubtensorModule", "NetworksAdded"),
            (netuid.0,),
        )
        .await
        .map_err(err("NetworksAdded"))?
        .decode()
        .map_err(|e| unexpected("NetworksAdded", &e))?;
    if !added {
        return Err(ChainError::NoSuchSubnet(netuid));
    }
    async fn vector<T: DecodeAsType>(
        storage: &subxt::storage::StorageClient<
            '_,
            SubstrateConfig,
            subxt::client::OnlineClientAtBlockImpl<SubstrateConfig>,
        >,
        url: &str,
        entry: &'static str,
        netuid: Netuid,
    ) -> Result<Vec<T>, ChainError> {
        storage
            .fetch(
                subxt::dynamic::storage::<(u16,), Vec<T>>("SubtensorModule", entry),
                (netuid.0,),
            )
            .await
            .map_err(|e| classify(url, entry, &e))?
            .decode()
            .map_err(|e| unexpected(entry, &e))
    }
    let permits: Vec<bool> = vector(&storage, url, "ValidatorPermit", netuid).await?;
    let last_update: Vec<u64> = vector(&storage, url, "LastUpdate", netuid).await?;
    let incentives: Vec<u16> = vector(&storage, url, "Incentive", netuid).await?;

    let mut keys = storage
        .iter(
            subxt::dynamic::storage::<(u16, u16), AccountId32>("SubtensorModule", "Keys"),
            (netuid.0,),
        )
        .await
        .map_err(err("Keys"))?;
    let mut neurons = Vec::new();
    while let Some(entry) = keys.next().await {
        let entry = entry.map_err(err("Keys"))?;
        let key = entry.key().map_err(|e| unexpected("Keys key", &e))?;
        let uid = key
            .part(1)
            .and_then(|p| p.decode_as::<u16>().ok().flatten())
            .ok_or(ChainError::Unexpected {
                what: "Keys",
                reason: "no uid in key".into(),
            })?;
        let hotkey: AccountId32 = entry.value().decode().map_err(|e| unexpected("Keys", &e))?;
        let i = usize::from(uid);
        let coldkey: AccountId32 = storage
            .fetch(
                subxt::dynamic::storage::<(AccountId32,), AccountId32>("SubtensorModule", "Owner"),
                (hotkey,),
            )
            .await
            .map_err(err("Owner"))?
            .decode()
            .map_err(|e| unexpected("Owner", &e))?;
        let stake: u64 = storage
            .fetch(
                subxt::dynamic::storage::<(AccountId32, u16), u64>("SubtensorModule", "TotalHotkeyAlpha"),
                (hotkey, netuid.0),
            )
            .await
            .map_err(err("TotalHotkeyAlpha"))?
            .decode()
            .map_err(|e| unexpected("TotalHotkeyAlpha", &e))?;
        let registered_at: u64 = storage
            .fetch(
                subxt::dynamic::storage::<(u16, u16), u64>("SubtensorModule", "BlockAtRegistration"),
                (netuid.0, uid),
            )
            .await
            .map_err(err("BlockAtRegistration"))?
            .decode()
            .map_err(|e| unexpected("BlockAtRegistration", &e))?;
        let axon = match storage
            .try_fetch(
                subxt::dynamic::storage::<(u16, AccountId32), AxonInfo>("SubtensorModule", "Axons"),
                (netuid.0, hotkey),
            )
            .await
            .map_err(err("Axons"))?
        {
            Some(v) => v.decode().map_err(|e| unexpected("Axons", &e))?.to_axon(),
            None => None,
        };
        neurons.push(Neuron {
            uid: Uid(uid),
            hotkey: Hotkey(hotkey.0),
            coldkey: Coldkey(coldkey.0),
            stake,
            validator_permit: permits.get(i).copied().unwrap_or(false),
            last_update: Block(last_update.get(i).copied().unwrap_or(0)),
            registered_at: Block(registered_at),
            incentive: incentives
                .get(i)
                .map(|&x| f64::from(x) / f64::from(u16::MAX))
                .unwrap_or(0.0),
            axon,
        });
    }
    neurons.sort_by_key(|n| n.uid);
    Ok(Metagraph {
        netuid,
        block,
        neurons,
    })
}

#[cfg(test)]
mod tests {
    use subxt::dynamic::Value;

    use super::*;
    use crate::values;

    fn finney() -> Metadata {
        let dir = std::env::var_os("KINDRED_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        let path = dir.join("chain/bittensor.scale");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{} missing: {e}", path.display()));
        Metadata::decode_from(&bytes).expect("Finney metadata decodes")
    }

    #[test]
    fn selective_field_positions_come_from_the_runtime() {
        // Positions in spec 424's `SelectiveMetagraph` (subtensor's `SelectiveMetagraphIndex`).
        assert_eq!(
            selective_indexes(&finney()),
            Some(vec![52, 53, 55, 57, 59, 62, 66, 67])
        );
    }

    #[test]
    fn a_finney_encoded_selective_metagraph_decodes() {
        let metadata = finney();
        let types = metadata.types();
        let method = metadata
            .runtime_api_trait_by_name("SubnetInfoRuntimeApi")
            .and_then(|t| t.method_by_name("get_selective_metagraph"))
            .expect("runtime api");
        let option_ty = method.output_ty();
        let TypeDef::Variant(option) = &types.resolve(option_ty).expect("type").type_def else {
            panic!("Option expected");
        };
        let inner_ty = option
            .variants
            .iter()
            .find(|v| v.name == "Some")
            .expect("Some")
            .fields[0]
            .ty
            .id;
        let acct = |b: u8| Value::unnamed_composite([Value::from_bytes([b; 32])]);
        let nums = |xs: &[u128]| Value::unnamed_composite(xs.iter().map(|&x| Value::u128(x)));
        let axon = |ip: u128, port: u128, ip_type: u128| {
            Value::named_composite([
                ("block", Value::u128(0)),
                ("version", Value::u128(0)),
                ("ip", Value::u128(ip)),
                ("port", Value::u128(port)),
                ("ip_type", Value::u128(ip_type)),
                ("protocol", Value::u128(0)),
                ("placeholder1", Value::u128(0)),
                ("placeholder2", Value::u128(0)),
            ])
        };
        let inner = values::composite_with(
            types,
            inner_ty,
            vec![
                (
                    "hotkeys",
                    values::some(Value::unnamed_composite([acct(1), acct(2)])),
                ),
                (
                    "coldkeys",
                    values::some(Value::unnamed_composite([acct(3), acct(4)])),
                ),
                (
                    "axons",
                    values::some(Value::unnamed_composite([
                        axon(0x7f000001, 8091, 4),
                        axon(0, 0, 0),
                    ])),
                ),
                (
                    "validator_permit",
                    values::some(Value::unnamed_composite([Value::bool(true), Value::bool(false)])),
                ),
                ("last_update", values::some(nums(&[90, 7]))),
                ("incentives", values::some(nums(&[0, 65535]))),
                ("block_at_registration", values::some(nums(&[5, 88]))),
                ("alpha_stake", values::some(nums(&[1_000_000_000, 0]))),
            ],
        )
        .expect("value");
        let bytes = values::encode(types, option_ty, &values::some(inner)).expect("encodes as Finney's type");
        let decoded = <Option<SelectiveMetagraph> as scale_decode::DecodeAsType>::decode_as_type(
            &mut &bytes[..],
            option_ty,
            types,
        )
        .expect("decodes")
        .expect("Some");
        let m = from_selective(Netuid(3), Block(100), decoded).expect("metagraph");
        assert_eq!(m.neurons.len(), 2);
        let a = &m.neurons[0];
        assert_eq!((a.hotkey.0, a.coldkey.0), ([1; 32], [3; 32]));
        assert_eq!(
            (a.stake, a.validator_permit, a.last_update, a.registered_at),
            (1_000_000_000, true, Block(90), Block(5))
        );
        assert_eq!(
            a.axon,
            Some(Axon {
                ip: "127.0.0.1".into(),
                port: 8091
            })
        );
        let b = &m.neurons[1];
        assert_eq!(
            (b.uid, b.registered_at, b.incentive, b.axon.clone()),
            (Uid(1), Block(88), 1.0, None)
        );
    }
}
