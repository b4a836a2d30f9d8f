//! `miner`: the Kindred miner operator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kindred_miner::finetune::{self, Corpus, FinetuneSettings, Trainer};
use kindred_miner::{check, import, push, status};
use kindred_scoring::template::{SANDBOX_ARG, Sandbox, serve_sandbox};
use kindred_scoring::tiny::TinySpec;
use kindred_scoring::{Architecture, Competition};

#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    about = "Kindred miner: check, convert, train, push and submit roleplay models"
)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "KINDRED_LOG", default_value = "warn", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a model package exactly as validators will (exit 0 accepted, 1 rejected).
    Check {
        /// The package directory (Hugging Face layout).
        #[arg(env = "KINDRED_MODEL_DIR")]
        dir: PathBuf,
        /// Competition to check against (dev, small, medium).
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
        competition: String,
        /// Print the verdict as one JSON object.
        #[arg(long, env = "KINDRED_JSON")]
        json: bool,
    },
    /// Convert a llama.cpp GGUF file (Llama/Qwen2/Qwen3) into a Hugging Face package.
    ImportGguf {
        #[arg(env = "KINDRED_GGUF")]
        gguf: PathBuf,
        /// Output directory for the package.
        #[arg(env = "KINDRED_OUT_DIR")]
        out: PathBuf,
    },
    /// Publish a package and print the revision to commit (40 hex digits, alone on stdout).
    ///
    /// `--hub hf` speaks the Hugging Face hub's HTTP upload API at `HF_ENDPOINT` (default
    /// https://huggingface.co) with the write token from `HF_TOKEN`: it creates the repository
    /// if needed, uploads weights through LFS, commits exactly the package files (removing stale
    /// ones) and reads the revision back as validators will. `--hub local:DIR` copies into a
    /// directory hub (what `validator --hub ID=local:DIR` serves). With `--private` a new
    /// repository stays hidden until `miner publish` after the commitment is on chain.
    #[command(alias = "upload")]
    Push {
        /// The package directory.
        dir: PathBuf,
        /// Repository name, `org/name`.
        #[arg(long, env = "KINDRED_REPO")]
        repo: String,
        /// `hf` or `local:DIR`.
        #[arg(long, env = "KINDRED_PUSH_HUB", default_value = "hf")]
        hub: String,
        /// Same as `--hub local:DIR` (the older `miner upload` spelling).
        #[arg(long, env = "KINDRED_LOCAL_HUB", hide = true)]
        hub_dir: Option<PathBuf>,
        /// Create the repository private (Hugging Face hub only).
        #[arg(long, env = "KINDRED_PRIVATE")]
        private: bool,
        /// Commit summary on the hub.
        #[arg(long, env = "KINDRED_PUSH_MESSAGE", default_value = "Kindred submission")]
        message: String,
        /// Check the package against this competition (dev, small, medium) before pushing.
        #[arg(long, env = "KINDRED_COMPETITION")]
        competition: Option<String>,
    },
    /// Make a private Hugging Face repository public (after `miner commit`).
    ///
    /// Validators cannot download a private repository, so publish once the commitment that
    /// pins it is on chain. Token from `HF_TOKEN`, endpoint from `HF_ENDPOINT`.
    Publish {
        /// Repository name, `org/name`.
        #[arg(long, env = "KINDRED_REPO")]
        repo: String,
        /// Make it private again instead.
        #[arg(long, env = "KINDRED_PRIVATE")]
        private: bool,
    },
    /// Commit a published package on chain for your hotkey (checks the package first).
    Commit {
        /// The package directory (the same files as published).
        dir: PathBuf,
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
        competition: String,
        /// The hub's short id as validators list it (e.g. hf).
        #[arg(long, env = "KINDRED_HUB", default_value = "hf")]
        hub: String,
        #[arg(long, env = "KINDRED_REPO")]
        repo: String,
        /// The published revision: a 40-digit commit id.
        #[arg(long, env = "KINDRED_REVISION")]
        revision: String,
        #[command(flatten)]
        chain: ChainArgs,
        /// Seal the commitment to the chain's drand beacon: nobody can read (or front-run) the
        /// model id until the chain reveals it, and validators count the reveal block as the
        /// submission block.
        #[arg(long, env = "KINDRED_TIMELOCK")]
        timelock: bool,
        /// With --timelock: blocks from now until the reveal.
        #[arg(long, env = "KINDRED_REVEAL_AFTER_BLOCKS", default_value_t = 20)]
        reveal_after_blocks: u64,
    },
    /// Show a hotkey's standing on chain and with validators.
    ///
    /// The chain part: UID, stake, incentive, the commitment and whether validators can parse
    /// it. The validator part, for each `--validator-url`: the leaderboard row (rank, score,
    /// weight) and every submission with its status and rejection reason. Exits 1 when a
    /// validator could not be read.
    Status {
        /// The hotkey's SS58 address; without it, the wallet's hotkey.
        #[arg(long, env = "KINDRED_HOTKEY")]
        hotkey: Option<String>,
        /// A validator's API base URL (repeat, or separate with commas, for several).
        #[arg(long = "validator-url", env = "KINDRED_VALIDATOR_URL", value_delimiter = ',')]
        validator_urls: Vec<String>,
        #[command(flatten)]
        chain: ChainArgs,
        /// Print one JSON object.
        #[arg(long, env = "KINDRED_JSON")]
        json: bool,
    },
    /// Score a package locally exactly as validators do (bundled suites, the current spec).
    #[command(alias = "eval")]
    Evaluate {
        dir: PathBuf,
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "small")]
        competition: String,
        /// Epoch seed as hex.
        #[arg(long, env = "KINDRED_SEED", default_value = "6b696e64726564")]
        seed: String,
        /// Print one JSON object (its `score` field is the total).
        #[arg(long, env = "KINDRED_JSON")]
        json: bool,
    },
    /// Train a model on roleplay dialogues and write a submission package.
    ///
    /// With `--base DIR`, every weight of that package is fine-tuned (it must pass validation
    /// for `--competition`; its tokenizer, config, chat template and dtype are kept); without,
    /// a tiny model is trained from scratch (for the dev competition). The loss shows on a
    /// progress bar, and in the log (`--log info`) when there is no terminal.
    Finetune {
        /// Training data: Kindred dialogue JSONL, Synthetic-Persona-Chat CSV, or plain text.
        #[arg(long, env = "KINDRED_FINETUNE_DATA")]
        data: PathBuf,
        /// Package to start from (Hugging Face layout, e.g. from `miner import-gguf`).
        #[arg(long, env = "KINDRED_FINETUNE_BASE")]
        base: Option<PathBuf>,
        /// Competition the base must pass validation for (dev, small, medium).
        #[arg(long, env = "KINDRED_COMPETITION", default_value = "dev")]
        competition: String,
        /// Optimiser steps.
        #[arg(long, env = "KINDRED_FINETUNE_STEPS", default_value_t = 200)]
        steps: usize,
        /// Output directory for the package.
        #[arg(long, env = "KINDRED_FINETUNE_OUT")]
        out: PathBuf,
        /// How to read `--data`: dialogues (JSONL) or persona-chat (CSV), with the loss on the
        /// character's replies, or text (all tokens); auto picks persona-chat for `.csv` files.
        #[arg(long, env = "KINDRED_FINETUNE_FORMAT", value_enum, default_value_t = DataFormat::Auto)]
        format: DataFormat,
        /// Architecture of the tiny model (from scratch only).
        #[arg(long, env = "KINDRED_FINETUNE_ARCH", value_enum, default_value_t = Arch::Llama, conflicts_with = "base")]
        architecture: Arch,
        /// Seed of the initial weights and of the batch sampling.
        #[arg(long, env = "KINDRED_FINETUNE_SEED", default_value_t = 0)]
        seed: u64,
        /// Windows per step.
        #[arg(long, env = "KINDRED_FINETUNE_BATCH", default_value_t = 8)]
        batch_size: usize,
        /// Tokens per window.
        #[arg(long, env = "KINDRED_FINETUNE_SEQ_LEN", default_value_t = 128)]
        seq_len: usize,
        /// AdamW learning rate (constant).
        #[arg(long, env = "KINDRED_FINETUNE_LR", default_value_t = 3e-3)]
        learning_rate: f64,
        /// Hidden size of the tiny model (heads of 16 dimensions; from scratch only).
        #[arg(
            long,
            env = "KINDRED_FINETUNE_HIDDEN",
            default_value_t = 64,
            conflicts_with = "base"
        )]
        hidden_size: usize,
        /// Decoder layers (from scratch only).
        #[arg(
            long,
            env = "KINDRED_FINETUNE_LAYERS",
            default_value_t = 2,
            conflicts_with = "base"
        )]
        layers: usize,
    },
}

