//! `devnet-bench`: the devnet's sustained throughput over loopback WebSocket JSON-RPC.
//!
//! - Signed extrinsics per second: transfers pre-signed with consecutive nonces (signing is timed
//!   apart), submitted with `author_submitExtrinsic` from several connections, counted until the
//!   last one is in a block (decode, sr25519 check, nonce and era checks, inclusion).
//! - Metagraph reads per second: Kindred's client reading the whole metagraph (the selective
//!   runtime API) from several tasks at once, with the subnet full of neurons.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use kindred_chain::subnet::Netuid;
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, Network};
use kindred_devnet::{Devnet, DevnetConfig, Spawned};
use subxt::dynamic::Value;
use subxt::rpcs::{RpcClient, rpc_params};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(about = "Devnet throughput: signed extrinsics/s and metagraph reads/s on loopback")]
struct Args {
    /// Transfers to submit.
    #[arg(long, env = "KINDRED_BENCH_TRANSACTIONS", default_value_t = 2000)]
    transactions: u32,
    /// Accounts (and connections) submitting them, at most the six dev accounts.
    #[arg(long, env = "KINDRED_BENCH_SUBMITTERS", default_value_t = 4)]
    submitters: usize,
    /// Milliseconds between blocks.
    #[arg(long, env = "KINDRED_BENCH_BLOCK_MS", default_value_t = 100)]
    block_ms: u64,
    /// Neurons registered before the metagraph reads.
    #[arg(long, env = "KINDRED_BENCH_NEURONS", default_value_t = 64)]
    neurons: u32,
    /// Concurrent metagraph readers, and how long they read.
    #[arg(long, env = "KINDRED_BENCH_READERS", default_value_t = 4)]
    readers: usize,
    #[arg(long, env = "KINDRED_BENCH_READ_SECS", default_value_t = 5)]
    read_secs: u64,
}

const NET: Netuid = Netuid(1);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let devnet = Devnet::bind(DevnetConfig::on_any_port(Duration::from_millis(args.block_ms))).await?;
    let cancel = CancellationToken::new();
    let Spawned { url, node, .. } = devnet.spawn(cancel.clone());

    // Transfers pre-signed by each submitter (one dev account each, nonces 0..), so every
    // connection sends its own nonce sequence in order while the connections run side by side.
    let names = &kindred_devnet::DEV_ACCOUNTS[..args.submitters.clamp(1, 6)];
    let signers: Vec<Signer> = names.iter().filter_map(|n| Signer::dev(n)).collect();
    let dest = sp_crypto_hashing::blake2_256(b"bench-destination");
    let client = subxt::OnlineClient::<subxt::SubstrateConfig>::from_insecure_url(&url).await?;
    let at = client.at_current_block().await?;
    let per_signer = args.transactions.div_ceil(signers.len() as u32);
    let signing = Instant::now();
    let mut batches: Vec<Vec<String>> = Vec::new();
    for signer in &signers {
        let first = node.next_nonce(&signer.public());
        let mut batch = Vec::with_capacity(per_signer as usize);
        for nonce in first..first + per_signer {
            let call = subxt::dynamic::transaction(
                "Balances",
                "transfer_keep_alive",
                vec![
                    Value::unnamed_variant("Id", [Value::from_bytes(dest)]),
                    Value::u128(1),
                ],
            );
            let params = subxt::config::DefaultExtrinsicParamsBuilder::<subxt::SubstrateConfig>::new()
                .nonce(u64::from(nonce))
                .build();
            let mut signable = at.transactions().create_signable_offline(&call, params)?;
            let signature = subxt::utils::MultiSignature::Sr25519(signer.sign(&signable.signer_payload()?));
            let account = signer.keypair().public_key().to_account_id();
            let tx = signable.sign_with_account_and_signature(&account, &signature)?;
            batch.push(format!("0x{}", hex::encode(tx.encoded())));
        }
        batches.push(batch);
    }
    let total = per_signer * signers.len() as u32;
    let signing_secs = signing.elapsed().as_secs_f64();

    let targets: Vec<([u8; 32], u32)> = signers
        .iter()
        .map(|s| (s.public(), node.next_nonce(&s.public()) + per_signer))
        .collect();
    let started = Instant::now();
    let mut submitters = Vec::new();
    for batch in batches {
        let url = url.clone();
        submitters.push(tokio::spawn(async move {
            let rpc = RpcClient::from_insecure_url(&url).await?;
            for tx in batch {
                rpc.request::<String>("author_submitExtrinsic", rpc_params![tx])
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for s in submitters {
        s.await?.context("submitting")?;
    }
    let accepted_secs = started.elapsed().as_secs_f64();
    while !targets
        .iter()
        .all(|(who, nonce)| node.with_state(|s| s.nonce(who)) >= *nonce)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let included_secs = started.elapsed().as_secs_f64();
    println!(
        "devnet extrinsics: {total} signed transfers from {} accounts; signing {:.0}/s (client side); pool accepted {:.0}/s; all in blocks after {:.2} s: {:.0} extrinsics/s sustained ({} ms blocks)",
        signers.len(),
        f64::from(total) / signing_secs,
        f64::from(total) / accepted_secs,
        included_secs,
        f64::from(total) / included_secs,
        args.block_ms,
    );

    // A subnet full of neurons, then metagraph reads.
    let chain = Subtensor::connect(&Network::Url(url.clone())).await?;
    let mut registered = 0;
    for i in 0..args.neurons {
        let hotkey = sp_crypto_hashing::blake2_256(format!("bench-hotkey-{i}").as_bytes());
        let payer = &signers[i as usize % signers.len()];
        chain.submit(payer, &calls::burned_register(NET, hotkey)).await?;
        registered += 1;
    }
    let metagraph = chain.metagraph(NET).await?;
    anyhow::ensure!(
        usize::from(metagraph.n()) == registered as usize,
        "{} neurons, expected {registered}",
        metagraph.n()
    );
    let reads = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.read_secs);
    let mut readers = Vec::new();
    for _ in 0..args.readers.max(1) {
        let (url, reads) = (url.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let chain = Subtensor::connect(&Network::Url(url)).await?;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                chain.metagraph(NET).await?;
                latencies.push(t.elapsed());
                reads.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for r in readers {
        latencies.extend(r.await??);
    }
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    let total = reads.load(Ordering::Relaxed);
    println!(
        "devnet metagraph reads: {total} full reads of {registered} neurons by {} clients in {} s: {:.0} reads/s, p99 {:.1} ms",
        args.readers,
        args.read_secs,
        total as f64 / args.read_secs as f64,
        p99.as_secs_f64() * 1e3
    );
    cancel.cancel();
    Ok(())
}
