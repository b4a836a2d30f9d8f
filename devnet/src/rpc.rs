//! The devnet's JSON-RPC surface: the legacy Substrate methods subxt's legacy backend and the
//! Python SDK call, over WebSocket and HTTP on one port.

use std::sync::Arc;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

use super::node::{BlockRecord, Node, TxUpdate, hex0x};
use super::runtime::parse_account;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn invalid_params(why: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, "Invalid params", Some(why.into()))
}

fn state_error(why: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(4003, "Client error", Some(why.into()))
}

fn decode_hex(s: &str) -> RpcResult<Vec<u8>> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| invalid_params(format!("`{s}` is not hex")))
}

fn hash_param(v: Option<&Json>) -> RpcResult<Option<[u8; 32]>> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => {
            let bytes = decode_hex(s)?;
            bytes
                .try_into()
                .map(Some)
                .map_err(|_| invalid_params("block hash must be 32 bytes"))
        }
        Some(_) => Err(invalid_params("block hash must be a hex string")),
    }
}

fn positional(params: &Params<'_>) -> RpcResult<Vec<Json>> {
    if params.is_object() {
        return Err(invalid_params("positional parameters expected"));
    }
    Ok(params.parse::<Option<Vec<Json>>>()?.unwrap_or_default())
}

/// The block a query names (`at` hash), or the best block.
fn block_at(node: &Node, at: Option<&Json>) -> RpcResult<BlockRecord> {
    match hash_param(at)? {
        None => Ok(node.best()),
        Some(h) => node
            .block_by_hash(&h)
            .ok_or_else(|| state_error(format!("unknown block {}", hex0x(&h)))),
    }
}

fn storage_at(node: &Node, at: Option<&Json>) -> RpcResult<super::node::Storage> {
    let block = block_at(node, at)?;
    block
        .storage
        .ok_or_else(|| state_error("State already discarded for this block"))
}

const METHODS: &[&str] = &[
    "author_submitAndWatchExtrinsic",
    "author_submitExtrinsic",
    "author_unwatchExtrinsic",
    "chain_getBlock",
    "chain_getBlockHash",
    "chain_getFinalizedHead",
    "chain_getHead",
    "chain_getHeader",
    "chain_subscribeAllHeads",
    "chain_subscribeFinalizedHeads",
    "chain_subscribeNewHeads",
    "chain_unsubscribeAllHeads",
    "chain_unsubscribeFinalizedHeads",
    "chain_unsubscribeNewHeads",
    "payment_queryInfo",
    "rpc_methods",
    "state_call",
    "state_getKeysPaged",
    "state_getMetadata",
    "state_getRuntimeVersion",
    "state_getStorage",
    "state_getStorageAt",
    "state_queryStorageAt",
    "system_accountNextIndex",
    "account_nextIndex",
    "system_chain",
    "system_chainType",
    "system_health",
    "system_name",
    "system_properties",
    "system_version",
];

