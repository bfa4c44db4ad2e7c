//! Bad input gets an error that names the file and the problem — never a panic.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::Backend;
use albert_lens::model::{LoadedModel, ModelFiles};
use albert_lens::LensError;
use common::{copy_fixture, fixture, read_st, write_st};
use safetensors::tensor::Dtype;
use std::borrow::Cow;
use std::path::Path;

fn open_err(dir: &Path) -> (LensError, String) {
    let e = LoadedModel::open(dir).expect_err("must fail");
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn missing_config_json_is_named() {
    let (_t, d) = copy_fixture("albert_single");
    std::fs::remove_file(d.join("config.json")).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::NotAModelFolder { .. }));
    assert!(
        msg.contains("config.json") && msg.contains("albert_single"),
        "{msg}"
    );
}

#[test]
fn config_that_is_not_json_names_the_file() {
    let (_t, d) = copy_fixture("albert_single");
    std::fs::write(d.join("config.json"), "{ not json").unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Config { .. }));
    assert!(
        msg.contains("config.json") && msg.contains("not a valid config.json"),
        "{msg}"
    );
}

#[test]
fn unknown_model_type_is_rejected_by_name() {
    let (_t, d) = copy_fixture("albert_single");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(d.join("config.json"), cfg.replace("\"albert\"", "\"gpt2\"")).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::UnknownModelType { .. }));
    assert!(msg.contains("gpt2") && msg.contains("config.json"), "{msg}");
}

/// The encoders that are not supported yet (DeBERTa, ModernBERT) and others are refused by
/// name with the list of what opens.
#[test]
fn unsupported_families_are_named_with_the_supported_list() {
    for other in ["deberta", "modernbert-decoder", "gpt2"] {
        let (_t, d) = copy_fixture("albert_single");
        let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
        let cfg = cfg.replace("\"albert\"", &format!("\"{other}\""));
        std::fs::write(d.join("config.json"), cfg).unwrap();
        let (e, msg) = open_err(&d);
        assert!(matches!(e, LensError::UnknownModelType { .. }), "{msg}");
        assert!(msg.contains(other), "{msg}");
        for ok in [
            "albert",
            "bert",
            "roberta",
            "xlm-roberta",
            "distilbert",
            "electra",
            "modernbert",
            "deberta-v2",
        ] {
            assert!(msg.contains(ok), "{msg}");
        }
    }
}

/// Configs as they are found: DistilBERT's own field names or the common ones (both agreeing
/// is fine, disagreeing is an error naming both); RoBERTa's padding index must leave positions;
/// a stray token type in a RoBERTa pair never reaches its one-row type table.
#[test]
fn family_configs_are_read_as_written_and_bad_ones_named() {
    let (_t, d) = copy_fixture("distilbert_mlm");
    let path = d.join("config.json");
    let orig = std::fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&orig).unwrap();
    v["hidden_size"] = 32.into();
    std::fs::write(&path, v.to_string()).unwrap();
    LoadedModel::open(&d).unwrap();
    v["hidden_size"] = 64.into();
    std::fs::write(&path, v.to_string()).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("dim") && msg.contains("hidden_size") && msg.contains("disagree"),
        "{msg}"
    );
    // transformers' common names only
    let mut v: serde_json::Value = serde_json::from_str(&orig).unwrap();
    let obj = v.as_object_mut().unwrap();
    for (own, common) in [
        ("dim", "hidden_size"),
        ("n_layers", "num_hidden_layers"),
        ("n_heads", "num_attention_heads"),
        ("hidden_dim", "intermediate_size"),
    ] {
        let x = obj.remove(own).unwrap();
        obj.insert(common.into(), x);
    }
    std::fs::write(&path, v.to_string()).unwrap();
    let m = LoadedModel::open(&d).unwrap();
    assert_eq!((m.config.hidden_size, m.config.num_hidden_layers), (32, 3));
    assert_eq!(m.config.layer_norm_eps, 1e-12, "DistilBERT's eps is fixed");

    let (_t, d) = copy_fixture("roberta_mlm");
    let path = d.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (pad, what) in [
        (serde_json::json!(41), "leaves no position"),
        (serde_json::json!("one"), "not a token id"),
    ] {
        v["pad_token_id"] = pad;
        std::fs::write(&path, v.to_string()).unwrap();
        let (_, msg) = open_err(&d);
        assert!(msg.contains("pad_token_id") && msg.contains(what), "{msg}");
    }
    let m = LoadedModel::open(&fixture("roberta_mlm")).unwrap();
    assert_eq!(
        m.config.max_len(),
        40,
        "42 positions from padding_idx + 1 = 2"
    );
    let mut input = m.encode("a b", Some("c")).unwrap();
    assert!(input.type_ids.contains(&1), "the pair's segment");
    let t = albert_lens::backend::CpuBackend::new()
        .forward(&m.config, &m.weights, &input)
        .unwrap();
    assert_eq!(t.token_type_ids, input.type_ids);
    input.type_ids[1] = 7;
    assert!(albert_lens::backend::CpuBackend::new()
        .forward(&m.config, &m.weights, &input)
        .is_ok());
}

