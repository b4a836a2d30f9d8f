//! The README's main command, `validator demo`, run as a user would (with `--once` so it ends):
//! it must register and score the miners, put weights on chain and print the leaderboard.

use std::process::Command;

#[test]
fn the_demo_runs_a_subnet_to_weights_and_prints_the_leaderboard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_validator"))
        .args([
            "demo",
            "--once",
            "--miners",
            "3",
            "--api.addr",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path().join("demo"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let board: Vec<&str> = stdout.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(board.len(), 4, "validator + 3 miners:\n{stdout}");
    assert!(
        board[0].contains("score 0."),
        "the best miner has a score:\n{stdout}"
    );
    // Weights are shares of what this validator set: they sum to one.
    let total: f64 = board
        .iter()
        .filter_map(|l| {
            l.split("weight ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    assert!((total - 1.0).abs() < 0.01, "weights sum to {total}:\n{stdout}");
    assert!(stdout.contains("leaderboard at http://127.0.0.1:"), "{stdout}");
}
