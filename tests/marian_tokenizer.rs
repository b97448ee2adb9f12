//! The Marian tokenizer against HF `MarianTokenizer` (transformers 5), on the real
//! opus-mt-tc-big-fr-en tokenizer files in ../shared, with the fixture produced by
//! `scripts/ref/marian_tokenize.py`: every FLORES devtest French line, the seed article (each
//! paragraph and whole) and our own edge cases. Third-party texts are read from ../shared and
//! identified in the fixture by index and sha256 only.

mod common;

use precis::engine::marian::MarianTokenizer;
use sha2::{Digest, Sha256};

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn load() -> MarianTokenizer {
    let dir = common::repo_root().join("..").join("shared").join("tokenizers").join("opus-mt-tc-big-fr-en");
    MarianTokenizer::from_dir(&dir).unwrap()
}

#[test]
fn ids_and_decoded_text_equal_hf_marian_tokenizer_on_every_case() {
    let tokenizer = load();
    let fixture = common::fixture("tokenizer_marian.json");
    let cases = fixture["cases"].as_array().unwrap();
    let flores = cases.iter().filter(|c| c["source"] == "flores-fra").count();
    assert_eq!(flores, 1012, "the fixture covers all FLORES devtest lines");
    let mut failures = Vec::new();
    for case in cases {
        let text = common::case_text(case);
        if let Some(sha) = case["text_sha256"].as_str() {
            assert_eq!(sha256(&text), sha, "rebuilt text differs: {case}");
        }
        let expected = common::ids(&case["ids"]);
        let got = tokenizer.encode(&text).unwrap();
        if got != expected {
            failures.push(format!("encode {}: got {got:?}\n expected {expected:?}", case["name"].as_str().unwrap_or(&case.to_string())));
            continue;
        }
        let decoded = tokenizer.decode(&got);
        let matches = match case["decoded"].as_str() {
            Some(want) => decoded == want,
            None => Some(sha256(&decoded).as_str()) == case["decoded_sha256"].as_str(),
        };
        if !matches {
            failures.push(format!("decode {case}: got {decoded:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn special_ids_come_from_vocab_json() {
    let tokenizer = load();
    assert_eq!((tokenizer.eos_id(), tokenizer.unk_id(), tokenizer.pad_id()), (43311, 50387, 53016));
    assert_eq!(tokenizer.encode("").unwrap(), vec![43311]);
}

#[test]
fn a_vocabulary_without_unk_is_refused_by_file_name() {
    let shared = common::repo_root().join("..").join("shared").join("tokenizers").join("opus-mt-tc-big-fr-en");
    let dir = tempfile::tempdir().unwrap();
    for file in ["source.spm", "target.spm", "tokenizer_config.json"] {
        std::fs::copy(shared.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("vocab.json"), r#"{"</s>": 0, "<pad>": 1}"#).unwrap();
    let err = MarianTokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("vocab.json") && err.contains("<unk>"), "{err}");
    std::fs::remove_file(dir.path().join("source.spm")).unwrap();
    let err = MarianTokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("source.spm"), "{err}");
}
