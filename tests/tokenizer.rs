//! The GGUF tokenizer and chat template against llama.cpp, on fixtures produced by
//! `scripts/ref/llamacpp_tokenize.py` and `scripts/ref/llamacpp_chat.py` (llama-cpp-python).
//! Third-party texts are identified in the fixture by index and sha256 only: FLORES lines are
//! read from the shipped devtest files; the cases of a news article that is not shipped run in
//! tests/seed.rs.

mod common;

use precis::engine::{ChatMessage, ChatTemplate, GgufFile, GgufTokenizer};

fn load(file: &str) -> (GgufFile, GgufTokenizer) {
    let gguf = GgufFile::open(&common::model(file)).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    (gguf, tokenizer)
}

#[test]
fn token_ids_equal_llama_cpp_on_every_fixture_case() {
    let fixture = common::fixture("tokenizer_qwen2.json");
    for file in [common::MODEL_0_5B, common::MODEL_1_5B] {
        let (_, tokenizer) = load(file);
        assert_eq!(tokenizer.pre_tokenizer(), "qwen2");
        assert_eq!(tokenizer.vocab_size(), fixture["tokenizer"]["vocab_size"].as_u64().unwrap() as usize);
        let cases = fixture["cases"].as_array().unwrap();
        assert!(cases.len() > 300);
        let mut failures = Vec::new();
        let mut checked = 0;
        for case in cases {
            let Some(text) = common::case_text(case) else { continue };
            checked += 1;
            failures.extend(common::gguf_case_failure(&tokenizer, case, &text));
        }
        assert_eq!(checked, 200 + 50 + 56, "FLORES lines and our own cases");
        assert!(failures.is_empty(), "{file}: {} of {checked} cases differ:\n{}", failures.len(), failures.join("\n"));
    }
}

#[test]
fn special_tokens_only_when_asked_and_user_defined_always() {
    let (_, tokenizer) = load(common::MODEL_0_5B);
    let im_end = tokenizer.token_id("<|im_end|>").unwrap();
    assert_eq!(tokenizer.encode("<|im_end|>", true).unwrap(), vec![im_end]);
    assert!(!tokenizer.encode("<|im_end|>", false).unwrap().contains(&im_end));
    assert!(tokenizer.is_eog(im_end));
    assert!(tokenizer.is_eog(tokenizer.token_id("<|endoftext|>").unwrap()));
    // User-defined tokens are matched even without special parsing, as in llama.cpp.
    let tool_call = tokenizer.token_id("<tool_call>").unwrap();
    assert_eq!(tokenizer.encode("<tool_call>", false).unwrap(), vec![tool_call]);
    // Control tokens vanish from decoded text when skipped.
    assert_eq!(tokenizer.decode(&[im_end], true), "");
}

#[test]
fn chat_prompts_equal_transformers_rendering_and_llama_cpp_ids() {
    let fixture = common::fixture("chat_template_qwen2.json");
    for file in [common::MODEL_0_5B, common::MODEL_1_5B] {
        let (gguf, tokenizer) = load(file);
        let template = ChatTemplate::from_gguf(&gguf, &tokenizer).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let messages: Vec<ChatMessage> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| ChatMessage { role: m["role"].as_str().unwrap().into(), content: m["content"].as_str().unwrap().into() })
                .collect();
            let name = case["name"].as_str().unwrap();
            assert_eq!(template.render(&messages).unwrap(), case["prompt"].as_str().unwrap(), "{file} {name}");
            assert_eq!(template.encode(&messages, &tokenizer).unwrap(), common::ids(&case["ids"]), "{file} {name}");
        }
    }
}

#[test]
fn precis_prompts_are_the_fixture_prompts() {
    // The fixture was rendered from prompts/*.txt; the crate embeds the same files.
    let fixture = common::fixture("chat_template_qwen2.json");
    let case = &fixture["cases"][0];
    assert_eq!(case["name"], "translate_sentence");
    let text = case["built_from"]["text"].as_str().unwrap();
    let messages = precis::translate::translation_messages(text);
    let expected: Vec<(&str, &str)> =
        case["messages"].as_array().unwrap().iter().map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect();
    let got: Vec<(&str, &str)> = messages.iter().map(|m| (m.role.as_str(), m.content.as_str())).collect();
    assert_eq!(got, expected);
}

#[test]
fn unknown_pre_tokenizers_and_architectures_are_refused_by_name() {
    use candle_core::quantized::gguf_file::{self, Value};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, arch: &str, pre: &str| {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        let metadata = [
            ("general.architecture", Value::String(arch.into())),
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String(pre.into())),
        ];
        let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(&mut file, &metadata, &[]).unwrap();
        path
    };
    let path = write("pre.gguf", "qwen2", "deepseek-coder");
    let gguf = GgufFile::open(&path).unwrap();
    let err = GgufTokenizer::from_gguf(&gguf).err().unwrap().to_string();
    assert!(err.contains("deepseek-coder") && err.contains("pre.gguf") && err.contains("qwen2"), "{err}");

    let path = write("arch.gguf", "gpt2", "qwen2");
    let gguf = GgufFile::open(&path).unwrap();
    let err = precis::engine::LlmConfig::from_gguf(&gguf).err().unwrap().to_string();
    assert!(err.contains("`gpt2`") && err.contains("arch.gguf"), "{err}");
}
