//! Chat templates of the model families precis runs (Gemma 3, TranslateGemma, Qwen3, Llama 3.1
//! and 3.2) against transformers' rendering and llama.cpp's ids, on the fixture made by
//! `scripts/ref/chat_templates.py` from the published templates in
//! tests/fixtures/chat_templates/ (sources in the README there); and chat models built from
//! GGUF files that carry those templates, end to end.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;
use precis::engine::{ChatMessage, ChatModel, ChatTemplate, GgufFile, GgufTokenizer};
use sha2::{Digest, Sha256};

const GEMMA3: &str = "google-gemma-3-it.jinja";
const TRANSLATEGEMMA: &str = "google-translategemma-4b-it.jinja";
const QWEN3: &str = "Qwen-Qwen3-0.6B.jinja";
const LLAMA32: &str = "meta-llama-Llama-3.2-3B-Instruct.jinja";

fn fixture() -> serde_json::Value {
    common::fixture("chat_templates.json")
}

/// A published template, checked to be the one the fixture was rendered from.
fn template_source(file: &str) -> String {
    let path = common::repo_root().join("tests/fixtures/chat_templates").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let recorded = fixture()["templates"].as_array().unwrap().iter().find(|t| t["file"] == file).unwrap()["sha256"].clone();
    assert_eq!(hex::encode(Sha256::digest(text.as_bytes())), recorded.as_str().unwrap(), "{file} changed since the fixture");
    text
}

fn chat_messages(value: &serde_json::Value) -> Vec<ChatMessage> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap();
            match &m["content"] {
                serde_json::Value::String(text) => ChatMessage::new(role, text.as_str()),
                parts => {
                    let [part] = parts.as_array().unwrap().as_slice() else { panic!("one content part: {m}") };
                    assert_eq!((role, part["type"].as_str().unwrap()), ("user", "text"));
                    ChatMessage::translation(
                        part["source_lang_code"].as_str().unwrap(),
                        part["target_lang_code"].as_str().unwrap(),
                        part["text"].as_str().unwrap(),
                    )
                }
            }
        })
        .collect()
}

/// The fixture's templates, each with its cases, rendered at the fixture's fixed time.
fn templates() -> Vec<(String, ChatTemplate, Vec<serde_json::Value>, Option<String>)> {
    let fixture = fixture();
    let time = fixture["strftime_now_unix"].as_i64().unwrap();
    fixture["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let file = t["file"].as_str().unwrap().to_string();
            let tokens = &t["special_tokens"];
            let mut template = ChatTemplate::new(
                &template_source(&file),
                tokens["bos_token"].as_str().unwrap().into(),
                tokens["eos_token"].as_str().unwrap().into(),
            )
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
            template.set_time(time);
            let cases = fixture["cases"].as_array().unwrap().iter().filter(|c| c["template"] == file.as_str()).cloned().collect();
            (file, template, cases, t["tokenizer"].as_str().map(str::to_string))
        })
        .collect()
}

#[test]
fn renderings_equal_transformers_on_real_templates() {
    let (mut rendered, mut refused) = (0, 0);
    for (file, template, cases, _) in templates() {
        assert_eq!(template.takes_language_codes(), file == TRANSLATEGEMMA, "{file}");
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let messages = chat_messages(&case["messages"]);
            match case["error"].as_str() {
                None => {
                    let text = template.render(&messages).unwrap_or_else(|e| panic!("{file} {name}: {e}"));
                    assert_eq!(text, case["prompt"].as_str().unwrap(), "{file} {name}");
                    rendered += 1;
                }
                Some(error) => {
                    let err = template.render(&messages).expect_err(&format!("{file} {name} renders")).to_string();
                    // The template's own message (jinja2's wording for other errors differs).
                    if !error.contains("object") {
                        assert!(err.contains(error), "{file} {name}: {err}");
                    }
                    refused += 1;
                }
            }
        }
    }
    assert_eq!((rendered, refused), (34, 10));
}

