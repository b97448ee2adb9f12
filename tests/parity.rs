//! Bit-for-bit parity with llama.cpp (llama-cpp-python 0.3.36 on AVX2): the logits after a
//! translate prompt and at every greedy step, and the greedy tokens, for FLORES lines on both
//! test models. The fixture (SHA-256 of llama.cpp's logits as little-endian f32) comes from
//! `scripts/ref/llamacpp_logits.py`; the prompts are rebuilt here from the shipped FLORES devtest lines.

mod common;

use precis::engine::llm::{argmax, StepKind};
use precis::engine::ChatModel;
use sha2::{Digest, Sha256};

fn digest(logits: &[f32]) -> String {
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    hex::encode(Sha256::digest(&bytes))
}

#[test]
fn logits_and_greedy_tokens_are_bit_identical_to_llama_cpp() {
    let _serial = common::serial();
    let fixture = common::level_fixture("llamacpp_logits.json");
    let flores = std::fs::read_to_string(common::flores("fra_Latn.devtest")).unwrap();
    let lines: Vec<&str> = flores.split('\n').collect();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    let mut current: Option<(String, ChatModel)> = None;
    for case in cases {
        let file = case["model"].as_str().unwrap();
        if current.as_ref().is_none_or(|(name, _)| name != file) {
            current = Some((file.to_string(), ChatModel::load(&common::model(file)).unwrap()));
        }
        let model = &current.as_ref().unwrap().1;
        let line = case["flores_line"].as_u64().unwrap() as usize;
        let what = format!("{file}, FLORES line {line}");
        let prompt = model.prompt(&precis::translate::translation_messages(lines[line])).unwrap();
        assert_eq!(prompt.len() as u64, case["prompt_tokens"].as_u64().unwrap(), "{what}: prompt length");

        let mut cache = model.llm.new_cache();
        let mut logits = model.llm.forward(&prompt, &mut cache, StepKind::Prompt { len: prompt.len() }).unwrap();
        assert_eq!(digest(&logits), case["prompt_logits_sha256"].as_str().unwrap(), "{what}: logits after the prompt");

        let expected: Vec<u32> = case["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let step_digests = case["step_logits_sha256"].as_array().unwrap();
        for (step, &token) in expected.iter().enumerate() {
            assert_eq!(argmax(&logits), token, "{what}: greedy token {step}");
            logits = model.llm.forward(&[token], &mut cache, StepKind::Decode).unwrap();
            assert_eq!(digest(&logits), step_digests[step].as_str().unwrap(), "{what}: logits after token {step}");
        }
    }
}
