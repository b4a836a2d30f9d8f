//! Kindred's forward pass against candle-transformers' implementations on the same random
//! weights, for every allowed architecture, plus padding, determinism and KV-cache checks.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, mistral, qwen2, qwen3};
use kindred_scoring::config::{Architecture, ModelConfig};
use kindred_scoring::model::{CausalLm, ScoreRequest, argmax};
use kindred_scoring::tiny::{TinySpec, random_weights};

/// Logits of candle-transformers run on growing prefixes: row p is the next-token distribution
/// after tokens[..=p].
fn reference_logits(cfg: &ModelConfig, weights: &HashMap<String, Tensor>, tokens: &[u32]) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &dev);
    let mut hf = cfg.to_hf_json();
    hf["sliding_window"] = 4096.into();
    hf["max_window_layers"] = cfg.num_layers.into();
    hf["use_sliding_window"] = false.into();
    let hf = hf.to_string();
    let input = |p: usize| {
        Tensor::new(&tokens[..=p], &dev)
            .and_then(|t| t.unsqueeze(0))
            .expect("input")
    };
    let last = |t: Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("logits");
    let n = tokens.len();
    match cfg.architecture {
        Architecture::Llama => {
            let c: llama::LlamaConfig = serde_json::from_str(&hf).expect("llama config");
            let c = c.into_config(false);
            let m = llama::Llama::load(vb, &c).expect("load");
            (0..n)
                .map(|p| {
                    let mut cache = llama::Cache::new(false, DType::F32, &c, &dev).expect("cache");
                    last(m.forward(&input(p), 0, &mut cache).expect("forward"))
                })
                .collect()
        }
        Architecture::Mistral => {
            let c: mistral::Config = serde_json::from_str(&hf).expect("mistral config");
            let mut m = mistral::Model::new(&c, vb).expect("load");
            (0..n)
                .map(|p| {
                    m.clear_kv_cache();
                    last(m.forward(&input(p), 0).expect("forward"))
                })
                .collect()
        }
        Architecture::Qwen2 => {
            let c: qwen2::Config = serde_json::from_str(&hf).expect("qwen2 config");
            let mut m = qwen2::ModelForCausalLM::new(&c, vb).expect("load");
            (0..n)
                .map(|p| {
                    m.clear_kv_cache();
                    last(m.forward(&input(p), 0).expect("forward"))
                })
                .collect()
        }
        Architecture::Qwen3 => {
            let c: qwen3::Config = serde_json::from_str(&hf).expect("qwen3 config");
            let mut m = qwen3::ModelForCausalLM::new(&c, vb).expect("load");
            (0..n)
                .map(|p| {
                    m.clear_kv_cache();
                    last(m.forward(&input(p), 0).expect("forward"))
                })
                .collect()
        }
    }
}

fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
    row.iter().map(|v| v - lse).collect()
}

fn setup(arch: Architecture) -> (ModelConfig, HashMap<String, Tensor>, CausalLm) {
    let mut spec = TinySpec::new(arch, 7);
    // Larger weights than a trained model so that positions and heads produce clearly different
    // logits; a wrong mask or rotary offset then shows up far above the tolerance.
    spec.init_std = 0.2;
    let cfg = spec.config();
    let weights = random_weights(&cfg, spec.init_std, spec.seed).expect("weights");
    let model = CausalLm::from_tensors(&cfg, weights.clone(), 256, DType::F32, &Device::Cpu).expect("model");
    (cfg, weights, model)
}

const TOKENS: [u32; 12] = [5, 77, 200, 3, 3, 91, 150, 42, 8, 255, 17, 64];
/// f32 on CPU: both implementations do the same arithmetic in a different order.
const TOL: f32 = 2e-4;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn agrees_with_candle_transformers(arch: Architecture) {
    let (cfg, weights, model) = setup(arch);
    let reference = reference_logits(&cfg, &weights, &TOKENS);
    let ours = model
        .all_logits(&TOKENS)
        .expect("forward")
        .to_vec2::<f32>()
        .expect("rows");
    for (p, (r, o)) in reference.iter().zip(&ours).enumerate() {
        let d = max_diff(r, o);
        assert!(d < TOL, "{arch}: position {p} differs by {d}");
    }
    // Left-padded batch: a short sequence beside a long one must score exactly as alone
    // (within float tolerance), which needs the mask and per-sequence positions right.
    let short = ScoreRequest {
        tokens: TOKENS[..5].to_vec(),
        target_start: 2,
    };
    let long = ScoreRequest {
        tokens: TOKENS.to_vec(),
        target_start: 4,
    };
    let scored = model.score_batch(&[short.clone(), long.clone()]).expect("score");
    for (req, got) in [short, long].iter().zip(&scored) {
        let want: Vec<f32> = (req.target_start..req.tokens.len())
            .map(|k| log_softmax(&reference[k - 1])[req.tokens[k] as usize])
            .collect();
        let d = max_diff(&want, got);
        assert!(d < TOL, "{arch}: padded batch log-probs differ by {d}");
    }
}

#[test]
fn llama_agrees_with_candle_transformers() {
    agrees_with_candle_transformers(Architecture::Llama);
}

#[test]
fn mistral_agrees_with_candle_transformers() {
    agrees_with_candle_transformers(Architecture::Mistral);
}

