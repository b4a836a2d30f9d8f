//! Weight normalisation and the commit-reveal hash against golden vectors produced by the Python
//! SDK (see `tests/data/README.md`), and the chain pre-checks.

use kindred_chain::account::Hotkey;
use kindred_chain::subnet::{Block, Hyperparameters, Netuid, Uid};
use kindred_chain::weights::{
    EmitWeights, NormaliseError, SignerState, Submission, WeightsRejection, Zeros, commit_hash, normalise,
    precheck,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    normalise: Vec<NormCase>,
    commit_hash: Vec<HashCase>,
}

#[derive(Deserialize)]
struct NormCase {
    uids: Vec<u16>,
    weights: Vec<f64>,
    emit_uids: Vec<u16>,
    emit_values: Vec<u16>,
}

#[derive(Deserialize)]
struct HashCase {
    hotkey: String,
    netuid: u16,
    uids: Vec<u16>,
    values: Vec<u16>,
    salt: Vec<u16>,
    version_key: u64,
    hash: String,
}

fn golden() -> Golden {
    serde_json::from_str(include_str!("../data/golden_weights.json")).expect("golden file parses")
}

#[test]
fn normalisation_matches_the_python_sdk() {
    let cases = golden().normalise;
    assert!(cases.len() >= 8);
    for case in cases {
        // The SDK was fed float32 arrays; give the normaliser the same values.
        let input: Vec<(Uid, f64)> = case
            .uids
            .iter()
            .zip(&case.weights)
            .map(|(&u, &w)| (Uid(u), f64::from(w as f32)))
            .collect();
        let out = normalise(&input, Zeros::Drop).expect("valid weights");
        assert_eq!(out.raw_uids(), case.emit_uids, "uids for {:?}", case.weights);
        assert_eq!(out.values, case.emit_values, "values for {:?}", case.weights);
    }
}

#[test]
fn keeping_zeros_keeps_every_uid() {
    let input = [(Uid(0), 1.0), (Uid(1), 0.0), (Uid(2), 0.25)];
    let kept = normalise(&input, Zeros::Keep).expect("valid");
    assert_eq!(kept.raw_uids(), vec![0, 1, 2]);
    assert_eq!(kept.values, vec![65535, 0, 16384]);
    let dropped = normalise(&input, Zeros::Drop).expect("valid");
    assert_eq!(dropped.raw_uids(), vec![0, 2]);
}

#[test]
fn negative_and_nan_weights_are_refused() {
    assert!(matches!(
        normalise(&[(Uid(0), 1.0), (Uid(3), -0.5)], Zeros::Drop),
        Err(NormaliseError::BadWeight { uid: Uid(3), .. })
    ));
    assert!(normalise(&[(Uid(1), f64::NAN)], Zeros::Drop).is_err());
}

#[test]
fn commit_hash_matches_the_python_sdk() {
    for case in golden().commit_hash {
        let hotkey: Hotkey = case.hotkey.parse().expect("ss58");
        let weights = EmitWeights {
            uids: case.uids.iter().map(|&u| Uid(u)).collect(),
            values: case.values,
        };
        let hash = commit_hash(
            &hotkey,
            Netuid(case.netuid),
            &weights,
            &case.salt,
            case.version_key,
        );
        assert_eq!(format!("0x{}", hex::encode(hash)), case.hash);
    }
}

fn hyper() -> Hyperparameters {
    Hyperparameters {
        tempo: 100,
        immunity_period: 50,
        max_allowed_uids: 64,
        min_allowed_weights: 2,
        max_weights_limit: u16::MAX,
        weights_version_key: 3,
        weights_set_rate_limit: 10,
        commit_reveal_weights_enabled: false,
        reveal_period_epochs: 1,
    }
}

fn state() -> SignerState {
    SignerState {
        n: 4,
        uid: Some(Uid(0)),
        validator_permit: true,
        last_update: Block(100),
        now: Block(120),
    }
}

fn w(pairs: &[(u16, u16)]) -> EmitWeights {
    EmitWeights {
        uids: pairs.iter().map(|p| Uid(p.0)).collect(),
        values: pairs.iter().map(|p| p.1).collect(),
    }
}

#[test]
fn precheck_mirrors_the_chain() {
    let ok = w(&[(1, 65535), (2, 100)]);
    assert_eq!(precheck(&ok, 3, &hyper(), &state(), Submission::Direct), Ok(()));

    let dup = w(&[(1, 1), (1, 2)]);
    assert_eq!(
        precheck(&dup, 3, &hyper(), &state(), Submission::Direct),
        Err(WeightsRejection::DuplicateUids(Uid(1)))
    );

    let out_of_range = w(&[(1, 1), (9, 2)]);
    assert!(matches!(
        precheck(&out_of_range, 3, &hyper(), &state(), Submission::Direct),
        Err(WeightsRejection::UidVecContainInvalidOne { uid: Uid(9), n: 4 })
    ));

    assert!(matches!(
        precheck(&ok, 2, &hyper(), &state(), Submission::Direct),
        Err(WeightsRejection::IncorrectWeightVersionKey {
            given: 2,
            required: 3
        })
    ));

    let too_soon = SignerState {
        now: Block(105),
        ..state()
    };
    assert!(matches!(
        precheck(&ok, 3, &hyper(), &too_soon, Submission::Direct),
        Err(WeightsRejection::SettingWeightsTooFast { .. })
    ));

    let few = w(&[(1, 65535)]);
    assert!(matches!(
        precheck(&few, 3, &hyper(), &state(), Submission::Direct),
        Err(WeightsRejection::WeightVecLengthIsLow { len: 1, min: 2 })
    ));
    // A weight on oneself alone is always allowed, as on chain.
    assert_eq!(
        precheck(&w(&[(0, 65535)]), 3, &hyper(), &state(), Submission::Direct),
        Ok(())
    );

    let no_permit = SignerState {
        validator_permit: false,
        ..state()
    };
    assert_eq!(
        precheck(&ok, 3, &hyper(), &no_permit, Submission::Direct),
        Err(WeightsRejection::NeuronNoValidatorPermit)
    );

    let unregistered = SignerState { uid: None, ..state() };
    assert_eq!(
        precheck(&ok, 3, &hyper(), &unregistered, Submission::Direct),
        Err(WeightsRejection::HotKeyNotRegisteredInSubNet)
    );

    let cr = Hyperparameters {
        commit_reveal_weights_enabled: true,
        ..hyper()
    };
    assert_eq!(
        precheck(&ok, 3, &cr, &state(), Submission::Direct),
        Err(WeightsRejection::CommitRevealEnabled)
    );
    assert_eq!(precheck(&ok, 3, &cr, &state(), Submission::CommitReveal), Ok(()));

    let capped = Hyperparameters {
        max_weights_limit: u16::MAX / 2,
        ..hyper()
    };
    assert!(matches!(
        precheck(&ok, 3, &capped, &state(), Submission::Direct),
        Err(WeightsRejection::MaxWeightExceeded { .. })
    ));
    let even = w(&[(1, 65535), (2, 65535), (3, 65535)]);
    assert_eq!(precheck(&even, 3, &capped, &state(), Submission::Direct), Ok(()));
}
