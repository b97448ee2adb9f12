//! Damaged copies of the tiny Marian checkpoints of tests/fixtures/marian (config.json,
//! generation_config.json, vocab.json, the SentencePiece models, model.safetensors and
//! pytorch_model.bin) run through the real `precis` binary with bounded time and memory: each
//! must end with exit code 2 and an error naming the file at fault (and the field or tensor),
//! or, where the checkpoint is still legitimately loadable, run normally with the same output
//! twice. Never a panic, abort or signal.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::Run;
use serde_json::{json, Value};

const MEMORY_KB: u64 = 4 << 20;
const TIME_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 2, stderr naming this file of the checkpoint and containing this text.
    Refused(&'static str, &'static str),
    /// Exit 0 with the same output twice, or exit 2 naming a file of the checkpoint.
    Either,
    /// Exit 0 with the same output twice.
    Runs,
}

fn checkpoint(name: &str) -> std::path::PathBuf {
    common::repo_root().join("tests/fixtures/marian").join(name)
}

fn precis(dir: &Path, input: &Path) -> Run {
    let args: Vec<&OsStr> = ["translate", "--engine", "marian", "--threads", "2", "--model"]
        .iter()
        .map(OsStr::new)
        .chain([dir.as_os_str(), OsStr::new("--lines"), input.as_os_str()])
        .collect();
    common::precis_bounded(&args, &[("HF_HUB_OFFLINE", "1")], MEMORY_KB, TIME_LIMIT)
}

/// A checkpoint edit: gets the copied directory.
type Edit = Box<dyn Fn(&Path)>;

fn json_edit(file: &'static str, edit: impl Fn(&mut Value) + 'static) -> Edit {
    Box::new(move |dir| {
        let path = dir.join(file);
        let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    })
}

fn set(file: &'static str, key: &'static str, value: Value) -> Edit {
    json_edit(file, move |v| v[key] = value.clone())
}

fn write(file: &'static str, bytes: &'static [u8]) -> Edit {
    Box::new(move |dir| std::fs::write(dir.join(file), bytes).unwrap())
}

fn truncate(file: &'static str, keep: f64) -> Edit {
    Box::new(move |dir| {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
    })
}

fn flip(file: &'static str, at_fraction: f64) -> Edit {
    Box::new(move |dir| {
        let path = dir.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = (bytes.len() as f64 * at_fraction) as usize;
        bytes[at] ^= 0xA5;
        std::fs::write(&path, bytes).unwrap();
    })
}