#[test]
fn qwen2_agrees_with_candle_transformers() {
    agrees_with_candle_transformers(Architecture::Qwen2);
}

#[test]
fn qwen3_agrees_with_candle_transformers() {
    agrees_with_candle_transformers(Architecture::Qwen3);
}

#[test]
fn scoring_is_bitwise_deterministic_for_a_fixed_batch() {
    let (_, _, model) = setup(Architecture::Llama);
    let batch: Vec<ScoreRequest> = (0..4)
        .map(|i| ScoreRequest {
            tokens: TOKENS[i..].to_vec(),
            target_start: 3,
        })
        .collect();
    let a = model.score_batch(&batch).expect("a");
    let b = model.score_batch(&batch).expect("b");
    let bits = |v: &Vec<Vec<f32>>| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn kv_cache_decoding_matches_full_recompute() {
    let (_, _, model) = setup(Architecture::Qwen2);
    let generated = model.generate_greedy(&TOKENS[..4], 10, &[]).expect("generate");
    assert_eq!(generated.len(), 10);
    // Without a cache: argmax of the full forward's last row, one token at a time.
    let mut seq = TOKENS[..4].to_vec();
    for &g in &generated {
        let logits = model.all_logits(&seq).expect("logits");
        let last = logits
            .get(seq.len() - 1)
            .and_then(|r| r.to_vec1::<f32>())
            .expect("row");
        assert_eq!(argmax(&last), g);
        seq.push(g);
    }
    // A stop token ends generation before it is emitted.
    let stopped = model
        .generate_greedy(&TOKENS[..4], 10, &[generated[3]])
        .expect("generate");
    assert_eq!(stopped, generated[..3]);
}

#[test]
fn out_of_vocabulary_tokens_are_errors_not_panics() {
    let (_, _, model) = setup(Architecture::Llama);
    let bad = ScoreRequest {
        tokens: vec![1, 2, 10_000],
        target_start: 1,
    };
    assert!(model.score_batch(&[bad]).is_err());
    let softmax_sum: f32 = model
        .all_logits(&TOKENS[..3])
        .and_then(|l| {
            Ok(candle_nn::ops::softmax(&l, D::Minus1)?
                .sum_all()?
                .to_scalar::<f32>()?)
        })
        .expect("softmax");
    assert!((softmax_sum - 3.0).abs() < 1e-3);
}

#[test]
fn native_and_portable_paths_agree() {
    use kindred_scoring::kernels::Ops;
    let (cfg, weights, native) = setup(Architecture::Qwen3);
    let portable = CausalLm::from_tensors(&cfg, weights, 256, DType::F32, &Device::Cpu)
        .expect("model")
        .with_ops(Ops::Portable);
    let batch = vec![
        ScoreRequest {
            tokens: TOKENS[..6].to_vec(),
            target_start: 2,
        },
        ScoreRequest {
            tokens: TOKENS.to_vec(),
            target_start: 5,
        },
    ];
    let a = native.score_batch(&batch).expect("native");
    let b = portable.score_batch(&batch).expect("portable");
    let d = max_diff(&a.concat(), &b.concat());
    assert!(d < TOL, "native vs portable differ by {d}");
    assert_eq!(
        native.generate_greedy(&TOKENS[..3], 8, &[]).expect("n"),
        portable.generate_greedy(&TOKENS[..3], 8, &[]).expect("p")
    );
}

#[test]
fn eq_logits_mode_gives_deterministic_intensities_in_range() {
    use kindred_scoring::eq::{EqItem, answer_by_logits, question_prompt};
    let (_, _, model) = setup(Architecture::Llama);
    let tokenizer = kindred_scoring::tiny::tiny_tokenizer().expect("tokenizer");
    let item = EqItem {
        id: "t".into(),
        characters: vec!["Mara".into(), "Teodor".into()],
        subject: "Mara".into(),
        dialogue: "Mara: You came.\nTeodor: I said I would.".into(),
        emotions: ["Relieved".into(), "Angry".into(), "Shy".into(), "Hopeful".into()],
        reference: [7.0, 0.0, 2.0, 5.0],
    };
    let prompt = format!(
        "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
        question_prompt(&item)
    );
    let ids = tokenizer.encode(prompt.as_str(), false).expect("encode");
    let ids = &ids.get_ids()[ids.len().saturating_sub(200)..];
    let a = answer_by_logits(&model, &tokenizer, ids, &item.emotions).expect("answer");
    assert!(a.iter().all(|v| (0.0..=10.0).contains(v)), "{a:?}");
    let b = answer_by_logits(&model, &tokenizer, ids, &item.emotions).expect("answer");
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    let (_, _, other) = {
        let mut spec = TinySpec::new(Architecture::Llama, 99);
        spec.init_std = 0.2;
        let cfg = spec.config();
        let w = random_weights(&cfg, spec.init_std, spec.seed).expect("weights");
        let m = CausalLm::from_tensors(&cfg, w.clone(), 256, DType::F32, &Device::Cpu).expect("model");
        (cfg, w, m)
    };
    assert_ne!(
        a,
        answer_by_logits(&other, &tokenizer, ids, &item.emotions).expect("answer"),
        "a different model answers differently"
    );
}
