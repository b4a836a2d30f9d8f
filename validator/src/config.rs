//! The operator's settings: command-line flags (each with an environment variable), then an
//! optional TOML file, then defaults, in that order of precedence. Names follow btcli where it
//! has one (`--netuid`, `--subtensor.network`, `--wallet.name`, `--wallet.hotkey`,
//! `--wallet.path`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use candle_core::Device;
use kindred_chain::wallet::{Wallet, default_wallets_dir};
use kindred_chain::{Netuid, Network};
use kindred_scoring::ScoringSpec;
use kindred_scoring::evaluate::Suites;
use kindred_scoring::template::Sandbox;
use serde::Deserialize;

use kindred_hub::{HfHub, HfHubConfig, Hubs, LocalHub, ModelHub};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("hub `{0}`: expected ID=hf[:ENDPOINT] or ID=local:DIRECTORY")]
    Hub(String),
    #[error("device `{0}`: expected cpu, cuda or cuda:N")]
    Device(String),
    #[error("scoring spec `{0}`: expected current, quick or demo")]
    Spec(String),
    #[error("network `{0}`: {1}")]
    Network(String, String),
    #[error("hub `{id}`: {source}")]
    HubSetup {
        id: String,
        source: kindred_hub::HubError,
    },
    #[error("device: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Settings as flags and the TOML file give them; every field optional so the two can merge.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Subnet to validate.
    #[arg(long, env = "KINDRED_NETUID")]
    pub netuid: Option<u16>,
    /// finney, test, local or a ws:// URL.
    #[arg(long = "subtensor.network", env = "KINDRED_SUBTENSOR_NETWORK")]
    #[serde(rename = "subtensor_network")]
    pub network: Option<String>,
    #[arg(long = "wallet.name", env = "BT_WALLET_NAME")]
    pub wallet_name: Option<String>,
    #[arg(long = "wallet.hotkey", env = "BT_WALLET_HOTKEY")]
    pub wallet_hotkey: Option<String>,
    #[arg(long = "wallet.path", env = "BT_WALLET_PATH")]
    pub wallet_path: Option<PathBuf>,
    /// Database: a SQLite file path (default) or a postgres:// URL.
    #[arg(long, env = "KINDRED_DB")]
    pub db: Option<String>,
    /// Model hubs miners may name, as ID=hf[:ENDPOINT] or ID=local:DIRECTORY (repeatable).
    #[arg(long = "hub", env = "KINDRED_HUBS", value_delimiter = ',')]
    #[serde(default)]
    pub hubs: Vec<String>,
    /// Token for the Hugging Face hub (private repositories, higher rate limits).
    #[arg(long, env = "HF_TOKEN", hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Where fetched models are kept, by content digest.
    #[arg(long, env = "KINDRED_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, env = "KINDRED_DEVICE")]
    pub device: Option<String>,
    /// Address of the leaderboard API; `off` serves nothing.
    #[arg(long = "api.addr", env = "KINDRED_API_ADDR")]
    #[serde(rename = "api_addr")]
    pub api_addr: Option<String>,
    /// Scoring spec: current (competitive), quick (tiny samples) or demo (quick, no guard).
    #[arg(long, env = "KINDRED_SPEC")]
    pub spec: Option<String>,
    /// Blocks between weight rounds.
    #[arg(long, env = "KINDRED_WEIGHTS_INTERVAL")]
    pub weights_interval: Option<u64>,
    /// Blocks per epoch-seed period.
    #[arg(long, env = "KINDRED_SEED_PERIOD")]
    pub seed_period: Option<u64>,
    /// Milliseconds between chain polls.
    #[arg(long, env = "KINDRED_POLL_MS")]
    pub poll_ms: Option<u64>,
}