pub fn module(node: Arc<Node>) -> Result<RpcModule<Arc<Node>>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(node);

    m.register_method(
        "rpc_methods",
        |_, _, _| json!({ "version": 1, "methods": METHODS }),
    )?;
    m.register_method("system_chain", |_, _, _| "Kindred Devnet")?;
    m.register_method("system_name", |_, _, _| "kindred-devnet")?;
    m.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;
    m.register_method("system_chainType", |_, _, _| "Development")?;
    m.register_method(
        "system_health",
        |_, _, _| json!({ "peers": 0, "isSyncing": false, "shouldHavePeers": false }),
    )?;
    m.register_method(
        "system_properties",
        |_, _, _| json!({ "ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO" }),
    )?;
    m.register_method("system_accountNextIndex", |p, node, _| -> RpcResult<u32> {
        let args = positional(&p)?;
        let who = args
            .first()
            .and_then(Json::as_str)
            .and_then(parse_account)
            .ok_or_else(|| invalid_params("account"))?;
        Ok(node.next_nonce(&who))
    })?;

    // Substrate registers these under both names; the Python SDK uses the short ones.
    m.register_alias("account_nextIndex", "system_accountNextIndex")?;

    m.register_method("chain_getBlockHash", |p, node, _| -> RpcResult<Json> {
        let args = positional(&p)?;
        let number = match args.first() {
            None | Some(Json::Null) => return Ok(Json::String(hex0x(&node.best().hash))),
            Some(Json::Number(n)) => n.as_u64(),
            Some(Json::String(s)) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
            Some(_) => None,
        }
        .ok_or_else(|| invalid_params("block number"))?;
        Ok(node
            .block_by_number(number)
            .map(|b| Json::String(hex0x(&b.hash)))
            .unwrap_or(Json::Null))
    })?;
    m.register_method("chain_getFinalizedHead", |_, node, _| hex0x(&node.best().hash))?;
    m.register_method("chain_getHead", |_, node, _| hex0x(&node.best().hash))?;
    m.register_method("chain_getHeader", |p, node, _| -> RpcResult<Json> {
        let args = positional(&p)?;
        Ok(match hash_param(args.first())? {
            None => node.best().header_json(),
            Some(h) => node
                .block_by_hash(&h)
                .map(|b| b.header_json())
                .unwrap_or(Json::Null),
        })
    })?;
    m.register_method("chain_getBlock", |p, node, _| -> RpcResult<Json> {
        let args = positional(&p)?;
        let block = match hash_param(args.first())? {
            None => Some(node.best()),
            Some(h) => node.block_by_hash(&h),
        };
        Ok(match block {
            None => Json::Null,
            Some(b) => json!({
                "block": {
                    "header": b.header_json(),
                    "extrinsics": b.extrinsics.iter().map(|x| hex0x(x)).collect::<Vec<_>>(),
                },
                "justifications": null,
            }),
        })
    })?;

    m.register_method("state_getMetadata", |p, node, _| -> RpcResult<String> {
        let args = positional(&p)?;
        block_at(node, args.first())?;
        Ok(hex0x(node.runtime.legacy_metadata()))
    })?;
    m.register_method("state_getRuntimeVersion", |p, node, _| -> RpcResult<Json> {
        let args = positional(&p)?;
        block_at(node, args.first())?;
        Ok(node.runtime.runtime_version_json())
    })?;
    m.register_method("state_call", |p, node, _| -> RpcResult<String> {
        let args = positional(&p)?;
        let name = args
            .first()
            .and_then(Json::as_str)
            .ok_or_else(|| invalid_params("method name"))?;
        let data = decode_hex(args.get(1).and_then(Json::as_str).unwrap_or("0x"))?;
        block_at(node, args.get(2))?;
        let out = node.call_api(name, &data).map_err(|e| {
            ErrorObjectOwned::owned(4003, "Client error", Some(format!("Execution failed: {e}")))
        })?;
        Ok(hex0x(&out))
    })?;
    m.register_method("state_getStorage", |p, node, _| -> RpcResult<Option<String>> {
        let args = positional(&p)?;
        let key = decode_hex(
            args.first()
                .and_then(Json::as_str)
                .ok_or_else(|| invalid_params("storage key"))?,
        )?;
        let storage = storage_at(node, args.get(1))?;
        Ok(storage.get(&key).map(|v| hex0x(v)))
    })?;
    m.register_alias("state_getStorageAt", "state_getStorage")?;
    m.register_method("state_getKeysPaged", |p, node, _| -> RpcResult<Vec<String>> {
        let args = positional(&p)?;
        let prefix = decode_hex(args.first().and_then(Json::as_str).unwrap_or("0x"))?;
        let count = args
            .get(1)
            .and_then(Json::as_u64)
            .ok_or_else(|| invalid_params("count"))?;
        let start = match args.get(2) {
            Some(Json::String(s)) => Some(decode_hex(s)?),
            _ => None,
        };
        let storage = storage_at(node, args.get(3))?;
        let from = start.clone().unwrap_or_else(|| prefix.clone());
        Ok(storage
            .range(from..)
            .map(|(k, _)| k)
            .filter(|k| Some(*k) != start.as_ref())
            .take_while(|k| k.starts_with(&prefix))
            .take(usize::try_from(count.min(1000)).unwrap_or(1000))
            .map(|k| hex0x(k))
            .collect())
    })?;
    m.register_method("state_queryStorageAt", |p, node, _| -> RpcResult<Json> {
        let args = positional(&p)?;
        let keys = args
            .first()
            .and_then(Json::as_array)
            .ok_or_else(|| invalid_params("keys"))?;
        let block = block_at(node, args.get(1))?;
        let storage = block
            .storage
            .clone()
            .ok_or_else(|| state_error("State already discarded for this block"))?;
        let mut changes = Vec::new();
        for k in keys {
            let key = decode_hex(k.as_str().ok_or_else(|| invalid_params("key"))?)?;
            changes.push(json!([hex0x(&key), storage.get(&key).map(|v| hex0x(v))]));
        }
        Ok(json!([{ "block": hex0x(&block.hash), "changes": changes }]))
    })?;
    m.register_method("payment_queryInfo", |_, _, _| {
        json!({ "weight": { "ref_time": 0, "proof_size": 0 }, "class": "normal", "partialFee": "0" })
    })?;

    m.register_method("author_submitExtrinsic", |p, node, _| -> RpcResult<String> {
        let args = positional(&p)?;
        let bytes = decode_hex(
            args.first()
                .and_then(Json::as_str)
                .ok_or_else(|| invalid_params("extrinsic"))?,
        )?;
        node.submit(&bytes, None).map(|h| hex0x(&h)).map_err(pool_error)
    })?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |p, pending: PendingSubscriptionSink, node, _| async move {
            let args = match positional(&p) {
                Ok(a) => a,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let bytes = match args.first().and_then(Json::as_str).map(decode_hex) {
                Some(Ok(b)) => b,
                _ => {
                    pending.reject(invalid_params("extrinsic")).await;
                    return Ok(());
                }
            };
            let (tx, mut rx) = mpsc::unbounded_channel();
            if let Err(e) = node.submit(&bytes, Some(tx)) {
                pending.reject(pool_error(e)).await;
                return Ok(());
            }
            let sink = pending.accept().await?;
            sink.send(serde_json::value::to_raw_value(&json!("ready"))?)
                .await?;
            while let Some(update) = rx.recv().await {
                let msg = match update {
                    TxUpdate::InBlock(h) => json!({ "inBlock": hex0x(&h) }),
                    TxUpdate::Finalized(h) => json!({ "finalized": hex0x(&h) }),
                };
                sink.send(serde_json::value::to_raw_value(&msg)?).await?;
                if matches!(update, TxUpdate::Finalized(_)) {
                    break;
                }
            }
            SubscriptionResult::Ok(())
        },
    )?;

    for (sub, notif, unsub) in [
        (
            "chain_subscribeNewHeads",
            "chain_newHead",
            "chain_unsubscribeNewHeads",
        ),
        (
            "chain_subscribeAllHeads",
            "chain_allHead",
            "chain_unsubscribeAllHeads",
        ),
        (
            "chain_subscribeFinalizedHeads",
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
        ),
    ] {
        m.register_subscription(
            sub,
            notif,
            unsub,
            |_, pending: PendingSubscriptionSink, node, _| async move {
                let mut heads = node.heads.subscribe();
                let sink = pending.accept().await?;
                let best = node.best();
                sink.send(serde_json::value::to_raw_value(&best.header_json())?)
                    .await?;
                // A block made between subscribing and reading the best one is both the best
                // block and queued: send each head once.
                let mut sent = best.number;
                loop {
                    match heads.recv().await {
                        Ok(block) if block.number <= sent => continue,
                        Ok(block) => {
                            sent = block.number;
                            sink.send(serde_json::value::to_raw_value(&block.header_json())?)
                                .await?
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
                SubscriptionResult::Ok(())
            },
        )?;
    }
    Ok(m)
}

fn pool_error(e: super::runtime::Invalid) -> ErrorObjectOwned {
    let (code, message, data) = e.rpc_error();
    ErrorObjectOwned::owned(code, message, Some(data))
}
