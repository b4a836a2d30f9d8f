//! `miner evaluate`: score a package on this machine through the validators' own evaluator
//! (bundled suites, the current scoring spec, CPU), so the figure is the one validators compute
//! for the same seed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::Device;
use kindred_scoring::evaluator::{Evaluator, report};
use kindred_scoring::{Competition, ScoringSpec};

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    pub dir: PathBuf,
    #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
    pub competition: Competition,
    /// Epoch seed as hex.
    #[arg(long, env = "KINDRED_SEED", default_value = "6b696e64726564")]
    pub seed: String,
    /// Print one JSON object (its `score` field is the total).
    #[arg(long, env = "KINDRED_JSON")]
    pub json: bool,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let seed = hex::decode(args.seed.trim_start_matches("0x")).context("--seed must be hex")?;
    let evaluator = Evaluator {
        suites: kindred_scoring::suites::bundled().context("reading the bundled suites")?,
        spec: ScoringSpec::current(),
        sandbox: crate::check::sandbox()?,
        device: Device::Cpu,
    };
    let evaluation = evaluator
        .evaluate(&args.dir, &args.competition.name, &seed)
        .with_context(|| format!("evaluating {}", args.dir.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = serde_json::to_value(&evaluation)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("score".into(), serde_json::json!(evaluation.total));
        }
        writeln!(out, "{value}")?;
    } else {
        write!(out, "{}", report(&evaluation))?;
    }
    Ok(ExitCode::SUCCESS)
}