/// Rewrites the JSON header of model.safetensors (same data).
fn safetensors_header(edit: impl Fn(&mut Value) + 'static) -> Edit {
    Box::new(move |dir| {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        edit(&mut header);
        let mut text = serde_json::to_vec(&header).unwrap();
        text.resize(text.len().next_multiple_of(8), b' ');
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend(text);
        out.extend(&bytes[8 + n..]);
        std::fs::write(&path, out).unwrap();
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "hf_generate.json" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn run_cases(base: &str, cases: Vec<(&str, Edit, Expect)>) {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("input.txt");
    std::fs::write(&input, "Le chat dort sur le canapé.\nIl pleut à Paris depuis trois jours.\n").unwrap();
    let mut failures = Vec::new();
    for (name, edit, expect) in &cases {
        let dir = root.path().join(name);
        copy_dir(&checkpoint(base), &dir);
        edit(&dir);
        let run = precis(&dir, &input);
        let fail = |why: String| format!("{name}: {why}; exit {:?}, stderr:\n{}", run.code, run.stderr);
        let dir_text = dir.display().to_string();
        let verdict = if run.stderr.contains("panicked") {
            Some(fail("panicked".into()))
        } else {
            match (run.code, expect) {
                (Some(2), Expect::Refused(file, text)) => {
                    let named = if file.is_empty() { dir_text.clone() } else { format!("{dir_text}/{file}") };
                    (!(run.stderr.contains(&named) && run.stderr.contains(text)))
                        .then(|| fail(format!("exit 2 without `{named}` and `{text}`")))
                }
                (Some(2), Expect::Either) => (!run.stderr.contains(&dir_text)).then(|| fail("exit 2 without the checkpoint's path".into())),
                (Some(0), Expect::Either | Expect::Runs) => {
                    let again = precis(&dir, &input);
                    ((again.code, &again.stdout) != (Some(0), &run.stdout))
                        .then(|| fail(format!("a second run differs: {:?} then {:?}", run.stdout, again.stdout)))
                }
                _ => Some(fail(format!("expected {expect:?}"))),
            }
        };
        failures.extend(verdict);
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn damaged_marian_configs_are_refused_naming_the_field() {
    const C: &str = "config.json";
    const G: &str = "generation_config.json";
    let cases: Vec<(&str, Edit, Expect)> = vec![
        ("intact", Box::new(|_| {}), Expect::Runs),
        ("d_model_0", set(C, "d_model", json!(0)), Expect::Refused(C, "d_model")),
        ("d_model_47", set(C, "d_model", json!(47)), Expect::Refused(C, "d_model")),
        ("d_model_96", set(C, "d_model", json!(96)), Expect::Refused("model.safetensors", "shape")),
        ("d_model_negative", set(C, "d_model", json!(-48)), Expect::Refused(C, "")),
        ("d_model_float", set(C, "d_model", json!(48.5)), Expect::Refused(C, "")),
        ("d_model_string", set(C, "d_model", json!("48")), Expect::Refused(C, "")),
        ("heads_0", set(C, "encoder_attention_heads", json!(0)), Expect::Refused(C, "encoder_attention_heads")),
        ("heads_5", set(C, "decoder_attention_heads", json!(5)), Expect::Refused(C, "decoder_attention_heads")),
        ("heads_12", set(C, "decoder_attention_heads", json!(12)), Expect::Runs),
        ("vocab_0", set(C, "vocab_size", json!(0)), Expect::Refused(C, "vocab_size")),
        ("vocab_10", set(C, "vocab_size", json!(10)), Expect::Refused("", "vocab")),
        ("vocab_huge", set(C, "vocab_size", json!(1u64 << 60)), Expect::Refused("model.safetensors", "shape")),
        ("decoder_vocab_1000", set(C, "decoder_vocab_size", json!(1000)), Expect::Refused("", "")),
        ("ffn_0", set(C, "encoder_ffn_dim", json!(0)), Expect::Refused(C, "encoder_ffn_dim")),
        ("ffn_97", set(C, "encoder_ffn_dim", json!(97)), Expect::Refused("model.safetensors", "fc1")),
        ("positions_0", set(C, "max_position_embeddings", json!(0)), Expect::Refused(C, "max_position_embeddings")),
        ("positions_huge", set(C, "max_position_embeddings", json!(1u64 << 40)), Expect::Refused(C, "max_position_embeddings")),
        ("positions_wrap", set(C, "max_position_embeddings", json!(u64::MAX / 16)), Expect::Refused(C, "max_position_embeddings")),
        ("positions_4", set(C, "max_position_embeddings", json!(4)), Expect::Either),
        ("encoder_layers_4", set(C, "encoder_layers", json!(4)), Expect::Refused("model.safetensors", "model.encoder.layers.3")),
        ("encoder_layers_huge", set(C, "encoder_layers", json!(1u64 << 40)), Expect::Refused(C, "encoder_layers")),
        ("decoder_layers_0", set(C, "decoder_layers", json!(0)), Expect::Either),
        ("activation_unknown", set(C, "activation_function", json!("tanh")), Expect::Refused(C, "tanh")),
        ("model_type_bart", set(C, "model_type", json!("bart")), Expect::Refused(C, "bart")),
        ("eos_outside", set(C, "eos_token_id", json!(5000)), Expect::Refused("", "")),
        ("decoder_start_outside", set(C, "decoder_start_token_id", json!(1_000_000)), Expect::Refused(C, "decoder_start_token_id")),
        ("pad_negative", set(C, "pad_token_id", json!(-1)), Expect::Refused(C, "")),
        ("tied_without_shared_weights", set(C, "tie_word_embeddings", json!(true)), Expect::Either),
        ("config_not_json", write(C, b"{\"d_model\": 48,"), Expect::Refused(C, "")),
        ("config_empty", write(C, b""), Expect::Refused(C, "")),
        ("config_array", write(C, b"[1, 2]"), Expect::Refused(C, "")),
        ("config_missing", Box::new(|d: &Path| std::fs::remove_file(d.join(C)).unwrap()), Expect::Refused("", "config.json")),
        ("beams_huge", set(G, "num_beams", json!(1u64 << 40)), Expect::Refused(G, "num_beams")),
        ("beams_0", set(G, "num_beams", json!(0)), Expect::Runs),
        ("length_penalty_inf", set(G, "length_penalty", json!(1e39)), Expect::Refused(G, "length_penalty")),
        ("length_penalty_negative", set(G, "length_penalty", json!(-3.0)), Expect::Runs),
        ("max_length_0", set(G, "max_length", json!(0)), Expect::Runs),
        ("max_length_huge", set(G, "max_length", json!(1u64 << 60)), Expect::Runs),
        ("min_length_huge", set(G, "min_length", json!(1u64 << 60)), Expect::Either),
        ("bad_words_outside", set(G, "bad_words_ids", json!([[99999]])), Expect::Refused(G, "bad_words_ids")),
        ("bad_words_empty", set(G, "bad_words_ids", json!([[]])), Expect::Runs),
        ("eos_list_outside", set(G, "eos_token_id", json!([0, 99999])), Expect::Refused(G, "eos_token_id")),
        ("forced_eos_outside", set(G, "forced_eos_token_id", json!(1389)), Expect::Refused(G, "forced_eos_token_id")),
        ("sampling", set(G, "do_sample", json!(true)), Expect::Refused(G, "sampling")),
        ("generation_not_json", write(G, b"nope"), Expect::Refused(G, "")),
    ];
    run_cases("tiny-relu-untied", cases);
}

#[test]
fn damaged_marian_tokenizers_and_weights_are_refused() {
    const V: &str = "vocab.json";
    const S: &str = "model.safetensors";
    let cases: Vec<(&str, Edit, Expect)> = vec![
        ("vocab_not_json", write(V, b"{\"a\": "), Expect::Refused(V, "")),
        ("vocab_not_a_map", write(V, b"[\"a\"]"), Expect::Refused(V, "")),
        ("vocab_negative_id", json_edit(V, |v| v["</s>"] = json!(-1)), Expect::Refused(V, "")),
        ("vocab_id_outside", json_edit(V, |v| v["zzzz"] = json!(5000)), Expect::Refused(V, "")),
        ("vocab_no_eos", json_edit(V, |v| _ = v.as_object_mut().unwrap().remove("</s>")), Expect::Refused(V, "</s>")),
        ("vocab_eos_moved", json_edit(V, |v| v["</s>"] = json!(7)), Expect::Refused(V, "eos_token_id")),
        ("vocab_empty", write(V, b"{}"), Expect::Refused(V, "")),
        ("source_spm_empty", write("source.spm", b""), Expect::Either),
        ("source_spm_garbage", write("source.spm", b"\xff\xff\xff\xff\x0f garbage"), Expect::Refused("source.spm", "")),
        ("source_spm_truncated", truncate("source.spm", 0.5), Expect::Refused("source.spm", "")),
        ("source_spm_flipped", flip("source.spm", 0.3), Expect::Either),
        ("target_spm_truncated", truncate("target.spm", 0.7), Expect::Refused("target.spm", "")),
        (
            "tokenizer_config_separate",
            set("tokenizer_config.json", "separate_vocabs", json!(true)),
            Expect::Refused("tokenizer_config.json", "separate_vocabs"),
        ),
        ("tokenizer_config_bad_eos", set("tokenizer_config.json", "eos_token", json!("<eos>")), Expect::Refused(V, "<eos>")),
        ("safetensors_empty", write(S, b""), Expect::Refused(S, "")),
        ("safetensors_truncated_header", truncate(S, 0.004), Expect::Refused(S, "")),
        ("safetensors_truncated_data", truncate(S, 0.6), Expect::Refused(S, "")),
        (
            "safetensors_header_length_huge",
            Box::new(|d: &Path| {
                let path = d.join(S);
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
                std::fs::write(path, bytes).unwrap();
            }),
            Expect::Refused(S, ""),
        ),
        (
            "safetensors_shape_swapped",
            safetensors_header(|h| h["lm_head.weight"]["shape"] = json!([48, 1389])),
            Expect::Refused(S, "lm_head.weight"),
        ),
        (
            "safetensors_shape_inconsistent",
            safetensors_header(|h| h["lm_head.weight"]["shape"] = json!([1389, 47])),
            Expect::Refused(S, ""),
        ),
        ("safetensors_shape_wraps", safetensors_header(|h| h["lm_head.weight"]["shape"] = json!([1u64 << 62, 8])), Expect::Refused(S, "")),
        ("safetensors_dtype_i64", safetensors_header(|h| h["final_logits_bias"]["dtype"] = json!("I64")), Expect::Refused(S, "")),
        (
            "safetensors_dtype_f16",
            safetensors_header(|h| {
                h["final_logits_bias"]["dtype"] = json!("F16");
                h["final_logits_bias"]["shape"] = json!([2, 1389]);
            }),
            Expect::Refused(S, "final_logits_bias"),
        ),
        (
            "safetensors_offsets_outside",
            safetensors_header(|h| h["final_logits_bias"]["data_offsets"] = json!([0, 1u64 << 40])),
            Expect::Refused(S, ""),
        ),
        (
            "safetensors_offsets_reversed",
            safetensors_header(|h| h["final_logits_bias"]["data_offsets"] = json!([5556, 0])),
            Expect::Refused(S, ""),
        ),
        (
            "safetensors_tensor_renamed",
            safetensors_header(|h| {
                let t = h.as_object_mut().unwrap().remove("model.encoder.layers.0.fc1.weight").unwrap();
                h["model.encoder.layers.0.fc1.weigth"] = t;
            }),
            Expect::Refused(S, "model.encoder.layers.0.fc1.weight"),
        ),
        ("safetensors_weights_flipped", flip(S, 0.5), Expect::Either),
        ("safetensors_missing", Box::new(|d: &Path| std::fs::remove_file(d.join(S)).unwrap()), Expect::Refused("", "model.safetensors")),
        (
            "pytorch_bin_instead",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join(S)).unwrap();
                std::fs::copy(checkpoint("tiny-relu-untied.pytorch_model.bin"), d.join("pytorch_model.bin")).unwrap();
            }),
            Expect::Runs,
        ),
        (
            "pytorch_bin_truncated",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join(S)).unwrap();
                let bytes = std::fs::read(checkpoint("tiny-relu-untied.pytorch_model.bin")).unwrap();
                std::fs::write(d.join("pytorch_model.bin"), &bytes[..bytes.len() / 2]).unwrap();
            }),
            Expect::Refused("pytorch_model.bin", ""),
        ),
        (
            "pytorch_bin_garbage",
            Box::new(|d: &Path| {
                std::fs::remove_file(d.join(S)).unwrap();
                std::fs::write(d.join("pytorch_model.bin"), b"PK\x03\x04 not really a zip").unwrap();
            }),
            Expect::Refused("pytorch_model.bin", ""),
        ),
    ];
    run_cases("tiny-relu-untied", cases);
}
