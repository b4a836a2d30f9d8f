//! Proof that the dialogue score measures something: one tiny architecture trained from scratch
//! for 0, N and 4N steps (a quality ladder whose order is known) must be ordered by held-out
//! bits per byte on every epoch seed tried.
//!
//! Split: every fourth bundled dialogue (`kd-001`, `kd-005`, …; 16 of 64) is held out and is the
//! only set the score draws from; the model trains on the other 48. The rungs come from one run
//! checkpointed at 0, N and 4N steps, which equals three separate runs because the learning rate
//! is constant. Each rung is written as a package and read back from disk, so the test also
//! covers the trainer's tensor names and shapes against Kindred's own forward.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use kindred_scoring::config::{Architecture, ConfigBounds, ModelConfig};
use kindred_scoring::dialogue::{self, Dialogue};
use kindred_scoring::finetune::{Corpus, FinetuneSettings, Trainer};
use kindred_scoring::suites;
use kindred_scoring::template::{ChatTemplate, TemplateLimits};
use kindred_scoring::tiny::TinySpec;
use kindred_scoring::{CausalLm, Competition};

/// Steps of the middle rung; the top rung trains four times as long.
const N: usize = 30;
const EPOCH_SEEDS: [&[u8]; 4] = [
    b"ladder-epoch-1",
    b"ladder-epoch-2",
    b"ladder-epoch-3",
    b"ladder-epoch-4",
];
/// Held-out units scored per epoch seed.
const UNITS: usize = 6;

fn split() -> (Vec<Dialogue>, Vec<Dialogue>) {
    let all = suites::dialogues().expect("bundled dialogues");
    let (mut train, mut held_out) = (Vec::new(), Vec::new());
    for (i, d) in all.into_iter().enumerate() {
        if i % 4 == 0 {
            held_out.push(d)
        } else {
            train.push(d)
        }
    }
    (train, held_out)
}

/// Reads a package back the way a validator would load it (minus the sandboxed template
/// probe, which `miner`'s own tests run): config, weights, tokenizer, template.
fn load(dir: &Path) -> (CausalLm, tokenizers::Tokenizer, ChatTemplate) {
    let cfg = ModelConfig::parse(
        &std::fs::read(dir.join("config.json")).expect("config"),
        &ConfigBounds::default(),
    )
    .expect("config parses");
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights");
    let expected: Vec<String> = cfg.expected_tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(tensors.len(), expected.len(), "exactly the expected tensors");
    let model = CausalLm::from_tensors(
        &cfg,
        tensors,
        Competition::dev().max_context,
        candle_core::DType::F32,
        &Device::Cpu,
    )
    .expect("Kindred's forward loads the trained tensors");
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let template = ChatTemplate::from_tokenizer_config(
        &std::fs::read(dir.join("tokenizer_config.json")).expect("tokenizer config"),
    )
    .expect("template");
    (model, tokenizer, template)
}

/// Held-out bits per byte of a model on the units `seed` draws.
fn held_out_bpb(
    (model, tokenizer, template): &(CausalLm, tokenizers::Tokenizer, ChatTemplate),
    held_out: &[Dialogue],
    seed: &[u8],
) -> f64 {
    let units = dialogue::epoch_units(held_out, seed, UNITS);
    let rendered: Vec<String> = units
        .iter()
        .map(|u| {
            template
                .render(&u.context, &TemplateLimits::default())
                .expect("render")
        })
        .collect();
    let mut requests = dialogue::requests(tokenizer, &rendered, &units).expect("tokenise");
    for r in &mut requests {
        // As the evaluation does: drop context from the left, never the reply.
        let cut = r.tokens.len().saturating_sub(model.max_positions());
        r.tokens.drain(..cut);
        r.target_start -= cut;
    }
    let plan = dialogue::plan_batches(&requests, 8);
    let sums = dialogue::score_requests(model, &requests, &plan).expect("score");
    let bytes: usize = units.iter().map(|u| u.reply.len()).sum();
    dialogue::bits_per_byte(sums.iter().sum(), bytes)
}

#[test]
fn held_out_score_orders_a_ladder_of_training_steps() {
    let started = Instant::now();
    let (train, held_out) = split();
    assert_eq!((train.len(), held_out.len()), (48, 16));
    let held_ids: Vec<&str> = held_out.iter().map(|d| d.id.as_str()).collect();
    assert!(
        train.iter().all(|d| !held_ids.contains(&d.id.as_str())),
        "disjoint split"
    );

    let spec = TinySpec::new(Architecture::Llama, 11);
    let settings = FinetuneSettings {
        steps: 4 * N,
        batch_size: 8,
        seq_len: 128,
        learning_rate: 3e-3,
        weight_decay: 0.01,
        seed: 7,
    };
    let mut trainer = Trainer::from_scratch(&spec, &Corpus::Dialogues(train), &settings).expect("trainer");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut rungs = Vec::new();
    for target in [0, N, 4 * N] {
        while trainer.steps_done() < target {
            trainer.step().expect("step");
        }
        let dir = tmp.path().join(format!("rung-{target}"));
        trainer.save(&dir).expect("save");
        rungs.push(load(&dir));
    }
    let trained = started.elapsed();

    let mut table = Vec::new();
    for seed in EPOCH_SEEDS {
        let bpb: Vec<f64> = rungs
            .iter()
            .map(|rung| held_out_bpb(rung, &held_out, seed))
            .collect();
        eprintln!(
            "seed {:<16} bpb: 0 steps {:.4} | {N} steps {:.4} | {} steps {:.4}",
            String::from_utf8_lossy(seed),
            bpb[0],
            bpb[1],
            4 * N,
            bpb[2]
        );
        table.push(bpb);
    }
    eprintln!(
        "training {:.1}s, whole test {:.1}s",
        trained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (seed, bpb) in EPOCH_SEEDS.iter().zip(&table) {
        assert!(
            bpb[2] < bpb[1] && bpb[1] < bpb[0],
            "seed {}: {bpb:?} is not ordered 4N < N < 0",
            String::from_utf8_lossy(seed)
        );
    }
}
