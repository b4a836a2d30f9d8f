//! `leaderboard-bench`: requests per second and latency of the validator's `GET /leaderboard` on
//! loopback, with a store holding a few hundred miners (each with a scored submission, a full
//! evaluation record and a weight), and the load generated in the same process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kindred_validator::api::{self, ApiState};
use kindred_validator::metrics::Metrics;
use kindred_validator::store::{NeuronRow, NewSubmission, ParsedCommitment, Store};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(about = "Leaderboard API throughput and p99 latency on loopback")]
struct Args {
    /// Miners in the store.
    #[arg(long, env = "KINDRED_BENCH_MINERS", default_value_t = 256)]
    miners: u16,
    /// Concurrent client connections.
    #[arg(long, env = "KINDRED_BENCH_CONNECTIONS", default_value_t = 32)]
    connections: usize,
    /// Send `Accept-Encoding: gzip`, as browsers do, and take the compressed body (the
    /// generator reads it without decompressing, as load tools do).
    #[arg(long, env = "KINDRED_BENCH_GZIP")]
    gzip: bool,
    /// Seconds of load.
    #[arg(long, env = "KINDRED_BENCH_SECS", default_value_t = 5)]
    secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("bench.sqlite").display().to_string()).await?;
    let mut neurons = Vec::new();
    let samples: Vec<f64> = (0..51).map(|i| f64::from(i) / 51.0).collect();
    for uid in 0..args.miners {
        let hotkey = format!("5Bench{uid:0>42}");
        neurons.push(NeuronRow {
            uid,
            hotkey: hotkey.clone(),
            incentive: 1.0 / f64::from(args.miners),
            stake: 0,
        });
        let id = store
            .add_submission(
                &NewSubmission {
                    hotkey,
                    uid,
                    registered_at: 1,
                    commit_block: 10 + u64::from(uid),
                    commitment: format!("k1:small:hf:org/model-{uid}:rev:hash"),
                    parsed: Some(ParsedCommitment {
                        competition: "small".into(),
                        hub: "hf".into(),
                        repo: format!("org/model-{uid}"),
                        revision: format!("{uid:0>40}"),
                        hash: "00".repeat(16),
                    }),
                    seen_block: 20,
                },
                None,
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("duplicate"))?;
        let total = f64::from(uid % 97) / 97.0;
        let detail = serde_json::json!({
            "total": total, "eq_score": 50.0, "dialogue_bpb": 1.3, "dialogue_score": 0.4,
            "gates": [{"name": "degeneration", "passed": true, "detail": ""}],
            "eq_items": 32, "dialogue_units": 48, "samples": samples, "seed_hex": "ab".repeat(32), "spec_version": 1
        });
        store
            .record_evaluation(id, &"ab".repeat(32), 1, total, &detail, 30, "bench")
            .await?;
    }
    store.set_neurons(&neurons, 40).await?;
    let weights: Vec<(u16, u16)> = (0..args.miners).map(|u| (u, 1 + u)).collect();
    let w = store.begin_weights(41, "set", &weights, 1, None).await?;
    store
        .finish_weights(
            w,
            kindred_validator::store::WeightOutcome::Included,
            "set",
            Some(42),
        )
        .await?;

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let state = ApiState::new(store.clone(), Arc::new(Metrics::new()));
    tokio::spawn(api::serve(listener, state, cancel.clone()));
    let url = format!("http://{addr}/leaderboard");
    let body = reqwest::get(&url).await?.bytes().await?;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
    anyhow::ensure!(rows.len() == usize::from(args.miners), "{} rows", rows.len());

    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let url = url.clone();
        let gzip = args.gzip;
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut request = client.get(&url);
                if gzip {
                    request = request.header("accept-encoding", "gzip");
                }
                let r = request.send().await?;
                anyhow::ensure!(r.status().is_success(), "status {}", r.status());
                anyhow::ensure!(
                    !gzip || r.headers().get("content-encoding").is_some_and(|v| v == "gzip"),
                    "asked for gzip, got {:?}",
                    r.headers().get("content-encoding")
                );
                r.bytes().await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    cancel.cancel();
    latencies.sort_unstable();
    let pct = |p: usize| {
        latencies
            .get(latencies.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    };
    println!(
        "leaderboard: {} miners ({} KiB of JSON{}), {} connections for {} s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms (load generator in the same process)",
        args.miners,
        body.len() / 1024,
        if args.gzip { ", sent gzipped" } else { "" },
        args.connections,
        args.secs,
        latencies.len() as f64 / args.secs as f64,
        pct(50),
        pct(99),
    );
    Ok(())
}
