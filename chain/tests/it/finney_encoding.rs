//! Kindred's calls and signed transactions against the real Finney runtime description
//! (`$KINDRED_SHARED/chain/bittensor.scale`, spec 424). Call bytes are checked against an encoding
//! written out by hand from subtensor's call signatures; signed transactions are checked by
//! rebuilding the signing payload independently and verifying the sr25519 signature over it.

use std::path::PathBuf;

use codec::{Compact, Encode};
use kindred_chain::subnet::{Netuid, Uid};
use kindred_chain::subtensor::calls;
use kindred_chain::wallet::Signer;
use kindred_chain::weights::EmitWeights;
use subxt::client::OfflineClient;
use subxt::config::substrate::{SpecVersionForRange, SubstrateConfigBuilder};
use subxt::config::{DefaultExtrinsicParamsBuilder, SubstrateConfig};
use subxt::metadata::Metadata;
use subxt::utils::H256;

const SPEC_VERSION: u32 = 424;
const TX_VERSION: u32 = 1;
const SUBTENSOR_PALLET: u8 = 7;
const COMMITMENTS_PALLET: u8 = 18;

fn shared_dir() -> PathBuf {
    std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn finney_metadata() -> Metadata {
    let path = shared_dir().join("chain/bittensor.scale");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "Finney metadata missing at {} (set KINDRED_SHARED): {e}",
            path.display()
        )
    });
    Metadata::decode_from(&bytes).expect("bittensor.scale decodes as runtime metadata")
}

fn genesis() -> H256 {
    let mut g = [0u8; 32];
    hex::decode_to_slice(
        "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03",
        &mut g,
    )
    .expect("hex");
    H256(g)
}

fn offline() -> OfflineClient<SubstrateConfig> {
    let config = SubstrateConfigBuilder::new()
        .set_genesis_hash(genesis())
        .set_metadata_for_spec_versions([(SPEC_VERSION, finney_metadata().into())])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: SPEC_VERSION,
            transaction_version: TX_VERSION,
        }])
        .build();
    OfflineClient::new_with_config(config)
}

fn weights() -> EmitWeights {
    EmitWeights {
        uids: vec![Uid(0), Uid(3), Uid(17)],
        values: vec![65535, 1200, 7],
    }
}

fn call_bytes(call: &calls::Call) -> Vec<u8> {
    offline()
        .at_block(1u64)
        .expect("at block")
        .transactions()
        .call_data(call)
        .expect("call encodes")
}

#[test]
fn set_weights_encodes_like_subtensor() {
    let got = call_bytes(&calls::set_weights(Netuid(11), &weights(), 2024));
    let expected = (
        SUBTENSOR_PALLET,
        0u8,
        11u16,
        vec![0u16, 3, 17],
        vec![65535u16, 1200, 7],
        2024u64,
    )
        .encode();
    assert_eq!(got, expected);
}

#[test]
fn commit_and_reveal_encode_like_subtensor() {
    let hash = [0xabu8; 32];
    let got = call_bytes(&calls::commit_weights(Netuid(11), hash));
    assert_eq!(got, (SUBTENSOR_PALLET, 96u8, 11u16, hash).encode());

    let salt = [1u16, 2, 3, 4, 5, 6, 7, 8];
    let got = call_bytes(&calls::reveal_weights(Netuid(11), &weights(), &salt, 9));
    let expected = (
        SUBTENSOR_PALLET,
        97u8,
        11u16,
        vec![0u16, 3, 17],
        vec![65535u16, 1200, 7],
        salt.to_vec(),
        9u64,
    )
        .encode();
    assert_eq!(got, expected);
}

#[test]
fn set_commitment_is_one_raw_field() {
    let text = "hf:kindred/tiny-eq@0123abcd";
    let got = call_bytes(&calls::set_commitment(Netuid(2), text).expect("short enough"));
    // CommitmentInfo { fields: BoundedVec<Data> }: one field, `Raw<n>` is variant n + 1, then n bytes.
    let mut expected = vec![COMMITMENTS_PALLET, 0u8];
    expected.extend(2u16.encode());
    expected.extend(Compact(1u32).encode());
    expected.push(u8::try_from(text.len() + 1).expect("small"));
    expected.extend(text.as_bytes());
    assert_eq!(got, expected);

    let long = "x".repeat(129);
    assert!(matches!(
        calls::set_commitment(Netuid(2), &long),
        Err(kindred_chain::ChainError::CommitmentTooLong { len: 129, max: 128 })
    ));
}

