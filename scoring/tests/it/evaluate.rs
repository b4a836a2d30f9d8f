//! Whole evaluations of tiny models: reproducible bit for bit, gated when degenerate, and with
//! failures blamed on the right side.

use crate::sandbox;
use std::path::PathBuf;

use candle_core::Device;
use kindred_scoring::config::Architecture;
use kindred_scoring::dialogue::{Dialogue, Speaker, Turn};
use kindred_scoring::eq::EqItem;
use kindred_scoring::evaluate::{EvaluateError, Suites, evaluate};
use kindred_scoring::spec::{EqMode, EqScale};
use kindred_scoring::template::Sandbox;
use kindred_scoring::tiny::{self, TinySpec};
use kindred_scoring::{CausalLm, Competition, ScoringSpec, ValidatedModel, load, validate};

fn tiny_model(seed: u64) -> (tempfile::TempDir, ValidatedModel, CausalLm) {
    let tmp = tempfile::tempdir().expect("tempdir");
    tiny::write_tiny_model(tmp.path(), &TinySpec::new(Architecture::Llama, seed)).expect("write");
    let v = validate(tmp.path(), &Competition::dev(), &sandbox()).expect("valid");
    let m = load(&v, &Device::Cpu).expect("load");
    (tmp, v, m)
}

fn suites(spec: &ScoringSpec) -> Suites {
    let eq = (0..6)
        .map(|i| EqItem {
            id: format!("t-{i}"),
            characters: vec!["Mara".into(), "Teodor".into()],
            subject: "Mara".into(),
            dialogue: format!(
                "Mara: You kept the letter for {i} years?\nTeodor: I never found the right moment.\nMara: There is never a right moment, is there."
            ),
            emotions: ["Betrayed".into(), "Relieved".into(), "Tender".into(), "Angry".into()],
            reference: [7.0, 2.0, (i % 4) as f32, 5.0],
        })
        .collect();
    let t = |speaker, text: &str| Turn {
        speaker,
        text: text.into(),
    };
    let dialogues = (0..6)
        .map(|i| Dialogue {
            id: format!("d-{i}"),
            character: "Wren".into(),
            partner: "Tomasz".into(),
            persona: "You are Wren, a lighthouse keeper who hides worry behind jokes.".into(),
            turns: vec![
                t(Speaker::Partner, "Storm tonight?"),
                t(Speaker::Character, "The worst in years, or so the gulls tell me."),
                t(Speaker::Partner, &format!("Are you scared? It is night {i}.")),
                t(
                    Speaker::Character,
                    "Only for the boats. The lamp and I will manage.",
                ),
            ],
        })
        .collect();
    Suites {
        eq,
        eq_version: spec.eq_suite.clone(),
        dialogues,
        dialogue_version: spec.dialogue_suite.clone(),
    }
}

/// The quick spec without the guard, so a random model's parts reach the total.
fn unguarded() -> ScoringSpec {
    let mut spec = ScoringSpec::quick();
    spec.guard.prompts = 0;
    spec.batch_size = 2;
    spec
}

#[test]
fn same_seed_gives_bitwise_identical_evaluations() {
    let (_tmp, v, m) = tiny_model(11);
    let spec = unguarded();
    let s = suites(&spec);
    let a = evaluate(&v, &m, &sandbox(), &s, &spec, b"epoch-1").expect("evaluates");
    let b = evaluate(&v, &m, &sandbox(), &s, &spec, b"epoch-1").expect("evaluates");
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
    let bits = |e: &kindred_scoring::Evaluation| {
        let mut v: Vec<u64> = e.samples.iter().map(|x| x.to_bits()).collect();
        v.extend([e.total, e.eq_score, e.dialogue_bpb, e.dialogue_score].map(f64::to_bits));
        v
    };
    assert_eq!(bits(&a), bits(&b));

    assert_eq!((a.eq_items, a.dialogue_units), (3, 3));
    assert_eq!(a.samples.len(), 6);
    assert!(a.samples.iter().all(|x| (0.0..=1.0).contains(x)));
    assert!(a.gates.iter().all(|g| g.passed), "{:?}", a.gates);
    assert_eq!(a.seed_hex, "65706f63682d31");
    assert_eq!(a.spec_version, spec.version);
    // A random byte-level model is near 8 bits per byte.
    assert!(a.dialogue_bpb > 5.0, "{}", a.dialogue_bpb);
    let expected = (spec.eq_weight * a.eq_score / 100.0 + spec.dialogue_weight * a.dialogue_score)
        / (spec.eq_weight + spec.dialogue_weight);
    assert_eq!(a.total, expected);

    let back: kindred_scoring::Evaluation =
        serde_json::from_str(&serde_json::to_string(&a).expect("json")).expect("parse");
    assert_eq!(back, a);

    let c = evaluate(&v, &m, &sandbox(), &s, &spec, b"epoch-2").expect("evaluates");
    assert_ne!(a.samples, c.samples, "another epoch draws other samples");
}

