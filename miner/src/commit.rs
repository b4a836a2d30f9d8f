//! `miner commit`: enter a published package by committing its id on chain in the format
//! validators read (`kindred_chain::submission`), with the hash salted by the miner's own hotkey
//! and computed from the very files validators will download; optionally sealed to the chain's
//! drand beacon so nobody reads (or copies) the model id before the chain reveals it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kindred_chain::Chain;
use kindred_chain::account::Hotkey;
use kindred_chain::submission::{ModelCommitment, SubmissionError, salted_hash};
use kindred_hub::{HashError, RepoId, Revision, hash_package};
use kindred_scoring::Competition;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Commitment(#[from] SubmissionError),
}

#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// The package directory (the same files as published).
    pub dir: PathBuf,
    #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
    pub competition: Competition,
    /// The hub's short id as validators list it (e.g. hf).
    #[arg(long, env = "KINDRED_HUB", default_value = "hf")]
    pub hub: String,
    #[arg(long, env = "KINDRED_REPO")]
    pub repo: RepoId,
    /// The published revision: a 40-digit commit id.
    #[arg(long, env = "KINDRED_REVISION")]
    pub revision: Revision,
    #[command(flatten)]
    pub chain: crate::chain::ChainArgs,
    /// Seal the commitment to the chain's drand beacon: nobody can read (or front-run) the
    /// model id until the chain reveals it, and validators count the reveal block as the
    /// submission block.
    #[arg(long, env = "KINDRED_TIMELOCK")]
    pub timelock: bool,
    /// With --timelock: blocks from now until the reveal.
    #[arg(long, env = "KINDRED_REVEAL_AFTER_BLOCKS", default_value_t = 20)]
    pub reveal_after_blocks: u64,
}

/// The commitment for the package at `dir`, published as `repo` at `revision` on the hub the
/// validators know as `hub`, entered by `hotkey` in `competition`.
pub fn commitment_for(
    dir: &Path,
    competition: &Competition,
    hub: &str,
    repo: &RepoId,
    revision: &Revision,
    hotkey: &Hotkey,
) -> Result<ModelCommitment, SubmitError> {
    let digest = hash_package(dir)?.digest;
    let commitment = ModelCommitment {
        competition: competition.name.clone(),
        hub: hub.to_owned(),
        repo: repo.to_string(),
        revision: revision.0,
        hash: salted_hash(&digest, hotkey),
    };
    // Encoding checks the fields the way validators parse them, and the chain's size limit.
    let text = commitment.encode()?;
    text.parse::<ModelCommitment>()?;
    Ok(commitment)
}

pub fn run(args: CommitArgs) -> anyhow::Result<ExitCode> {
    let CommitArgs {
        dir,
        competition,
        hub,
        repo,
        revision,
        chain: chain_args,
        timelock,
        reveal_after_blocks,
    } = args;
    crate::check::require_accepted(&dir, &competition)?;
    let signer = chain_args.signer()?;
    let hotkey = Hotkey(signer.public());
    let commitment = commitment_for(&dir, &competition, &hub, &repo, &revision, &hotkey)?;
    let text = commitment.encode()?;
    let netuid = chain_args.netuid();
    let (included, round) = crate::chain::runtime()?.block_on(async {
        let chain = kindred_chain::subtensor::Subtensor::connect(&chain_args.network)
            .await
            .context("connecting to the chain")?;
        if !timelock {
            let included = chain.set_commitment(&signer, netuid, &text).await?;
            return anyhow::Ok((included, None));
        }
        let ctx = chain
            .timelock_context(netuid)
            .await?
            .context("--timelock: this chain has no drand beacon")?;
        let now = kindred_chain::timelocked::unix_now() as u64;
        let (sealed, round) = kindred_chain::timelocked::seal_commitment(
            &ctx.beacon,
            &text,
            reveal_after_blocks,
            ctx.block_time,
            now,
        )
        .context("sealing the commitment")?;
        let included = chain
            .set_timelocked_commitment(&signer, netuid, &sealed, round)
            .await?;
        anyhow::Ok((included, Some(round)))
    })?;
    println!("{text}");
    match round {
        Some(round) => println!(
            "committed in block {}, sealed to drand round {round}: revealed once the chain holds it",
            included.block.0
        ),
        None => println!("committed in block {}", included.block.0),
    }
    Ok(ExitCode::SUCCESS)
}
