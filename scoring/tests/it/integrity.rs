//! Packages built to raise a score without a better model, or to pass a copy off as new, each
//! refused or flagged; and the honest package and an independent fine-tune still accepted and
//! scored.
//!
//! The base is a tiny model trained from scratch on the bundled practice dialogues, so its
//! log-probabilities mean something; the hostile packages are edits of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use kindred_scoring::competition::{AllowedTokenizer, TINY_TOKENIZER};
use kindred_scoring::config::Architecture;
use kindred_scoring::dialogue::{Dialogue, Speaker};
use kindred_scoring::eq::EqItem;
use kindred_scoring::evaluate::{EvaluateError, Suites, evaluate};
use kindred_scoring::finetune::{self, Corpus, FinetuneSettings, Trainer};
use kindred_scoring::identity::{self, NEAR_DUPLICATE_SIMILARITY};
use kindred_scoring::template::CHATML;
use kindred_scoring::tiny::{self, SeededNormal, TinySpec};
use kindred_scoring::tokenizer::tokenizer_hash;
use kindred_scoring::validate::ValidateError;
use kindred_scoring::{
    CausalLm, Competition, Evaluation, Rejection, ScoringSpec, ValidatedModel, load, validate,
};

use crate::sandbox;

/// The bundled practice dialogues (what fingerprints probe and the base is trained on).
fn practice() -> &'static [Dialogue] {
    static PRACTICE: OnceLock<Vec<Dialogue>> = OnceLock::new();
    PRACTICE.get_or_init(|| kindred_scoring::suites::dialogues().expect("bundled dialogues"))
}

fn settings(steps: usize, seed: u64) -> FinetuneSettings {
    FinetuneSettings {
        steps,
        batch_size: 8,
        seq_len: 96,
        seed,
        ..FinetuneSettings::default()
    }
}

/// A tiny Llama trained from scratch on the practice dialogues, written once per test run.
fn base() -> &'static Path {
    static BASE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, dir) = BASE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("base");
        finetune::finetune(
            &TinySpec::new(Architecture::Llama, 21),
            &Corpus::Dialogues(practice().to_vec()),
            &settings(150, 1),
            &dir,
            &mut |_, _| {},
        )
        .expect("train the base");
        (tmp, dir)
    });
    dir
}

/// A copy of `from` in a fresh directory.
fn copy_package(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pkg");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    (tmp, dir)
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(path, v.to_string()).expect("write");
}

fn valid(dir: &Path, competition: &Competition) -> ValidatedModel {
    validate(dir, competition, &sandbox()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn rejection(dir: &Path, competition: &Competition) -> Rejection {
    match validate(dir, competition, &sandbox()) {
        Err(ValidateError::Rejected(r)) => r,
        Err(other) => panic!("expected a rejection, got an infrastructure error: {other}"),
        Ok(_) => panic!("expected a rejection, {} was accepted", dir.display()),
    }
}

/// A small evaluation suite whose reference replies the attacks below know (they are public).
fn suites(spec: &ScoringSpec) -> Suites {
    let eq = (0..4)
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
    let dialogues = practice()[..8].to_vec();
    Suites {
        eq,
        eq_version: spec.eq_suite.clone(),
        dialogues,
        dialogue_version: spec.dialogue_suite.clone(),
    }
}

fn spec() -> ScoringSpec {
    let mut spec = ScoringSpec::quick();
    spec.guard.prompts = 0;
    spec.batch_size = 2;
    spec.dialogue_units = 4;
    spec
}

/// Every character reply in `dialogues`: what a cheater would teach a tokenizer to delete.
fn replies(dialogues: &[Dialogue]) -> Vec<String> {
    dialogues
        .iter()
        .flat_map(|d| d.turns.iter().skip(1))
        .filter(|t| t.speaker == Speaker::Character)
        .map(|t| t.text.clone())
        .collect()
}

fn set_normalizer(dir: &Path, normalizer: serde_json::Value) {
    edit_json(&dir.join("tokenizer.json"), |v| v["normalizer"] = normalizer);
}

fn replace(pattern: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"type": "Replace", "pattern": pattern, "content": ""})
}

fn delete_strings(strings: &[String]) -> serde_json::Value {
    serde_json::json!({
        "type": "Sequence",
        "normalizers": strings.iter().map(|s| replace(serde_json::json!({"String": s}))).collect::<Vec<_>>(),
    })
}