/// btcli-style chain and wallet flags, shared by the commands that talk to the chain.
#[derive(Debug, clap::Args)]
struct ChainArgs {
    #[arg(long, env = "KINDRED_NETUID", default_value_t = 1)]
    netuid: u16,
    /// finney, test, local or a ws:// URL.
    #[arg(
        long = "subtensor.network",
        env = "KINDRED_SUBTENSOR_NETWORK",
        default_value = "local"
    )]
    network: String,
    #[arg(long = "wallet.name", env = "BT_WALLET_NAME", default_value = "default")]
    wallet_name: String,
    #[arg(long = "wallet.hotkey", env = "BT_WALLET_HOTKEY", default_value = "default")]
    wallet_hotkey: String,
    #[arg(long = "wallet.path", env = "BT_WALLET_PATH")]
    wallet_path: Option<PathBuf>,
}

impl ChainArgs {
    fn wallet(&self) -> kindred_chain::wallet::Wallet {
        kindred_chain::wallet::Wallet {
            path: self
                .wallet_path
                .clone()
                .unwrap_or_else(kindred_chain::wallet::default_wallets_dir),
            name: self.wallet_name.clone(),
            hotkey: self.wallet_hotkey.clone(),
        }
    }

    fn network(&self) -> anyhow::Result<kindred_chain::Network> {
        self.network.parse().context("--subtensor.network")
    }
}

