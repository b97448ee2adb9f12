//! Shared helpers for integration tests: where the real models and the test data live.
#![allow(dead_code)]

pub mod gguf;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

pub const MODEL_1_5B: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
pub const MODEL_0_5B: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
/// Gemma 3 270M: the SentencePiece (`tokenizer.ggml.model = llama`) test model.
pub const MODEL_GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A real model, provisioned by `scripts/test.sh` (or `precis fetch-models --all`).
pub fn model(file: &str) -> PathBuf {
    let path = precis::models::models_dir().join(file);
    assert!(
        path.is_file(),
        "model {} is missing: run `bash scripts/test.sh` (or `precis fetch-models --all`) to fetch the test models",
        path.display()
    );
    path
}

/// A file of FLORES-200 devtest (`fra_Latn.devtest`, `eng_Latn.devtest`), shipped with the
/// tests under their licence (tests/fixtures/flores200-devtest/README.md).
pub fn flores(file: &str) -> PathBuf {
    repo_root().join("tests/fixtures/flores200-devtest").join(file)
}

/// Line `i` (0-based) of a FLORES devtest file.
pub fn flores_line(file: &str, i: usize) -> String {
    let text = std::fs::read_to_string(flores(file)).unwrap();
    text.split('\n').nth(i).unwrap().to_string()
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("tests").join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture `name` (`NAME.json`) of llama.cpp's outputs for the CPU level the kernels run at:
/// `NAME.avx512.json` (llama.cpp built with AVX-512, whose float vectors have 16 lanes and
/// whose float sums and exp round differently) at `avx512`, else `NAME.json` (its AVX2 build,
/// which the portable level reproduces as well).
pub fn level_fixture(name: &str) -> serde_json::Value {
    use precis::engine::cpu::{level, Level};
    match level() {
        Level::Avx512 => fixture(&name.replace(".json", ".avx512.json")),
        Level::Avx2 | Level::Portable => fixture(name),
    }
}

/// Serialises tests that run a model inside one test binary: two models decoding at once on
/// two cores only slow each other down.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The text of a fixture case, rebuilt by the conventions written in the fixture header; `None`
/// for the cases of the seed article, a third-party text that is not shipped (they run in
/// `tests/seed.rs`, see `scripts/test-seed.sh`).
pub fn case_text(case: &serde_json::Value) -> Option<String> {
    match case["source"].as_str().unwrap() {
        "inline" => Some(case["text"].as_str().unwrap().to_string()),
        "flores-fra" => Some(flores_line("fra_Latn.devtest", case["line"].as_u64().unwrap() as usize)),
        "flores-eng" => Some(flores_line("eng_Latn.devtest", case["line"].as_u64().unwrap() as usize)),
        "seed-whole" | "seed-paragraph" => None,
        other => panic!("unknown fixture source {other}"),
    }
}

/// The text of a seed-article case of a fixture, read from `dir/seed/article.fr.txt`.
pub fn seed_case_text(case: &serde_json::Value, shared: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(shared.join("seed/article.fr.txt")).unwrap();
    match case["source"].as_str().unwrap() {
        "seed-whole" => Some(text),
        "seed-paragraph" => {
            let blank = regex::Regex::new(r"\n[ \t\r]*\n").unwrap();
            let paragraphs: Vec<&str> = blank.split(&text).map(str::trim).filter(|p| !p.is_empty()).collect();
            Some(paragraphs[case["paragraph"].as_u64().unwrap() as usize].to_string())
        }
        _ => None,
    }
}

pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}

/// The opus-mt-tc-big-fr-en tokenizer files, shipped with the tests.
pub fn marian_tokenizer_dir() -> PathBuf {
    repo_root().join("tests/fixtures/opus-mt-tc-big-fr-en")
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// What differs between the GGUF tokenizer and a llama.cpp fixture case of `text`, if anything.
pub fn gguf_case_failure(tokenizer: &precis::engine::GgufTokenizer, case: &serde_json::Value, text: &str) -> Option<String> {
    if let Some(sha) = case["text_sha256"].as_str() {
        assert_eq!(sha256_hex(text), sha, "rebuilt text differs: {case}");
    }
    let expected = ids(&case["ids"]);
    let got = tokenizer.encode(text, false).unwrap();
    // Byte-level BPE is lossless.
    assert_eq!(tokenizer.decode(&got, false), text);
    (got != expected).then(|| format!("{case}: got {got:?}\n expected {expected:?}"))
}

/// What differs between the Marian tokenizer and an HF fixture case of `text`, if anything.
pub fn marian_case_failure(tokenizer: &precis::engine::marian::MarianTokenizer, case: &serde_json::Value, text: &str) -> Option<String> {
    if let Some(sha) = case["text_sha256"].as_str() {
        assert_eq!(sha256_hex(text), sha, "rebuilt text differs: {case}");
    }
    let expected = ids(&case["ids"]);
    let got = tokenizer.encode(text).unwrap();
    if got != expected {
        return Some(format!("encode {}: got {got:?}\n expected {expected:?}", case["name"].as_str().unwrap_or(&case.to_string())));
    }
    let decoded = tokenizer.decode(&got);
    let matches = match case["decoded"].as_str() {
        Some(want) => decoded == want,
        None => Some(sha256_hex(&decoded).as_str()) == case["decoded_sha256"].as_str(),
    };
    (!matches).then(|| format!("decode {case}: got {decoded:?}"))
}

/// What a bounded run of the `precis` binary gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `precis` binary with `args` (and `envs`), its address space bounded to
/// `memory_kb` by `ulimit -v` and its time to `time_limit` (assert_cmd kills a run that hangs).
pub fn precis_bounded(args: &[&std::ffi::OsStr], envs: &[(&str, &str)], memory_kb: u64, time_limit: std::time::Duration) -> Run {
    let script = format!("ulimit -v {memory_kb}; exec \"$0\" \"$@\"");
    let output = assert_cmd::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(assert_cmd::cargo::cargo_bin("precis"))
        .envs(envs.iter().copied())
        .args(args)
        .timeout(time_limit)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