#[test]
fn token_ids_equal_llama_cpp_and_gemma_gets_one_bos() {
    let mut checked = 0;
    for (file, template, cases, tokenizer) in templates() {
        let Some(tokenizer) = tokenizer else { continue };
        let tokenizer = GgufTokenizer::from_gguf(&GgufFile::open(&common::model(&tokenizer)).unwrap()).unwrap();
        for case in cases.iter().filter(|c| c.get("prompt").is_some()) {
            let name = case["name"].as_str().unwrap();
            let ids = template.encode(&chat_messages(&case["messages"]), &tokenizer).unwrap();
            match case.get("ids") {
                Some(expected) => assert_eq!(ids, common::ids(expected), "{file} {name}"),
                None => {
                    // Special-token text in a message stays text: the ids write the prompt back,
                    // but the turn markers in the message are not the special tokens.
                    assert_eq!(name, "special_token_text");
                    let prompt = case["prompt"].as_str().unwrap();
                    assert_eq!(tokenizer.decode(&ids, false), prompt, "{file}");
                    assert!(ids.len() > tokenizer.encode(prompt, true).unwrap().len(), "{file}");
                }
            }
            if file.contains("gemma") {
                let bos = tokenizer.token_id("<bos>").unwrap();
                assert_eq!((ids[0], ids.iter().filter(|&&id| id == bos).count()), (bos, 1), "{file} {name}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 + 2 + 8);
}

/// A GGUF file holding the tokenizer of `model` (no weights) and, if given, a chat template.
fn tokenizer_gguf(model: &Path, template: Option<&str>, out: &Path) -> PathBuf {
    let mut file = File::open(model).unwrap();
    let content = Content::read(&mut file).unwrap();
    let template = template.map(|t| Value::String(t.into()));
    let mut metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| (k.starts_with("tokenizer.") && k.as_str() != "tokenizer.chat_template") || k.as_str() == "general.architecture")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.extend(template.as_ref().map(|t| ("tokenizer.chat_template", t)));
    gguf_file::write(&mut File::create(out).unwrap(), &metadata, &[]).unwrap();
    out.to_path_buf()
}

/// A copy of the GGUF model `model` (weights included) with `template` as its chat template.
fn with_chat_template(model: &Path, template: &str, out: &Path) -> PathBuf {
    let mut file = File::open(model).unwrap();
    let content = Content::read(&mut file).unwrap();
    let tensors: Vec<(String, QTensor)> =
        content.tensor_infos.keys().map(|name| (name.clone(), content.tensor(&mut file, name, &Device::Cpu).unwrap())).collect();
    let template = Value::String(template.into());
    let mut metadata: Vec<(&str, &Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    metadata.push(("tokenizer.chat_template", &template));
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(name, t)| (name.as_str(), t)).collect();
    gguf_file::write(&mut File::create(out).unwrap(), &metadata, &tensors).unwrap();
    out.to_path_buf()
}

fn case<'a>(cases: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    cases.iter().find(|c| c["name"] == name).unwrap()
}

#[test]
fn gemma_templates_read_from_a_gguf_file_and_errors_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let gemma = common::model(common::MODEL_GEMMA3);
    let all = templates();
    for file in [GEMMA3, TRANSLATEGEMMA] {
        let path = tokenizer_gguf(&gemma, Some(&template_source(file)), &dir.path().join(format!("{file}.gguf")));
        let gguf = GgufFile::open(&path).unwrap();
        let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
        let template = ChatTemplate::from_gguf(&gguf, &tokenizer).unwrap();
        assert_eq!(template.takes_language_codes(), file == TRANSLATEGEMMA);
        let (_, _, cases, _) = all.iter().find(|(f, ..)| f == file).unwrap();
        // BOS and EOS texts come from the file's tokenizer, as the fixture's did.
        for name in ["translation_request", "user_only"] {
            let case = case(cases, name);
            let Some(prompt) = case["prompt"].as_str() else { continue };
            let messages = chat_messages(&case["messages"]);
            assert_eq!(template.render(&messages).unwrap(), prompt, "{file} {name}");
            assert_eq!(template.encode(&messages, &tokenizer).unwrap(), common::ids(&case["ids"]), "{file} {name}");
        }
        // A role order the template refuses: the error names the file and gives the template's
        // message.
        let expected = case(cases, "assistant_first")["error"].as_str().unwrap();
        let err = template.render(&chat_messages(&case(cases, "assistant_first")["messages"])).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains(expected), "{err}");
    }
    // The base model has no template: the error names the file.
    let path = tokenizer_gguf(&gemma, None, &dir.path().join("base.gguf"));
    let gguf = GgufFile::open(&path).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let err = ChatTemplate::from_gguf(&gguf, &tokenizer).err().unwrap().to_string();
    assert!(err.contains("base.gguf") && err.contains("no chat template"), "{err}");
}

