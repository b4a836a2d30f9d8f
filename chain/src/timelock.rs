//! Timelock encryption to a drand beacon round, in the format subtensor decrypts.
//!
//! The scheme is Boneh–Franklin identity-based encryption (the `FullIdent` variant) on
//! BLS12-381, as the `tle` crate that subtensor and PyPI `bittensor-drand` share implements it:
//!
//! - the identity of round `r` is the G1 point `H(sha256(r as 8 big-endian bytes))`, hashed to the
//!   curve with the RFC 9380 suite drand's quicknet signs with ([`QUICKNET_DST`]); the beacon's
//!   signature of round `r` is that point times its secret key, so it is the decryption key;
//! - a fresh 32-byte AES-256-GCM key encrypts the message; IBE encrypts that key;
//! - the ciphertext is arkworks' compressed serialisation of `TLECiphertext { header: { u: G2,
//!   v, w }, body: { ciphertext, nonce }, cipher_suite: "AES_GCM_" }`: points in the zcash
//!   compressed format, byte vectors as a `u64` little-endian length and the bytes.
//!
//! The pairing arithmetic is arkworks'; this module is the glue and the byte format.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::hashing::HashToCurve;
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::PrimeField;
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use sha2::{Digest, Sha256};

/// The hash-to-curve domain separation tag of drand's `bls-unchained-g1-rfc9380` scheme
/// (quicknet): signatures on G1, public key on G2.
pub const QUICKNET_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// The symmetric suite tag `tle` writes into every ciphertext.
const CIPHER_SUITE: &[u8] = b"AES_GCM_";

const G1_BYTES: usize = 48;
const G2_BYTES: usize = 96;
const NONCE_BYTES: usize = 12;
/// Vectors in a ciphertext are length-prefixed; no honest field comes near this, so a larger
/// prefix is refused before allocating.
const MAX_FIELD_BYTES: u64 = 1 << 20;

/// Why a timelock operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelockError {
    #[error("beacon public key is not a compressed G2 point: {0}")]
    PublicKey(String),
    #[error("round signature is not a compressed G1 point: {0}")]
    Signature(String),
    #[error("ciphertext is malformed: {0}")]
    Malformed(&'static str),
    #[error("ciphertext uses cipher suite {0:?}, only AES_GCM_ is known")]
    CipherSuite(String),
    #[error("the signature does not open this ciphertext (another round or another beacon)")]
    WrongKey,
    #[error("AES-GCM refused the body: it was altered")]
    Body,
    #[error("the system random source failed: {0}")]
    Randomness(String),
}

/// A drand round number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round(pub u64);

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A beacon's public key (G2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconKey(G2Affine);

