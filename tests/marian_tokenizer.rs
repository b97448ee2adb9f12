//! The Marian tokenizer against HF `MarianTokenizer` (transformers 5), on the real
//! opus-mt-tc-big-fr-en tokenizer files (shipped in tests/fixtures), with the fixture produced by
//! `scripts/ref/marian_tokenize.py`: every FLORES devtest French line and our own edge cases
//! (the fixture's cases of a news article that is not shipped run in tests/seed.rs). Third-party
//! texts are identified in the fixture by index and sha256 only.

mod common;

use precis::engine::marian::MarianTokenizer;

fn load() -> MarianTokenizer {
    MarianTokenizer::from_dir(&common::marian_tokenizer_dir()).unwrap()
}

#[test]
fn ids_and_decoded_text_equal_hf_marian_tokenizer_on_every_case() {
    let tokenizer = load();
    let fixture = common::fixture("tokenizer_marian.json");
    let cases = fixture["cases"].as_array().unwrap();
    let flores = cases.iter().filter(|c| c["source"] == "flores-fra").count();
    assert_eq!(flores, 1012, "the fixture covers all FLORES devtest lines");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        let Some(text) = common::case_text(case) else { continue };
        checked += 1;
        failures.extend(common::marian_case_failure(&tokenizer, case, &text));
    }
    assert_eq!(checked, 1012 + 27, "FLORES lines and our own cases");
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), checked, failures.join("\n"));
}

#[test]
fn special_ids_come_from_vocab_json() {
    let tokenizer = load();
    assert_eq!((tokenizer.eos_id(), tokenizer.unk_id(), tokenizer.pad_id()), (43311, 50387, 53016));
    assert_eq!(tokenizer.encode("").unwrap(), vec![43311]);
}

#[test]
fn a_vocabulary_without_unk_is_refused_by_file_name() {
    let files = common::marian_tokenizer_dir();
    let dir = tempfile::tempdir().unwrap();
    for file in ["source.spm", "target.spm", "tokenizer_config.json"] {
        std::fs::copy(files.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("vocab.json"), r#"{"</s>": 0, "<pad>": 1}"#).unwrap();
    let err = MarianTokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("vocab.json") && err.contains("<unk>"), "{err}");
    std::fs::remove_file(dir.path().join("source.spm")).unwrap();
    let err = MarianTokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("source.spm"), "{err}");
}
