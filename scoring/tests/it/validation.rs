//! One hostile package per validation rule: each must be refused with its own reason code,
//! and a well-formed package must pass and load.

use crate::sandbox;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kindred_scoring::config::Architecture;
use kindred_scoring::template::Sandbox;
use kindred_scoring::tiny::{self, TinySpec};
use kindred_scoring::validate::{LoadError, ValidateError};
use kindred_scoring::{Competition, Rejection, load, validate};

fn tiny_package(arch: Architecture) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pkg");
    tiny::write_tiny_model(&dir, &TinySpec::new(arch, 1)).expect("write");
    (tmp, dir)
}

/// The rejection code for `dir` in the dev competition (panics if it was accepted).
fn rejection_in(dir: &Path, competition: &Competition) -> Rejection {
    match validate(dir, competition, &sandbox()) {
        Err(ValidateError::Rejected(r)) => r,
        Err(other) => panic!("expected a rejection, got an infrastructure error: {other}"),
        Ok(_) => panic!("expected a rejection, the package was accepted"),
    }
}

fn rejection(dir: &Path) -> Rejection {
    rejection_in(dir, &Competition::dev())
}

fn weights(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).expect("load")
}

fn save_weights(dir: &Path, w: &HashMap<String, Tensor>) {
    candle_core::safetensors::save(w, dir.join("model.safetensors")).expect("save");
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(path, v.to_string()).expect("write");
}

#[test]
fn well_formed_packages_pass_and_load_for_every_architecture() {
    for arch in Architecture::ALL {
        let (_tmp, dir) = tiny_package(arch);
        let v = validate(&dir, &Competition::dev(), &sandbox()).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(v.parameters, v.config.parameter_count());
        assert_eq!(v.config.architecture, arch);
        load(&v, &Device::Cpu).unwrap_or_else(|e| panic!("{arch}: {e}"));
    }
}

#[test]
fn half_precision_packages_load_as_f32_on_cpu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spec = TinySpec::new(Architecture::Llama, 3);
    spec.dtype = DType::BF16;
    tiny::write_tiny_model(tmp.path(), &spec).expect("write");
    let v = validate(tmp.path(), &Competition::dev(), &sandbox()).expect("valid");
    assert!(
        v.tensors
            .values()
            .all(|t| t.dtype == kindred_scoring::package::Dtype::BF16)
    );
    let m = load(&v, &Device::Cpu).expect("load");
    let logits = m.all_logits(&[5, 6, 7]).expect("forward");
    assert_eq!(logits.dtype(), DType::F32);
}

#[test]
fn forbidden_files_are_refused() {
    for name in ["model.py", "pytorch_model.bin", "model.gguf", "notes.txt"] {
        let (_tmp, dir) = tiny_package(Architecture::Llama);
        std::fs::write(dir.join(name), b"import os").expect("write");
        assert_eq!(rejection(&dir).code(), "forbidden_file", "{name}");
    }
}

#[test]
fn symlinks_are_refused() {
    let (tmp, dir) = tiny_package(Architecture::Llama);
    let outside = tmp.path().join("elsewhere.json");
    std::fs::rename(dir.join("config.json"), &outside).expect("move");
    std::os::unix::fs::symlink(&outside, dir.join("config.json")).expect("symlink");
    assert_eq!(rejection(&dir).code(), "not_regular_file");
}

#[test]
fn byte_limits_are_enforced() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let mut c = Competition::dev();
    c.max_file_bytes = 50_000;
    assert_eq!(rejection_in(&dir, &c).code(), "file_too_large");
    let mut c = Competition::dev();
    c.max_total_bytes = 100_000;
    assert_eq!(rejection_in(&dir, &c).code(), "package_too_large");
}

#[test]
fn missing_required_files_are_named() {
    for file in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        let (_tmp, dir) = tiny_package(Architecture::Llama);
        std::fs::remove_file(dir.join(file)).expect("remove");
        assert_eq!(rejection(&dir), Rejection::MissingFile { file: file.into() });
    }
}