/// ModernBERT's options as found: the rotary bases and layer pattern in either spelling (the
/// hubcfg fixture holds the Hub's; its goldens pass in hf_parity), and every option that would
/// change the numbers and is not computed named with what is supported; a bias the config
/// turns off but the file holds is reported, not silently dropped.
#[test]
fn modernbert_options_as_found_and_unsupported_ones_named() {
    let m = LoadedModel::open(&fixture("modernbert_hubcfg")).unwrap();
    let layout = m.config.modern.as_ref().unwrap();
    assert_eq!(layout.global, [true, false, true]);
    assert_eq!((layout.window, layout.local_theta), (4, 10_000.0));
    assert_eq!(m.config.layer_norm_eps, 1e-5, "norm_eps");
    let (_t, d) = copy_fixture("modernbert_mlm");
    let path = d.join("config.json");
    let orig: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let edits: [(&str, serde_json::Value, &str); 7] = [
        (
            "layer_types",
            serde_json::json!(["full_attention"]),
            "lists 1 layers",
        ),
        (
            "layer_types",
            serde_json::json!(["full_attention", "chunked", "full_attention"]),
            "supported: \"full_attention\"",
        ),
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
            "rope_scaling",
        ),
        (
            "rope_parameters",
            serde_json::json!({"full_attention": {"rope_type": "dynamic", "rope_theta": 1e4}}),
            "only \"default\"",
        ),
        (
            "classifier_pooling",
            serde_json::json!("max"),
            "\"cls\" and \"mean\"",
        ),
        (
            "global_rope_theta",
            serde_json::json!(-1.0),
            "not a positive number",
        ),
        (
            "hidden_activation",
            serde_json::json!("swiglu"),
            "not supported",
        ),
    ];
    for (key, value, says) in edits {
        let mut v = orig.clone();
        if key == "global_rope_theta" {
            v.as_object_mut().unwrap().remove("rope_parameters");
        }
        v[key] = value;
        std::fs::write(&path, v.to_string()).unwrap();
        let (e, msg) = open_err(&d);
        assert!(matches!(e, LensError::Config { .. }), "{key}: {msg}");
        assert!(msg.contains(says), "{key}: {msg}");
    }
    // attention_bias off but the file has Wqkv biases: the unexpected tensors are named
    let (_t, d) = copy_fixture("modernbert_seqcls");
    let path = d.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["attention_bias"] = false.into();
    std::fs::write(&path, v.to_string()).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::WeightMismatch(_)), "{msg}");
    assert!(msg.contains("layers.0.attn.Wqkv.bias"), "{msg}");
}

/// DeBERTa's options: pos_att_type as a list or as the Hub's "p2c|c2p" (deberta_seqcls keeps
/// the string), and every layout albert-lens does not compute named: DeBERTa-v2's absolute
/// positions, separate position projections, its convolution, token types, "p2p", bucket
/// sizes past the range.
#[test]
fn deberta_options_as_found_and_unsupported_ones_named() {
    let m = LoadedModel::open(&fixture("deberta_seqcls")).unwrap();
    let r = m.config.relative.as_ref().unwrap();
    assert!(r.c2p && r.p2c && r.buckets.is_none());
    assert_eq!((r.span, r.scale_factor()), (24, 3));
    let (_t, d) = copy_fixture("deberta_mlm");
    let path = d.join("config.json");
    let orig: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let edits: [(&str, serde_json::Value, &str); 8] = [
        ("relative_attention", false.into(), "relative_attention"),
        (
            "position_biased_input",
            true.into(),
            "position_biased_input",
        ),
        ("share_att_key", false.into(), "share_att_key"),
        ("conv_kernel_size", 3.into(), "convolution"),
        ("type_vocab_size", 2.into(), "token types"),
        ("pos_att_type", "p2c|p2p".into(), "\"p2p\""),
        ("position_buckets", 100.into(), "position_buckets 100"),
        ("pooler_hidden_act", "swiglu".into(), "pooler_hidden_act"),
    ];
    for (key, value, says) in edits {
        let mut v = orig.clone();
        v[key] = value;
        std::fs::write(&path, v.to_string()).unwrap();
        let (e, msg) = open_err(&d);
        assert!(matches!(e, LensError::Config { .. }), "{key}: {msg}");
        assert!(msg.contains(says), "{key}: {msg}");
    }
}

