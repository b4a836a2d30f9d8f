//! Kindred's timelock encryption against the real drand quicknet beacon and against PyPI
//! `bittensor-drand` (pinned in `.ci/run`), the library the Python SDK and subtensor's own tests
//! use: each side opens what the other sealed, given the beacon's published signature of the round.
//!
//! The interpreter is `$KINDRED_PYTHON` (default `python3`) with `bittensor-drand` installed;
//! `.ci/run` provides both.

use std::path::PathBuf;
use std::process::Command;

use codec::{Decode, Encode};
use kindred_chain::timelock::{self, BeaconKey, Round, RoundSignature};

/// drand quicknet's public key (chain hash 52db9ba7…e971), as drand publishes it at
/// `/52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971/info`; subtensor's Drand
/// pallet stores the same key as its default `BeaconConfig` (see `$KINDRED_SHARED/chain/bittensor.scale`).
const QUICKNET_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c\
                            8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb\
                            5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";

/// Quicknet's pulse for round 1000 as the drand HTTP API serves it (`/public/1000`); the same pulse
/// is the fixture of subtensor's `pallets/drand/src/tests.rs` (`DRAND_PULSE`).
const ROUND: Round = Round(1000);
const SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125\
                         e342b73a8dd2bacbe47e4b6b63ed5e39";
const RANDOMNESS: &str = "fe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd";

fn key() -> BeaconKey {
    BeaconKey::from_bytes(&hex::decode(QUICKNET_KEY).expect("hex")).expect("quicknet key decodes")
}

fn signature() -> RoundSignature {
    RoundSignature::from_bytes(&hex::decode(SIGNATURE).expect("hex")).expect("signature decodes")
}