#[test]
fn burned_register_encodes_like_subtensor() {
    let hotkey = [5u8; 32];
    let got = call_bytes(&calls::burned_register(Netuid(3), hotkey));
    assert_eq!(got, (SUBTENSOR_PALLET, 7u8, 3u16, hotkey).encode());
}

/// The mortal era as `sp_runtime::generic::Era::mortal` encodes it.
fn mortal_era(period: u64, current: u64) -> [u8; 2] {
    let period = period.clamp(4, 1 << 16).next_power_of_two();
    let phase = current % period;
    let quantize = (period >> 12).max(1);
    let quantized = phase / quantize * quantize;
    let low = (period.trailing_zeros() - 1).clamp(1, 15) as u16;
    let encoded = low | (((quantized / quantize) as u16) << 4);
    encoded.to_le_bytes()
}

#[test]
fn signed_set_weights_verifies_against_an_independent_payload() {
    let client = offline();
    let at = client.at_block(5_000_000u64).expect("at block");
    let signer = Signer::dev("alice").expect("dev key");
    let call = calls::set_weights(Netuid(11), &weights(), 2024);
    let birth_hash = H256([9u8; 32]);
    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
        .nonce(42)
        .mortal_from_unchecked(128, 5_000_000, birth_hash)
        .build();
    let mut signable = at
        .transactions()
        .create_signable_offline(&call, params)
        .expect("signable");
    let tx = signable.sign(signer.keypair()).expect("signed");

    // The payload subtensor verifies: call, each extension's explicit data, then implicit data.
    let call_data = call_bytes(&call);
    let metadata = finney_metadata();
    let names: Vec<String> = metadata
        .extrinsic()
        .transaction_extensions_by_version(0)
        .expect("extension version 0")
        .map(|e| e.identifier().to_owned())
        .collect();
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for name in &names {
        match name.as_str() {
            "CheckSpecVersion" => implicit.extend(SPEC_VERSION.encode()),
            "CheckTxVersion" => implicit.extend(TX_VERSION.encode()),
            "CheckGenesis" => implicit.extend(genesis().0),
            "CheckMortality" | "CheckEra" => {
                explicit.extend(mortal_era(128, 5_000_000));
                implicit.extend(birth_hash.0);
            }
            "CheckNonce" => explicit.extend(Compact(42u32).encode()),
            "ChargeTransactionPayment" | "ChargeTransactionPaymentWrapper" => {
                explicit.extend(Compact(0u128).encode())
            }
            "CheckMetadataHash" => {
                explicit.push(0); // mode: disabled
                implicit.push(0); // Option::<[u8; 32]>::None
            }
            _ => {}
        }
    }
    let mut payload = call_data.clone();
    payload.extend(&explicit);
    payload.extend(&implicit);
    if payload.len() > 256 {
        payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
    }

    // Decode the transaction back and check every part.
    let decoded = futures::executor::block_on(at.extrinsics().from_bytes(vec![tx.encoded().to_vec()]));
    let ext = decoded
        .iter()
        .next()
        .expect("one")
        .expect("decodes with Finney metadata");
    assert_eq!(
        (ext.pallet_name(), ext.call_name()),
        ("SubtensorModule", "set_weights")
    );
    assert_eq!(ext.call_data_bytes(), &call_data[..]);
    let address = ext.address_bytes().expect("signed");
    assert_eq!(
        address,
        [&[0u8][..], &signer.public()[..]].concat(),
        "MultiAddress::Id(alice)"
    );
    assert_eq!(ext.transaction_extensions_bytes().expect("signed"), &explicit[..]);
    let signature = ext.signature_bytes().expect("signed");
    assert_eq!(signature[0], 1, "MultiSignature::Sr25519");
    let sig = subxt_signer::sr25519::Signature(signature[1..].try_into().expect("64 bytes"));
    assert!(subxt_signer::sr25519::verify(
        &sig,
        &payload,
        &signer.keypair().public_key()
    ));
    let bob = Signer::dev("bob").expect("dev key");
    assert!(!subxt_signer::sr25519::verify(
        &sig,
        &payload,
        &bob.keypair().public_key()
    ));
}