/// `dev` extended to allow the tokenizer of `dir`: what would happen if an allow list ever let
/// a hostile tokenizer through (the scorer's own defences must still hold).
fn dev_allowing(dir: &Path) -> Competition {
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let mut c = Competition::dev();
    c.tokenizers.push(AllowedTokenizer::chatml(
        "hostile",
        tokenizer_hash(&tok).expect("hash"),
    ));
    c
}

fn evaluate_dir(
    dir: &Path,
    competition: &Competition,
) -> (ValidatedModel, CausalLm, Result<Evaluation, EvaluateError>) {
    let v = valid(dir, competition);
    let m = load(&v, &Device::Cpu).expect("load");
    let spec = spec();
    let e = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"epoch-7");
    (v, m, e)
}

#[test]
fn tokenizer_hashes_ignore_formatting_and_pin_the_tiny_tokenizer() {
    let tok = tiny::tiny_tokenizer().expect("tokenizer");
    assert_eq!(tokenizer_hash(&tok).expect("hash"), TINY_TOKENIZER);
    assert!(Competition::dev().allowed_tokenizer(&TINY_TOKENIZER).is_some());
    assert!(Competition::small().allowed_tokenizer(&TINY_TOKENIZER).is_none());

    // Pretty-printed, keys in reverse order: the same tokenizer.
    let (_tmp, dir) = copy_package(base());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).expect("read")).expect("json");
    let reversed: serde_json::Map<String, serde_json::Value> = v
        .as_object()
        .expect("object")
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string_pretty(&reversed).expect("ser"),
    )
    .expect("write");
    assert_eq!(valid(&dir, &Competition::dev()).tokenizer_hash, TINY_TOKENIZER);
}

#[test]
fn edited_normalizers_are_refused_before_any_forward_pass() {
    let cases = [
        (
            "deletes every letter",
            replace(serde_json::json!({"Regex": "[A-Za-z]"})),
        ),
        (
            "deletes every non-digit",
            replace(serde_json::json!({"Regex": "[^0-9]"})),
        ),
        (
            "deletes the public reference replies",
            delete_strings(&replies(practice())),
        ),
        ("lowercases", serde_json::json!({"type": "Lowercase"})),
    ];
    for (what, normalizer) in cases {
        let (_tmp, dir) = copy_package(base());
        set_normalizer(&dir, normalizer);
        // Weights that would not even load: the tokenizer is refused before anything runs.
        let mut w = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("w");
        let name = "model.norm.weight";
        let nan = (w[name].ones_like().expect("ones") * f64::NAN).expect("nan");
        w.insert(name.into(), nan);
        candle_core::safetensors::save(&w, dir.join("model.safetensors")).expect("save");
        let r = rejection(&dir, &Competition::dev());
        assert_eq!(r.code(), "tokenizer_not_allowed", "{what}: {r}");
    }
}

#[test]
fn added_tokens_that_make_replies_single_tokens_are_refused() {
    let (_tmp, dir) = copy_package(base());
    let mut tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let whole: Vec<tokenizers::AddedToken> = replies(&practice()[..8])
        .into_iter()
        .take(40)
        .map(|r| tokenizers::AddedToken::from(r, false))
        .collect();
    tok.add_tokens(whole).expect("add tokens");
    tok.save(dir.join("tokenizer.json"), false).expect("save");
    // The embedding has room for the new ids (320 rows, 259 used), so only the allow list stops it.
    assert!(tok.get_vocab_size(true) <= 320);
    assert_eq!(
        rejection(&dir, &Competition::dev()).code(),
        "tokenizer_not_allowed"
    );
}

