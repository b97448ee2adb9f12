//! Checks on the article precis was first built for, a third-party news text that is not
//! shipped: it is read from `$PRECIS_SHARED/seed/article.fr.txt` (default `../shared`). Built
//! only with the `seed-tests` feature, so that `cargo test` passes from any clone;
//! `scripts/test-seed.sh` runs it where the article is present.

mod common;

use std::path::PathBuf;

use precis::engine::marian::MarianTokenizer;
use precis::engine::{GgufFile, GgufTokenizer};
use precis::segment::{split_article, split_paragraphs, split_sentences};
use precis::summarize::extractive_summary;

fn shared() -> PathBuf {
    std::env::var_os("PRECIS_SHARED").map(PathBuf::from).unwrap_or_else(|| common::repo_root().join("../shared"))
}

fn article() -> String {
    let path = shared().join("seed/article.fr.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read the seed article {}: {err}", path.display()))
}

fn non_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn the_article_has_a_title_and_25_body_paragraphs() {
    let text = article();
    let article = split_article(&text).expect("the seed article splits");
    assert!(!article.title.is_empty());
    assert_eq!(article.paragraphs.len(), 25);
    assert!(article.paragraphs.iter().all(|p| !p.is_empty()));
    let joined = format!("{}{}", article.title, article.paragraphs.concat());
    assert_eq!(non_whitespace(&joined), non_whitespace(text.trim_start_matches('\u{FEFF}')));
}

#[test]
fn sentences_of_every_paragraph_lose_nothing() {
    let text = article();
    let paragraphs = split_paragraphs(&text);
    let mut sentences = 0;
    for paragraph in &paragraphs {
        let split = split_sentences(paragraph);
        assert_eq!(non_whitespace(&split.concat()), non_whitespace(paragraph), "{paragraph}");
        sentences += split.len();
    }
    assert!(sentences > paragraphs.len());
}

#[test]
fn the_extractive_summary_is_short_and_verbatim() {
    let text = article();
    let article = split_article(&text).expect("the seed article splits");
    let summary = extractive_summary(&article.paragraphs, 5, 120);
    let sentences = split_sentences(&summary);
    assert!(!sentences.is_empty() && sentences.len() <= 5, "{summary}");
    assert!(summary.split_whitespace().count() <= 120, "{summary}");
    let source: Vec<&str> = article.paragraphs.iter().flat_map(|p| split_sentences(p)).collect();
    for sentence in &sentences {
        assert!(source.contains(sentence), "not a source sentence: {sentence}");
    }
}

/// The seed cases of the tokenizer fixtures (each paragraph and the whole article).
#[test]
fn tokenizers_equal_their_references_on_the_article() {
    let fixture = common::fixture("tokenizer_qwen2.json");
    let gguf = GgufFile::open(&common::model(common::MODEL_0_5B)).unwrap();
    let tokenizer = GgufTokenizer::from_gguf(&gguf).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in fixture["cases"].as_array().unwrap() {
        let Some(text) = common::seed_case_text(case, &shared()) else { continue };
        checked += 1;
        failures.extend(common::gguf_case_failure(&tokenizer, case, &text));
    }
    assert_eq!(checked, 27);

    let fixture = common::fixture("tokenizer_marian.json");
    let tokenizer = MarianTokenizer::from_dir(&common::marian_tokenizer_dir()).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let Some(text) = common::seed_case_text(case, &shared()) else { continue };
        checked += 1;
        failures.extend(common::marian_case_failure(&tokenizer, case, &text));
    }
    assert_eq!(checked, 54);
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
}
