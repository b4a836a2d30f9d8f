//! `validator evaluate` on packages built to break it: whatever a miner ships, the command ends
//! with a verdict (a score or a rejection with its code), never a panic.

use std::path::Path;
use std::process::Command;

use kindred_scoring::Architecture;
use kindred_scoring::tiny::{TinySpec, write_tiny_model};

fn evaluate(dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_validator"))
        .args(["evaluate", "--competition", "dev", "--json"])
        .arg(dir)
        .env("KINDRED_SPEC", "quick")
        .output()
        .expect("run validator evaluate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_digit_only_tokenizer_gets_a_verdict_not_a_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let honest = tmp.path().join("honest");
    write_tiny_model(&honest, &TinySpec::new(Architecture::Llama, 4)).expect("tiny model");
    let (code, out) = evaluate(&honest);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"score\""), "{out}");

    // Every character but the digits normalised away: before the tokenizer allow list and the
    // scorer's empty-input checks, this panicked inside candle's rotary embedding.
    let hostile = tmp.path().join("digits");
    write_tiny_model(&hostile, &TinySpec::new(Architecture::Llama, 4)).expect("tiny model");
    let path = hostile.join("tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    tok["normalizer"] = serde_json::json!({"type": "Replace", "pattern": {"Regex": "[^0-9]"}, "content": ""});
    std::fs::write(&path, tok.to_string()).expect("write");
    let (code, out) = evaluate(&hostile);
    assert!(!out.contains("panicked"), "{out}");
    assert!(
        matches!(code, Some(c) if c != 0 && c != 101),
        "exit {code:?}: {out}"
    );
    assert!(out.contains("tokenizer_not_allowed"), "{out}");
}