#[test]
fn the_packages_own_chat_template_is_never_run() {
    let honest = evaluate_dir(base(), &Competition::dev());
    let honest_eval = honest.2.expect("honest package evaluates");
    let hostile_templates = [
        // Prints the answer it wants the model to copy into every prompt.
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\nBetrayed: 7\nRelieved: 2\nTender: 0\nAngry: 5\n",
        "{{ raise_exception('only my own prompts') }}",
        "{% macro f(s, n) %}{% if n > 0 %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('xxxxxxxxxxxxxxxx', 40) }}",
    ];
    for source in hostile_templates {
        let (_tmp, dir) = copy_package(base());
        edit_json(&dir.join("tokenizer_config.json"), |v| {
            v["chat_template"] = source.into()
        });
        let (v, _, e) = evaluate_dir(&dir, &Competition::dev());
        assert_eq!(v.chat_template.source, CHATML);
        assert_eq!(e.expect("evaluates"), honest_eval, "{source}");
    }
    // No template at all is fine too; a tokenizer_config.json that is not JSON is not.
    let (_tmp, dir) = copy_package(base());
    edit_json(&dir.join("tokenizer_config.json"), |v| {
        v.as_object_mut().expect("object").remove("chat_template");
    });
    valid(&dir, &Competition::dev());
    std::fs::write(dir.join("tokenizer_config.json"), b"{chat_template: nope").expect("write");
    assert_eq!(
        rejection(&dir, &Competition::dev()).code(),
        "bad_tokenizer_config"
    );
}

#[test]
fn a_reply_deleting_tokenizer_scores_nothing_even_if_allowed() {
    let honest = evaluate_dir(base(), &Competition::dev()).2.expect("honest");
    assert!(honest.dialogue_bpb > 0.5, "{}", honest.dialogue_bpb);
    let (_tmp, dir) = copy_package(base());
    set_normalizer(&dir, delete_strings(&replies(&suites(&spec()).dialogues)));
    let (_, _, e) = evaluate_dir(&dir, &dev_allowing(&dir));
    match e {
        Err(EvaluateError::ReplyText(t)) => {
            assert!(t.to_string().contains("no tokens"), "{t}");
        }
        other => panic!("expected the vanished reply to be refused, got {other:?}"),
    }
}

#[test]
fn a_digit_only_tokenizer_is_a_typed_failure_never_a_panic() {
    let (_tmp, dir) = copy_package(base());
    set_normalizer(&dir, replace(serde_json::json!({"Regex": "[^0-9]"})));
    let competition = dev_allowing(&dir);
    let (v, m, e) = evaluate_dir(&dir, &competition);
    let err = e.expect_err("nothing is left to score");
    assert!(
        !matches!(err, EvaluateError::Panicked(_)),
        "the cause is handled, not just caught: {err}"
    );
    assert!(err.is_miner_fault(), "{err}");
    // The EQ path alone (an `Emotion: ` head normalised to nothing) and the generate mode.
    let mut spec = spec();
    spec.dialogue_units = 0;
    let err = evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"epoch-7").expect_err("EQ");
    assert!(matches!(err, EvaluateError::EmptyPrompt), "{err}");
    spec.eq_mode = kindred_scoring::spec::EqMode::Generate { max_new_tokens: 4 };
    spec.guard.prompts = 1;
    match evaluate(&v, &m, &sandbox(), &suites(&spec), &spec, b"epoch-7") {
        Ok(e) => assert!(e.total.is_finite()),
        Err(err) => assert!(!matches!(err, EvaluateError::Panicked(_)), "{err}"),
    }
}

#[test]
fn out_of_range_special_tokens_and_broken_generation_configs_are_refused() {
    let (_tmp, dir) = copy_package(base());
    edit_json(&dir.join("config.json"), |v| v["eos_token_id"] = 5000.into());
    assert_eq!(
        rejection(&dir, &Competition::dev()),
        Rejection::BadSpecialToken {
            file: "config.json".into(),
            field: "eos_token_id".into(),
            id: 5000,
            vocab: 320
        }
    );
    let (_tmp, dir) = copy_package(base());
    // A row of the embedding, but no token of the tokenizer has this id.
    edit_json(&dir.join("config.json"), |v| v["bos_token_id"] = 300.into());
    assert_eq!(rejection(&dir, &Competition::dev()).code(), "bad_special_token");

    let (_tmp, dir) = copy_package(base());
    std::fs::write(dir.join("generation_config.json"), b"{\"eos_token_id\": 2,,}").expect("write");
    assert_eq!(
        rejection(&dir, &Competition::dev()).code(),
        "bad_generation_config"
    );
    std::fs::write(
        dir.join("generation_config.json"),
        b"{\"eos_token_id\": [2, 99999]}",
    )
    .expect("write");
    assert_eq!(rejection(&dir, &Competition::dev()).code(), "bad_special_token");
    std::fs::write(dir.join("generation_config.json"), b"[2]").expect("write");
    assert_eq!(
        rejection(&dir, &Competition::dev()).code(),
        "bad_generation_config"
    );
    std::fs::remove_file(dir.join("generation_config.json")).expect("rm");
    valid(&dir, &Competition::dev());
}