/// Splits the tiny model's weights over two shards with an index.
fn shard(dir: &Path) -> serde_json::Value {
    let w = weights(dir);
    std::fs::remove_file(dir.join("model.safetensors")).expect("remove");
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let mut map = serde_json::Map::new();
    for (i, (k, v)) in w.into_iter().enumerate() {
        let file = if i % 2 == 0 {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(k.clone(), file.into());
        if i % 2 == 0 {
            a.insert(k, v)
        } else {
            b.insert(k, v)
        };
    }
    candle_core::safetensors::save(&a, dir.join("model-00001-of-00002.safetensors")).expect("a");
    candle_core::safetensors::save(&b, dir.join("model-00002-of-00002.safetensors")).expect("b");
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");
    index
}

#[test]
fn sharded_packages_pass_and_shard_tricks_are_refused() {
    let (_tmp, dir) = tiny_package(Architecture::Qwen2);
    shard(&dir);
    let v = validate(&dir, &Competition::dev(), &sandbox()).expect("sharded package is valid");
    load(&v, &Device::Cpu).expect("loads");

    let index_path = dir.join("model.safetensors.index.json");
    let original = std::fs::read(&index_path).expect("read");
    edit_json(&index_path, |v| {
        v["weight_map"]["model.norm.weight"] = "../../etc/passwd".into();
    });
    assert_eq!(rejection(&dir).code(), "bad_shard_index");
    std::fs::write(&index_path, &original).expect("restore");

    std::fs::copy(
        dir.join("model-00002-of-00002.safetensors"),
        dir.join("model-00003-of-00003.safetensors"),
    )
    .expect("copy");
    assert_eq!(rejection(&dir).code(), "bad_shard_index");
    std::fs::remove_file(dir.join("model-00003-of-00003.safetensors")).expect("rm");

    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).expect("rm");
    assert_eq!(
        rejection(&dir),
        Rejection::MissingFile {
            file: "model-00002-of-00002.safetensors".into()
        }
    );
}

#[test]
fn tensors_duplicated_across_shards_are_refused() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    shard(&dir);
    let a = candle_core::safetensors::load(dir.join("model-00001-of-00002.safetensors"), &Device::Cpu)
        .expect("a");
    let mut b = candle_core::safetensors::load(dir.join("model-00002-of-00002.safetensors"), &Device::Cpu)
        .expect("b");
    let (k, v) = a.iter().next().expect("one tensor");
    b.insert(k.clone(), v.clone());
    candle_core::safetensors::save(&b, dir.join("model-00002-of-00002.safetensors")).expect("save");
    assert_eq!(rejection(&dir).code(), "duplicate_tensor");
}

