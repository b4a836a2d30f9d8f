//! `validator eqbench score` on the public EQ-Bench v2 questions (`$KINDRED_SHARED/eqbench`):
//! answers built from the reference scores must score 100 and be valid; damaged answers must
//! lower the score and the parse rate exactly as the reference's rules say.

use std::path::PathBuf;
use std::process::Command;

use kindred_scoring::eq;

fn questions() -> PathBuf {
    let shared = std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = shared.join("eqbench/eq_bench_v2_questions_171.json");
    assert!(
        path.is_file(),
        "{} is required (set KINDRED_SHARED)",
        path.display()
    );
    path
}

fn run(answers: &str, revise: bool) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("answers.jsonl");
    std::fs::write(&file, answers).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_validator"));
    cmd.args(["eqbench", "score", "--questions"])
        .arg(questions())
        .arg("--answers")
        .arg(&file);
    if revise {
        cmd.arg("--revise");
    }
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn items() -> Vec<eq::EqItem> {
    eq::parse_eqbench(&std::fs::read_to_string(questions()).expect("read")).expect("parse")
}

fn answer_line(id: &str, text: &str) -> String {
    serde_json::json!({"id": id, "answer": text}).to_string() + "\n"
}

fn perfect(item: &eq::EqItem) -> String {
    item.emotions
        .iter()
        .zip(item.reference)
        .map(|(e, r)| format!("{e}: {r}\n"))
        .collect()
}

#[test]
fn reference_answers_score_100() {
    let all = items();
    let answers: String = all.iter().map(|i| answer_line(&i.id, &perfect(i))).collect();
    let lines = run(&answers, false);
    assert_eq!(lines.len(), 172);
    let summary = &lines[171];
    assert_eq!(summary["benchmark_score"], 100.0);
    assert_eq!(summary["parseable"], 171);
    assert_eq!(summary["valid"], true);
    assert_eq!(lines[0]["score"], 10.0);
}

#[test]
fn unparseable_answers_are_left_out_and_can_invalidate_the_run() {
    let all = items();
    // 30 answers unusable: 141/171 = 82.5% < 83.33%.
    let answers: String = all
        .iter()
        .enumerate()
        .map(|(n, i)| {
            if n < 30 {
                answer_line(&i.id, "I would rather not say.")
            } else {
                answer_line(&i.id, &perfect(i))
            }
        })
        .collect();
    let lines = run(&answers, false);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["parseable"], 141);
    assert_eq!(summary["valid"], false);
    assert_eq!(
        summary["benchmark_score"], 100.0,
        "unparsed questions are not averaged in"
    );
    assert!(lines[0]["score"].is_null() && lines[0]["parsed"].is_null());
}

#[test]
fn revise_mode_reports_revised_scores_when_they_are_better() {
    let all = items();
    let answers: String = all
        .iter()
        .map(|i| {
            let first: String = i.emotions.iter().map(|e| format!("{e}: 10\n")).collect();
            answer_line(
                &i.id,
                &format!(
                    "First pass scores:\n{first}\nCritique: too high.\n\nRevised scores:\n{}",
                    perfect(i)
                ),
            )
        })
        .collect();
    let summary = run(&answers, true).pop().expect("summary");
    assert_eq!(summary["used_revised"], true);
    assert_eq!(summary["benchmark_score"], 100.0);
}