fn digest(dir: &Path) -> identity::ContentDigest {
    identity::content_digest(&valid(dir, &Competition::dev())).expect("digest")
}

fn weights(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("weights")
}

fn save_as(dir: &Path, w: &HashMap<String, Tensor>, dtype: DType) {
    let w: HashMap<String, Tensor> = w
        .iter()
        .map(|(k, t)| (k.clone(), t.to_dtype(dtype).expect("convert")))
        .collect();
    candle_core::safetensors::save(&w, dir.join("model.safetensors")).expect("save");
}

#[test]
fn reformatted_and_resaved_copies_have_the_originals_digest() {
    let original = digest(base());

    // Re-indented config, whitespace in generation_config, pretty tokenizer: same content.
    let (_tmp, dir) = copy_package(base());
    for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(file)).expect("read")).expect("json");
        std::fs::write(
            dir.join(file),
            format!("{}\n\n", serde_json::to_string_pretty(&v).expect("ser")),
        )
        .expect("write");
    }
    std::fs::write(
        dir.join("generation_config.json"),
        b" {\"bos_token_id\": 0,   \"eos_token_id\": 2}\n ",
    )
    .expect("write");
    assert_eq!(digest(&dir), original, "reformatted JSON");

    // bf16 package, then the same weights re-saved as f32 (and back to bf16 from f32).
    let (_tmp, bf16_dir) = copy_package(base());
    save_as(&bf16_dir, &weights(base()), DType::BF16);
    let bf16 = digest(&bf16_dir);
    let (_tmp, f32_dir) = copy_package(&bf16_dir);
    save_as(&f32_dir, &weights(&bf16_dir), DType::F32);
    assert_eq!(digest(&f32_dir), bf16, "f32 re-save of a bf16 package");
    assert_eq!(
        bf16, original,
        "f32 and its bf16 conversion run the same on a bf16 validator"
    );

    // Sharded: same tensors in two files.
    let (_tmp, sharded) = copy_package(base());
    let w = weights(base());
    std::fs::remove_file(sharded.join("model.safetensors")).expect("rm");
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    let (a, b): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.contains("layers.0"));
    let mut map = serde_json::Map::new();
    for (part, file) in [
        (a, "model-00001-of-00002.safetensors"),
        (b, "model-00002-of-00002.safetensors"),
    ] {
        let shard: HashMap<String, Tensor> = part.iter().map(|n| ((*n).clone(), w[*n].clone())).collect();
        for n in part {
            map.insert(n.clone(), file.into());
        }
        candle_core::safetensors::save(&shard, sharded.join(file)).expect("shard");
    }
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": map}).to_string(),
    )
    .expect("index");
    assert_eq!(digest(&sharded), original, "re-sharded");

    // One weight changed by one bf16 step is another model.
    let (_tmp, changed) = copy_package(base());
    let mut w = weights(base());
    let name = "model.layers.1.mlp.down_proj.weight";
    let mut values = w[name]
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("values");
    values[17] *= 1.1;
    w.insert(
        name.into(),
        Tensor::from_vec(values, w[name].dims(), &Device::Cpu).expect("tensor"),
    );
    save_as(&changed, &w, DType::F32);
    assert_ne!(digest(&changed), original);

    // Another config value the forward reads is another model, an ignored one is not.
    let (_tmp, cfg) = copy_package(base());
    edit_json(&cfg.join("config.json"), |v| v["rope_theta"] = 20_000.0.into());
    assert_ne!(digest(&cfg), original);
    edit_json(&cfg.join("config.json"), |v| {
        v["rope_theta"] = 10_000.0.into();
        v["torch_dtype"] = "bfloat16".into();
        v["max_position_embeddings"] = 8192.into();
    });
    assert_eq!(digest(&cfg), original);
}

/// `from` with Gaussian noise of standard deviation `std` added to every weight.
fn noised(from: &Path, std: f32, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = copy_package(from);
    let mut rng = SeededNormal::new(seed);
    let mut names: Vec<(String, Tensor)> = weights(from).into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let w: HashMap<String, Tensor> = names
        .into_iter()
        .map(|(k, t)| {
            let noise = rng.tensor(t.dims(), 0.0, std).expect("noise");
            (k, (t + noise).expect("add"))
        })
        .collect();
    save_as(&dir, &w, DType::F32);
    (tmp, dir)
}

