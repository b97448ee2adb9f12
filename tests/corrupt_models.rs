//! Damaged and malicious copies of real GGUF files (the tiny random-weight models of
//! tests/fixtures, with a chat template added so that precis accepts them) run through the real
//! `precis` binary with bounded time and memory: each must end with exit code 2 and an error
//! naming the file (and the key or tensor at fault), or, where the file is still legitimately
//! loadable, run normally and give the same output twice. Never a panic, abort or signal.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gguf::{Gguf, TensorInfo, Val};
use common::Run;

/// ChatML, enough for the tiny models (their vocabulary ends with `<|im_start|>`, `<|im_end|>`).
const TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n\
                        {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A template that would run 10^12 loop iterations.
const ENDLESS_TEMPLATE: &str = "{% for i in range(1000000) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}";

/// A bound on the address space of each run (the tiny models need a few hundred MB).
const MEMORY_KB: u64 = 4 << 20;
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// What a damaged file must give.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 2, stderr naming the file and containing this text.
    Refused(&'static str),
    /// Exit 0 with the same output on two runs, or exit 2 naming the file.
    Either,
    /// Exit 0 with the same output on two runs.
    Runs,
}

fn fixture(path: &str) -> Gguf {
    let bytes = std::fs::read(common::repo_root().join(path)).unwrap();
    let mut gguf = Gguf::parse(&bytes);
    assert_eq!(gguf.to_bytes(), bytes, "the test's GGUF writer must reproduce {path} byte for byte");
    gguf.set("tokenizer.chat_template", Val::str(TEMPLATE));
    gguf
}

fn qwen2() -> Gguf {
    fixture("tests/fixtures/models/tiny-qwen2-q4_0.gguf")
}

/// (block size, bytes per block) of the ggml types in the fixtures.
fn block(ggml_type: u32) -> (usize, usize) {
    match ggml_type {
        0 => (1, 4),
        1 => (1, 2),
        2 => (32, 18),
        6 => (32, 22),
        8 => (32, 34),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        other => panic!("ggml type {other} in a fixture"),
    }
}

fn byte_size(t: &TensorInfo) -> usize {
    let (block_size, type_size) = block(t.ggml_type);
    t.dims.iter().product::<u64>() as usize / block_size * type_size
}

fn precis(model: &Path, input: &Path) -> Run {
    let args: Vec<&OsStr> = ["translate", "--plain", "--threads", "2", "--model"]
        .iter()
        .map(OsStr::new)
        .chain([model.as_os_str(), OsStr::new("--lines"), input.as_os_str()])
        .collect();
    common::precis_bounded(&args, &[], MEMORY_KB, TIME_LIMIT)
}

/// Runs `bytes` as a model and checks `expect`; returns a failure description, if any.
fn check(dir: &Path, name: &str, bytes: &[u8], expect: Expect) -> Option<String> {
    let model = dir.join(format!("{name}.gguf"));
    std::fs::write(&model, bytes).unwrap();
    let input = dir.join("input.txt");
    let run = precis(&model, &input);
    let path = model.display().to_string();
    let fail = |why: &str| Some(format!("{name}: {why}; exit {:?}, stderr:\n{}", run.code, run.stderr));
    if run.stderr.contains("panicked") {
        return fail("panicked");
    }
    match (run.code, expect) {
        (Some(2), Expect::Refused(text)) if run.stderr.contains(&path) && run.stderr.contains(text) => None,
        (Some(2), Expect::Refused(text)) => fail(&format!("exit 2 without the path and `{text}`")),
        (Some(2), Expect::Either) if run.stderr.contains(&path) => None,
        (Some(0), Expect::Either | Expect::Runs) => {
            let again = precis(&model, &input);
            if (again.code, &again.stdout) != (Some(0), &run.stdout) {
                return fail(&format!("a second run differs: exit {:?}, stdout {:?} then {:?}", again.code, run.stdout, again.stdout));
            }
            None
        }
        _ => fail(&format!("expected {expect:?}")),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("precis-corrupt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("input.txt"), "Le chat dort sur le canapé.\n").unwrap();
    dir
}

/// Runs every case and fails with the list of those that did not behave.
fn run_cases(dir_name: &str, cases: Vec<(String, Vec<u8>, Expect)>) {
    let dir = temp_dir(dir_name);
    let failures: Vec<String> = cases.iter().filter_map(|(name, bytes, expect)| check(&dir, name, bytes, *expect)).collect();
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

type Edit = fn(&mut Gguf);

fn edited(base: &Gguf, cases: &[(&str, Edit, Expect)]) -> Vec<(String, Vec<u8>, Expect)> {
    cases
        .iter()
        .map(|(name, edit, expect)| {
            let mut gguf = base.clone();
            edit(&mut gguf);
            (name.to_string(), gguf.to_bytes(), *expect)
        })
        .collect()
}

#[test]
fn intact_fixtures_run_the_same_twice() {
    let cases = [
        "tests/fixtures/models/tiny-qwen2-q4_0.gguf",
        "tests/fixtures/arch/qwen3-tiny.gguf",
        "tests/fixtures/arch/llama-tiny.gguf",
        "tests/fixtures/arch/llama3-tiny.gguf",
    ]
    .iter()
    .map(|path| (Path::new(path).file_stem().unwrap().to_string_lossy().into_owned(), fixture(path).to_bytes(), Expect::Runs))
    .collect();
    run_cases("intact", cases);
}

#[test]
fn damaged_bytes_are_refused() {
    let bytes = qwen2().to_bytes();
    let header_len = qwen2().header().len();
    let mut cases: Vec<(String, Vec<u8>, Expect)> = Vec::new();
    for (name, len) in [
        ("empty", 0),
        ("3_bytes", 3),
        ("magic_only", 4),
        ("counts_cut", 20),
        ("header_half", header_len / 2),
        ("header_end", header_len),
        ("data_half", header_len + (bytes.len() - header_len) / 2),
        ("last_byte_cut", bytes.len() - 1),
    ] {
        cases.push((format!("truncated_{name}"), bytes[..len].to_vec(), Expect::Refused("")));
    }
    let patched = |at: usize, with: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    cases.push(("bad_magic".into(), patched(0, b"GGUX"), Expect::Refused("not a GGUF file")));
    cases.push(("version_0".into(), patched(4, &0u32.to_le_bytes()), Expect::Refused("version")));
    cases.push(("version_4".into(), patched(4, &4u32.to_le_bytes()), Expect::Refused("version")));
    cases.push(("version_big_endian".into(), patched(4, &3u32.to_be_bytes()), Expect::Refused("big-endian")));
    cases.push(("tensor_count_huge".into(), patched(8, &u64::MAX.to_le_bytes()), Expect::Refused("tensors")));
    cases.push(("kv_count_huge".into(), patched(16, &(1u64 << 40).to_le_bytes()), Expect::Refused("metadata")));
    // Every byte of the header's first kilobyte flipped in turn would be too many runs; a
    // spread of them instead (each either still parses or is refused by name).
    for at in (24..header_len.min(4096)).step_by(331) {
        let mut b = bytes.clone();
        b[at] ^= 0xFF;
        cases.push((format!("flipped_byte_{at}"), b, Expect::Either));
    }
    run_cases("bytes", cases);
}

#[test]
fn bad_metadata_is_refused_naming_the_key() {
    let cases: &[(&str, Edit, Expect)] = &[
        ("head_count_0", |g| _ = g.set("qwen2.attention.head_count", Val::U32(0)), Expect::Refused("qwen2.attention.head_count")),
        ("head_count_3", |g| _ = g.set("qwen2.attention.head_count", Val::U32(3)), Expect::Refused("qwen2.attention.head_count")),
        ("head_count_8", |g| _ = g.set("qwen2.attention.head_count", Val::U32(8)), Expect::Refused("attn_")),
        ("head_count_huge", |g| _ = g.set("qwen2.attention.head_count", Val::U32(u32::MAX)), Expect::Refused("head_count")),
        ("head_count_kv_0", |g| _ = g.set("qwen2.attention.head_count_kv", Val::U32(0)), Expect::Refused("head_count_kv")),
        ("head_count_kv_3", |g| _ = g.set("qwen2.attention.head_count_kv", Val::U32(3)), Expect::Refused("head_count_kv")),
        ("head_count_kv_8", |g| _ = g.set("qwen2.attention.head_count_kv", Val::U32(8)), Expect::Refused("head_count_kv")),
        ("head_count_kv_1", |g| _ = g.set("qwen2.attention.head_count_kv", Val::U32(1)), Expect::Refused("attn_k")),
        ("head_count_string", |g| _ = g.set("qwen2.attention.head_count", Val::str("4")), Expect::Refused("qwen2.attention.head_count")),
        ("head_count_float", |g| _ = g.set("qwen2.attention.head_count", Val::F32(4.0)), Expect::Refused("qwen2.attention.head_count")),
        ("head_count_negative", |g| _ = g.set("qwen2.attention.head_count", Val::I32(-4)), Expect::Refused("qwen2.attention.head_count")),
        ("head_count_u64_wraps", |g| _ = g.set("qwen2.attention.head_count", Val::U64((1 << 32) + 4)), Expect::Refused("head_count")),
        ("head_count_i64_ok", |g| _ = g.set("qwen2.attention.head_count", Val::I64(4)), Expect::Runs),
        ("head_count_missing", |g| _ = g.remove("qwen2.attention.head_count"), Expect::Refused("qwen2.attention.head_count")),
        ("key_length_100", |g| _ = g.set("qwen2.attention.key_length", Val::U32(100)), Expect::Refused("")),
        (
            "key_length_0",
            |g| _ = g.set("qwen2.attention.key_length", Val::U32(0)).set("qwen2.attention.value_length", Val::U32(0)),
            Expect::Refused("key_length"),
        ),
        ("value_length_32", |g| _ = g.set("qwen2.attention.value_length", Val::U32(32)), Expect::Refused("value head size")),
        ("block_count_0", |g| _ = g.set("qwen2.block_count", Val::U32(0)), Expect::Refused("qwen2.block_count")),
        ("block_count_1", |g| _ = g.set("qwen2.block_count", Val::U32(1)), Expect::Refused("blk.1")),
        ("block_count_3", |g| _ = g.set("qwen2.block_count", Val::U32(3)), Expect::Refused("blk.2")),
        ("block_count_huge", |g| _ = g.set("qwen2.block_count", Val::U32(u32::MAX)), Expect::Refused("qwen2.block_count")),
        ("embedding_length_0", |g| _ = g.set("qwen2.embedding_length", Val::U32(0)), Expect::Refused("qwen2.embedding_length")),
        ("embedding_length_128", |g| _ = g.set("qwen2.embedding_length", Val::U32(128)), Expect::Refused("token_embd.weight")),
        ("context_length_0", |g| _ = g.set("qwen2.context_length", Val::U32(0)), Expect::Refused("qwen2.context_length")),
        ("context_length_huge", |g| _ = g.set("qwen2.context_length", Val::U32(u32::MAX)), Expect::Runs),
        ("feed_forward_length_0", |g| _ = g.set("qwen2.feed_forward_length", Val::U32(0)), Expect::Refused("feed_forward_length")),
        ("feed_forward_length_511", |g| _ = g.set("qwen2.feed_forward_length", Val::U32(511)), Expect::Refused("ffn_")),
        ("feed_forward_length_missing", |g| _ = g.remove("qwen2.feed_forward_length"), Expect::Runs),
        (
            "feed_forward_per_layer",
            |g| _ = g.set("qwen2.feed_forward_length", Val::Array(5, vec![Val::I32(512), Val::I32(512)])),
            Expect::Runs,
        ),
        (
            "feed_forward_per_layer_short",
            |g| _ = g.set("qwen2.feed_forward_length", Val::Array(5, vec![Val::I32(512)])),
            Expect::Refused("feed_forward_length"),
        ),
        (
            "rms_eps_nan",
            |g| _ = g.set("qwen2.attention.layer_norm_rms_epsilon", Val::F32(f32::NAN)),
            Expect::Refused("layer_norm_rms_epsilon"),
        ),
        (
            "rms_eps_negative",
            |g| _ = g.set("qwen2.attention.layer_norm_rms_epsilon", Val::F32(-1.0)),
            Expect::Refused("layer_norm_rms_epsilon"),
        ),
        ("rope_base_0", |g| _ = g.set("qwen2.rope.freq_base", Val::F32(0.0)), Expect::Refused("qwen2.rope.freq_base")),
        ("rope_base_inf", |g| _ = g.set("qwen2.rope.freq_base", Val::F32(f32::INFINITY)), Expect::Refused("qwen2.rope.freq_base")),
        ("rope_factor_negative", |g| _ = g.set("qwen2.rope.scaling.factor", Val::F32(-2.0)), Expect::Refused("rope.scaling.factor")),
        ("rope_scaling_yarn", |g| _ = g.set("qwen2.rope.scaling.type", Val::str("yarn")), Expect::Refused("yarn")),
        ("rope_dimension_10", |g| _ = g.set("qwen2.rope.dimension_count", Val::U32(10)), Expect::Refused("rotary")),
        ("alignment_0", |g| _ = g.set("general.alignment", Val::U32(0)), Expect::Refused("general.alignment")),
        ("alignment_48", |g| _ = g.set("general.alignment", Val::U32(48)), Expect::Refused("general.alignment")),
        ("alignment_u64", |g| _ = g.set("general.alignment", Val::U64(32)), Expect::Refused("general.alignment")),
        ("alignment_64", |g| _ = g.set("general.alignment", Val::U32(64)), Expect::Either),
        ("alignment_4096_misplaced", |g| _ = g.set("general.alignment", Val::U32(4096)), Expect::Refused("alignment")),
        ("alignment_64_relaid", |g| _ = g.relayout(64, byte_size), Expect::Runs),
        ("alignment_8_relaid", |g| _ = g.relayout(8, byte_size), Expect::Runs),
        ("architecture_unknown", |g| _ = g.set("general.architecture", Val::str("mamba")), Expect::Refused("mamba")),
        ("architecture_integer", |g| _ = g.set("general.architecture", Val::U32(2)), Expect::Refused("general.architecture")),
        ("architecture_missing", |g| _ = g.remove("general.architecture"), Expect::Refused("general.architecture")),
        ("duplicate_key", |g| g.kvs.push((b"qwen2.block_count".to_vec(), Val::U32(2))), Expect::Refused("qwen2.block_count")),
        ("unknown_key", |g| _ = g.set("precis.test.extra", Val::Array(8, vec![Val::str("a"), Val::str("b")])), Expect::Runs),
        ("unknown_value_type", |g| _ = g.set("general.name", Val::Raw(13, vec![0; 8])), Expect::Refused("general.name")),
        (
            "array_count_huge",
            |g| _ = g.set("general.name", Val::Raw(9, [4u32.to_le_bytes().to_vec(), (1u64 << 60).to_le_bytes().to_vec()].concat())),
            Expect::Refused("general.name"),
        ),
        (
            "array_of_arrays_deep",
            |g| _ = g.set("general.name", Val::Array(9, vec![Val::Array(9, vec![Val::Array(4, vec![])])])),
            Expect::Refused("general.name"),
        ),
        (
            "string_length_huge",
            |g| _ = g.set("general.name", Val::Raw(8, (1u64 << 62).to_le_bytes().to_vec())),
            Expect::Refused("general.name"),
        ),
        ("value_type_max", |g| g.kvs.insert(0, (b"general.x".to_vec(), Val::Raw(u32::MAX, vec![]))), Expect::Refused("")),
        ("template_missing", |g| _ = g.remove("tokenizer.chat_template"), Expect::Refused("chat template")),
        ("template_invalid", |g| _ = g.set("tokenizer.chat_template", Val::str("{% for %}")), Expect::Refused("")),
        ("template_endless", |g| _ = g.set("tokenizer.chat_template", Val::str(ENDLESS_TEMPLATE)), Expect::Refused("")),
    ];
    run_cases("metadata", edited(&qwen2(), cases));
}

#[test]
fn bad_vocabularies_are_refused() {
    let cases: &[(&str, Edit, Expect)] = &[
        ("tokens_one_short", |g| truncate_array(g, "tokenizer.ggml.tokens", 515), Expect::Refused("tokenizer.ggml.eos_token_id")),
        (
            "tokens_one_short_ids_inside",
            |g| {
                truncate_array(g, "tokenizer.ggml.tokens", 515);
                g.set("tokenizer.ggml.eos_token_id", Val::U32(514));
            },
            Expect::Refused("token_embd.weight"),
        ),
        ("tokens_one_more", |g| push_token(g, "<extra>"), Expect::Refused("token_embd.weight")),
        ("tokens_empty", |g| truncate_array(g, "tokenizer.ggml.tokens", 0), Expect::Refused("tokenizer.ggml.")),
        ("tokens_missing", |g| _ = g.remove("tokenizer.ggml.tokens"), Expect::Refused("tokenizer.ggml.tokens")),
        (
            "tokens_not_strings",
            |g| _ = g.set("tokenizer.ggml.tokens", Val::Array(4, vec![Val::U32(1); 516])),
            Expect::Refused("tokenizer.ggml.tokens"),
        ),
        ("token_twice", |g| set_token(g, 7, "!"), Expect::Refused("tokenizer.ggml.tokens")),
        ("token_types_short", |g| truncate_array(g, "tokenizer.ggml.token_type", 10), Expect::Refused("tokenizer.ggml.token_type")),
        ("merges_without_space", |g| set_merge(g, 0, "abc"), Expect::Refused("tokenizer.ggml.merges")),
        ("merges_unknown_token", |g| set_merge(g, 0, "zzzq yyyq"), Expect::Refused("")),
        ("eos_out_of_vocab", |g| _ = g.set("tokenizer.ggml.eos_token_id", Val::U32(516)), Expect::Refused("tokenizer.ggml.eos_token_id")),
        ("bos_huge", |g| _ = g.set("tokenizer.ggml.bos_token_id", Val::U32(1 << 31)), Expect::Refused("tokenizer.ggml.bos_token_id")),
        ("eos_minus_one", |g| _ = g.set("tokenizer.ggml.eos_token_id", Val::I32(-1)), Expect::Either),
        ("eot_out_of_vocab", |g| _ = g.set("tokenizer.ggml.eot_token_id", Val::U32(9999)), Expect::Refused("tokenizer.ggml.eot_token_id")),
        ("eos_string", |g| _ = g.set("tokenizer.ggml.eos_token_id", Val::str("515")), Expect::Refused("tokenizer.ggml.eos_token_id")),
        ("tokenizer_model_unknown", |g| _ = g.set("tokenizer.ggml.model", Val::str("rwkv")), Expect::Refused("rwkv")),
        ("pre_tokenizer_unknown", |g| _ = g.set("tokenizer.ggml.pre", Val::str("nonesuch")), Expect::Refused("nonesuch")),
        (
            "add_bos_without_bos",
            |g| _ = g.set("tokenizer.ggml.add_bos_token", Val::Bool(1)).remove("tokenizer.ggml.bos_token_id"),
            Expect::Refused("bos"),
        ),
    ];
    run_cases("vocab", edited(&qwen2(), cases));
}

#[test]
fn bad_tensor_index_is_refused_naming_the_tensor() {
    let cases: &[(&str, Edit, Expect)] = &[
        ("n_dims_5", |g| g.tensor("blk.0.attn_norm.weight").n_dims = Some(5), Expect::Refused("")),
        ("n_dims_huge", |g| g.tensor("blk.0.attn_norm.weight").n_dims = Some(u32::MAX), Expect::Refused("")),
        ("dims_5", |g| g.tensor("blk.0.attn_norm.weight").dims = vec![256, 1, 1, 1, 1], Expect::Refused("blk.0.attn_norm.weight")),
        ("norm_0_dims", |g| g.tensor("blk.0.attn_norm.weight").dims = vec![], Expect::Refused("blk.0.attn_norm.weight")),
        ("norm_extra_dim", |g| g.tensor("blk.0.attn_norm.weight").dims = vec![256, 1], Expect::Refused("blk.0.attn_norm.weight")),
        ("norm_too_short", |g| g.tensor("blk.0.attn_norm.weight").dims = vec![255], Expect::Refused("blk.0.attn_norm.weight")),
        ("norm_too_long", |g| g.tensor("output_norm.weight").dims = vec![257], Expect::Refused("output_norm.weight")),
        ("bias_dim_0", |g| g.tensor("blk.0.attn_q.bias").dims = vec![0], Expect::Refused("blk.0.attn_q.bias")),
        ("bias_missing", |g| _ = g.remove_tensor("blk.1.attn_k.bias"), Expect::Refused("blk.1.attn_k.bias")),
        ("embedding_dim_0", |g| g.tensor("token_embd.weight").dims = vec![256, 0], Expect::Refused("token_embd.weight")),
        ("embedding_width_0", |g| g.tensor("token_embd.weight").dims = vec![0, 516], Expect::Refused("token_embd.weight")),
        ("embedding_rows_515", |g| g.tensor("token_embd.weight").dims = vec![256, 515], Expect::Refused("token_embd.weight")),
        ("output_wrapped_vocab", |g| g.tensor("output.weight").dims = vec![256, 1 << 57], Expect::Refused("output.weight")),
        ("product_wraps_2_64", |g| g.tensor("output.weight").dims = vec![1 << 32, 1 << 32], Expect::Refused("output.weight")),
        ("product_over_2_63", |g| g.tensor("output.weight").dims = vec![1 << 32, 1 << 31], Expect::Refused("output.weight")),
        ("dim_negative", |g| g.tensor("output.weight").dims = vec![256, u64::MAX], Expect::Refused("output.weight")),
        ("width_not_whole_blocks", |g| g.tensor("blk.0.attn_q.weight").dims = vec![250, 256], Expect::Refused("blk.0.attn_q.weight")),
        ("attn_k_transposed", |g| g.tensor("blk.0.attn_k.weight").dims = vec![128, 256], Expect::Refused("blk.0.attn_k.weight")),
        ("ffn_down_transposed", |g| g.tensor("blk.1.ffn_down.weight").dims = vec![256, 512], Expect::Refused("blk.1.ffn_down.weight")),
        ("type_unknown", |g| g.tensor("blk.0.ffn_up.weight").ggml_type = 99, Expect::Refused("blk.0.ffn_up.weight")),
        ("type_iq4_nl", |g| g.tensor("blk.0.ffn_up.weight").ggml_type = 20, Expect::Refused("IQ4_NL")),
        ("type_grows_past_end", |g| g.tensor("blk.0.ffn_up.weight").ggml_type = 0, Expect::Refused("blk.0.ffn_up.weight")),
        ("type_grows_past_neighbour", |g| g.tensor("blk.0.ffn_up.weight").ggml_type = 6, Expect::Refused("overlap")),
        ("type_last_grows_past_end", |g| last_tensor(g).ggml_type = 0, Expect::Refused("past the end")),
        ("norm_as_q8_0", |g| g.tensor("blk.0.ffn_norm.weight").ggml_type = 8, Expect::Either),
        ("offset_misaligned", |g| g.tensor("blk.0.attn_q.weight").offset += 1, Expect::Refused("blk.0.attn_q.weight")),
        ("offset_overlapping", |g| g.tensor("blk.0.attn_q.weight").offset += 32, Expect::Refused("overlap")),
        ("offset_past_end", |g| g.tensor("blk.0.attn_q.weight").offset = 1 << 40, Expect::Refused("blk.0.attn_q.weight")),
        ("offset_wraps", |g| g.tensor("blk.0.attn_q.weight").offset = u64::MAX - 31, Expect::Refused("blk.0.attn_q.weight")),
        (
            "same_offset_twice",
            |g| g.tensor("blk.1.attn_norm.weight").offset = g.tensor("blk.0.attn_norm.weight").offset,
            Expect::Refused("overlap"),
        ),
        (
            "duplicate_name",
            |g| g.tensor("blk.1.attn_norm.weight").name = b"blk.0.attn_norm.weight".to_vec(),
            Expect::Refused("blk.0.attn_norm.weight"),
        ),
        ("missing_tensor", |g| _ = g.remove_tensor("blk.1.ffn_down.weight"), Expect::Refused("blk.1.ffn_down.weight")),
        ("missing_output_norm", |g| _ = g.remove_tensor("output_norm.weight"), Expect::Refused("output_norm.weight")),
        (
            "unknown_tensor",
            |g| g.tensor("blk.1.ffn_down.weight").name = b"blk.7.ffn_down.weight".to_vec(),
            Expect::Refused("blk.7.ffn_down.weight"),
        ),
        ("rope_freqs", |g| g.tensor("blk.1.ffn_down.weight").name = b"rope_freqs.weight".to_vec(), Expect::Refused("rope_freqs.weight")),
        ("output_tied", |g| _ = g.remove_tensor("output.weight"), Expect::Runs),
        ("tensor_count_plus_one", |g| g.tensor_count = Some(g.tensors.len() as u64 + 1), Expect::Refused("")),
        ("tensor_count_minus_one", |g| g.tensor_count = Some(g.tensors.len() as u64 - 1), Expect::Refused("")),
        ("kv_count_minus_one", |g| g.kv_count = Some(g.kvs.len() as u64 - 1), Expect::Refused("")),
        ("tensor_renamed", |g| g.tensor("output_norm.weight").name = b"x".to_vec(), Expect::Refused("")),
    ];
    run_cases("tensors", edited(&qwen2(), cases));
}

#[test]
fn damaged_weights_still_run_the_same_twice() {
    // Garbage in the data section (NaN and infinity in norms, random bytes in matrices) is not
    // detectable at load; it must still give a deterministic run (or a named error).
    let mut g = qwen2();
    let norm = g.tensor("blk.0.attn_norm.weight").offset as usize;
    g.data[norm..norm + 8].copy_from_slice(&[f32::NAN.to_le_bytes(), f32::INFINITY.to_le_bytes()].concat());
    let mut noisy = qwen2();
    let q = noisy.tensor("blk.1.attn_q.weight").offset as usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for byte in &mut noisy.data[q..q + 4096] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    run_cases("weights", vec![("nan_norm".into(), g.to_bytes(), Expect::Either), ("noise_q".into(), noisy.to_bytes(), Expect::Either)]);
}

#[test]
fn other_architectures_are_checked_too() {
    let qwen3 = fixture("tests/fixtures/arch/qwen3-tiny.gguf");
    let llama = fixture("tests/fixtures/arch/llama-tiny.gguf");
    let mut cases = edited(
        &qwen3,
        &[
            ("qwen3_no_q_norm", |g| _ = g.remove_tensor("blk.0.attn_q_norm.weight"), Expect::Refused("blk.0.attn_q_norm.weight")),
            ("qwen3_k_norm_short", |g| g.tensor("blk.1.attn_k_norm.weight").dims = vec![64], Expect::Refused("blk.1.attn_k_norm.weight")),
            ("qwen3_key_length_64", |g| _ = g.set("qwen3.attention.key_length", Val::U32(64)), Expect::Refused("")),
            (
                "qwen3_key_length_odd",
                |g| _ = g.set("qwen3.attention.key_length", Val::U32(127)).set("qwen3.attention.value_length", Val::U32(127)),
                Expect::Refused("key_length"),
            ),
            ("qwen3_stray_bias", |g| g.tensor("blk.0.attn_q_norm.weight").name = b"blk.0.attn_q.bias".to_vec(), Expect::Refused("")),
        ],
    );
    cases.extend(edited(
        &llama,
        &[
            (
                "llama_head_count_kv_3",
                |g| _ = g.set("llama.attention.head_count_kv", Val::U32(3)),
                Expect::Refused("llama.attention.head_count_kv"),
            ),
            ("llama_head_count_kv_2", |g| _ = g.set("llama.attention.head_count_kv", Val::U32(2)), Expect::Refused("blk.0.attn_k.weight")),
            ("llama_output_swapped", |g| g.tensor("output.weight").dims = vec![512, 256], Expect::Refused("output.weight")),
            (
                "llama_head_norm_extra",
                |g| g.tensor("blk.0.ffn_norm.weight").name = b"blk.0.attn_q_norm.weight".to_vec(),
                Expect::Refused(""),
            ),
            ("llama_as_gemma3", |g| rename_arch(g, "llama", "gemma3"), Expect::Refused("attn_q_norm")),
            ("llama_as_qwen2", |g| rename_arch(g, "llama", "qwen2"), Expect::Refused("bias")),
        ],
    ));
    let llama3 = fixture("tests/fixtures/arch/llama3-tiny.gguf");
    cases.extend(edited(
        &llama3,
        &[
            ("llama3_rope_freqs_short", |g| g.tensor("rope_freqs.weight").dims = vec![16], Expect::Refused("rope_freqs.weight")),
            (
                "llama3_rope_freqs_f16",
                |g| {
                    let t = g.tensor("rope_freqs.weight");
                    (t.dims, t.ggml_type) = (vec![64], 1);
                },
                Expect::Refused("rope_freqs.weight"),
            ),
            (
                "llama3_rope_freqs_zero",
                |g| {
                    let at = g.tensor("rope_freqs.weight").offset as usize + 4 * 9;
                    g.data[at..at + 4].copy_from_slice(&0f32.to_le_bytes());
                },
                Expect::Refused("rope_freqs.weight"),
            ),
            (
                "llama3_rope_freqs_nan",
                |g| {
                    let at = g.tensor("rope_freqs.weight").offset as usize;
                    g.data[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
                },
                Expect::Refused("rope_freqs.weight"),
            ),
            ("llama3_as_qwen3", |g| rename_arch(g, "llama", "qwen3"), Expect::Refused("")),
            ("llama3_without_rope_freqs", |g| _ = g.remove_tensor("rope_freqs.weight"), Expect::Runs),
        ],
    ));
    run_cases("arch", cases);
}

/// The qwen3 test model as a Gemma 3 model: the same tensors (Gemma 3 has query and key head
/// norms too) plus its norms after attention and feed-forward (all ones), sliding windows of
/// 16 positions on five layers of six.
fn gemma3() -> Gguf {
    let mut g = fixture("tests/fixtures/arch/qwen3-tiny.gguf");
    rename_arch(&mut g, "qwen3", "gemma3");
    let ones: Vec<u8> = (0..256).flat_map(|_| 1f32.to_le_bytes()).collect();
    for il in 0..2 {
        g.add_tensor(&format!("blk.{il}.post_attention_norm.weight"), vec![256], 0, &ones);
        g.add_tensor(&format!("blk.{il}.post_ffw_norm.weight"), vec![256], 0, &ones);
    }
    g.set("gemma3.attention.sliding_window", Val::U32(16));
    g.set("gemma3.final_logit_softcapping", Val::F32(30.0));
    g
}

#[test]
fn gemma3_is_checked_too() {
    let cases: &[(&str, Edit, Expect)] = &[
        ("gemma3_intact", |_| {}, Expect::Runs),
        ("gemma3_no_post_ffw_norm", |g| _ = g.remove_tensor("blk.1.post_ffw_norm.weight"), Expect::Refused("blk.1.post_ffw_norm.weight")),
        (
            "gemma3_post_norm_short",
            |g| g.tensor("blk.0.post_attention_norm.weight").dims = vec![128],
            Expect::Refused("blk.0.post_attention_norm.weight"),
        ),
        (
            "gemma3_pattern_short",
            |g| _ = g.set("gemma3.attention.sliding_window_pattern", Val::Array(7, vec![Val::Bool(1)])),
            Expect::Refused("sliding_window_pattern"),
        ),
        ("gemma3_pattern_every_2", |g| _ = g.set("gemma3.attention.sliding_window_pattern", Val::U32(2)), Expect::Runs),
        ("gemma3_pattern_0", |g| _ = g.set("gemma3.attention.sliding_window_pattern", Val::U32(0)), Expect::Either),
        ("gemma3_window_huge", |g| _ = g.set("gemma3.attention.sliding_window", Val::U32(u32::MAX)), Expect::Runs),
        (
            "gemma3_softcap_nan",
            |g| _ = g.set("gemma3.final_logit_softcapping", Val::F32(f32::NAN)),
            Expect::Refused("final_logit_softcapping"),
        ),
        (
            "gemma3_softcap_negative",
            |g| _ = g.set("gemma3.final_logit_softcapping", Val::F32(-1.0)),
            Expect::Refused("final_logit_softcapping"),
        ),
        ("gemma3_swa_base_0", |g| _ = g.set("gemma3.rope.freq_base_swa", Val::F32(0.0)), Expect::Refused("rope.freq_base_swa")),
        ("gemma3_62_layers", |g| _ = g.set("gemma3.block_count", Val::U32(62)), Expect::Refused("blk.2")),
    ];
    run_cases("gemma3", edited(&gemma3(), cases));
}

fn rename_arch(g: &mut Gguf, from: &str, arch: &str) {
    let prefix = format!("{from}.");
    for (key, _) in &mut g.kvs {
        if let Some(rest) = key.strip_prefix(prefix.as_bytes()) {
            *key = [arch.as_bytes(), b".", rest].concat();
        }
    }
    g.set("general.architecture", Val::str(arch));
}

fn last_tensor(g: &mut Gguf) -> &mut TensorInfo {
    g.tensors.iter_mut().max_by_key(|t| t.offset).unwrap()
}

fn array<'a>(g: &'a mut Gguf, key: &str) -> &'a mut Vec<Val> {
    match g.kvs.iter_mut().find(|(k, _)| k == key.as_bytes()) {
        Some((_, Val::Array(_, items))) => items,
        _ => panic!("no array {key}"),
    }
}

fn truncate_array(g: &mut Gguf, key: &str, len: usize) {
    array(g, key).truncate(len);
}

fn push_token(g: &mut Gguf, token: &str) {
    array(g, "tokenizer.ggml.tokens").push(Val::str(token));
    array(g, "tokenizer.ggml.token_type").push(Val::I32(1));
}

fn set_token(g: &mut Gguf, id: usize, token: &str) {
    array(g, "tokenizer.ggml.tokens")[id] = Val::str(token);
}

fn set_merge(g: &mut Gguf, i: usize, merge: &str) {
    array(g, "tokenizer.ggml.merges")[i] = Val::str(merge);
}
