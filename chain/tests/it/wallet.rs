//! Loading wallets written by PyPI `bittensor-wallet` (see `tests/data/README.md`).

use std::path::PathBuf;

use kindred_chain::wallet::{Signer, Wallet, WalletError, encrypt_nacl, load_signer};

const HOTKEY: &str = "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe";
const COLDKEY: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";
const PASSWORD: &str = "kindred-test-password";

fn wallet() -> Wallet {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wallets");
    Wallet::new(dir, "kindred-test", "miner1")
}

#[test]
fn plaintext_hotkey_loads_and_signs() {
    let signer = wallet().hotkey_signer(None).expect("hotkey loads");
    assert_eq!(signer.hotkey().to_string(), HOTKEY);
    let sig = signer.sign(b"kindred");
    let sig = subxt_signer::sr25519::Signature(sig);
    assert!(subxt_signer::sr25519::verify(
        &sig,
        b"kindred",
        &signer.keypair().public_key()
    ));
}

#[test]
fn encrypted_coldkey_needs_the_right_password() {
    let w = wallet();
    assert!(matches!(
        w.coldkey_signer(None),
        Err(WalletError::PasswordRequired { .. })
    ));
    assert!(matches!(
        w.coldkey_signer(Some("not it")),
        Err(WalletError::WrongPassword { .. })
    ));
    let signer = w
        .coldkey_signer(Some(PASSWORD))
        .expect("btwallet's $NACL coldkey decrypts");
    assert_eq!(signer.coldkey().to_string(), COLDKEY);
    assert_eq!(w.coldkey_public().expect("coldkeypub").to_string(), COLDKEY);
}

#[test]
fn debug_output_never_shows_secrets() {
    let signer = wallet().hotkey_signer(None).expect("hotkey loads");
    let shown = format!("{signer:?}");
    assert!(shown.contains(HOTKEY));
    let raw = std::fs::read_to_string(wallet().hotkey_path()).expect("read");
    let seed: serde_json::Value = serde_json::from_str(&raw).expect("json");
    let seed = seed["secretSeed"]
        .as_str()
        .expect("seed")
        .trim_start_matches("0x")
        .to_owned();
    assert!(!shown.contains(&seed[..16]));
}

#[test]
fn a_keyfile_whose_public_key_disagrees_with_its_secret_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = std::fs::read_to_string(wallet().hotkey_path()).expect("read");
    let mut json: serde_json::Value = serde_json::from_str(&raw).expect("json");
    json["publicKey"] = serde_json::Value::String(format!("0x{}", "11".repeat(32)));
    let path = dir.path().join("hot");
    std::fs::write(&path, json.to_string()).expect("write");
    assert!(matches!(
        load_signer(&path, None),
        Err(WalletError::KeyMismatch { .. })
    ));
}

#[test]
fn phrase_only_keyfiles_load_and_garbage_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let phrase = dir.path().join("phrase");
    std::fs::write(
        &phrase,
        r#"{"secretPhrase":"legal winner thank year wave sausage worth useful legal winner thank yellow"}"#,
    )
    .expect("write");
    assert_eq!(
        load_signer(&phrase, None)
            .expect("phrase loads")
            .hotkey()
            .to_string(),
        HOTKEY
    );

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x00\x01not json").expect("write");
    assert!(matches!(
        load_signer(&garbage, None),
        Err(WalletError::Format { .. })
    ));

    let empty = dir.path().join("empty");
    std::fs::write(
        &empty,
        br#"{"ss58Address":"5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"}"#,
    )
    .expect("write");
    assert!(matches!(
        load_signer(&empty, None),
        Err(WalletError::NoSecret { .. })
    ));

    let missing = dir.path().join("missing");
    assert!(matches!(
        load_signer(&missing, None),
        Err(WalletError::Read { .. })
    ));
}

#[test]
fn keyfiles_kindred_encrypts_decrypt_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cold");
    let alice = Signer::dev("alice").expect("dev key");
    let plain =
        br#"{"secretPhrase":"bottom drive obey lake curtain smoke basket hold race lonely fit walk"}"#;
    let boxed = encrypt_nacl(&path, plain, "pw", [7u8; 24]).expect("encrypt");
    assert!(boxed.starts_with(b"$NACL"));
    std::fs::write(&path, &boxed).expect("write");
    let loaded = load_signer(&path, Some("pw")).expect("decrypts");
    // The dev phrase without a derivation path is not //Alice, but it is the coldkey above.
    assert_eq!(loaded.coldkey().to_string(), COLDKEY);
    assert_ne!(loaded.public(), alice.public());
}
