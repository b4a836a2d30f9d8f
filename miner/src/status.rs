//! `miner status`: what the chain holds for a hotkey (UID, stake, incentive, its commitment) and
//! what validators report about it through their leaderboard API (`GET /leaderboard` and
//! `GET /miners/{hotkey}`).
//!
//! A validator that cannot be reached or answers nonsense is reported in its entry rather than
//! failing the whole command: one validator down must not hide what the others say.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use kindred_chain::account::Hotkey;
use kindred_chain::submission::ModelCommitment;
use kindred_chain::{Chain, ChainError, Netuid};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The hotkey's SS58 address; without it, the wallet's hotkey.
    #[arg(long, env = "KINDRED_HOTKEY")]
    pub hotkey: Option<Hotkey>,
    /// A validator's API base URL (repeat, or separate with commas, for several).
    #[arg(long = "validator-url", env = "KINDRED_VALIDATOR_URL", value_delimiter = ',')]
    pub validator_urls: Vec<String>,
    #[command(flatten)]
    pub chain: crate::chain::ChainArgs,
    /// Print one JSON object.
    #[arg(long, env = "KINDRED_JSON")]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let StatusArgs {
        hotkey,
        validator_urls,
        chain: chain_args,
        json,
    } = args;
    let hotkey = match hotkey {
        Some(hotkey) => hotkey,
        None => chain_args.signer()?.hotkey(),
    };
    let report = crate::chain::runtime()?.block_on(async {
        let chain = kindred_chain::subtensor::Subtensor::connect(&chain_args.network)
            .await
            .context("connecting to the chain")?;
        status(&chain, chain_args.netuid(), &hotkey, &validator_urls).await
    })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(&report));
    }
    // Exit 1 when a validator could not be read, so scripts notice.
    Ok(if report.validators.iter().any(|v| v.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Everything `miner status` reports for `hotkey`: the chain's view, then each validator's.
pub async fn status<C: Chain + ?Sized>(
    chain: &C,
    netuid: Netuid,
    hotkey: &Hotkey,
    validator_urls: &[String],
) -> anyhow::Result<Status> {
    let on_chain = chain_status(chain, netuid, hotkey)
        .await
        .context("reading the chain")?;
    let client = validator_client()?;
    let validators = futures::future::join_all(
        validator_urls
            .iter()
            .map(|u| validator_report(&client, u, hotkey)),
    )
    .await;
    Ok(Status {
        hotkey: hotkey.to_string(),
        netuid: netuid.0,
        chain: on_chain,
        validators,
    })
}

/// Answers from a validator are read only this far.
const MAX_VALIDATOR_BODY: usize = 8 * 1024 * 1024;

/// Everything `miner status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub hotkey: String,
    pub netuid: u16,
    pub chain: ChainStatus,
    pub validators: Vec<ValidatorReport>,
}

/// The hotkey on chain, at `block`.
#[derive(Clone, Debug, Serialize)]
pub struct ChainStatus {
    pub block: u64,
    pub registered: bool,
    pub uid: Option<u16>,
    pub stake: Option<u64>,
    /// Share of the subnet's incentive, `0.0..=1.0`.
    pub incentive: Option<f64>,
    pub registered_at: Option<u64>,
    pub commitment: Option<CommitmentStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CommitmentStatus {
    pub block: u64,
    pub text: String,
    /// The fields as validators parse them; absent when they cannot.
    pub parsed: Option<ParsedCommitment>,
    /// Why validators cannot parse it.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParsedCommitment {
    pub competition: String,
    pub hub: String,
    pub repo: String,
    pub revision: String,
    pub hash: String,
}

/// One validator's view of the hotkey.
#[derive(Clone, Debug, Serialize)]
pub struct ValidatorReport {
    pub url: String,
    /// The hotkey's leaderboard row, if it has one.
    pub leaderboard: Option<serde_json::Value>,
    /// The hotkey's submissions, newest first, as the validator stores them.
    pub submissions: Vec<serde_json::Value>,
    /// Why the validator could not be read.
    pub error: Option<String>,
}

/// The chain's view of `hotkey` on `netuid`.
pub async fn chain_status<C: Chain + ?Sized>(
    chain: &C,
    netuid: Netuid,
    hotkey: &Hotkey,
) -> Result<ChainStatus, ChainError> {
    let metagraph = chain.metagraph(netuid).await?;
    let neuron = metagraph.neurons.iter().find(|n| &n.hotkey == hotkey);
    let commitment = chain
        .commitments(netuid)
        .await?
        .into_iter()
        .filter(|c| &c.hotkey == hotkey)
        .max_by_key(|c| c.block.0)
        .map(|c| {
            let (parsed, error) = match c.data.parse::<ModelCommitment>() {
                Ok(m) => (
                    Some(ParsedCommitment {
                        revision: m.revision_hex(),
                        hash: hex::encode(m.hash),
                        competition: m.competition,
                        hub: m.hub,
                        repo: m.repo,
                    }),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            CommitmentStatus {
                block: c.block.0,
                text: c.data,
                parsed,
                error,
            }
        });
    Ok(ChainStatus {
        block: metagraph.block.0,
        registered: neuron.is_some(),
        uid: neuron.map(|n| n.uid.0),
        stake: neuron.map(|n| n.stake),
        incentive: neuron.map(|n| n.incentive),
        registered_at: neuron.map(|n| n.registered_at.0),
        commitment,
    })
}

/// Reads a JSON answer of at most [`MAX_VALIDATOR_BODY`] bytes; `None` for a 404.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Option<serde_json::Value>, String> {
    let mut resp = client.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(format!("{url} answered HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_VALIDATOR_BODY {
            return Err(format!("{url} answered more than {MAX_VALIDATOR_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("{url} answered something that is not JSON: {e}"))
}

/// What the validator whose API is at `base_url` reports for `hotkey`.
pub async fn validator_report(client: &reqwest::Client, base_url: &str, hotkey: &Hotkey) -> ValidatorReport {
    let base = base_url.trim_end_matches('/');
    let mut report = ValidatorReport {
        url: base.to_owned(),
        leaderboard: None,
        submissions: Vec::new(),
        error: None,
    };
    let ss58 = hotkey.to_string();
    let result = async {
        let board = get_json(client, &format!("{base}/leaderboard")).await?;
        let rows = match board {
            Some(serde_json::Value::Array(rows)) => rows,
            Some(_) => return Err(format!("{base}/leaderboard is not a list")),
            None => return Err(format!("{base} has no leaderboard API")),
        };
        report.leaderboard = rows.into_iter().find(|r| r["hotkey"] == ss58.as_str());
        // A 404 here means the validator has seen no submission from this hotkey.
        match get_json(client, &format!("{base}/miners/{ss58}")).await? {
            Some(serde_json::Value::Array(rows)) => report.submissions = rows,
            Some(_) => return Err(format!("{base}/miners/{ss58} is not a list")),
            None => {}
        }
        Ok(())
    }
    .await;
    report.error = result.err();
    report
}

/// A client for validator APIs: short timeouts, since status is interactive.
pub fn validator_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("kindred-miner/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn field(v: &serde_json::Value, name: &str) -> String {
    match &v[name] {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The human-readable report.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let c = &status.chain;
    let _ = writeln!(
        out,
        "hotkey {} on netuid {} (block {})",
        status.hotkey, status.netuid, c.block
    );
    match c.uid {
        Some(uid) => {
            let _ = writeln!(
                out,
                "chain: UID {uid}, registered at block {}, stake {}, incentive {:.4}",
                c.registered_at.unwrap_or_default(),
                c.stake.unwrap_or_default(),
                c.incentive.unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "chain: not registered on this subnet");
        }
    }
    match &c.commitment {
        None => {
            let _ = writeln!(out, "commitment: none");
        }
        Some(m) => {
            let _ = writeln!(out, "commitment (block {}): {}", m.block, m.text);
            if let Some(p) = &m.parsed {
                let _ = writeln!(
                    out,
                    "  competition {}, hub {}, repo {}, revision {}",
                    p.competition, p.hub, p.repo, p.revision
                );
            }
            if let Some(e) = &m.error {
                let _ = writeln!(out, "  validators cannot parse it: {e}");
            }
        }
    }
    for v in &status.validators {
        let _ = write!(out, "validator {}: ", v.url);
        if let Some(e) = &v.error {
            let _ = writeln!(out, "unreachable ({e})");
            continue;
        }
        match &v.leaderboard {
            Some(row) => {
                let _ = writeln!(
                    out,
                    "rank {}, score {}, weight {}, status {}",
                    field(row, "rank"),
                    field(row, "score"),
                    field(row, "weight"),
                    field(row, "status")
                );
            }
            None => {
                let _ = writeln!(out, "not on its leaderboard");
            }
        }
        if v.submissions.is_empty() {
            let _ = writeln!(out, "  no submissions seen");
        }
        for s in &v.submissions {
            let _ = writeln!(
                out,
                "  submission #{} (block {}): {} {}@{} total {}{}",
                field(s, "id"),
                field(s, "commit_block"),
                field(s, "status"),
                field(s, "repo"),
                field(s, "revision"),
                field(s, "total"),
                match s["reason"].as_str() {
                    Some(r) => format!(" ({}: {r})", field(s, "reason_code")),
                    None => String::new(),
                }
            );
        }
    }
    out
}
