//! The miner crate's integration tests, one binary: the `miner` command as an operator runs it
//! (check, import-gguf, finetune, push and publish against the Hugging Face double, commit on the
//! devnet).

mod cli;
mod commit;
mod finetune;
mod push;

use std::process::{Command, Output};

/// Runs the `miner` binary: its exit code (-1 when it was killed) and stdout then stderr.
pub fn miner(args: &[&str]) -> (i32, String) {
    let out = miner_output(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Runs the `miner` binary and keeps its output as it came.
pub fn miner_output(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(args)
        .output()
        .expect("run miner")
}
