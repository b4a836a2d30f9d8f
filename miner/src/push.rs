//! `miner push` and `miner publish`: put a package on a hub (the Hugging Face hub through
//! `kindred_hub::HfUploader`, or a directory hub) and flip a repository's visibility once its
//! commitment is on chain.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kindred_hub::{HfUploader, HfUploaderConfig, LocalHub, RepoId};
use kindred_scoring::Competition;

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The package directory.
    pub dir: PathBuf,
    /// Repository name, `org/name`.
    #[arg(long, env = "KINDRED_REPO")]
    pub repo: RepoId,
    /// `hf` or `local:DIR`.
    #[arg(long, env = "KINDRED_PUSH_HUB", default_value = "hf")]
    pub hub: PushHub,
    /// Same as `--hub local:DIR` (the older `miner upload` spelling).
    #[arg(long, env = "KINDRED_LOCAL_HUB", hide = true)]
    pub hub_dir: Option<PathBuf>,
    /// Create the repository private (Hugging Face hub only).
    #[arg(long, env = "KINDRED_PRIVATE")]
    pub private: bool,
    /// Commit summary on the hub.
    #[arg(long, env = "KINDRED_PUSH_MESSAGE", default_value = "Kindred submission")]
    pub message: String,
    /// Check the package against this competition (dev, small, medium) before pushing.
    #[arg(long, env = "KINDRED_COMPETITION")]
    pub competition: Option<Competition>,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Repository name, `org/name`.
    #[arg(long, env = "KINDRED_REPO")]
    pub repo: RepoId,
    /// Make it private again instead.
    #[arg(long, env = "KINDRED_PRIVATE")]
    pub private: bool,
}

/// Where `miner push` publishes.
#[derive(Debug, Clone)]
pub enum PushHub {
    Hf,
    Local(PathBuf),
}

/// `--hub` is neither `hf` nor `local:DIR`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}`: expected `hf` or `local:DIR`")]
pub struct BadPushHub(String);

impl std::str::FromStr for PushHub {
    type Err = BadPushHub;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            _ if s == "hf" => Ok(PushHub::Hf),
            Some(("local", dir)) if !dir.is_empty() => Ok(PushHub::Local(dir.into())),
            _ => Err(BadPushHub(s.to_owned())),
        }
    }
}

pub fn run_push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let PushArgs {
        dir,
        repo,
        hub,
        hub_dir,
        private,
        message,
        competition,
    } = args;
    if let Some(competition) = &competition {
        crate::check::require_accepted(&dir, competition)?;
    }
    let target = match hub_dir {
        Some(dir) => PushHub::Local(dir),
        None => hub,
    };
    match target {
        PushHub::Local(hub_dir) => {
            anyhow::ensure!(!private, "a directory hub has no private repositories");
            let published = LocalHub::new(&hub_dir)
                .publish(&dir, &repo)
                .context("publishing")?;
            println!("{}", published.revision_hex());
        }
        PushHub::Hf => {
            let uploader = HfUploader::new(HfUploaderConfig::from_env())?;
            let pushed = crate::chain::runtime()?
                .block_on(uploader.push(&dir, &repo, private, &message))
                .with_context(|| format!("pushing {} to {repo} at {}", dir.display(), uploader.endpoint()))?;
            let lfs = pushed.files.iter().filter(|f| f.lfs).count();
            let dedup = pushed.files.iter().filter(|f| f.deduplicated).count();
            let removed = if pushed.deleted.is_empty() {
                String::new()
            } else {
                format!(", removed {}", pushed.deleted.join(", "))
            };
            let new = match (pushed.created, private) {
                (true, true) => " (new, private: run `miner publish` after `miner commit`)",
                (true, false) => " (new)",
                (false, _) => "",
            };
            eprintln!(
                "pushed {} files ({lfs} through LFS, {dedup} already on the hub{removed}) to {repo}{new}",
                pushed.files.len(),
            );
            println!("{}", pushed.revision);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let PublishArgs { repo, private } = args;
    let uploader = HfUploader::new(HfUploaderConfig::from_env())?;
    crate::chain::runtime()?
        .block_on(uploader.set_private(&repo, private))
        .with_context(|| format!("changing the visibility of {repo}"))?;
    eprintln!("{repo} is now {}", if private { "private" } else { "public" });
    Ok(ExitCode::SUCCESS)
}
