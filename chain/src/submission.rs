//! What a miner commits on chain to enter a model, defined once for the miner and the validator.
//!
//! One UTF-8 `Raw` commitment field of at most 128 bytes:
//!
//! ```text
//! k1:<competition>:<hub>:<repo>:<revision>:<hash>
//! k1:small:hf:kindred-org/wren-135m:<27 base64url chars>:<22 base64url chars>
//! (63 bytes besides the repository with a 5-letter competition and a 2-letter hub)
//! ```
//!
//! - `hub` is a short id from the validator operator's list of hubs, never a URL, so a miner
//!   cannot send validators to an arbitrary host.
//! - `revision` pins the repository state: a 20-byte commit id (a Hugging Face git sha), written
//!   in base64url to leave room for the repository name.
//! - `hash` is 128 bits of `sha256(content digest ‖ hotkey)`, where the content digest is
//!   `sha256` over the sorted `(file name, sha256(file))` pairs. A commitment copied to another
//!   hotkey does not verify, and identical content under several hotkeys is recognised by its
//!   unsalted digest.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::account::Hotkey;
use crate::subtensor::calls::MAX_COMMITMENT_BYTES;

/// The format tag this code writes and reads.
pub const FORMAT: &str = "k1";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error("not a Kindred commitment (it must start with `{FORMAT}:`)")]
    NotKindred,
    #[error("commitment format `{0}` is not one this validator reads (it reads `{FORMAT}`)")]
    Version(String),
    #[error("commitment has {0} fields; `{FORMAT}:competition:hub:repo:revision:hash` has 6")]
    FieldCount(usize),
    #[error("bad {field} `{value}`: {why}")]
    Field {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("commitment is {0} bytes; the chain takes at most {MAX_COMMITMENT_BYTES}")]
    TooLong(usize),
}

impl SubmissionError {
    /// A stable code for the leaderboard and the store.
    pub fn code(&self) -> &'static str {
        match self {
            SubmissionError::NotKindred => "commitment_not_kindred",
            SubmissionError::Version(_) => "commitment_version",
            SubmissionError::FieldCount(_) => "commitment_fields",
            SubmissionError::Field { .. } => "commitment_field",
            SubmissionError::TooLong(_) => "commitment_too_long",
        }
    }
}

fn bad(field: &'static str, value: &str, why: &'static str) -> SubmissionError {
    SubmissionError::Field {
        field,
        value: value.chars().take(64).collect(),
        why,
    }
}

/// A model entered in a competition: where to fetch it and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelCommitment {
    pub competition: String,
    pub hub: String,
    pub repo: String,
    pub revision: [u8; 20],
    pub hash: [u8; 16],
}

impl ModelCommitment {
    /// The revision as a Hugging Face commit id (40 lowercase hex digits).
    pub fn revision_hex(&self) -> String {
        hex::encode(self.revision)
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The commitment text, checked against the chain's size limit.
    pub fn encode(&self) -> Result<String, SubmissionError> {
        let text = self.to_string();
        if text.len() > MAX_COMMITMENT_BYTES {
            return Err(SubmissionError::TooLong(text.len()));
        }
        Ok(text)
    }
}

impl fmt::Display for ModelCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FORMAT}:{}:{}:{}:{}:{}",
            self.competition,
            self.hub,
            self.repo,
            URL_SAFE_NO_PAD.encode(self.revision),
            URL_SAFE_NO_PAD.encode(self.hash)
        )
    }
}

fn short_id(field: &'static str, s: &str) -> Result<String, SubmissionError> {
    let ok = (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(bad(field, s, "1-16 characters of a-z, 0-9 and -"))
    }
}

fn repo_id(s: &str) -> Result<String, SubmissionError> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.contains("..")
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match s.split_once('/') {
        Some((org, name)) if part_ok(org) && part_ok(name) => Ok(s.to_owned()),
        _ => Err(bad(
            "repository",
            s,
            "`org/name` of letters, digits, `-`, `_` and `.`",
        )),
    }
}

fn bytes<const N: usize>(field: &'static str, s: &str) -> Result<[u8; N], SubmissionError> {
    let decoded = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad(field, s, "not base64url"))?;
    decoded.try_into().map_err(|_| bad(field, s, "wrong length"))
}

impl FromStr for ModelCommitment {
    type Err = SubmissionError;