#[test]
fn a_degenerate_model_fails_the_guard_and_scores_zero() {
    let (_tmp, v, m) = tiny_model(12);
    // Spec 1's absolute EQ scale, on which a random model earns a visible EQ part; the current
    // scale gives it 0, which could not show that the part is reported despite the gate.
    let spec = ScoringSpec {
        eq_scale: EqScale::Absolute,
        ..ScoringSpec::quick()
    };
    let e = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"epoch-1").expect("evaluates");
    let failed = e.failure().expect("a random model cannot hold a conversation");
    assert_eq!(failed.name, "degeneration");
    assert!(
        ["empty", "loops", "runs away"]
            .iter()
            .any(|w| failed.detail.contains(w)),
        "{}",
        failed.detail
    );
    assert_eq!(e.total, 0.0);
    assert!(e.samples.iter().all(|x| *x == 0.0) && e.samples.len() == 6);
    assert!(
        e.eq_score > 0.0 && e.dialogue_bpb > 0.0,
        "parts are still reported"
    );
    let again = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"epoch-1").expect("evaluates");
    assert_eq!(e, again);
}

#[test]
fn generate_mode_parses_greedy_answers_and_scores_unparseable_ones_zero() {
    let (_tmp, v, m) = tiny_model(15);
    let logits = unguarded();
    let spec = ScoringSpec {
        eq_mode: EqMode::Generate { max_new_tokens: 24 },
        ..logits.clone()
    };
    let s = suites(&spec);
    let a = evaluate(&v, &m, &sandbox(), &s, &spec, b"epoch-1").expect("evaluates");
    // Random weights babble bytes, never four `Emotion: n` lines: every item gets the lowest
    // sample, below the middling one the logits mode reads off the distribution (a hedge,
    // worth about what a constant answer is worth).
    assert_eq!(a.eq_score, 0.0);
    assert!(a.samples[..a.eq_items].iter().all(|x| *x == 0.0));
    let by_logits = evaluate(&v, &m, &sandbox(), &s, &logits, b"epoch-1").expect("evaluates");
    assert!(
        by_logits.samples[..a.eq_items].iter().all(|x| *x > 0.2),
        "{:?}",
        by_logits.samples
    );
    assert_eq!(
        a.dialogue_bpb, by_logits.dialogue_bpb,
        "the mode only changes the EQ part"
    );
    let again = evaluate(&v, &m, &sandbox(), &s, &spec, b"epoch-1").expect("evaluates");
    assert_eq!(a, again);
}

#[test]
fn our_failures_are_not_the_miners() {
    let (_tmp, mut v, m) = tiny_model(14);
    let spec = unguarded();
    let mut s = suites(&spec);
    s.eq_version = "some-other-bank".into();
    let err = evaluate(&v, &m, &sandbox(), &s, &spec, b"e").expect_err("fails");
    assert!(matches!(err, EvaluateError::SuiteMismatch { .. }), "{err}");
    assert!(!err.is_miner_fault());

    // The template is the competition's: if it broke on evaluation text, that is our bug.
    v.chat_template.source = "{% for m in messages %}{% if 'End dialogue' in m.content %}{{ raise_exception('no') }}{% endif %}{{ m.content }}{% endfor %}".into();
    let err = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"e").expect_err("fails");
    assert!(matches!(err, EvaluateError::Template(_)), "{err}");
    assert!(!err.is_miner_fault());
}

#[test]
fn a_broken_template_sandbox_no_longer_matters() {
    let (_tmp, v, m) = tiny_model(13);
    let spec = unguarded();
    let broken = Sandbox::new(PathBuf::from("false"), Vec::new());
    let a = evaluate(&v, &m, &broken, &suites(&spec), &spec, b"e").expect("renders in-process");
    let b = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"e").expect("evaluates");
    assert_eq!(a, b);
}
