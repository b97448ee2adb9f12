//! End to end with real models: `precis brief` on the example article.

mod common;

use assert_cmd::Command;
use precis::glossary::Glossary;
use precis::verify::{check_grounding, Sources};
use predicates::prelude::*;

const DEFAULT_SHA256: &str = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046";

fn example() -> std::path::PathBuf {
    common::repo_root().join("examples").join("article.fr.txt")
}

/// The default 1.5B model, as the README's main command runs it (JSON output).
#[test]
fn brief_json_with_the_default_model() {
    let _serial = common::serial();
    let model_dir = common::model(common::MODEL_1_5B).parent().unwrap().to_path_buf();
    let output = Command::cargo_bin("precis")
        .unwrap()
        .env("PRECIS_MODELS_DIR", &model_dir)
        .args(["brief", "--json"])
        .arg(example())
        .assert()
        .success()
        .stderr(predicate::str::contains("model loaded"))
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(output).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line:\n{stdout}");
    let brief: serde_json::Value = serde_json::from_str(&stdout).unwrap();

    let source = std::fs::read_to_string(example()).unwrap();
    let translation: Vec<&str> = brief["translation"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(translation.len(), 4, "one English paragraph per French body paragraph");
    assert_eq!(brief["source"]["paragraphs"], 4);
    assert!(translation.iter().all(|p| !p.trim().is_empty() && !p.contains("<|")), "{translation:?}");
    let title = brief["title"].as_str().unwrap();
    assert!(title.contains("Gard") && !title.contains('«'), "{title}");
    // French "1 200" must come out with English grouping.
    let english = translation.join("\n");
    assert!(english.contains("1,200"), "{english}");
    assert!(!english.contains('«') && !english.contains('»'), "{english}");

    let summary = brief["summary"].as_str().unwrap();
    assert!(!summary.is_empty() && summary.split_whitespace().count() <= 120, "{summary}");
    let glossary = Glossary::builtin().unwrap();
    let terms = glossary.terms_in(&source);
    let paragraphs: Vec<String> = std::iter::once(title).chain(translation.iter().copied()).map(str::to_string).collect();
    let grounding = check_grounding(summary, &Sources::french(&source, &paragraphs, &terms));
    assert!(grounding.is_grounded(), "summary states facts not in the article: {grounding:?}\n{summary}");
    assert!(["llm", "llm_trimmed", "lead", "extractive"].contains(&brief["summary_method"].as_str().unwrap()));
    // Every candidate summary is recorded with its checks; the one kept is marked.
    let candidates = brief["summary_candidates"].as_array().unwrap();
    assert!(!candidates.is_empty() && candidates.iter().all(|c| c["grounding"]["unsupported"].is_array()));
    assert!(brief["summary_method"] == "extractive" || candidates.iter().filter(|c| c["chosen"] == true).count() == 1);
    assert!(!brief["key_facts"].as_array().unwrap().is_empty());

    // The title (paragraph 0) and every paragraph have a confidence and their checks.
    let reports = brief["paragraphs"].as_array().unwrap();
    assert_eq!(reports.len(), 5, "title + 4 paragraphs");
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report["paragraph"], i);
        let confidence = report["confidence"].as_f64().unwrap();
        assert!((-20.0..=0.0).contains(&confidence), "{report}");
        assert_eq!(report["low_confidence"], confidence < f64::from(precis::translate::LOW_CONFIDENCE), "{report}");
        assert!(report["findings"].is_array());
    }

    assert_eq!(brief["model"]["sha256"], DEFAULT_SHA256);
    assert_eq!(brief["model"]["name"], "qwen2.5-coder-1.5b-instruct-q4_k_m");
    assert_eq!(brief["model"]["decoding"]["strategy"], "greedy");
    assert_eq!(brief["source"]["sha256"].as_str().unwrap().len(), 64);
    assert!(brief["timings_ms"]["total"].as_u64().unwrap() > 0);
}

/// Markdown on stdout, logs on stderr, with the small model and the article on stdin.
#[test]
fn brief_markdown_from_stdin() {
    let _serial = common::serial();
    let model = common::model(common::MODEL_0_5B);
    let article = std::fs::read_to_string(example()).unwrap();
    let output = Command::cargo_bin("precis")
        .unwrap()
        .args(["brief", "-", "--model"])
        .arg(&model)
        .write_stdin(article.replace('\n', "\r\n"))
        .assert()
        .success()
        .stderr(predicate::str::contains("translating"))
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(output).unwrap();
    assert!(md.starts_with("# "), "{md}");
    let summary_at = md.find("\n## Summary\n\n").expect("summary section");
    let translation_at = md.find("\n## Translation\n\n").expect("translation section");
    assert!(summary_at < translation_at);
    let body = &md[translation_at + "\n## Translation\n\n".len()..];
    // The notes on doubtful paragraphs, if any, follow a rule; one footnote per marker.
    let (body, notes) = body.split_once("\n---\n").unwrap_or((body, ""));
    assert_eq!(body.trim_end().split("\n\n").count(), 4, "{body}");
    assert_eq!(md.matches("⚠[^").count(), notes.matches("\n[^").count(), "{md}");
    assert!(!md.contains("INFO") && !md.contains("<|"), "logs or chat tokens leaked into stdout:\n{md}");
}
