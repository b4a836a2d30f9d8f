//! Bittensor wallets as btcli writes them:
//! `<path>/<name>/hotkeys/<hotkey>` (plaintext JSON), `<path>/<name>/coldkey` (encrypted) and
//! `<path>/<name>/coldkeypub.txt` (public JSON).
//!
//! An encrypted keyfile is `$NACL` followed by a NaCl secretbox (24-byte nonce, Poly1305 tag,
//! XSalsa20 ciphertext) of the JSON; the box key is Argon2i v1.3 of the password with libsodium's
//! "sensitive" limits (8 passes, 512 MiB) and the fixed salt btwallet uses. Secrets are held in
//! zeroizing buffers and never printed: `Debug` shows the address only.

use std::fmt;
use std::path::{Path, PathBuf};

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::Deserialize;
use subxt_signer::bip39::Mnemonic;
use subxt_signer::sr25519;
use zeroize::{Zeroize, Zeroizing};

use crate::account::{Coldkey, Hotkey};

const NACL_PREFIX: &[u8] = b"$NACL";
/// btwallet's fixed Argon2i salt for `$NACL` keyfiles.
const NACL_SALT: [u8; 16] = [
    0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
];
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE` / `MEMLIMIT_SENSITIVE` (in KiB here).
const ARGON2I_PASSES: u32 = 8;
const ARGON2I_MEMORY_KIB: u32 = 512 * 1024;

/// Where btcli keeps wallets unless told otherwise.
pub fn default_wallets_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".bittensor")
        .join("wallets")
}

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("cannot read keyfile {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write keyfile {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("keyfile {path} is not a keyfile Kindred can read: {reason}")]
    Format { path: PathBuf, reason: &'static str },
    #[error("keyfile {path} is encrypted ({scheme}); only btwallet's `$NACL` format is supported")]
    UnsupportedEncryption { path: PathBuf, scheme: &'static str },
    #[error("keyfile {path} is encrypted and no password was given")]
    PasswordRequired { path: PathBuf },
    #[error("wrong password for keyfile {path}")]
    WrongPassword { path: PathBuf },
    #[error("keyfile {path} holds no usable secret (`secretSeed` or `secretPhrase`)")]
    NoSecret { path: PathBuf },
    #[error("keyfile {path}: its secret derives {derived}, but the file says {stated}")]
    KeyMismatch {
        path: PathBuf,
        derived: String,
        stated: String,
    },
    #[error("key derivation failed for {path}")]
    Kdf { path: PathBuf },
}

/// The fields of btwallet's keyfile JSON that Kindred reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyfileJson {
    secret_seed: Option<String>,
    secret_phrase: Option<String>,
    ss58_address: Option<String>,
    public_key: Option<String>,
}

impl Drop for KeyfileJson {
    fn drop(&mut self) {
        if let Some(s) = self.secret_seed.as_mut() {
            s.zeroize();
        }
        if let Some(s) = self.secret_phrase.as_mut() {
            s.zeroize();
        }
    }
}

/// An sr25519 signing key loaded from a keyfile. Debug output shows only its address.
#[derive(Clone)]
pub struct Signer {
    keypair: sr25519::Keypair,
}

impl Signer {
    pub fn from_keypair(keypair: sr25519::Keypair) -> Self {
        Signer { keypair }
    }

    /// A well-known development key (`//Alice` … `//Ferdie`), for the devnet and tests only.
    pub fn dev(name: &str) -> Option<Signer> {
        let keypair = match name.to_ascii_lowercase().as_str() {
            "alice" => sr25519::dev::alice(),
            "bob" => sr25519::dev::bob(),
            "charlie" => sr25519::dev::charlie(),
            "dave" => sr25519::dev::dave(),
            "eve" => sr25519::dev::eve(),
            "ferdie" => sr25519::dev::ferdie(),
            _ => return None,
        };
        Some(Signer { keypair })
    }

    pub fn public(&self) -> [u8; 32] {
        self.keypair.public_key().0
    }

    pub fn hotkey(&self) -> Hotkey {
        Hotkey(self.public())
    }

    pub fn coldkey(&self) -> Coldkey {
        Coldkey(self.public())
    }

    pub fn keypair(&self) -> &sr25519::Keypair {
        &self.keypair
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.keypair.sign(message).0
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.hotkey())
    }
}

/// A wallet's location: `--wallet.path`, `--wallet.name`, `--wallet.hotkey` as btcli names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub path: PathBuf,
    pub name: String,
    pub hotkey: String,
}

impl Wallet {
    pub fn new(path: impl Into<PathBuf>, name: impl Into<String>, hotkey: impl Into<String>) -> Self {
        Wallet {
            path: path.into(),
            name: name.into(),
            hotkey: hotkey.into(),
        }
    }

    pub fn hotkey_path(&self) -> PathBuf {
        self.path.join(&self.name).join("hotkeys").join(&self.hotkey)
    }

    pub fn coldkey_path(&self) -> PathBuf {
        self.path.join(&self.name).join("coldkey")
    }

    pub fn coldkeypub_path(&self) -> PathBuf {
        self.path.join(&self.name).join("coldkeypub.txt")
    }

    /// The hotkey's signing key (btcli writes hotkeys unencrypted; an encrypted one needs
    /// `password`).
    pub fn hotkey_signer(&self, password: Option<&str>) -> Result<Signer, WalletError> {
        load_signer(&self.hotkey_path(), password)
    }

