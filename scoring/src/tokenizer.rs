//! The tokenizer as the competition sees it: a canonical form and its hash, and the encoding
//! checks scored text must pass.
//!
//! A miner who may edit `tokenizer.json` controls how many tokens, and so how many bits, a
//! reference reply costs: a normalizer that deletes the reply makes it free. So competitions
//! allow tokenizers by [`TokenizerHash`], the SHA-256 of a canonical serialisation: the file is
//! parsed by the `tokenizers` library (which fills in defaults) and its own serialisation is
//! re-written with sorted keys and no whitespace. Formatting and key order do not change the
//! hash; the normalizer, pre-tokenizer, model (vocabulary, merges, options), added tokens,
//! post-processor, decoder, truncation and padding all do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

/// SHA-256 of a tokenizer's canonical form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenizerHash(pub [u8; 32]);

impl fmt::Display for TokenizerHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TokenizerHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenizerHash({self})")
    }
}

impl TokenizerHash {
    /// Parses 64 hex digits in a constant; a malformed constant fails the build.
    pub const fn from_hex(s: &str) -> Self {
        const fn digit(c: u8) -> u8 {
            match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => panic!("a tokenizer hash constant must be 64 lowercase hex digits"),
            }
        }
        let b = s.as_bytes();
        assert!(
            b.len() == 64,
            "a tokenizer hash constant must be 64 lowercase hex digits"
        );
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = digit(b[2 * i]) * 16 + digit(b[2 * i + 1]);
            i += 1;
        }
        Self(out)
    }
}

/// A hash that is not 64 hexadecimal digits.
#[derive(Debug, thiserror::Error)]
#[error("a tokenizer hash is 64 hex digits, not {0:?}")]
pub struct BadHash(String);

impl FromStr for TokenizerHash {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, BadHash> {
        let bad = || BadHash(s.chars().take(80).collect());
        if s.len() != 64 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

impl Serialize for TokenizerHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenizerHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a tokenizer could not be put in canonical form.
#[derive(Debug, thiserror::Error)]
#[error("serialising the tokenizer: {0}")]
pub struct CanonicalError(String);

/// Writes `v` as JSON with object keys sorted bytewise and no whitespace, independent of how
/// serde_json's map happens to be ordered in this build.
fn write_canonical(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The canonical form of a parsed tokenizer (see the module documentation).
pub fn canonical_form(tokenizer: &Tokenizer) -> Result<String, CanonicalError> {
    let json = tokenizer
        .to_string(false)
        .map_err(|e| CanonicalError(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| CanonicalError(e.to_string()))?;
    let mut out = String::with_capacity(json.len());
    write_canonical(&value, &mut out);
    Ok(out)
}

/// The hash competitions list allowed tokenizers by.
pub fn tokenizer_hash(tokenizer: &Tokenizer) -> Result<TokenizerHash, CanonicalError> {
    let canonical = canonical_form(tokenizer)?;
    Ok(TokenizerHash(Sha256::digest(canonical.as_bytes()).into()))
}

/// Why a piece of scored text cannot be scored under a tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the text is empty")]
    Empty,
    #[error("the tokenizer fails on the text: {0}")]
    Tokenizer(String),
    #[error("the text tokenizes to no tokens")]
    NoTokens,
    #[error("the text does not survive encoding and decoding (decoded: {decoded:?})")]
    NoRoundTrip { decoded: String },
}

/// Tokens of `text` (no special tokens added), which must be non-empty and decode back to exactly
/// `text`: the bytes charged for are then the bytes the model was asked to predict.
pub fn encode_exact(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, TextError> {
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    let ids = tokenizer
        .encode(text, false)
        .map_err(|e| TextError::Tokenizer(e.to_string()))?
        .get_ids()
        .to_vec();
    if ids.is_empty() {
        return Err(TextError::NoTokens);
    }
    let decoded = tokenizer
        .decode(&ids, false)
        .map_err(|e| TextError::Tokenizer(e.to_string()))?;
    if decoded != text {
        return Err(TextError::NoRoundTrip {
            decoded: decoded.chars().take(200).collect(),
        });
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_and_print_as_hex() {
        let h = TokenizerHash([0xab; 32]);
        let s = h.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<TokenizerHash>().expect("parses"), h);
        let json = serde_json::to_string(&h).expect("ser");
        assert_eq!(serde_json::from_str::<TokenizerHash>(&json).expect("de"), h);
        for bad in ["", "ab", &"g".repeat(64), &"é".repeat(32)] {
            assert!(bad.parse::<TokenizerHash>().is_err(), "{bad}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{ "b": [1, {"y": 2, "x": null}], "a": "s" }"#).expect("a");
        let mut out = String::new();
        write_canonical(&a, &mut out);
        assert_eq!(out, r#"{"a":"s","b":[1,{"x":null,"y":2}]}"#);
    }
}
