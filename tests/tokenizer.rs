//! The GGUF tokenizer and chat template against llama.cpp, on fixtures produced by
//! `scripts/ref/llamacpp_tokenize.py`, `scripts/ref/llamacpp_tokenize_spm.py` and
//! `scripts/ref/llamacpp_chat.py` (llama-cpp-python).
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
                .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
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

    let path = dir.path().join("model.gguf");
    let metadata = [("tokenizer.ggml.model", Value::String("bert".into()))];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &metadata, &[]).unwrap();
    let err = GgufTokenizer::from_gguf(&GgufFile::open(&path).unwrap()).err().unwrap().to_string();
    assert!(err.contains("`bert`") && err.contains("model.gguf") && err.contains("gpt2") && err.contains("llama"), "{err}");

    let path = write("arch.gguf", "gpt2", "qwen2");
    let gguf = GgufFile::open(&path).unwrap();
    let err = precis::engine::LlmConfig::from_gguf(&gguf).err().unwrap().to_string();
    assert!(err.contains("`gpt2`") && err.contains("arch.gguf"), "{err}");
}

/// What differs between the tokenizer and one case of an SPM fixture (the four tokenize calls
/// and both detokenizations of the ids with BOS and special tokens), if anything.
fn spm_case_failures(tokenizer: &GgufTokenizer, case: &serde_json::Value, text: &str) -> Vec<String> {
    let label = case.get("name").or(case.get("line")).unwrap();
    let mut failures = Vec::new();
    for (key, add_special, parse_special) in
        [("ids", false, false), ("ids_special", false, true), ("ids_bos", true, false), ("ids_bos_special", true, true)]
    {
        let got = tokenizer.tokenize(text, add_special, parse_special).unwrap();
        let expected = common::ids(&case[key]);
        if got != expected {
            failures.push(format!("{} {label} {key}: got {got:?}\n expected {expected:?}", case["source"]));
        }
    }
    let ids = common::ids(&case["ids_bos_special"]);
    for (key, skip_special) in [("decoded", false), ("decoded_skip_special", true)] {
        if let Some(failure) = detokenize_failure(tokenizer, case, key, &ids, skip_special) {
            failures.push(format!("{} {label} {failure}", case["source"]));
        }
    }
    failures
}

/// Compares `decode_bytes` with the fixture's `{key}_hex` (bytes) or `{key}_sha256`.
fn detokenize_failure(tokenizer: &GgufTokenizer, case: &serde_json::Value, key: &str, ids: &[u32], skip_special: bool) -> Option<String> {
    use sha2::Digest;
    let got = tokenizer.decode_bytes(ids, skip_special);
    let matches = match case[format!("{key}_hex")].as_str() {
        Some(hex) => hex::encode(&got) == hex,
        None => Some(hex::encode(sha2::Sha256::digest(&got)).as_str()) == case[format!("{key}_sha256")].as_str(),
    };
    (!matches).then(|| format!("{key} of {ids:?}: got {:?}", String::from_utf8_lossy(&got)))
}