/// A fine-tune of `from` for `steps` steps on dialogues the base saw less of.
fn fine_tuned(from: &Path, steps: usize, lr: f64, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ft");
    let v = valid(from, &Competition::dev());
    let corpus = Corpus::Dialogues(practice()[32..].to_vec());
    let mut s = settings(steps, seed);
    s.learning_rate = lr;
    let trainer = Trainer::from_package(&v, &corpus, &s).expect("trainer");
    finetune::train(trainer, steps, &dir, &mut |_, _| {}).expect("fine-tune");
    (tmp, dir)
}

fn fingerprint(dir: &Path) -> identity::Fingerprint {
    let v = valid(dir, &Competition::dev());
    let m = load(&v, &Device::Cpu).expect("load");
    identity::fingerprint(&v, &m, practice()).expect("fingerprint")
}

#[test]
fn fingerprint_threshold_separates_noised_copies_from_fine_tunes() {
    let original = fingerprint(base());
    assert!(original.probes.len() >= 200, "{} probes", original.probes.len());
    assert_eq!(identity::similarity(&original, &original), Some(1.0));
    let sim = |dir: &Path| identity::similarity(&original, &fingerprint(dir)).expect("comparable");

    let mut copies = Vec::new();
    for std in [1e-6f32, 1e-5, 1e-4, 1e-3] {
        let (_tmp, dir) = noised(base(), std, 5);
        let s = sim(&dir);
        println!("fingerprint similarity: copy + N(0, {std:e}) noise on every weight: {s:.3}");
        copies.push((std, s));
    }
    let mut tunes = Vec::new();
    for (steps, lr, seed) in [(24, 3e-3, 2), (48, 3e-3, 3), (24, 3e-4, 4), (48, 3e-4, 5)] {
        let (_tmp, dir) = fine_tuned(base(), steps, lr, seed);
        let s = sim(&dir);
        println!("fingerprint similarity: fine-tune of the base, {steps} steps at lr {lr:e}: {s:.3}");
        tunes.push((steps, lr, s));
    }
    let (_tmp, other) = {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("other");
        finetune::finetune(
            &TinySpec::new(Architecture::Llama, 99),
            &Corpus::Dialogues(practice().to_vec()),
            &settings(150, 9),
            &dir,
            &mut |_, _| {},
        )
        .expect("train another model");
        (tmp, dir)
    };
    println!(
        "fingerprint similarity: another model trained the same way from another seed: {:.3}",
        sim(&other)
    );
    println!("near-duplicate threshold: {NEAR_DUPLICATE_SIMILARITY}");

    assert_eq!(copies[0].1, 1.0, "a 1e-6 noise copy is indistinguishable");
    for (std, s) in &copies {
        assert!(*s >= NEAR_DUPLICATE_SIMILARITY, "copy with {std:e} noise: {s}");
    }
    for (steps, lr, s) in &tunes {
        assert!(*s < NEAR_DUPLICATE_SIMILARITY, "{steps} steps at {lr}: {s}");
    }
    assert!(sim(&other) < NEAR_DUPLICATE_SIMILARITY);
}

#[test]
fn an_honest_fine_tune_is_accepted_scored_and_distinct() {
    let (_tmp, dir) = fine_tuned(base(), 24, 3e-3, 11);
    let (v, _, e) = evaluate_dir(&dir, &Competition::dev());
    let e = e.expect("a fine-tune evaluates");
    assert!(
        e.total > 0.0 && e.dialogue_bpb > 0.5 && e.dialogue_bpb < 8.0,
        "{e:?}"
    );
    assert_ne!(identity::content_digest(&v).expect("digest"), digest(base()));
}

#[test]
fn one_panicking_package_is_contained() {
    let r: Result<(), EvaluateError> =
        kindred_scoring::evaluate::contain(|| panic!("chunk_size must not be zero"));
    match r {
        Err(EvaluateError::Panicked(msg)) => assert!(msg.contains("chunk_size"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let e: EvaluateError = EvaluateError::Panicked("x".into());
    assert!(e.is_miner_fault());
}