#[test]
fn albert_config_over_bert_weights_says_they_look_like_bert() {
    let (_t, d) = copy_fixture("bert_mlm");
    std::fs::copy(fixture("albert_single/config.json"), d.join("config.json")).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::WeightMismatch(_)), "{msg}");
    assert!(msg.contains("look like BERT weights"), "{msg}");
    assert!(msg.contains("missing tensors"), "{msg}");
}

#[test]
fn missing_unexpected_and_misshaped_tensors_are_listed() {
    let (_t, d) = copy_fixture("albert_single");
    let path = d.join("model.safetensors");
    let mut t = read_st(&path);
    t.retain(|x| x.0 != "encoder.albert_layer_groups.0.albert_layers.0.ffn.bias");
    t.push((
        "encoder.mystery.weight".into(),
        Dtype::F32,
        vec![2],
        vec![0; 8],
    ));
    let ln = t
        .iter_mut()
        .find(|x| x.0 == "embeddings.LayerNorm.weight")
        .unwrap();
    ln.2 = vec![8];
    ln.3.truncate(32);
    write_st(&path, &t);
    let (e, msg) = open_err(&d);
    let LensError::WeightMismatch(w) = &e else {
        panic!("{msg}")
    };
    let (missing, unexpected, misshaped) = (&w.missing, &w.unexpected, &w.misshaped);
    assert_eq!(
        missing,
        &["encoder.albert_layer_groups.0.albert_layers.0.ffn.bias"]
    );
    assert_eq!(unexpected, &["encoder.mystery.weight"]);
    assert_eq!(misshaped.len(), 1);
    assert_eq!(misshaped[0].expected, vec![16]);
    assert_eq!(misshaped[0].found, vec![8]);
    for part in [
        "ffn.bias",
        "encoder.mystery.weight",
        "embeddings.LayerNorm.weight is [8], expected [16]",
    ] {
        assert!(msg.contains(part), "{part} not in: {msg}");
    }
}

#[test]
fn truncated_safetensors_names_the_file() {
    let (_t, d) = copy_fixture("albert_single");
    let path = d.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Safetensors { .. }));
    assert!(
        msg.contains("model.safetensors") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn corrupt_safetensors_header_is_an_error() {
    let (_t, d) = copy_fixture("albert_single");
    let path = d.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[8..40] {
        *b = b'#';
    }
    std::fs::write(&path, &bytes).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Safetensors { .. }), "{msg}");
    assert!(msg.contains("corrupt"), "{msg}");
}

#[test]
fn absurd_safetensors_header_size_is_refused_without_allocating_it() {
    let (_t, d) = copy_fixture("albert_single");
    let path = d.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Safetensors { .. }), "{msg}");
    assert!(msg.contains("header size"), "{msg}");
}

#[test]
fn truncated_pytorch_model_bin_names_the_file() {
    let (_t, d) = copy_fixture("albert_pretraining_bin");
    let path = d.join("pytorch_model.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::TorchCheckpoint { .. }), "{msg}");
    assert!(msg.contains("pytorch_model.bin"), "{msg}");
}

#[test]
fn nan_weights_load_with_a_warning_naming_the_tensor() {
    let (_t, d) = copy_fixture("albert_single");
    let path = d.join("model.safetensors");
    let mut t = read_st(&path);
    let w = t
        .iter_mut()
        .find(|x| x.0 == "encoder.embedding_hidden_mapping_in.bias")
        .unwrap();
    w.3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    write_st(&path, &t);
    let model = LoadedModel::open(&d).unwrap();
    let warning = model.warnings.join("\n");
    assert!(
        warning.contains("NaN") && warning.contains("encoder.embedding_hidden_mapping_in.bias"),
        "{warning}"
    );
}

#[test]
fn empty_text_is_an_error_not_a_run() {
    let model = LoadedModel::open(&fixture("albert_single")).unwrap();
    for text in ["", "   ", "\n\t"] {
        let e = model.encode(text, None).expect_err("empty input must fail");
        assert!(matches!(e, LensError::EmptyInput));
        assert!(e.to_string().contains("empty"));
    }
}

#[test]
fn tokenizer_larger_than_the_model_vocabulary_is_rejected() {
    let (_t, d) = copy_fixture("albert_single");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(
        d.join("config.json"),
        cfg.replace("\"vocab_size\": 250", "\"vocab_size\": 100"),
    )
    .unwrap();
    // Weights must fit the config so that only the tokenizer is at fault.
    let path = d.join("model.safetensors");
    let mut t = read_st(&path);
    let w = t
        .iter_mut()
        .find(|x| x.0 == "embeddings.word_embeddings.weight")
        .unwrap();
    w.2 = vec![100, 16];
    w.3.truncate(100 * 16 * 4);
    write_st(&path, &t);
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::TokenizerVocab { .. }), "{msg}");
    assert!(
        msg.contains("tokenizer.json") && msg.contains("250") && msg.contains("100"),
        "{msg}"
    );
}