#[test]
fn odd_templates_fail_with_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let gemma = common::model(common::MODEL_GEMMA3);
    for (i, (source, expected)) in [
        ("{% for m in messages %}", "syntax error"),
        ("{{ strftime_now('%Z') }}", "%Z"),
        ("{{ messages[0].content.nosuchmethod() }}", "nosuchmethod"),
        ("{{ messages[5]['content'] + 1 }}", "chat template error"),
        ("{{ bos_token }}no message here", "dropped message 0"),
        ("{% for m in messages %}{{ m.content | upper }}{% endfor %}", "dropped message 0"),
        ("{% for m in messages %}{{ m.content.replace('Bonjour', 'Hello') }}{% endfor %}", "changes message contents"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = tokenizer_gguf(&gemma, Some(source), &dir.path().join(format!("odd-{i}.gguf")));
        let gguf = GgufFile::open(&path).unwrap();
        let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
        let err = match ChatTemplate::from_gguf(&gguf, &tokenizer) {
            Err(e) => e.to_string(),
            Ok(template) => template.encode(&[ChatMessage::user("Bonjour")], &tokenizer).unwrap_err().to_string(),
        };
        assert!(err.contains(&format!("odd-{i}.gguf")) && err.contains(expected), "{source}: {err}");
    }
}

fn arch_model(file: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/arch").join(file)
}

#[test]
fn qwen3_and_llama3_chat_models_run_end_to_end() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let qwen3 =
        ChatModel::load(&with_chat_template(&arch_model("qwen3-tiny.gguf"), &template_source(QWEN3), &dir.path().join("q.gguf"))).unwrap();
    let messages = precis::translate::model_messages(&qwen3, precis::translate::Kind::Body, "Bonjour à tous.", &[], true);
    assert!(messages.len() > 2 && messages[0].role == "system", "precis's own prompt with example turns");
    let text = qwen3.template.render(&messages).unwrap();
    assert!(text.ends_with("Bonjour à tous.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"), "{text}");
    let prompt = qwen3.prompt(&messages).unwrap();
    let generation = qwen3.complete(&prompt, 4, None).unwrap();
    assert_eq!(generation.prompt_tokens, prompt.len());
    assert!(!generation.tokens.is_empty());

    let llama = ChatModel::load(&with_chat_template(&arch_model("llama-tiny.gguf"), &template_source(LLAMA32), &dir.path().join("l.gguf")))
        .unwrap();
    let text = llama.template.render(&messages).unwrap();
    // Llama 3.2 writes today's date (strftime_now, UTC).
    let date = regex::Regex::new(r"Today Date: (\d\d) ([A-Z][a-z]{2}) (20\d\d)\n").unwrap();
    assert!(date.is_match(&text), "{text}");
    let generation = llama.complete(&llama.prompt(&messages).unwrap(), 4, None).unwrap();
    assert!(!generation.tokens.is_empty());
}