    fn from_str(s: &str) -> Result<ModelCommitment, SubmissionError> {
        if s.len() > MAX_COMMITMENT_BYTES {
            return Err(SubmissionError::TooLong(s.len()));
        }
        let fields: Vec<&str> = s.split(':').collect();
        match fields.first() {
            Some(&FORMAT) => {}
            Some(tag) if tag.len() <= 4 && tag.starts_with('k') => {
                return Err(SubmissionError::Version((*tag).to_owned()));
            }
            _ => return Err(SubmissionError::NotKindred),
        }
        let [_, competition, hub, repo, revision, hash] = fields[..] else {
            return Err(SubmissionError::FieldCount(fields.len()));
        };
        Ok(ModelCommitment {
            competition: short_id("competition", competition)?,
            hub: short_id("hub", hub)?,
            repo: repo_id(repo)?,
            revision: bytes("revision", revision)?,
            hash: bytes("hash", hash)?,
        })
    }
}

/// The unsalted digest of a package: `sha256` over its files sorted by name, each as the name,
/// a zero byte and the file's own `sha256`. Equal digests mean identical content.
pub fn content_digest(files: &[(String, [u8; 32])]) -> [u8; 32] {
    let mut sorted: Vec<&(String, [u8; 32])> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buf = Vec::with_capacity(sorted.len() * 64);
    for (name, hash) in sorted {
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.extend_from_slice(hash);
    }
    sp_crypto_hashing::sha2_256(&buf)
}

/// The 128-bit hash a commitment carries: the content digest salted with the miner's hotkey.
pub fn salted_hash(digest: &[u8; 32], hotkey: &Hotkey) -> [u8; 16] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(digest);
    buf[32..].copy_from_slice(&hotkey.0);
    let full = sp_crypto_hashing::sha2_256(&buf);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelCommitment {
        ModelCommitment {
            competition: "small".into(),
            hub: "hf".into(),
            repo: "kindred-org/wren-135m-roleplay".into(),
            revision: [0xab; 20],
            hash: [0x17; 16],
        }
    }

    #[test]
    fn round_trips_within_the_chain_limit() {
        let c = sample();
        let text = c.encode().expect("fits");
        assert!(text.starts_with("k1:small:hf:kindred-org/wren-135m-roleplay:"));
        assert_eq!(text.parse::<ModelCommitment>(), Ok(c));
        // The longest repository name that still fits: 128 - 63 fixed bytes.
        let mut long = sample();
        long.competition = "small".into();
        long.repo = format!("o/{}", "n".repeat(128 - 63 - 2));
        let text = long.encode().expect("fits exactly");
        assert_eq!(text.len(), 128);
        long.repo.push('n');
        assert!(matches!(long.encode(), Err(SubmissionError::TooLong(129))));
    }

    #[test]
    fn hostile_commitments_are_refused_with_a_reason() {
        let good = sample().to_string();
        let cases: Vec<(String, &str)> = vec![
            ("hello world".into(), "commitment_not_kindred"),
            (good.replacen("k1:", "k9:", 1), "commitment_version"),
            (format!("{good}:extra"), "commitment_fields"),
            (
                good.replacen(":hf:", ":https://evil.example:", 1),
                "commitment_fields",
            ),
            (good.replacen(":hf:", ":HF:", 1), "commitment_field"),
            (good.replacen("kindred-org/", "../", 1), "commitment_field"),
            (
                good.replacen("kindred-org/wren-135m-roleplay", "noslash", 1),
                "commitment_field",
            ),
            (good[..good.len() - 2].to_string(), "commitment_field"),
            (format!("{good}{}", "A".repeat(80)), "commitment_too_long"),
        ];
        for (text, code) in cases {
            let err = text.parse::<ModelCommitment>().expect_err(&text);
            assert_eq!(err.code(), code, "{text}: {err}");
        }
    }

    #[test]
    fn a_copied_commitment_verifies_only_for_its_author() {
        let files = vec![
            ("model.safetensors".to_string(), [1u8; 32]),
            ("config.json".to_string(), [2u8; 32]),
        ];
        let digest = content_digest(&files);
        let reversed: Vec<_> = files.iter().rev().cloned().collect();
        assert_eq!(digest, content_digest(&reversed), "order does not matter");
        let (alice, bob) = (Hotkey([1; 32]), Hotkey([2; 32]));
        assert_ne!(salted_hash(&digest, &alice), salted_hash(&digest, &bob));
        let mut changed = files.clone();
        changed[0].1[0] ^= 1;
        assert_ne!(content_digest(&changed), digest);
        // A renamed file is different content.
        let renamed = vec![("model2.safetensors".to_string(), [1u8; 32]), files[1].clone()];
        assert_ne!(content_digest(&renamed), digest);
    }
}