/// Where `miner push` publishes.
#[derive(Debug, Clone)]
enum PushHub {
    Hf,
    Local(PathBuf),
}

impl std::str::FromStr for PushHub {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.split_once(':') {
            _ if s == "hf" => Ok(PushHub::Hf),
            Some(("local", dir)) if !dir.is_empty() => Ok(PushHub::Local(dir.into())),
            _ => anyhow::bail!("--hub {s:?}: expected `hf` or `local:DIR`"),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DataFormat {
    Auto,
    Dialogues,
    PersonaChat,
    Text,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Arch {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
}

impl From<Arch> for Architecture {
    fn from(a: Arch) -> Self {
        match a {
            Arch::Llama => Self::Llama,
            Arch::Mistral => Self::Mistral,
            Arch::Qwen2 => Self::Qwen2,
            Arch::Qwen3 => Self::Qwen3,
        }
    }
}

fn main() -> ExitCode {
    // The chat-template sandbox re-executes this binary; it must not parse flags or log.
    if std::env::args().nth(1).as_deref() == Some(SANDBOX_ARG) {
        return ExitCode::from(serve_sandbox() as u8);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Push {
            dir,
            repo,
            hub,
            hub_dir,
            private,
            message,
            competition,
        } => {
            if let Some(competition) = competition {
                let comp = Competition::by_name(&competition)
                    .with_context(|| format!("unknown competition {competition:?} (dev, small, medium)"))?;
                let sandbox =
                    Sandbox::current_exe().context("locating this binary for the template sandbox")?;
                let verdict = check::check(&dir, &comp, &sandbox).context("checking the package")?;
                if !verdict.is_accepted() {
                    anyhow::bail!("validators would reject this package: {verdict:?}");
                }
            }
            let target = match hub_dir {
                Some(dir) => PushHub::Local(dir),
                None => hub.parse()?,
            };
            match target {
                PushHub::Local(hub_dir) => {
                    anyhow::ensure!(!private, "a directory hub has no private repositories");
                    let hub = kindred_validator::hub::LocalHub::new(&hub_dir);
                    let published = hub.publish(&dir, &repo).context("publishing")?;
                    println!("{}", published.revision_hex());
                }
                PushHub::Hf => {
                    let uploader = push::HfUploader::new(push::HfUploaderConfig::from_env())?;
                    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
                    let pushed = rt
                        .block_on(uploader.push(&dir, &repo, private, &message))
                        .with_context(|| {
                            format!("pushing {} to {repo} at {}", dir.display(), uploader.endpoint())
                        })?;
                    let lfs = pushed.files.iter().filter(|f| f.lfs).count();
                    let dedup = pushed.files.iter().filter(|f| f.deduplicated).count();
                    eprintln!(
                        "pushed {} files ({lfs} through LFS, {dedup} already on the hub{}) to {repo}{}",
                        pushed.files.len(),
                        if pushed.deleted.is_empty() {
                            String::new()
                        } else {
                            format!(", removed {}", pushed.deleted.join(", "))
                        },
                        if pushed.created && private {
                            " (new, private: run `miner publish` after `miner commit`)"
                        } else if pushed.created {
                            " (new)"
                        } else {
                            ""
                        },
                    );
                    println!("{}", pushed.revision);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { repo, private } => {
            let uploader = push::HfUploader::new(push::HfUploaderConfig::from_env())?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(uploader.set_private(&repo, private))
                .with_context(|| format!("changing the visibility of {repo}"))?;
            eprintln!("{repo} is now {}", if private { "private" } else { "public" });
            Ok(ExitCode::SUCCESS)
        }
        Command::Commit {
            dir,
            competition,
            hub,
            repo,
            revision,
            chain: chain_args,
            timelock,
            reveal_after_blocks,
        } => {
            let comp = Competition::by_name(&competition)
                .with_context(|| format!("unknown competition {competition:?} (dev, small, medium)"))?;
            let sandbox = Sandbox::current_exe().context("locating this binary for the template sandbox")?;
            let verdict = check::check(&dir, &comp, &sandbox).context("checking the package")?;
            if !verdict.is_accepted() {
                anyhow::bail!("validators would reject this package: {verdict:?}");
            }
            let signer = chain_args
                .wallet()
                .hotkey_signer(None)
                .context("loading the hotkey")?;
            let hotkey = kindred_chain::account::Hotkey(signer.public());
            let commitment =
                kindred_miner::submit::commitment_for(&dir, &competition, &hub, &repo, &revision, &hotkey)?;
            let text = commitment.encode()?;
            let network = chain_args.network()?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let netuid = kindred_chain::Netuid(chain_args.netuid);
            let (included, round) = rt.block_on(async {
                use kindred_chain::Chain;
                let chain = kindred_chain::subtensor::Subtensor::connect(&network)
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
        Command::Status {
            hotkey,
            validator_urls,
            chain: chain_args,
            json,
        } => {
            let hotkey: kindred_chain::account::Hotkey = match hotkey {
                Some(ss58) => ss58.parse().context("--hotkey")?,
                None => chain_args
                    .wallet()
                    .hotkey_signer(None)
                    .context("loading the hotkey")?
                    .hotkey(),
            };
            let network = chain_args.network()?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let report = rt.block_on(async {
                let chain = kindred_chain::subtensor::Subtensor::connect(&network)
                    .await
                    .context("connecting to the chain")?;
                let on_chain =
                    status::chain_status(&chain, kindred_chain::Netuid(chain_args.netuid), &hotkey)
                        .await
                        .context("reading the chain")?;
                let client = status::validator_client()?;
                let validators = futures::future::join_all(
                    validator_urls
                        .iter()
                        .map(|u| status::validator_report(&client, u, &hotkey)),
                )
                .await;
                anyhow::Ok(status::Status {
                    hotkey: hotkey.to_string(),
                    netuid: chain_args.netuid,
                    chain: on_chain,
                    validators,
                })
            })?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", status::render(&report));
            }
            // Exit 1 when a validator could not be read, so scripts notice.
            Ok(if report.validators.iter().any(|v| v.error.is_some()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Evaluate {
            dir,
            competition,
            seed,
            json,
        } => {
            kindred_validator::replay::evaluate_dir(
                &kindred_validator::config::Settings::default(),
                &dir,
                &competition,
                &seed,
                json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            dir,
            competition,
            json,
        } => {
            let comp = Competition::by_name(&competition)
                .with_context(|| format!("unknown competition {competition:?} (dev, small, medium)"))?;
            let sandbox = Sandbox::current_exe().context("locating this binary for the template sandbox")?;
            let verdict = check::check(&dir, &comp, &sandbox).context("checking the package")?;
            if json {
                println!("{}", serde_json::to_string(&verdict)?);
            } else {
                print!("{}", check::report(&dir, &verdict));
            }
            Ok(if verdict.is_accepted() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::ImportGguf { gguf, out } => {
            let cfg =
                import::import_gguf(&gguf, &out).with_context(|| format!("converting {}", gguf.display()))?;
            println!(
                "wrote {} ({}, {} layers, hidden {}, vocab {})",
                out.display(),
                cfg.architecture,
                cfg.num_layers,
                cfg.hidden_size,
                cfg.vocab_size
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Finetune {
            data,
            base,
            competition,
            steps,
            out,
            format,
            architecture,
            seed,
            batch_size,
            seq_len,
            learning_rate,
            hidden_size,
            layers,
        } => {
            let text =
                std::fs::read_to_string(&data).with_context(|| format!("reading {}", data.display()))?;
            let format = match format {
                DataFormat::Auto if data.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => {
                    DataFormat::PersonaChat
                }
                DataFormat::Auto => DataFormat::Dialogues,
                other => other,
            };
            let corpus = match format {
                DataFormat::Dialogues | DataFormat::Auto => Corpus::dialogues_from_jsonl(&text)
                    .with_context(|| format!("parsing {} as dialogue JSONL", data.display()))?,
                DataFormat::PersonaChat => {
                    let (dialogues, skipped) =
                        kindred_benchmarks::suites::persona_chat(&text).with_context(|| {
                            format!("parsing {} as Synthetic-Persona-Chat CSV", data.display())
                        })?;
                    tracing::info!(dialogues = dialogues.len(), skipped, "read persona-chat rows");
                    Corpus::Dialogues(dialogues)
                }
                DataFormat::Text => Corpus::Text(text),
            };
            let settings = FinetuneSettings {
                steps,
                batch_size,
                seq_len,
                learning_rate,
                seed,
                ..FinetuneSettings::default()
            };
            let trainer = match &base {
                Some(base) => {
                    let comp = Competition::by_name(&competition).with_context(|| {
                        format!("unknown competition {competition:?} (dev, small, medium)")
                    })?;
                    let sandbox =
                        Sandbox::current_exe().context("locating this binary for the template sandbox")?;
                    let validated =
                        kindred_scoring::validate::validate(base, &comp, &sandbox).with_context(|| {
                            format!("the base {} is not a valid {competition} package", base.display())
                        })?;
                    Trainer::from_package(&validated, &corpus, &settings)
                        .with_context(|| format!("starting from {}", base.display()))?
                }
                None => Trainer::from_scratch(
                    &tiny_spec(architecture, seed, hidden_size, layers)?,
                    &corpus,
                    &settings,
                )
                .context("setting up training")?,
            };
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template("training [{bar:40}] {pos}/{len} steps {msg} ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let report = finetune::train(trainer, steps, &out, &mut |step, loss| {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {loss:.3}"));
                // The bar is hidden without a terminal; the log still shows the loss.
                if step == 1 || step.is_multiple_of(10) || step == steps {
                    tracing::info!(step, loss, "training");
                }
            })
            .context("training")?;
            bar.finish_and_clear();
            println!(
                "wrote {} ({} parameters, {} steps on {} tokens of which {} learnt; loss {} → {})",
                out.display(),
                report.parameters,
                report.steps,
                report.corpus_tokens,
                report.learnt_tokens,
                report.first_loss.map_or("-".into(), |l| format!("{l:.3}")),
                report.last_loss.map_or("-".into(), |l| format!("{l:.3}")),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The tiny model `miner finetune` trains from scratch.
fn tiny_spec(architecture: Arch, seed: u64, hidden_size: usize, layers: usize) -> anyhow::Result<TinySpec> {
    anyhow::ensure!(
        hidden_size >= 16 && hidden_size.is_multiple_of(16),
        "--hidden-size must be a positive multiple of 16"
    );
    let mut spec = TinySpec::new(architecture.into(), seed);
    spec.hidden_size = hidden_size;
    spec.intermediate_size = 2 * hidden_size;
    spec.num_heads = hidden_size / 16;
    // Grouped-query attention where the head count allows it, as the small models have.
    spec.num_kv_heads = if spec.num_heads.is_multiple_of(2) {
        spec.num_heads / 2
    } else {
        spec.num_heads
    };
    spec.num_layers = layers;
    Ok(spec)
}
