//! Bit-for-bit parity with llama.cpp (llama-cpp-python 0.3.36 on AVX2) for the weight types of
//! Q5_K_M and Q4_0 files, on tiny random-weight models that llama.cpp's own quantizer made
//! (`scripts/ref/make_test_models.py`, shipped in tests/fixtures/models): the logits after
//! prompts of 5, 13, 70 and 520 tokens (the last row's, and every row's when all are asked for)
//! and at every greedy step, and the greedy tokens. The
//! fixture (SHA-256 of llama.cpp's logits as little-endian f32) comes from
//! `scripts/ref/quant_logits.py`, run with 1 and 2 threads (which agree).
//!
//! Also how weight types without native kernels load: expanded to f32 with a warning, or, for
//! types the GGUF reader does not know, refused with an error that names the type.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use precis::engine::llm::{argmax, Step, StepKind};
use precis::engine::{GgufFile, Llm};
use sha2::{Digest, Sha256};

fn digest(logits: &[f32]) -> String {
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    hex::encode(Sha256::digest(&bytes))
}

fn test_model(file: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/models").join(file)
}

#[test]
fn tiny_quantized_models_give_llama_cpp_logits_bit_for_bit() {
    let _serial = common::serial();
    let fixture = common::level_fixture("quant_logits.json");
    let prompts: Vec<Vec<u32>> = fixture["prompts"].as_array().unwrap().iter().map(common::ids).collect();
    let cases = fixture["cases"].as_array().unwrap();
    let models: BTreeSet<&str> = cases.iter().map(|c| c["model"].as_str().unwrap()).collect();
    assert!(models.len() >= 4, "{models:?}");
    let mut current: Option<(String, Llm)> = None;
    for case in cases {
        let file = case["model"].as_str().unwrap();
        if current.as_ref().is_none_or(|(name, _)| name != file) {
            let path = test_model(file);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let sha = hex::encode(Sha256::digest(&bytes));
            assert_eq!(sha, case["model_sha256"].as_str().unwrap(), "{file} is not the file the fixture was made from");
            let mut gguf = GgufFile::open(&path).unwrap();
            assert_eq!(gguf.expansion_warning(), None, "{file}: every matrix runs natively");
            current = Some((file.to_string(), Llm::load(&mut gguf).unwrap()));
        }
        let llm = &current.as_ref().unwrap().1;
        let prompt = &prompts[case["prompt"].as_u64().unwrap() as usize];
        let what = format!("{file}, {} prompt tokens", prompt.len());

        let mut cache = llm.new_cache();
        let mut logits = llm.forward(prompt, &mut cache, StepKind::Prompt { len: prompt.len() }).unwrap();
        assert_eq!(digest(&logits), case["prompt_logits_sha256"].as_str().unwrap(), "{what}: logits after the prompt");
        // Every row's logits, as llama.cpp computes them when all are asked for.
        let mut all_cache = llm.new_cache();
        let kind = StepKind::Prompt { len: prompt.len() };
        let all = llm.forward_batch(&mut [Step { tokens: prompt, cache: &mut all_cache, kind, all_logits: true }]).unwrap();
        assert_eq!(all[0].len(), prompt.len() * llm.vocab_size(), "{what}");
        assert_eq!(digest(&all[0]), case["all_prompt_logits_sha256"].as_str().unwrap(), "{what}: logits of every prompt row");

        let expected = common::ids(&case["tokens"]);
        let step_digests = case["step_logits_sha256"].as_array().unwrap();
        assert!(expected.len() >= 8, "{what}");
        for (step, &token) in expected.iter().enumerate() {
            assert_eq!(argmax(&logits), token, "{what}: greedy token {step}");
            logits = llm.forward(&[token], &mut cache, StepKind::Decode).unwrap();
            assert_eq!(digest(&logits), step_digests[step].as_str().unwrap(), "{what}: logits after token {step}");
        }
    }
}

/// The ggml types of a file's matrices (2-D tensors), with the number of rows of each.
fn matrix_types(file: &str) -> Vec<(String, GgmlDType, usize)> {
    let mut reader = std::fs::File::open(test_model(file)).unwrap();
    let content = Content::read(&mut reader).unwrap();
    let mut types: Vec<_> = content
        .tensor_infos
        .iter()
        .filter(|(_, info)| info.shape.rank() == 2)
        .map(|(name, info)| (name.clone(), info.ggml_dtype, info.shape.dims()[0]))
        .collect();
    types.sort_by(|a, b| a.0.cmp(&b.0));
    types
}

