//! `miner finetune --base`: full fine-tuning of an existing package must lower its dialogue
//! bits per byte (measured with scoring's own dialogue scoring, as the quality ladder does),
//! keep the base's tokenizer, config and chat template, and produce a package `check` accepts;
//! bases that fail validation are refused.

use std::path::Path;

use crate::miner;
use candle_core::{DType, Device};
use kindred_scoring::config::{ConfigBounds, ModelConfig};
use kindred_scoring::dialogue::{self, Dialogue};
use kindred_scoring::template::{ChatTemplate, TemplateLimits};
use kindred_scoring::tiny::{TinySpec, write_tiny_model};
use kindred_scoring::{Architecture, CausalLm, Competition};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn dialogues() -> Vec<Dialogue> {
    kindred_scoring::suites::dialogues()
        .expect("bundled dialogues")
        .into_iter()
        .take(8)
        .collect()
}

/// Bits per byte of the package in `dir` on the character replies of `units` units drawn from
/// `dialogues`, through Kindred's scoring forward.
fn bpb(dir: &Path, dialogues: &[Dialogue]) -> f64 {
    let cfg = ModelConfig::parse(
        &std::fs::read(dir.join("config.json")).expect("config"),
        &ConfigBounds::default(),
    )
    .expect("config");
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights");
    let model = CausalLm::from_tensors(
        &cfg,
        tensors,
        Competition::dev().max_context,
        DType::F32,
        &Device::Cpu,
    )
    .expect("forward");
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let template =
        ChatTemplate::from_tokenizer_config(&std::fs::read(dir.join("tokenizer_config.json")).expect("tc"))
            .expect("template");
    let units = dialogue::epoch_units(dialogues, b"finetune-test", 8);
    let rendered: Vec<String> = units
        .iter()
        .map(|u| {
            template
                .render(&u.context, &TemplateLimits::default())
                .expect("render")
        })
        .collect();
    let mut requests = dialogue::requests(&tokenizer, &rendered, &units).expect("tokenise");
    for r in &mut requests {
        let cut = r.tokens.len().saturating_sub(model.max_positions());
        r.tokens.drain(..cut);
        r.target_start -= cut;
    }
    let plan = dialogue::plan_batches(&requests, 8);
    let sums = dialogue::score_requests(&model, &requests, &plan).expect("score");
    let bytes: usize = units.iter().map(|u| u.reply.len()).sum();
    dialogue::bits_per_byte(sums.iter().sum(), bytes)
}

#[test]
fn finetuning_a_base_lowers_its_dialogue_bpb_and_keeps_its_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base");
    let mut spec = TinySpec::new(Architecture::Qwen2, 21);
    spec.dtype = DType::BF16;
    write_tiny_model(&base, &spec).expect("base");
    // A template of the base's own (ChatML behind a comment): the output must keep it, where a
    // from-scratch run would write plain ChatML.
    let tc_path = base.join("tokenizer_config.json");
    let mut tc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tc_path).expect("read")).expect("json");
    let template = format!(
        "{{#- the base's own template -#}}{}",
        tc["chat_template"].as_str().expect("template")
    );
    tc["chat_template"] = template.into();
    std::fs::write(&tc_path, serde_json::to_vec_pretty(&tc).expect("json")).expect("write");

    let data = tmp.path().join("dialogues.jsonl");
    let lines: Vec<String> = dialogues()
        .iter()
        .map(|d| serde_json::to_string(d).expect("json"))
        .collect();
    std::fs::write(&data, lines.join("\n")).expect("write");

    let out = tmp.path().join("tuned");
    let (code, text) = miner(&[
        "finetune",
        "--base",
        s(&base),
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--steps",
        "12",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("12 steps"), "{text}");

    for kept in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        assert!(
            std::fs::read(base.join(kept)).expect("base") == std::fs::read(out.join(kept)).expect("out"),
            "{kept} must be the base's"
        );
    }
    let weights =
        candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).expect("weights");
    assert!(
        weights.values().all(|t| t.dtype() == DType::BF16),
        "saved in the base's dtype"
    );

    let (before, after) = (bpb(&base, &dialogues()), bpb(&out, &dialogues()));
    eprintln!("dialogue bpb: base {before:.4} → fine-tuned {after:.4}");
    assert!(after < 0.9 * before, "bpb {before} → {after}");

    let (code, text) = miner(&["check", s(&out), "--competition", "dev"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ACCEPTED") && text.contains("qwen2"), "{text}");
}

#[test]
fn bases_that_fail_validation_or_clash_with_scratch_flags_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("d.jsonl");
    std::fs::write(&data, serde_json::to_string(&dialogues()[0]).expect("json")).expect("write");
    let out = tmp.path().join("out");

    let base = tmp.path().join("base");
    write_tiny_model(&base, &TinySpec::new(Architecture::Llama, 2)).expect("base");
    std::fs::remove_file(base.join("model.safetensors")).expect("remove");
    let (code, text) = miner(&[
        "finetune",
        "--base",
        s(&base),
        "--data",
        s(&data),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("is not a valid dev package") && text.contains("rejected"),
        "{text}"
    );
    assert!(!out.exists(), "nothing written for a refused base");

    // A SmolLM2-sized base is not a dev package either: the competition's band applies.
    let small = tmp.path().join("small");
    write_tiny_model(&small, &TinySpec::new(Architecture::Llama, 3)).expect("base");
    let (code, text) = miner(&[
        "finetune",
        "--base",
        s(&small),
        "--competition",
        "small",
        "--data",
        s(&data),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("parameter"), "{text}");

    let (code, text) = miner(&[
        "finetune",
        "--base",
        s(&small),
        "--hidden-size",
        "32",
        "--data",
        s(&data),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cannot be used with"), "{text}");
}

#[test]
fn persona_chat_csv_is_read_as_dialogues() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The Synthetic-Persona-Chat layout: two persona columns, then the conversation.
    let csv = "user 1 personas,user 2 personas,Best Generated Conversation\n\
        \"I like boats.\",\"I keep a lighthouse.\nI worry about storms.\",\"User 1: Is a storm coming?\nUser 2: The worst in years, I think. Stay in tonight.\nUser 1: Are you scared?\nUser 2: Only for the boats, love.\"\n\
        \"I bake bread.\",\"I run an inn.\",\"User 1: Do you have a room?\nUser 2: Come in out of the rain. There is always a room here.\"\n";
    let data = tmp.path().join("persona.csv");
    std::fs::write(&data, csv).expect("write");
    let out = tmp.path().join("out");
    let (code, text) = miner(&[
        "finetune",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--steps",
        "2",
        "--seq-len",
        "16",
        "--batch-size",
        "2",
    ]);
    assert_eq!(code, 0, "{text}");
    // Only the innkeeper's and keeper's replies are learnt, so fewer tokens than the whole text.
    let field = |after: &str| -> usize {
        let rest = text
            .split(after)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{after}` in {text}"));
        rest.split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    let (tokens, learnt) = (field("steps on "), field("of which "));
    assert!(learnt > 0 && learnt < tokens, "{text}");

    let (code, text) = miner(&[
        "finetune",
        "--data",
        s(&data),
        "--format",
        "dialogues",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "CSV is not JSONL: {text}");
}