#[test]
fn missing_tokenizer_is_named() {
    let (_t, d) = copy_fixture("albert_single");
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::NotAModelFolder { .. }), "{msg}");
    assert!(msg.contains("spiece.model"), "{msg}");
}

#[test]
fn corrupt_tokenizer_json_names_the_file() {
    let (_t, d) = copy_fixture("bert_mlm");
    std::fs::write(d.join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Tokenizer { .. }), "{msg}");
    assert!(msg.contains("tokenizer.json"), "{msg}");
}

#[test]
fn corrupt_spiece_model_names_the_file() {
    let (_t, d) = copy_fixture("albert_spm_only_bf16");
    let path = d.join("spiece.model");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::Tokenizer { .. }), "{msg}");
    assert!(msg.contains("spiece.model"), "{msg}");
}

#[test]
fn folder_without_weights_is_named() {
    let (_t, d) = copy_fixture("albert_single");
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("model.safetensors") && msg.contains("pytorch_model.bin"),
        "{msg}"
    );
}

#[test]
fn sharded_index_naming_a_missing_shard_is_named() {
    let (_t, d) = copy_fixture("albert_mlm_sharded_f16");
    std::fs::remove_file(d.join("model-00002-of-00005.safetensors")).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("model-00002-of-00005.safetensors") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn config_with_heads_not_dividing_hidden_size_is_rejected() {
    let (_t, d) = copy_fixture("albert_single");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(
        d.join("config.json"),
        cfg.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"),
    )
    .unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("not a multiple of num_attention_heads"),
        "{msg}"
    );
}

#[test]
fn a_built_in_model_changed_in_place_is_noticed_and_restored() {
    let cache = tempfile::tempdir().unwrap();
    let dir = albert_lens::model::builtin::folder_in("albert-mini", cache.path()).unwrap();
    let weights = dir.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    // same size, one byte flipped in the tensor data
    let mut bad = good.clone();
    let at = bad.len() - 100;
    bad[at] ^= 0x40;
    std::fs::write(&weights, &bad).unwrap();
    let again = albert_lens::model::builtin::folder_in("albert-mini", cache.path()).unwrap();
    assert_eq!(again, dir);
    assert_eq!(
        std::fs::read(&weights).unwrap(),
        good,
        "the bytes are restored"
    );
    LoadedModel::open(&dir).unwrap();
}