fn python(script: &str, args: &[&str]) -> String {
    let python = std::env::var_os("KINDRED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): see .ci/run", python.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed (needs `pip install bittensor-drand==2.0.0`, as .ci/run does): {stderr}",
        python.display()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `bittensor-drand`'s framing of `encrypt_at_round` / `decrypt_with_signature`: SCALE
/// `(encrypted_data: Vec<u8>, reveal_round: u64)` around the raw ciphertext the chain stores.
#[derive(Encode, Decode)]
struct UserData {
    encrypted: Vec<u8>,
    round: u64,
}

#[test]
fn the_published_quicknet_pulse_verifies_under_our_hash_to_curve() {
    let sig = signature();
    assert!(sig.verifies(&key(), ROUND));
    assert!(!sig.verifies(&key(), Round(ROUND.0 + 1)));
    assert_eq!(hex::encode(sig.randomness()), RANDOMNESS);
}

#[test]
fn kindred_ciphertexts_open_in_bittensor_drand() {
    let message = b"\x01\x02kindred weights payload".to_vec();
    let sealed = timelock::encrypt(&key(), ROUND, &message).expect("encrypts");
    let framed = UserData {
        encrypted: sealed,
        round: ROUND.0,
    }
    .encode();
    let opened = python(
        "import sys, bittensor_drand as d\n\
         print(d.decrypt_with_signature(bytes.fromhex(sys.argv[1]), sys.argv[2]).hex())",
        &[&hex::encode(&framed), SIGNATURE],
    );
    assert_eq!(opened, hex::encode(&message));
}

#[test]
fn bittensor_drand_ciphertexts_open_in_kindred() {
    let message = "a model id sealed by the Python library";
    let out = python(
        "import sys, bittensor_drand as d\n\
         ct, r = d.encrypt_at_round(sys.argv[1].encode(), int(sys.argv[2]))\n\
         print(ct.hex(), r)",
        &[message, &ROUND.0.to_string()],
    );
    let (ct, round) = out.split_once(' ').expect("two fields");
    assert_eq!(round, "1000");
    let framed = UserData::decode(&mut &hex::decode(ct).expect("hex")[..]).expect("UserData");
    assert_eq!(framed.round, ROUND.0);
    let opened = timelock::decrypt(&framed.encrypted, &signature()).expect("opens");
    assert_eq!(opened, message.as_bytes());
    // The neighbouring round's signature is not the key: a forged pulse opens nothing.
    let other = timelock::BeaconSecret::from_seed(b"not drand").sign(ROUND);
    assert_eq!(
        timelock::decrypt(&framed.encrypted, &other),
        Err(timelock::TimelockError::WrongKey)
    );
}

/// The reveal round Kindred seals to is the one `bittensor-drand` computes from the same chain
/// state (its `get_encrypted_commit_v2`, the SDK's timelocked `set_weights`), with quicknet's
/// genesis and period. The Python side reads the clock between our two readings, so its round
/// must lie between the rounds we compute at those two instants.
#[test]
fn reveal_rounds_match_bittensor_drand() {
    use kindred_chain::Block;
    use kindred_chain::timelocked::{Beacon, EpochSchedule, TimelockContext, unix_now};
    use std::time::Duration;

    /// (tempo, last epoch block, pending epoch at, epoch index, blocks since last step, current
    /// block, reveal period, block time in seconds)
    type Case = (u16, u64, u64, u64, u64, u64, u64, f64);
    let cases: [Case; 5] = [
        (360, 1000, 0, 7, 40, 1040, 1, 12.0),
        (360, 1000, 0, 7, 359, 1359, 1, 12.0),
        (10, 500, 0, 40, 3, 503, 2, 0.25),
        (100, 2000, 2010, 3, 2, 2002, 1, 12.0),
        (50, 0, 0, 0, 60_000, 70_000, 3, 0.25),
    ];
    for (tempo, last, pending, index, since, current, period, block_secs) in cases {
        let ctx = TimelockContext {
            beacon: Beacon {
                key: key(),
                genesis_time: 1_692_803_367,
                period: 3,
            },
            commit_reveal_version: 4,
            schedule: EpochSchedule {
                tempo,
                last_epoch_block: last,
                pending_epoch_at: pending,
                epoch_index: index,
                blocks_since_last_step: since,
                current_block: Block(current),
            },
            reveal_period_epochs: period,
            block_time: Duration::from_secs_f64(block_secs),
        };
        let before = ctx.reveal_round(unix_now()).expect("schedule");
        let theirs = python(
            "import sys, bittensor_drand as d\n\
             a = [int(x) for x in sys.argv[1:10]]\n\
             ct, r = d.get_encrypted_commit_v2([0], [65535], 0, a[0], a[1], a[2], a[3], a[4], a[5], a[6], float(sys.argv[10]), bytes(32))\n\
             print(r)",
            &[
                &last.to_string(),
                &pending.to_string(),
                &index.to_string(),
                &tempo.to_string(),
                &since.to_string(),
                &current.to_string(),
                &period.to_string(),
                "0",
                "0",
                &block_secs.to_string(),
            ],
        );
        let after = ctx.reveal_round(unix_now()).expect("schedule");
        let theirs: u64 = theirs.parse().expect("a round");
        assert!(
            before.0 <= theirs && theirs <= after.0,
            "tempo {tempo}, block {current}: ours {before}..{after}, bittensor-drand {theirs}"
        );
    }
}

/// A sealed commitment's round is the one `bittensor-drand`'s `get_encrypted_commitment` (the
/// SDK's timelocked `set_commitment`) picks for the same delay; its plaintext is the SCALE string.
#[test]
fn commitment_rounds_match_bittensor_drand() {
    use kindred_chain::timelocked::{Beacon, commitment_round, revealed_text, unix_now};
    use std::time::Duration;

    let beacon = Beacon {
        key: key(),
        genesis_time: 1_692_803_367,
        period: 3,
    };
    for (blocks, block_secs) in [(10u64, 12.0f64), (360, 12.0), (40, 0.25), (7, 0.25)] {
        let block_time = Duration::from_secs_f64(block_secs);
        let before = commitment_round(&beacon, unix_now() as u64, blocks, block_time);
        let theirs = python(
            "import sys, bittensor_drand as d\n\
             ct, r = d.get_encrypted_commitment('x', int(sys.argv[1]), float(sys.argv[2]))\n\
             print(r)",
            &[&blocks.to_string(), &block_secs.to_string()],
        );
        let after = commitment_round(&beacon, unix_now() as u64, blocks, block_time);
        let theirs: u64 = theirs.parse().expect("a round");
        assert!(
            before.0 <= theirs && theirs <= after.0,
            "{blocks} blocks of {block_secs} s: ours {before}..{after}, bittensor-drand {theirs}"
        );
    }
    // What the SDK seals is the SCALE encoding of the text.
    let out = python(
        "import sys, bittensor_drand as d\n\
         ct, r = d.encrypt_at_round(sys.argv[1].encode(), int(sys.argv[2]))\n\
         print(ct.hex())",
        &["plain", &ROUND.0.to_string()],
    );
    let framed = UserData::decode(&mut &hex::decode(out).expect("hex")[..]).expect("UserData");
    let opened = timelock::decrypt(&framed.encrypted, &signature()).expect("opens");
    assert_eq!(
        revealed_text(&opened).as_deref(),
        Some("plain"),
        "raw UTF-8 is read too"
    );
    assert_eq!(
        revealed_text(&"scale".to_string().encode()).as_deref(),
        Some("scale")
    );
}
