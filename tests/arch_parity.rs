//! Bit-for-bit parity with llama.cpp (llama-cpp-python 0.3.36 on AVX2) on the architectures
//! the translation models do not cover: Gemma 3 270M (gemma3: sliding-window layers, GELU
//! feed-forward, pre- and post-norms, head norms, scaled embeddings and queries, tied output)
//! and random-weight qwen3, llama and gemma3 models, one with Llama 3's rotary frequency
//! factors, one with Gemma 3 4B's rotary scaling (tests/fixtures/arch, from
//! `scripts/ref/make_arch_models.py`). For prompts given as token ids, the logits after the
//! prompt and at every greedy step, and the greedy tokens, must be llama.cpp's to the bit. The
//! fixture (SHA-256 of llama.cpp's logits as little-endian f32) comes from
//! `scripts/ref/llamacpp_arch_logits.py`; its longest Gemma prompt (621 tokens) goes past the
//! 512-token sliding window and is evaluated in two batches (512 + 109), as llama.cpp does.

mod common;

use std::path::PathBuf;

use precis::engine::llm::{argmax, StepKind};
use precis::engine::{GgufFile, Llm};
use sha2::{Digest, Sha256};

const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";

fn digest(logits: &[f32]) -> String {
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    hex::encode(Sha256::digest(&bytes))
}

fn file_sha256(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(Sha256::digest(&bytes))
}

/// Where a fixture's model is: the shipped random-weight models, or Gemma in the models directory.
fn model_path(file: &str) -> PathBuf {
    if file == GEMMA {
        let path = precis::models::models_dir().join(file);
        assert!(path.is_file(), "model {} is missing: Gemma 3 270M (Q4_K_M GGUF) is needed by this test", path.display());
        path
    } else {
        common::repo_root().join("tests/fixtures/arch").join(file)
    }
}

/// Runs every case of `model` in the fixture: the prompt's logits, then each greedy token fed
/// back one at a time.
fn check_model(model: &str) {
    let _serial = common::serial();
    let fixture = common::level_fixture("llamacpp_arch_logits.json");
    let path = model_path(model);
    let expected_sha = fixture["model_sha256"][model].as_str().unwrap();
    assert_eq!(file_sha256(&path), expected_sha, "{}: not the model file the fixture was made with", path.display());
    let llm = Llm::load(&mut GgufFile::open(&path).unwrap()).unwrap();
    let cases: Vec<_> = fixture["cases"].as_array().unwrap().iter().filter(|c| c["model"] == model).collect();
    assert!(cases.len() >= 3, "{model}: too few cases in the fixture");
    for case in cases {
        let prompt = common::ids(&case["prompt"]);
        let what = format!("{model}, prompt of {} tokens", prompt.len());
        let mut cache = llm.new_cache();
        let mut logits = llm.forward(&prompt, &mut cache, StepKind::Prompt { len: prompt.len() }).unwrap();
        assert_eq!(digest(&logits), case["prompt_logits_sha256"].as_str().unwrap(), "{what}: logits after the prompt");
        let expected = common::ids(&case["tokens"]);
        let step_digests = case["step_logits_sha256"].as_array().unwrap();
        assert_eq!(expected.len(), step_digests.len());
        for (step, &token) in expected.iter().enumerate() {
            assert_eq!(argmax(&logits), token, "{what}: greedy token {step}");
            logits = llm.forward(&[token], &mut cache, StepKind::Decode).unwrap();
            assert_eq!(digest(&logits), step_digests[step].as_str().unwrap(), "{what}: logits after token {step}");
        }
    }
}

#[test]
fn gemma3_logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    check_model(GEMMA);
}

#[test]
fn qwen3_logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    check_model("qwen3-tiny.gguf");
}

#[test]
fn llama_logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    check_model("llama-tiny.gguf");
}

/// Llama 3.1/3.2's rotary frequency factors (`rope_freqs.weight`) and a tied output.
#[test]
fn llama3_rope_factors_logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    check_model("llama3-tiny.gguf");
}

/// Gemma 3 as the 4B and larger models (TranslateGemma) are built: linear rotary scaling on the
/// global layers, windows that the prompts cross, one key/value head.
#[test]
fn gemma3_rope_scaling_logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    check_model("gemma3-tiny.gguf");
}

/// A prompt's logits do not depend on how it is cut into calls: the long Gemma prompt run in
/// pieces (crossing the sliding window and llama.cpp's 512-token batches at other places) gives
/// the bits of the whole prompt at once, as long as each piece says which prompt it belongs to.
#[test]
fn gemma3_prompt_split_into_calls_gives_the_same_logits() {
    let _serial = common::serial();
    let fixture = common::level_fixture("llamacpp_arch_logits.json");
    let case = fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == GEMMA)
        .max_by_key(|c| c["prompt"].as_array().unwrap().len())
        .unwrap();
    let prompt = common::ids(&case["prompt"]);
    assert!(prompt.len() > 600);
    let llm = Llm::load(&mut GgufFile::open(&model_path(GEMMA)).unwrap()).unwrap();
    let kind = StepKind::Prompt { len: prompt.len() };
    let mut cache = llm.new_cache();
    let mut logits = Vec::new();
    for piece in [&prompt[..300], &prompt[300..530], &prompt[530..]] {
        logits = llm.forward(piece, &mut cache, kind).unwrap();
    }
    assert_eq!(digest(&logits), case["prompt_logits_sha256"].as_str().unwrap());
}

/// An architecture the engine does not run is refused by name, with the ones it does.
#[test]
fn unknown_architectures_are_refused_with_the_supported_list() {
    use candle_core::quantized::gguf_file::{self, Value};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gemma2.gguf");
    let arch = Value::String("gemma2".into());
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &[("general.architecture", &arch)], &[]).unwrap();
    let err = precis::engine::LlmConfig::from_gguf(&GgufFile::open(&path).unwrap()).err().unwrap().to_string();
    assert!(err.contains("`gemma2`") && err.contains("gemma2.gguf"), "{err}");
    assert!(err.contains(precis::engine::llm::SUPPORTED_ARCHITECTURES), "{err}");
    for arch in ["qwen2", "qwen3", "llama", "gemma3"] {
        assert!(precis::engine::llm::SUPPORTED_ARCHITECTURES.contains(arch));
    }
}