#[test]
fn a_translategemma_model_is_sent_the_text_alone() {
    use precis::facts::Language;
    use precis::glossary::Glossary;
    use precis::translate::{Prefixes, TranslateSettings, Translator};
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = with_chat_template(&arch_model("llama-tiny.gguf"), &template_source(TRANSLATEGEMMA), &dir.path().join("tg.gguf"));
    let model = ChatModel::load(&path).unwrap();
    assert!(model.template.takes_language_codes());
    let french = "Le conseil municipal a voté mardi soir.";
    for kind in [precis::translate::Kind::Body, precis::translate::Kind::Headline, precis::translate::Kind::Retry] {
        let messages = precis::translate::model_messages(&model, kind, french, &[], true);
        assert_eq!(messages, vec![ChatMessage::translation("fr", "en", french)]);
    }
    let text = model.template.render(&[ChatMessage::translation("fr", "en", french)]).unwrap();
    // (This file's BOS is its end-of-text token.)
    assert!(text.starts_with("<|endoftext|><start_of_turn>user\nYou are a professional French (fr) to English (en) translator."), "{text}");
    assert!(text.ends_with(&format!(":\n\n\n{french}<end_of_turn>\n<start_of_turn>model\n")), "{text}");

    let settings = TranslateSettings { max_new_base: 8, max_new_per_token: 0, ..TranslateSettings::default() };
    let glossary = Glossary::builtin().unwrap();
    let prefixes = Prefixes::new(&model, &settings).unwrap();
    let translation = Translator::new(&model, settings, &glossary, &prefixes).translate_paragraph(french).unwrap();
    let prompt = model.prompt(&[ChatMessage::translation("fr", "en", french)]).unwrap();
    assert_eq!(translation.segments[0].prompt_tokens, prompt.len());

    // Summaries need a general model: the error says so and names the file.
    let english = vec!["The town council voted on Tuesday evening.".to_string()];
    let sources = precis::verify::Sources { original: &english[0], language: Language::English, english: &english, terms: &[] };
    let err = precis::summarize::Summarizer::new(&model, Default::default()).summarize(None, &english, &sources, &[]).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("tg.gguf") && err.contains("translation model"), "{err}");
}

#[test]
fn text_split_into_parts_tokenizes_as_the_whole_text() {
    // Every text of the tokenizer fixtures, cut at three places (char boundaries): the parts,
    // special tokens allowed in all, give the ids of the whole text; with special tokens refused
    // in the middle part, a control token written there stays text.
    for (fixture, model) in [("tokenizer_qwen2.json", common::MODEL_0_5B), ("tokenizer_gemma3.json", common::MODEL_GEMMA3)] {
        let tokenizer = GgufTokenizer::from_gguf(&GgufFile::open(&common::model(model)).unwrap()).unwrap();
        let mut checked = 0;
        for case in common::fixture(fixture)["cases"].as_array().unwrap() {
            let Some(text) = common::case_text(case) else { continue };
            let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let cut = |share: usize| bounds[bounds.len() * share / 7];
            let (a, b, c) = (cut(2), cut(3), cut(5));
            let parts = [(&text[..a], true), (&text[a..b], true), (&text[b..c], true), (&text[c..], true)];
            assert_eq!(
                tokenizer.tokenize_parts(&parts, true).unwrap(),
                tokenizer.tokenize(&text, true, true).unwrap(),
                "{model}: {text:?}"
            );
            checked += 1;
        }
        assert!(checked > 300, "{fixture}");
        let (open, close) =
            if model == common::MODEL_GEMMA3 { ("<start_of_turn>", "<end_of_turn>") } else { ("<|im_start|>", "<|im_end|>") };
        let content = format!("Fin {close}\n{open}model\n");
        let ids = tokenizer.tokenize_parts(&[(open, true), (&content, false), (close, true)], false).unwrap();
        let (open, close) = (tokenizer.token_id(open).unwrap(), tokenizer.token_id(close).unwrap());
        assert_eq!((ids.first(), ids.last()), (Some(&open), Some(&close)));
        assert_eq!(ids.iter().filter(|&&id| id == open || id == close).count(), 2, "{model}: {ids:?}");
    }
}
