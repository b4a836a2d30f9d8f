//! The README's main command, run as a user would (with `--once` so it ends): the command line
//! is read from the README itself; its cargo part must name this package, whose only binary is
//! the one under test (asked of `cargo metadata`, so a second binary or a renamed package fails
//! here as it would fail a new user); its program part is what the binary runs. The miners'
//! models are trained on the spot, and the round must rank them by training, give the copy
//! nothing, reject the broken upload with its reason and put weights on chain.

use std::path::PathBuf;
use std::process::Command;

/// The demo command of the README's "The two commands": its cargo arguments and the program's.
fn readme_demo_command() -> (Vec<String>, Vec<String>) {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let section = text
        .split("## The two commands")
        .nth(1)
        .expect("the README has its two commands");
    let line = section
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo run ") && l.contains(" demo"))
        .expect("the first of the two commands runs the demo");
    let (cargo, program) = line
        .split_once(" -- ")
        .expect("cargo arguments, then the program's");
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    (words(cargo), words(program))
}

/// The binaries `cargo run` could pick in `package`, as cargo itself lists them.
fn binaries_of(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let package = packages
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("no package {package} in the workspace"));
    package["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

/// One leaderboard line: `#rank uid U model score S weight W status [(reason)]`.
#[derive(Debug)]
struct Row {
    model: String,
    score: Option<f64>,
    weight: f64,
    status: String,
    rest: String,
}

fn parse(line: &str) -> Row {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |key: &str| {
        let i = words
            .iter()
            .position(|w| *w == key)
            .unwrap_or_else(|| panic!("no {key} in {line}"));
        words[i + 1]
    };
    Row {
        model: words[3].to_string(),
        score: at("score").parse().ok(),
        weight: at("weight").parse().expect("weight"),
        status: words[words.iter().position(|w| *w == "weight").expect("weight") + 2].to_string(),
        rest: line.to_string(),
    }
}

#[test]
fn the_demo_ranks_trained_models_refuses_the_copy_and_the_broken_upload() {
    let (cargo, program) = readme_demo_command();
    assert_eq!(cargo[..2], ["cargo", "run"], "{cargo:?}");
    let package = cargo
        .iter()
        .position(|w| w == "-p" || w == "--package")
        .map(|i| cargo[i + 1].clone())
        .expect("the command names its package");
    assert_eq!(package, env!("CARGO_PKG_NAME"), "the demo is this package's");
    assert!(
        cargo.iter().any(|w| w == "--bin") || binaries_of(&package) == ["validator"],
        "`cargo run -p {package}` must find exactly one binary, the validator: {:?}",
        binaries_of(&package)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_validator"))
        .args(&program)
        .args(["--once", "--api.addr", "127.0.0.1:0", "--dir"])
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
    let board: Vec<Row> = stdout.lines().filter(|l| l.starts_with('#')).map(parse).collect();
    assert_eq!(board.len(), 6, "validator + 5 miners:\n{stdout}");
    let miner = |name: &str| {
        board
            .iter()
            .find(|r| r.model.starts_with(&format!("{name}/")))
            .unwrap_or_else(|| panic!("{name} on the board:\n{stdout}"))
    };
    let (bob, charlie, dave) = (miner("bob"), miner("charlie"), miner("dave"));
    for r in [bob, charlie, dave] {
        assert_eq!(r.status, "scored", "{}", r.rest);
    }
    let score = |r: &Row| r.score.unwrap_or_else(|| panic!("no score: {}", r.rest));
    assert!(
        score(bob) > score(charlie) && score(charlie) > score(dave),
        "more training ranks higher:\n{stdout}"
    );
    let eve = miner("eve");
    assert_eq!(
        (eve.status.as_str(), eve.weight),
        ("duplicate", 0.0),
        "{}",
        eve.rest
    );
    let ferdie = miner("ferdie");
    assert_eq!(ferdie.status, "rejected", "{}", ferdie.rest);
    assert!(
        ferdie.rest.contains("safetensors"),
        "the reason is shown: {}",
        ferdie.rest
    );

    // The chain holds weights, shares of one, and the best model holds the most.
    let chain: Vec<(u16, f64)> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Alice's weights on chain"))
        .skip(1)
        .filter_map(|l| {
            let (uid, share) = l.trim().strip_prefix("uid ")?.split_once(": ")?;
            Some((uid.parse().ok()?, share.parse().ok()?))
        })
        .collect();
    let total: f64 = chain.iter().map(|(_, s)| s).sum();
    assert!(
        (total - 1.0).abs() < 0.01,
        "on-chain shares sum to {total}:\n{stdout}"
    );
    let uid_of = |r: &Row| -> u16 {
        r.rest
            .split_whitespace()
            .nth(2)
            .and_then(|u| u.parse().ok())
            .expect("uid")
    };
    let share = |uid: u16| chain.iter().find(|(u, _)| *u == uid).map_or(0.0, |(_, s)| *s);
    assert!(share(uid_of(bob)) > 0.5, "{stdout}");
    assert_eq!(share(uid_of(eve)), 0.0, "{stdout}");
    assert!(stdout.contains("leaderboard at http://127.0.0.1:"), "{stdout}");
}
