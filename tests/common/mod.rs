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
/// two cores only slow each other down (candle's worker threads spin while waiting).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