#[test]
fn gemma3_token_ids_and_text_equal_llama_cpp_on_every_fixture_case() {
    let fixture = common::fixture("tokenizer_gemma3.json");
    let (_, tokenizer) = load(common::MODEL_GEMMA3);
    assert_eq!(fixture["tokenizer"]["tokenizer.ggml.model"], "llama");
    assert_eq!(tokenizer.pre_tokenizer(), "default");
    assert_eq!(tokenizer.vocab_size(), fixture["tokenizer"]["vocab_size"].as_u64().unwrap() as usize);
    let cases = fixture["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        let text = common::case_text(case).unwrap();
        if let Some(sha) = case["text_sha256"].as_str() {
            use sha2::Digest;
            assert_eq!(hex::encode(sha2::Sha256::digest(text.as_bytes())), sha, "rebuilt text differs: {case}");
        }
        checked += 1;
        failures.extend(spm_case_failures(&tokenizer, case, &text));
    }
    assert_eq!(checked, 200 + 50 + 56 + 41, "FLORES lines and our own cases");
    for case in fixture["detokenize"].as_array().unwrap() {
        let ids = common::ids(&case["ids"]);
        for (key, skip_special) in [("decoded", false), ("decoded_skip_special", true)] {
            failures.extend(detokenize_failure(&tokenizer, case, key, &ids, skip_special).map(|f| format!("{} {f}", case["name"])));
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn gemma3_special_tokens_and_end_of_generation() {
    let (_, tokenizer) = load(common::MODEL_GEMMA3);
    let end_of_turn = tokenizer.token_id("<end_of_turn>").unwrap();
    assert_eq!(tokenizer.encode("<end_of_turn>", true).unwrap(), vec![end_of_turn]);
    assert!(!tokenizer.encode("<end_of_turn>", false).unwrap().contains(&end_of_turn));
    assert!(tokenizer.is_eog(end_of_turn));
    assert!(tokenizer.is_eog(tokenizer.token_id("<eos>").unwrap()));
    assert!(!tokenizer.is_eog(tokenizer.token_id("<start_of_turn>").unwrap()));
    // HTML tags are user-defined tokens: split out without special parsing.
    let bold = tokenizer.token_id("<b>").unwrap();
    assert_eq!(tokenizer.encode("<b>", false).unwrap(), vec![bold]);
    // A text outside the vocabulary still tokenizes, as bytes, and decodes back.
    let text = "\u{10FFFD}\u{0}";
    assert_eq!(tokenizer.decode(&tokenizer.encode(text, false).unwrap(), true), text);
    // Ids outside the vocabulary are skipped, not a panic.
    assert_eq!(tokenizer.decode(&[u32::MAX, bold], true), "<b>");
}

#[test]
fn end_of_generation_ids_equal_llama_cpp_for_every_test_model() {
    let fixture = common::fixture("tokenizer_eog.json");
    let models = fixture["models"].as_array().unwrap();
    let files: Vec<&str> = models.iter().map(|m| m["file"].as_str().unwrap()).collect();
    assert_eq!(files, [common::MODEL_GEMMA3, common::MODEL_0_5B, common::MODEL_1_5B]);
    for model in models {
        let (_, tokenizer) = load(model["file"].as_str().unwrap());
        assert_eq!(tokenizer.eog_ids(), common::ids(&model["eog_ids"]), "{}", model["file"]);
    }
}

/// Writes the fixture's tiny vocabulary as the metadata-only GGUF file the script gave
/// llama.cpp.
fn write_tiny_gguf(fixture: &serde_json::Value, path: &std::path::Path) {
    use candle_core::quantized::gguf_file::{self, Value};
    let mut metadata: Vec<(String, Value)> = Vec::new();
    for (key, value) in fixture["metadata"].as_object().unwrap() {
        let value = match value {
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) if n.is_u64() => Value::U32(n.as_u64().unwrap() as u32),
            serde_json::Value::Number(n) => Value::F32(n.as_f64().unwrap() as f32),
            other => panic!("unexpected metadata value {other}"),
        };
        metadata.push((key.clone(), value));
    }
    let vocab = fixture["vocab"].as_array().unwrap();
    let column = |f: &dyn Fn(&serde_json::Value) -> Value| Value::Array(vocab.iter().map(f).collect());
    metadata.push(("tokenizer.ggml.tokens".into(), column(&|t| Value::String(t[0].as_str().unwrap().into()))));
    metadata.push(("tokenizer.ggml.scores".into(), column(&|t| Value::F32(t[1].as_f64().unwrap() as f32))));
    metadata.push(("tokenizer.ggml.token_type".into(), column(&|t| Value::I32(t[2].as_i64().unwrap() as i32))));
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut std::fs::File::create(path).unwrap(), &metadata, &[]).unwrap();
}

#[test]
fn tiny_spm_vocabulary_with_space_prefix_and_eos_equals_llama_cpp() {
    let fixture = common::fixture("tokenizer_spm_tiny.json");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spm_tiny.gguf");
    write_tiny_gguf(&fixture, &path);
    let tokenizer = GgufTokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    assert_eq!(tokenizer.eog_ids(), common::ids(&fixture["eog_ids"]));
    let mut failures = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        failures.extend(spm_case_failures(&tokenizer, case, case["text"].as_str().unwrap()));
    }
    for case in fixture["detokenize"].as_array().unwrap() {
        let ids = common::ids(&case["ids"]);
        for (key, skip_special) in [("decoded", false), ("decoded_skip_special", true)] {
            failures.extend(detokenize_failure(&tokenizer, case, key, &ids, skip_special).map(|f| format!("{} {f}", case["name"])));
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