impl BeaconKey {
    /// From the 96-byte compressed form drand publishes and the Drand pallet stores.
    pub fn from_bytes(bytes: &[u8]) -> Result<BeaconKey, TimelockError> {
        if bytes.len() != G2_BYTES {
            return Err(TimelockError::PublicKey(format!(
                "{} bytes, expected {G2_BYTES}",
                bytes.len()
            )));
        }
        G2Affine::deserialize_compressed(bytes)
            .map(BeaconKey)
            .map_err(|e| TimelockError::PublicKey(e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        compressed(&self.0)
    }
}

/// A beacon's signature of one round (G1): the key that opens ciphertexts for that round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundSignature(G1Affine);

impl RoundSignature {
    /// From the 48-byte compressed form (drand's `signature`; the Drand pallet's `Pulse`).
    pub fn from_bytes(bytes: &[u8]) -> Result<RoundSignature, TimelockError> {
        if bytes.len() != G1_BYTES {
            return Err(TimelockError::Signature(format!(
                "{} bytes, expected {G1_BYTES}",
                bytes.len()
            )));
        }
        G1Affine::deserialize_compressed(bytes)
            .map(RoundSignature)
            .map_err(|e| TimelockError::Signature(e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        compressed(&self.0)
    }

    /// Whether this is `key`'s signature of `round`: `e(sig, g2) == e(H(round), key)`.
    pub fn verifies(&self, key: &BeaconKey, round: Round) -> bool {
        let lhs = Bls12_381::pairing(self.0, G2Affine::generator());
        let rhs = Bls12_381::pairing(round_point(round), key.0);
        lhs == rhs
    }

    /// drand's randomness of the round: `sha256(signature)`.
    pub fn randomness(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

/// A beacon's secret key: the devnet's own beacon signs its pulses with one.
#[derive(Clone)]
pub struct BeaconSecret(Fr);

impl std::fmt::Debug for BeaconSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeaconSecret(..)")
    }
}

impl BeaconSecret {
    /// A key derived from a seed, so a development chain keeps its beacon across restarts.
    pub fn from_seed(seed: &[u8]) -> BeaconSecret {
        let wide: [u8; 32] = Sha256::digest([b"kindred-devnet-beacon".as_slice(), seed].concat()).into();
        BeaconSecret(Fr::from_be_bytes_mod_order(&wide))
    }

    pub fn public(&self) -> BeaconKey {
        BeaconKey((G2Projective::generator() * self.0).into_affine())
    }

    pub fn sign(&self, round: Round) -> RoundSignature {
        RoundSignature((G1Projective::from(round_point(round)) * self.0).into_affine())
    }
}

/// The IBE identity of a round: `H(sha256(round as u64 big-endian))` on G1.
pub fn round_point(round: Round) -> G1Affine {
    let message: [u8; 32] = Sha256::digest(round.0.to_be_bytes()).into();
    let hasher = MapToCurveBasedHasher::<
        G1Projective,
        DefaultFieldHasher<Sha256, 128>,
        WBMap<ark_bls12_381::g1::Config>,
    >::new(QUICKNET_DST);
    // The suite's parameters are arkworks' constants and the message is 32 bytes: neither step
    // can fail for these inputs.
    hasher
        .expect("BLS12-381 G1 WB map parameters are valid")
        .hash(&message)
        .expect("hash to curve of a 32-byte message")
}

/// Encrypt `plaintext` so that only `key`'s signature of `round` opens it.
pub fn encrypt(key: &BeaconKey, round: Round, plaintext: &[u8]) -> Result<Vec<u8>, TimelockError> {
    let mut entropy = [0u8; 32 + 64 + NONCE_BYTES];
    getrandom::getrandom(&mut entropy).map_err(|e| TimelockError::Randomness(e.to_string()))?;
    let (session_key, rest) = entropy.split_at(32);
    let (t_bytes, nonce) = rest.split_at(64);
    let session_key: [u8; 32] = session_key
        .try_into()
        .map_err(|_| TimelockError::Malformed("key"))?;
    let t = Fr::from_le_bytes_mod_order(t_bytes);
    encrypt_with(key, round, plaintext, session_key, t, nonce)
}

fn encrypt_with(
    key: &BeaconKey,
    round: Round,
    plaintext: &[u8],
    session_key: [u8; 32],
    t: Fr,
    nonce: &[u8],
) -> Result<Vec<u8>, TimelockError> {
    // FullIdent: sigma from the random scalar, r = H3(sigma, m), U = r·g2,
    // V = sigma ⊕ H2(e(id, r·pk)), W = m ⊕ H4(sigma).
    let sigma = sha256(&compressed(&t));
    let r = h3(&sigma, &session_key);
    let u = (G2Projective::generator() * r).into_affine();
    let shared = Bls12_381::pairing(round_point(round), (G2Projective::from(key.0) * r).into_affine());
    let v = xor32(&sigma, &sha256(&compressed(&shared.0)));
    let w = xor32(&session_key, &sha256(&sigma));

    let cipher = Aes256Gcm::new(&session_key.into());
    let body = cipher
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .map_err(|_| TimelockError::Body)?;

    let mut out = Vec::with_capacity(G2_BYTES + 4 * 8 + 64 + 8 + body.len() + 8 + NONCE_BYTES + 16);
    out.extend(compressed(&u));
    put_vec(&mut out, &v);
    put_vec(&mut out, &w);
    let mut aes_output = Vec::with_capacity(body.len() + NONCE_BYTES + 16);
    put_vec(&mut aes_output, &body);
    put_vec(&mut aes_output, nonce);
    put_vec(&mut out, &aes_output);
    put_vec(&mut out, CIPHER_SUITE);
    Ok(out)
}

/// Open a ciphertext with the beacon's signature of its round.
pub fn decrypt(ciphertext: &[u8], signature: &RoundSignature) -> Result<Vec<u8>, TimelockError> {
    let mut reader = Reader(ciphertext);
    let u = G2Affine::deserialize_compressed(reader.take(G2_BYTES)?)
        .map_err(|_| TimelockError::Malformed("header point u"))?;
    let v = reader.vec()?;
    let w = reader.vec()?;
    let body = reader.vec()?;
    let suite = reader.vec()?;
    if !reader.0.is_empty() {
        return Err(TimelockError::Malformed("trailing bytes"));
    }
    if suite != CIPHER_SUITE {
        return Err(TimelockError::CipherSuite(
            String::from_utf8_lossy(suite).into_owned(),
        ));
    }
    let (Ok(v), Ok(w)) = (<[u8; 32]>::try_from(v), <[u8; 32]>::try_from(w)) else {
        return Err(TimelockError::Malformed("header v and w must be 32 bytes"));
    };
    let shared = Bls12_381::pairing(signature.0, u);
    let sigma = xor32(&v, &sha256(&compressed(&shared.0)));
    let session_key = xor32(&w, &sha256(&sigma));
    // The re-encryption check of FullIdent: a wrong signature yields a different r.
    if (G2Projective::generator() * h3(&sigma, &session_key)).into_affine() != u {
        return Err(TimelockError::WrongKey);
    }
    let mut body = Reader(body);
    let sealed = body.vec()?;
    let nonce = body.vec()?;
    if nonce.len() != NONCE_BYTES || !body.0.is_empty() {
        return Err(TimelockError::Malformed("body nonce"));
    }
    Aes256Gcm::new(&session_key.into())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| TimelockError::Body)
}

fn compressed<T: CanonicalSerialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.compressed_size());
    // Writing into a Vec cannot fail.
    let _ = value.serialize_compressed(&mut out);
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn h3(sigma: &[u8; 32], message: &[u8; 32]) -> Fr {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(sigma);
    input[32..].copy_from_slice(message);
    Fr::from_be_bytes_mod_order(&sha256(&input))
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn put_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend((bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TimelockError> {
        if self.0.len() < n {
            return Err(TimelockError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn vec(&mut self) -> Result<&'a [u8], TimelockError> {
        let len = u64::from_le_bytes(
            self.take(8)?
                .try_into()
                .map_err(|_| TimelockError::Malformed("length"))?,
        );
        if len > MAX_FIELD_BYTES {
            return Err(TimelockError::Malformed("length prefix too large"));
        }
        self.take(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_opens_with_its_round_only() {
        let secret = BeaconSecret::from_seed(b"test");
        let key = secret.public();
        let sealed = encrypt(&key, Round(7), b"weights").expect("encrypts");
        assert_eq!(decrypt(&sealed, &secret.sign(Round(7))), Ok(b"weights".to_vec()));
        assert_eq!(
            decrypt(&sealed, &secret.sign(Round(8))),
            Err(TimelockError::WrongKey)
        );
        let other = BeaconSecret::from_seed(b"other");
        assert_eq!(
            decrypt(&sealed, &other.sign(Round(7))),
            Err(TimelockError::WrongKey)
        );
    }

    #[test]
    fn tampering_with_the_body_is_detected() {
        let secret = BeaconSecret::from_seed(b"test");
        let mut sealed = encrypt(&secret.public(), Round(3), b"model id").expect("encrypts");
        // The AES ciphertext starts after U, v, w and the two length prefixes of the body.
        let body_start = G2_BYTES + 2 * (8 + 32) + 8 + 8;
        sealed[body_start] ^= 1;
        assert_eq!(decrypt(&sealed, &secret.sign(Round(3))), Err(TimelockError::Body));
        assert!(matches!(
            decrypt(&sealed[..sealed.len() - 1], &secret.sign(Round(3))),
            Err(TimelockError::Malformed(_))
        ));
    }

    #[test]
    fn own_signatures_verify_against_own_key_only() {
        let secret = BeaconSecret::from_seed(b"test");
        let sig = secret.sign(Round(5));
        assert!(sig.verifies(&secret.public(), Round(5)));
        assert!(!sig.verifies(&secret.public(), Round(6)));
        assert!(!sig.verifies(&BeaconSecret::from_seed(b"x").public(), Round(5)));
        let bytes = sig.to_bytes();
        assert_eq!(RoundSignature::from_bytes(&bytes), Ok(sig));
    }
}