#[test]
fn bad_configs_are_refused_with_the_field() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    edit_json(&dir.join("config.json"), |v| {
        v["num_hidden_layers"] = 100_000.into()
    });
    match rejection(&dir) {
        Rejection::BadConfig { detail } => {
            assert!(detail.contains("num_hidden_layers"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    edit_json(&dir.join("config.json"), |v| {
        v["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    });
    assert_eq!(rejection(&dir).code(), "bad_config");
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    std::fs::write(dir.join("config.json"), b"{not json").expect("write");
    assert_eq!(rejection(&dir).code(), "bad_config");
}

#[test]
fn competitions_restrict_architecture_and_context() {
    let (_tmp, dir) = tiny_package(Architecture::Qwen3);
    let mut c = Competition::dev();
    c.architectures = vec![Architecture::Llama];
    assert_eq!(rejection_in(&dir, &c).code(), "architecture_not_allowed");
    edit_json(&dir.join("config.json"), |v| {
        v["max_position_embeddings"] = 128.into()
    });
    assert_eq!(rejection(&dir).code(), "context_too_short");
}

#[test]
fn corrupt_safetensors_headers_are_refused() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).expect("read");

    std::fs::write(&path, &bytes[..bytes.len() - 10]).expect("truncate");
    assert_eq!(rejection(&dir).code(), "bad_safetensors");

    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &huge).expect("write");
    assert_eq!(rejection(&dir).code(), "bad_safetensors");

    std::fs::write(&path, b"abc").expect("write");
    assert_eq!(rejection(&dir).code(), "bad_safetensors");

    let mut garbage = bytes.clone();
    garbage[8] = b'[';
    std::fs::write(&path, &garbage).expect("write");
    assert_eq!(rejection(&dir).code(), "bad_safetensors");
}

#[test]
fn tensor_rules_are_enforced() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let mut w = weights(&dir);
    w.insert(
        "model.layers.0.mlp.gate_proj.weight".into(),
        Tensor::zeros((128, 64), DType::I64, &Device::Cpu).expect("t"),
    );
    save_weights(&dir, &w);
    assert_eq!(rejection(&dir).code(), "bad_dtype");

    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let mut w = weights(&dir);
    w.remove("model.layers.1.self_attn.o_proj.weight");
    save_weights(&dir, &w);
    assert_eq!(
        rejection(&dir),
        Rejection::MissingTensor {
            name: "model.layers.1.self_attn.o_proj.weight".into()
        }
    );

    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let mut w = weights(&dir);
    w.insert(
        "model.layers.0.mlp.up_proj.weight".into(),
        Tensor::zeros((64, 128), DType::F32, &Device::Cpu).expect("t"),
    );
    save_weights(&dir, &w);
    assert_eq!(rejection(&dir).code(), "bad_shape");

    let (_tmp, dir) = tiny_package(Architecture::Llama);
    let mut w = weights(&dir);
    w.insert(
        "model.layers.0.self_attn.rotary_emb.inv_freq".into(),
        Tensor::zeros(8, DType::F32, &Device::Cpu).expect("t"),
    );
    save_weights(&dir, &w);
    assert_eq!(rejection(&dir).code(), "unexpected_tensor");
}

#[test]
fn parameter_band_is_enforced() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    assert_eq!(
        rejection_in(&dir, &Competition::small()).code(),
        "parameter_count"
    );
}

#[test]
fn tokenizer_rules_are_enforced() {
    let (_tmp, dir) = tiny_package(Architecture::Llama);
    std::fs::write(dir.join("tokenizer.json"), br#"{"model": {"type": "Nonsense"}}"#).expect("write");
    assert_eq!(rejection(&dir).code(), "bad_tokenizer");

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spec = TinySpec::new(Architecture::Llama, 1);
    spec.vocab_size = 200; // fewer embedding rows than the tokenizer's 259 ids
    tiny::write_tiny_model(tmp.path(), &spec).expect("write");
    assert_eq!(
        rejection(tmp.path()),
        Rejection::VocabMismatch {
            max_id: 258,
            rows: 200
        }
    );
}

fn with_template(source: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = tiny_package(Architecture::Llama);
    edit_json(&dir.join("tokenizer_config.json"), |v| {
        v["chat_template"] = source.into()
    });
    (tmp, dir)
}

#[test]
fn the_packages_own_chat_template_is_never_rendered() {
    let cases = [
        ("missing", None),
        ("syntax error", Some("{% for m in messages %}")),
        ("raises", Some("{{ raise_exception('no system role') }}")),
        (
            "drops the user",
            Some("{% for m in messages %}{% if m.role != 'user' %}{{ m.content }}{% endif %}{% endfor %}"),
        ),
        (
            "endless loop",
            Some("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
        ),
        // Doubles a string at every recursion level: 2^40 bytes if anything rendered it.
        (
            "memory bomb",
            Some(
                "{% macro f(s, n) %}{% if n > 0 %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('xxxxxxxxxxxxxxxx', 40) }}",
            ),
        ),
    ];
    for (what, source) in cases {
        let (_tmp, dir) = match source {
            Some(s) => with_template(s),
            None => {
                let (tmp, dir) = tiny_package(Architecture::Llama);
                edit_json(&dir.join("tokenizer_config.json"), |v| {
                    v.as_object_mut().expect("object").remove("chat_template");
                });
                (tmp, dir)
            }
        };
        // A sandbox that cannot start: nothing of the package's is rendered, so it is not needed.
        let broken = Sandbox::new(PathBuf::from("false"), Vec::new());
        let started = std::time::Instant::now();
        let v = validate(&dir, &Competition::dev(), &broken).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            v.chat_template.source,
            kindred_scoring::template::CHATML,
            "{what}"
        );
        assert!(
            started.elapsed().as_secs() < 10,
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn non_finite_or_absurd_weights_are_refused_after_loading() {
    for (value, code) in [
        (f32::NAN, "non_finite"),
        (f32::INFINITY, "non_finite"),
        (1e6, "abnormal_norm"),
    ] {
        let (_tmp, dir) = tiny_package(Architecture::Llama);
        let mut w = weights(&dir);
        let name = "model.layers.1.mlp.down_proj.weight";
        let t = w[name].clone();
        let poisoned = t.ones_like().and_then(|o| o * value as f64).expect("poison");
        w.insert(
            name.into(),
            if value.is_nan() {
                (t + poisoned).expect("nan")
            } else {
                poisoned
            },
        );
        save_weights(&dir, &w);
        let v = validate(&dir, &Competition::dev(), &sandbox()).expect("headers are fine");
        match load(&v, &Device::Cpu) {
            Err(LoadError::Rejected(r)) => assert_eq!(r.code(), code),
            Err(e) => panic!("infrastructure error instead of rejection: {e}"),
            Ok(_) => panic!("poisoned weights loaded"),
        }
    }
}

#[test]
fn sandbox_memory_cap_holds_where_fuel_does_not() {
    use kindred_scoring::template::{ChatTemplate, RenderRequest, TemplateError};
    let bomb = ChatTemplate {
        source: "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}".into(),
        bos_token: String::new(),
        eos_token: String::new(),
    };
    let mut sb = sandbox();
    // With fuel effectively unlimited only the address-space cap can stop 16 TiB of string.
    sb.limits.fuel = u64::MAX / 4;
    sb.memory_limit_bytes = 256 * 1024 * 1024;
    let request = RenderRequest {
        messages: Vec::new(),
        add_generation_prompt: false,
    };
    match sb.render_all(&bomb, &[request]) {
        Err(TemplateError::ResourceLimit(status)) => assert!(!status.is_empty()),
        other => panic!("expected the memory cap to kill the render, got {other:?}"),
    }
}