#[test]
fn a_tokenizer_id_beyond_the_vocabulary_names_the_tokenizer_file() {
    // a WordPiece vocabulary of 400 entries in which one id is far past the model's 400 rows
    let (_t, d) = copy_fixture("bert_mlm");
    let path = d.join("tokenizer.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["model"]["vocab"]["##ders"] = serde_json::json!(9999);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let (e, msg) = open_err(&d);
    assert!(matches!(e, LensError::TokenizerVocab { .. }), "{msg}");
    assert!(
        msg.contains("tokenizer.json") && msg.contains("10000") && msg.contains("400"),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn a_config_json_that_is_a_link_loop_or_a_device_says_so() {
    let (_t, d) = copy_fixture("albert_single");
    let cfg = d.join("config.json");
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("config.json", &cfg).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("config.json") && msg.contains("symbolic links"),
        "{msg}"
    );
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cfg).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("config.json") && msg.contains("not a regular file"),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn writing_a_trace_to_a_folder_or_a_full_disk_says_cannot_write() {
    let golden = common::goldens("albert_single").remove(0).trace;
    let dir = tempfile::tempdir().unwrap();
    let msg = golden
        .write_safetensors(dir.path())
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("cannot write"), "{msg}");
    if Path::new("/dev/full").exists() {
        let msg = golden
            .write_safetensors(Path::new("/dev/full"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("cannot write /dev/full"), "{msg}");
    }
}

/// The fairseq vocabulary files, broken: a vocab.json that is not a JSON map, a merges.txt line
/// that is not a merge, a missing merges.txt, a sentencepiece.bpe.model that is not one. Each is
/// an error naming the file (and the line).
#[test]
fn broken_fairseq_vocabulary_files_are_named() {
    let (_t, d) = copy_fixture("roberta_vocab_only");
    std::fs::write(d.join("vocab.json"), "[1, 2, 3]").unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("vocab.json") && msg.contains("not a vocabulary"),
        "{msg}"
    );

    let (_t, d) = copy_fixture("roberta_vocab_only");
    let merges = std::fs::read_to_string(d.join("merges.txt")).unwrap();
    std::fs::write(d.join("merges.txt"), format!("{merges}\na b c\n")).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("merges.txt") && msg.contains("is not a merge"),
        "{msg}"
    );

    let (_t, d) = copy_fixture("roberta_vocab_only");
    std::fs::remove_file(d.join("merges.txt")).unwrap();
    let (_, msg) = open_err(&d);
    assert!(
        msg.contains("merges.txt") && msg.contains("missing"),
        "{msg}"
    );

    let (_t, d) = copy_fixture("xlmr_spm_only");
    std::fs::write(d.join("sentencepiece.bpe.model"), b"\x00\x01garbage").unwrap();
    let (_, msg) = open_err(&d);
    assert!(msg.contains("sentencepiece.bpe.model"), "{msg}");

    // a RoBERTa folder with no tokenizer at all names what it needs
    let (_t, d) = copy_fixture("roberta_vocab_only");
    std::fs::remove_file(d.join("vocab.json")).unwrap();
    let (_, msg) = open_err(&d);
    assert!(msg.contains("tokenizer.json or vocab.json"), "{msg}");
}

/// A model held in memory (the web build's built-ins) with broken bytes is refused with the
/// broken file named, never a panic: a config that is not JSON, truncated weights, a tokenizer
/// that is not a tokenizer, a config of another architecture.
#[test]
fn a_model_from_memory_with_broken_bytes_is_refused_naming_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let dir = albert_lens::model::builtin::folder_in("albert-mini", cache.path()).unwrap();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let (config, weights, tokenizer, options) = (
        read("config.json"),
        read("model.safetensors"),
        read("tokenizer.json"),
        read("tokenizer_config.json"),
    );
    let name = std::path::Path::new("builtin:broken");
    let files = |c: &[u8], w: &[u8], t: &[u8], o: Option<&[u8]>| {
        let named = [
            ("config.json", c),
            ("model.safetensors", w),
            ("tokenizer.json", t),
        ];
        let mut v: Vec<(String, Cow<[u8]>)> = named
            .iter()
            .map(|(n, b)| (n.to_string(), Cow::Owned(b.to_vec())))
            .collect();
        v.extend(o.map(|b| ("tokenizer_config.json".to_string(), Cow::Owned(b.to_vec()))));
        ModelFiles::memory(name, v)
    };
    let open = |c: &[u8], w: &[u8], t: &[u8], o: Option<&[u8]>| {
        LoadedModel::open_files(&files(c, w, t, o))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = open(b"{not json", &weights, &tokenizer, Some(&options));
    assert!(e.contains("config.json"), "{e}");
    let e = open(
        &config,
        &weights[..weights.len() / 2],
        &tokenizer,
        Some(&options),
    );
    assert!(e.contains("model.safetensors"), "{e}");
    let e = open(&config, &weights, b"{\"model\": 7}", Some(&options));
    assert!(e.contains("tokenizer.json"), "{e}");
    let e = open(&config, &weights, &tokenizer, Some(b"[1, 2"));
    assert!(e.contains("tokenizer_config.json"), "{e}");
    let gpt2 = br#"{"model_type": "gpt2", "vocab_size": 100, "n_embd": 8}"#;
    let e = open(gpt2, &weights, &tokenizer, None);
    assert!(e.contains("gpt2"), "{e}");
    // and the intact bytes open
    assert!(LoadedModel::open_files(&files(&config, &weights, &tokenizer, Some(&options))).is_ok());
    // files picked without a config name what was given
    let e = LoadedModel::open_files(&ModelFiles::memory(
        name,
        [("model.safetensors".to_string(), Cow::Owned(weights.clone()))],
    ))
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no config.json") && e.contains("given: model.safetensors"),
        "{e}"
    );
}