impl Settings {
    /// Flags over the file's values.
    pub fn over(self, file: Settings) -> Settings {
        Settings {
            netuid: self.netuid.or(file.netuid),
            network: self.network.or(file.network),
            wallet_name: self.wallet_name.or(file.wallet_name),
            wallet_hotkey: self.wallet_hotkey.or(file.wallet_hotkey),
            wallet_path: self.wallet_path.or(file.wallet_path),
            db: self.db.or(file.db),
            hubs: if self.hubs.is_empty() {
                file.hubs
            } else {
                self.hubs
            },
            hf_token: self.hf_token.or(file.hf_token),
            cache_dir: self.cache_dir.or(file.cache_dir),
            device: self.device.or(file.device),
            api_addr: self.api_addr.or(file.api_addr),
            spec: self.spec.or(file.spec),
            weights_interval: self.weights_interval.or(file.weights_interval),
            seed_period: self.seed_period.or(file.seed_period),
            poll_ms: self.poll_ms.or(file.poll_ms),
        }
    }

    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.to_owned(),
            source,
        })
    }

    fn home() -> PathBuf {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".kindred")
    }

    pub fn netuid(&self) -> Netuid {
        Netuid(self.netuid.unwrap_or(1))
    }

    pub fn network(&self) -> Result<Network, ConfigError> {
        let text = self.network.as_deref().unwrap_or("local");
        text.parse::<Network>()
            .map_err(|e| ConfigError::Network(text.to_owned(), e.to_string()))
    }

    pub fn wallet(&self) -> Wallet {
        Wallet {
            path: self.wallet_path.clone().unwrap_or_else(default_wallets_dir),
            name: self.wallet_name.clone().unwrap_or_else(|| "default".into()),
            hotkey: self.wallet_hotkey.clone().unwrap_or_else(|| "default".into()),
        }
    }

    pub fn db(&self) -> String {
        self.db
            .clone()
            .unwrap_or_else(|| Self::home().join("validator.sqlite").display().to_string())
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| Self::home().join("models"))
    }

    pub fn api_addr(&self) -> Option<SocketAddr> {
        match self.api_addr.as_deref() {
            Some("off") => None,
            Some(a) => a.parse().ok(),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
        }
    }

    pub fn device(&self) -> Result<Device, ConfigError> {
        match self.device.as_deref().unwrap_or("cpu") {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::new_cuda(0)?),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(Device::new_cuda(n)?),
                None => Err(ConfigError::Device(other.to_owned())),
            },
        }
    }

    pub fn spec(&self) -> Result<ScoringSpec, ConfigError> {
        match self.spec.as_deref().unwrap_or("current") {
            "current" => Ok(ScoringSpec::current()),
            "quick" => Ok(ScoringSpec::quick()),
            "demo" => Ok(ScoringSpec::demo()),
            other => Err(ConfigError::Spec(other.to_owned())),
        }
    }

    /// The operator's hubs; `hf` (the public Hugging Face hub) when none are named.
    pub fn hubs(&self) -> Result<Hubs, ConfigError> {
        let specs = if self.hubs.is_empty() {
            vec!["hf=hf".to_owned()]
        } else {
            self.hubs.clone()
        };
        let mut hubs = Hubs::new();
        for spec in &specs {
            let (id, kind) = spec
                .split_once('=')
                .ok_or_else(|| ConfigError::Hub(spec.clone()))?;
            let hub: Arc<dyn ModelHub> = match kind.split_once(':') {
                Some(("local", dir)) => Arc::new(LocalHub::new(dir)),
                Some(("hf", endpoint)) => Arc::new(self.hf(id, HfHubConfig::new(endpoint))?),
                None if kind == "hf" => Arc::new(self.hf(id, HfHubConfig::from_env())?),
                _ => return Err(ConfigError::Hub(spec.clone())),
            };
            hubs.insert(id, hub);
        }
        Ok(hubs)
    }

    fn hf(&self, id: &str, mut cfg: HfHubConfig) -> Result<HfHub, ConfigError> {
        if let Some(token) = &self.hf_token {
            cfg.token = Some(token.clone());
        }
        HfHub::new(cfg).map_err(|source| ConfigError::HubSetup {
            id: id.to_owned(),
            source,
        })
    }

    pub fn weights_interval(&self) -> u64 {
        self.weights_interval.unwrap_or(100)
    }

    pub fn seed_period(&self) -> u64 {
        self.seed_period.unwrap_or(360)
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms.unwrap_or(2_000))
    }
}

pub use kindred_scoring::suites::SuiteError;

/// The bundled suites (the versions `ScoringSpec::current` names).
pub fn bundled_suites() -> Result<Suites, SuiteError> {
    kindred_scoring::suites::bundled()
}

/// The template sandbox: this executable, re-run with the sandbox argument.
pub fn sandbox() -> std::io::Result<Sandbox> {
    Sandbox::current_exe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("validator.toml");
        std::fs::write(
            &path,
            "netuid = 7\nsubtensor_network = \"test\"\nwallet_name = \"from-file\"\n\
             hubs = [\"mirror=hf:https://mirror.example\", \"disk=local:/srv/hub\"]\nspec = \"quick\"\n",
        )
        .expect("write");
        let file = Settings::from_file(&path).expect("parses");
        let flags = Settings {
            wallet_name: Some("from-flag".into()),
            ..Settings::default()
        };
        let s = flags.over(file);
        assert_eq!(s.netuid(), Netuid(7));
        assert_eq!(s.wallet().name, "from-flag");
        assert_eq!(s.wallet().hotkey, "default");
        assert_eq!(s.spec().expect("spec").version, ScoringSpec::quick().version);
        let hubs = s.hubs().expect("hubs");
        let ids: Vec<&str> = hubs.ids().collect();
        assert!(ids.contains(&"mirror") && ids.contains(&"disk"), "{ids:?}");
        assert!(matches!(s.network(), Ok(Network::Test)), "{:?}", s.network());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "netuid = 1\nwalet_name = \"typo\"\n").expect("write");
        assert!(matches!(
            Settings::from_file(&path),
            Err(ConfigError::Toml { .. })
        ));
        let bad_hub = Settings {
            hubs: vec!["evil=https://evil.example".into()],
            ..Settings::default()
        };
        assert!(matches!(bad_hub.hubs(), Err(ConfigError::Hub(_))));
        let bad_spec = Settings {
            spec: Some("fastest".into()),
            ..Settings::default()
        };
        assert!(matches!(bad_spec.spec(), Err(ConfigError::Spec(_))));
    }
}