    pub fn coldkey_signer(&self, password: Option<&str>) -> Result<Signer, WalletError> {
        load_signer(&self.coldkey_path(), password)
    }

    /// The coldkey's address from `coldkeypub.txt`, no password needed.
    pub fn coldkey_public(&self) -> Result<Coldkey, WalletError> {
        let path = self.coldkeypub_path();
        let bytes = read(&path)?;
        let json: KeyfileJson =
            serde_json::from_slice(&bytes).map_err(|_| format_error(&path, "not keyfile JSON"))?;
        stated_public(&path, &json)?
            .map(Coldkey)
            .ok_or_else(|| format_error(&path, "no `publicKey` or `ss58Address`"))
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| WalletError::Read {
            path: path.to_owned(),
            source,
        })
}

fn format_error(path: &Path, reason: &'static str) -> WalletError {
    WalletError::Format {
        path: path.to_owned(),
        reason,
    }
}

/// Load a signing key from a btwallet keyfile, decrypting it first if it is a `$NACL` box.
pub fn load_signer(path: &Path, password: Option<&str>) -> Result<Signer, WalletError> {
    let raw = read(path)?;
    let plain = match classify(&raw) {
        Encryption::None => raw,
        Encryption::Nacl => {
            let password = password.ok_or_else(|| WalletError::PasswordRequired {
                path: path.to_owned(),
            })?;
            decrypt_nacl(path, &raw, password)?
        }
        Encryption::Other(scheme) => {
            return Err(WalletError::UnsupportedEncryption {
                path: path.to_owned(),
                scheme,
            });
        }
    };
    let json: KeyfileJson =
        serde_json::from_slice(&plain).map_err(|_| format_error(path, "not keyfile JSON"))?;
    let keypair = if let Some(seed) = json.secret_seed.as_deref() {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(seed.trim_start_matches("0x"), bytes.as_mut_slice())
            .map_err(|_| format_error(path, "`secretSeed` is not 32 bytes of hex"))?;
        sr25519::Keypair::from_secret_key(*bytes).map_err(|_| format_error(path, "bad `secretSeed`"))?
    } else if let Some(phrase) = json.secret_phrase.as_deref() {
        let mnemonic = Mnemonic::parse(phrase)
            .map_err(|_| format_error(path, "`secretPhrase` is not a BIP-39 phrase"))?;
        sr25519::Keypair::from_phrase(&mnemonic, None)
            .map_err(|_| format_error(path, "bad `secretPhrase`"))?
    } else {
        return Err(WalletError::NoSecret {
            path: path.to_owned(),
        });
    };
    let signer = Signer { keypair };
    if let Some(stated) = stated_public(path, &json)?
        && stated != signer.public()
    {
        return Err(WalletError::KeyMismatch {
            path: path.to_owned(),
            derived: signer.hotkey().to_string(),
            stated: Hotkey(stated).to_string(),
        });
    }
    Ok(signer)
}

fn stated_public(path: &Path, json: &KeyfileJson) -> Result<Option<[u8; 32]>, WalletError> {
    if let Some(hex_key) = json.public_key.as_deref() {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_key.trim_start_matches("0x"), &mut out)
            .map_err(|_| format_error(path, "`publicKey` is not 32 bytes of hex"))?;
        return Ok(Some(out));
    }
    if let Some(ss58) = json.ss58_address.as_deref() {
        let key: Hotkey = ss58
            .parse()
            .map_err(|_| format_error(path, "`ss58Address` is not SS58"))?;
        return Ok(Some(key.0));
    }
    Ok(None)
}

enum Encryption {
    None,
    Nacl,
    Other(&'static str),
}

fn classify(raw: &[u8]) -> Encryption {
    if raw.starts_with(NACL_PREFIX) {
        Encryption::Nacl
    } else if raw.starts_with(b"$ANSIBLE_VAULT") {
        Encryption::Other("ansible vault")
    } else if raw.starts_with(b"gAAAAA") {
        Encryption::Other("legacy fernet")
    } else {
        Encryption::None
    }
}

fn nacl_key(path: &Path, password: &str) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let params = argon2::Params::new(ARGON2I_MEMORY_KIB, ARGON2I_PASSES, 1, Some(32)).map_err(|_| {
        WalletError::Kdf {
            path: path.to_owned(),
        }
    })?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password.as_bytes(), &NACL_SALT, key.as_mut_slice())
        .map_err(|_| WalletError::Kdf {
            path: path.to_owned(),
        })?;
    Ok(key)
}

fn decrypt_nacl(path: &Path, raw: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let body = &raw[NACL_PREFIX.len()..];
    if body.len() < 24 + 16 {
        return Err(format_error(path, "`$NACL` box is too short"));
    }
    let (nonce, boxed) = body.split_at(24);
    let key = nacl_key(path, password)?;
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), boxed)
        .map(Zeroizing::new)
        .map_err(|_| WalletError::WrongPassword {
            path: path.to_owned(),
        })
}

/// Write a `$NACL` keyfile the way btwallet does (used by `devnet wallets` and tests).
pub fn encrypt_nacl(
    path: &Path,
    plain: &[u8],
    password: &str,
    nonce: [u8; 24],
) -> Result<Vec<u8>, WalletError> {
    let key = nacl_key(path, password)?;
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    let boxed = cipher
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| WalletError::Kdf {
            path: path.to_owned(),
        })?;
    let mut out = Vec::with_capacity(NACL_PREFIX.len() + 24 + boxed.len());
    out.extend_from_slice(NACL_PREFIX);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&boxed);
    Ok(out)
}
