//! `devnet wallets`: btcli-format wallets for the well-known development keys, so Kindred's miner
//! and validator (and btcli) can use the devnet's funded accounts at once.
//!
//! Each wallet `<name>` (alice … ferdie) gets a plaintext `coldkey`, `coldkeypub.txt` and
//! `hotkeys/default`, all holding the same `//Name` key. These are public test keys: never fund
//! them on a real network.

use std::path::{Path, PathBuf};

use kindred_chain::wallet::{Signer, WalletError};

/// The `//Alice` … `//Ferdie` mini-secret seeds (hard derivations of Substrate's dev phrase).
pub const DEV_SEEDS: [(&str, &str); 6] = [
    (
        "alice",
        "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
    ),
    (
        "bob",
        "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
    ),
    (
        "charlie",
        "bc1ede780f784bb6991a585e4f6e61522c14e1cae6ad0895fb57b9a205a8f938",
    ),
    (
        "dave",
        "868020ae0687dda7d57565093a69090211449845a7e11453612800b663307246",
    ),
    (
        "eve",
        "786ad0e2df456fe43dd1f91ebca22e235bc162e0bb8d53c633e8c85b2af68b7a",
    ),
    (
        "ferdie",
        "42438b7883391c05512a938e36c2df0131e088b3756d6aa7a755fbff19d2f842",
    ),
];

fn keyfile_json(seed_hex: &str, signer: &Signer) -> String {
    let public = hex::encode(signer.public());
    serde_json::json!({
        "accountId": format!("0x{public}"),
        "publicKey": format!("0x{public}"),
        "secretSeed": format!("0x{seed_hex}"),
        "secretPhrase": null,
        "ss58Address": signer.hotkey().to_string(),
        "cryptoType": 1,
    })
    .to_string()
}

fn write(path: &Path, contents: &str) -> Result<(), WalletError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WalletError::Write {
            path: parent.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, contents).map_err(|source| WalletError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Write the six development wallets under `dir`; returns the wallet directories written.
pub fn write_dev_wallets(dir: &Path) -> Result<Vec<PathBuf>, WalletError> {
    let mut written = Vec::new();
    for (name, seed_hex) in DEV_SEEDS {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).map_err(|_| WalletError::Format {
            path: dir.to_owned(),
            reason: "built-in dev seed",
        })?;
        let keypair =
            subxt_signer::sr25519::Keypair::from_secret_key(seed).map_err(|_| WalletError::Format {
                path: dir.to_owned(),
                reason: "built-in dev seed",
            })?;
        let signer = Signer::from_keypair(keypair);
        let wallet = dir.join(name);
        if wallet.exists() {
            // Never overwrite someone's wallet that happens to share a dev name.
            return Err(WalletError::Format {
                path: wallet,
                reason: "a wallet with this name already exists",
            });
        }
        let full = keyfile_json(seed_hex, &signer);
        let public = serde_json::json!({
            "accountId": format!("0x{}", hex::encode(signer.public())),
            "publicKey": format!("0x{}", hex::encode(signer.public())),
            "ss58Address": signer.hotkey().to_string(),
            "cryptoType": 1,
        })
        .to_string();
        write(&wallet.join("coldkey"), &full)?;
        write(&wallet.join("coldkeypub.txt"), &public)?;
        write(&wallet.join("hotkeys").join("default"), &full)?;
        written.push(wallet);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kindred_chain::wallet::Wallet;

    #[test]
    fn dev_wallets_hold_the_well_known_dev_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_dev_wallets(dir.path()).expect("written");
        assert_eq!(written.len(), 6);
        for (name, _) in DEV_SEEDS {
            let wallet = Wallet::new(dir.path(), name, "default");
            let expected = Signer::dev(name).expect("dev key").public();
            assert_eq!(
                wallet.hotkey_signer(None).expect("hotkey").public(),
                expected,
                "{name} hotkey"
            );
            assert_eq!(
                wallet.coldkey_signer(None).expect("coldkey").public(),
                expected,
                "{name} coldkey"
            );
            assert_eq!(
                wallet.coldkey_public().expect("coldkeypub").0,
                expected,
                "{name} coldkeypub"
            );
        }
    }
}