#[test]
fn the_test_models_hold_the_types_they_stand_for() {
    // Q5_K_M: Q5_K matrices, with Q6_K for the output and half the value and down projections.
    for file in ["tiny-qwen2-q5_k_m.gguf", "tiny-llama-q5_k_m.gguf"] {
        let types: Vec<GgmlDType> = matrix_types(file).iter().map(|t| t.1).collect();
        assert!(types.contains(&GgmlDType::Q5K) && types.contains(&GgmlDType::Q6K), "{file}: {types:?}");
    }
    // Q4_0: the layers' matrices in groups of eight rows (repacked by llama.cpp on AVX2), and
    // in the Qwen2 file an output matrix of 516 rows (not repacked: multiplied like Q8_0).
    for file in ["tiny-qwen2-q4_0.gguf", "tiny-llama-q4_0.gguf"] {
        let types = matrix_types(file);
        let layers: Vec<_> = types.iter().filter(|(name, ..)| name.starts_with("blk.")).collect();
        assert!(layers.iter().all(|(_, t, rows)| *t == GgmlDType::Q4_0 && rows % 8 == 0), "{file}: {types:?}");
    }
    let output = matrix_types("tiny-qwen2-q4_0.gguf").into_iter().find(|(name, ..)| name == "output.weight").unwrap();
    assert_eq!((output.1, output.2 % 8 != 0), (GgmlDType::Q4_0, true), "{output:?}");
    // Q4_1: every layer matrix.
    let types = matrix_types("tiny-llama-q4_1.gguf");
    assert!(types.iter().filter(|(name, ..)| name.starts_with("blk.")).all(|(_, t, _)| *t == GgmlDType::Q4_1), "{types:?}");
    // Q5_K_M of widths that are not multiples of 256: llama.cpp's fallbacks, Q5_1 for Q5_K and
    // Q8_0 for Q6_K (the embedding and the output included).
    let types = matrix_types("tiny-qwen2-narrow-q5_k_m.gguf");
    let kinds: std::collections::BTreeSet<_> = types.iter().map(|(_, t, _)| format!("{t:?}")).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["Q5_1", "Q8_0"], "{types:?}");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("precis-{}-{name}", std::process::id()))
}

#[test]
fn matrices_of_types_without_native_kernels_are_expanded_with_a_warning() {
    // Q2_K and Q3_K matrices, written with candle's quantizers.
    let device = Device::Cpu;
    let values: Vec<f32> = (0..16 * 256).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0).collect();
    let weights = Tensor::from_vec(values, (16, 256), &device).unwrap();
    let q2k = QTensor::quantize(&weights, GgmlDType::Q2K).unwrap();
    let q3k = QTensor::quantize(&weights, GgmlDType::Q3K).unwrap();
    let q4k = QTensor::quantize(&weights, GgmlDType::Q4K).unwrap();
    let path = temp_path("expanded.gguf");
    {
        let mut file = std::fs::File::create(&path).unwrap();
        let arch = Value::String("qwen2".into());
        let tensors = [("a.weight", &q2k), ("b.weight", &q3k), ("c.weight", &q3k), ("d.weight", &q4k)];
        gguf_file::write(&mut file, &[("general.architecture", &arch)], &tensors).unwrap();
    }
    let mut gguf = GgufFile::open(&path).unwrap();
    let warning = gguf.expansion_warning().unwrap();
    // 16 × 256 weights: 4 × 4096 bytes as f32; Q2_K 84 bytes per 256.
    assert!(warning.contains("1 Q2_K matrix (0.0 MB in the file, 0.0 MB as f32)"), "{warning}");
    assert!(warning.contains("2 Q3_K matrices"), "{warning}");
    assert!(!warning.contains("Q4_K matrix"), "{warning}");
    assert!(warning.contains("not bit-identical to llama.cpp") && warning.contains("Q5_K"), "{warning}");
    // The expanded matrix holds the dequantized values.
    let matrix = gguf.matrix("a.weight").unwrap();
    let expected = q2k.dequantize(&device).unwrap().to_vec2::<f32>().unwrap();
    let mut row = vec![0f32; 256];
    for (r, expected) in expected.iter().enumerate() {
        matrix.dequantize_row(r, &mut row);
        assert_eq!(&row, expected, "row {r}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn types_the_gguf_reader_does_not_know_are_refused_by_name() {
    // A GGUF v3 file with one 256 x 8 IQ4_XS tensor (ggml type 23; 136 bytes per 256 values).
    let path = temp_path("iq4_xs.gguf");
    {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"GGUF");
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes()); // tensors
        bytes.extend_from_slice(&0u64.to_le_bytes()); // metadata entries
        let name = b"blk.0.ffn_up.weight";
        bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&256u64.to_le_bytes());
        bytes.extend_from_slice(&8u64.to_le_bytes());
        bytes.extend_from_slice(&23u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes()); // offset
        bytes.resize(bytes.len().next_multiple_of(32) + 8 * 136, 0);
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
    }
    let err = GgufFile::open(&path).err().expect("an IQ4_XS file is refused").to_string();
    assert!(err.contains("ggml type 23 (IQ4_XS)") && err.contains("Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0"), "{err}");
    std::fs::remove_file(&path).unwrap();
}
