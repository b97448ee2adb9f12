//! Shared helpers for integration tests: where the real lab models and shared data live.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

pub const MODEL_1_5B: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
pub const MODEL_0_5B: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A real lab model, provisioned by `scripts/test.sh` (or `precis fetch-models --all`).
pub fn model(file: &str) -> PathBuf {
    let dir = std::env::var_os("PRECIS_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("models"));
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "model {} is missing: run `bash scripts/test.sh` (or `precis fetch-models --all`) to fetch the test models",
        path.display()
    );
    path
}

/// A file under ../shared (FLORES, the seed article), read at run time and never copied.
pub fn shared(rel: &str) -> PathBuf {
    let path = repo_root().join("..").join("shared").join(rel);
    assert!(path.is_file(), "shared data {} is missing", path.display());
    path
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("tests").join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serialises tests that run a model inside one test binary: two models decoding at once on
/// two cores only slow each other down.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The text of a fixture case, rebuilt by the conventions written in the fixture header.
pub fn case_text(case: &serde_json::Value) -> String {
    let read = |rel: &str| std::fs::read_to_string(shared(rel)).unwrap();
    match case["source"].as_str().unwrap() {
        "inline" => case["text"].as_str().unwrap().to_string(),
        "flores-fra" | "flores-eng" => {
            let file = if case["source"] == "flores-fra" { "fra_Latn" } else { "eng_Latn" };
            let text = read(&format!("eval/flores200-devtest/{file}.devtest"));
            text.split('\n').nth(case["line"].as_u64().unwrap() as usize).unwrap().to_string()
        }
        "seed-whole" => read("seed/article.fr.txt"),
        "seed-paragraph" => {
            let text = read("seed/article.fr.txt");
            let blank = regex::Regex::new(r"\n[ \t\r]*\n").unwrap();
            let paragraphs: Vec<&str> = blank.split(&text).map(str::trim).filter(|p| !p.is_empty()).collect();
            paragraphs[case["paragraph"].as_u64().unwrap() as usize].to_string()
        }
        other => panic!("unknown fixture source {other}"),
    }
}

pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}
