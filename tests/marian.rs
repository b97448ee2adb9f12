//! The Marian engine against HF transformers on tiny checkpoints made and trained by
//! `scripts/ref/marian_make_checkpoints.py`, whose HF `generate` outputs (greedy and beam
//! search under several settings) are in each checkpoint's `hf_generate.json`; FLORES lines are
//! read from ../shared by index. Plus the numerics of the decoder cache and of batching.

mod common;

use std::path::PathBuf;

use candle_core::Tensor;
use precis::engine::marian::{EarlyStopping, GenerationOverrides, Marian, Precision};
use serde_json::Value;

const CHECKPOINTS: [&str; 2] = ["tiny-swish", "tiny-relu-untied"];

fn checkpoint(name: &str) -> PathBuf {
    common::repo_root().join("tests").join("fixtures").join("marian").join(name)
}

fn flores() -> Vec<String> {
    let text = std::fs::read_to_string(common::shared("eval/flores200-devtest/fra_Latn.devtest")).unwrap();
    text.lines().map(str::to_string).collect()
}

/// HF `generate()` keyword arguments as precis overrides.
fn overrides(kwargs: &Value) -> GenerationOverrides {
    let usize_of = |key: &str| kwargs.get(key).and_then(Value::as_u64).map(|n| n as usize);
    GenerationOverrides {
        num_beams: usize_of("num_beams"),
        max_new_tokens: usize_of("max_new_tokens"),
        min_new_tokens: usize_of("min_new_tokens").or(usize_of("min_length").map(|n| n - 1)),
        length_penalty: kwargs.get("length_penalty").and_then(Value::as_f64).map(|x| x as f32),
        early_stopping: kwargs.get("early_stopping").map(|v| match v {
            Value::Bool(true) => EarlyStopping::Yes,
            Value::String(s) if s == "never" => EarlyStopping::Never,
            _ => EarlyStopping::Heuristic,
        }),
    }
}

/// Checks `got` against `expected` within `tolerance`; the message names the index and values.
fn assert_close(what: &str, index: usize, got: f32, expected: f64, tolerance: f64) {
    let diff = (got as f64 - expected).abs();
    assert!(diff <= tolerance, "{what} #{index}: got {got}, expected {expected}, diff {diff:e} > {tolerance:e}");
}

#[test]
fn token_ids_text_and_scores_equal_hf_generate() {
    let _guard = common::serial();
    let lines = flores();
    for name in CHECKPOINTS {
        let marian = Marian::load(&checkpoint(name), Precision::F32).unwrap();
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(checkpoint(name).join("hf_generate.json")).unwrap()).unwrap();
        let runs = fixture["runs"].as_array().unwrap();
        assert!(runs.len() >= 7);
        for run in runs {
            let run_name = format!("{name}/{}", run["name"].as_str().unwrap());
            let config = marian.generation.with(&overrides(&run["generate_kwargs"]), marian.max_source_tokens());
            let outputs = run["outputs"].as_array().unwrap();
            let sources: Vec<Vec<u32>> = outputs
                .iter()
                .map(|o| {
                    let ids = marian.tokenizer.encode(&lines[o["line"].as_u64().unwrap() as usize]).unwrap();
                    assert_eq!(ids, common::ids(&o["source_ids"]), "{run_name} line {}: source ids", o["line"]);
                    ids
                })
                .collect();
            let got = marian.generate(&sources, &config, 8).unwrap();
            for (i, (h, o)) in got.iter().zip(outputs).enumerate() {
                assert_eq!(h.tokens, common::ids(&o["tokens"]), "{run_name} #{i} (line {}): tokens", o["line"]);
                assert_eq!(marian.tokenizer.decode(&h.tokens), o["text"].as_str().unwrap(), "{run_name} #{i}: text");
                assert_close(&format!("{run_name} score"), i, h.score, o["score"].as_f64().unwrap(), 1e-4);
            }
        }
    }
}
