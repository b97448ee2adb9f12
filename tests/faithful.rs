//! Faithfulness end to end: the glossary (built-in and `--glossary`), the checks' second
//! translations, their warnings and Markdown markers, with the real 0.5B model.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn precis() -> Command {
    Command::cargo_bin("precis").unwrap()
}

/// precis with an empty models directory and no Python to provision one: any reach for a model
/// fails at once.
fn precis_without_models(models: &Path) -> Command {
    let mut cmd = precis();
    cmd.env("PRECIS_MODELS_DIR", models).env("PRECIS_PYTHON", "/nonexistent/python3");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A bad `--glossary` file is a configuration error naming the file and the line, found before
/// any model is looked for (the models directory here is empty and provisioning would fail).
#[test]
fn a_bad_glossary_is_a_named_error_before_any_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let article = write(dir.path(), "article.fr.txt", "Grève\n\nLe syndicat a appelé à la grève mardi.\n");
    let empty_models = dir.path().join("models");
    std::fs::create_dir(&empty_models).unwrap();
    let cases = [
        ("two-fields.tsv", "# terms\nOTAN\tNATO\nBCE ECB\n", "line 3: expected two tab-separated fields"),
        ("empty-english.tsv", "OTAN\t\n", "line 1: an English form is empty"),
        ("one-field.tsv", "OTAN\tNATO\n\u{0}\n", "line 2: expected two tab-separated fields"),
    ];
    for (name, text, expected) in cases {
        let glossary = write(dir.path(), name, text);
        precis_without_models(&empty_models)
            .args(["translate", "--glossary"])
            .arg(&glossary)
            .arg(&article)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(glossary.display().to_string()).and(predicate::str::contains(expected)));
    }
    let bytes = dir.path().join("latin1.tsv");
    std::fs::write(&bytes, b"Etat\t\xC9tat\n").unwrap();
    precis_without_models(&empty_models)
        .args(["brief", "--glossary"])
        .arg(&bytes)
        .arg(&article)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("latin1.tsv").and(predicate::str::contains("not UTF-8")));
    let missing = dir.path().join("missing.tsv");
    precis_without_models(&empty_models)
        .args(["translate", "--glossary"])
        .arg(&missing)
        .arg(&article)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(missing.display().to_string()));
}

/// A user entry wins over the built-in table, and a French acronym the model leaves as it is
/// comes out in the English form the glossary gives.
#[test]
fn user_glossary_entries_put_acronyms_in_english() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let article = write(dir.path(), "article.fr.txt", "Le syndicat PQR a appelé à la grève mardi, avec le soutien de l’OTAN.\n");
    let glossary = write(dir.path(), "terms.tsv", "# ours\nPQR\tXYZ\nOTAN\tthe Alliance | NATO\n");
    let out = precis()
        .args(["translate", "--json", "--glossary"])
        .arg(&glossary)
        .arg("--model")
        .arg(common::model(common::MODEL_0_5B))
        .arg(&article)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let record: Value = serde_json::from_slice(&out).unwrap();
    let english = record["paragraphs"][0].as_str().unwrap();
    assert!(english.contains("XYZ") && !english.contains("PQR"), "{english}");
    assert!(!english.contains("OTAN"), "{english}");
    let report = &record["reports"][0];
    assert_eq!(report["paragraph"], 1);
    assert!(report["confidence"].as_f64().unwrap() < 0.0, "{report}");
}

/// An article written with the traps small models fall into: every paragraph ends up passing
/// its checks or is named in the warnings and marked in the Markdown, and a paragraph that failed
/// its first translation was translated again.
#[test]
fn paragraphs_that_fail_a_check_are_translated_again_or_marked() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::copy(common::repo_root().join("tests/fixtures/articles/traps.fr.txt"), inbox.join("traps.fr.txt")).unwrap();
    let out = dir.path().join("out");
    precis().args(["run", "--model"]).arg(common::model(common::MODEL_0_5B)).arg(&inbox).arg("--out").arg(&out).assert().success();
    let brief: Value = serde_json::from_str(&std::fs::read_to_string(out.join("traps.fr.json")).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(out.join("traps.fr.md")).unwrap();
    let warnings: Vec<&str> = brief["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    let reports = brief["paragraphs"].as_array().unwrap();
    assert_eq!(reports.len(), 5, "title + 4 paragraphs");
    let mut translated_again = 0;
    for report in reports {
        let n = report["paragraph"].as_u64().unwrap();
        let what = if n == 0 { "the title".to_string() } else { format!("paragraph {n}") };
        let findings = report["findings"].as_array().unwrap();
        let first = report.get("first_findings").and_then(Value::as_array).cloned().unwrap_or_default();
        if !first.is_empty() {
            translated_again += 1;
            assert!(["first", "retry", "sentences"].contains(&report["method"].as_str().unwrap()), "{report}");
        }
        if report["method"] != "first" {
            assert!(!first.is_empty(), "a second translation is kept only after a failed check: {report}");
        }
        for finding in findings {
            let check = finding["check"].as_str().unwrap();
            assert!(
                warnings.iter().any(|w| w.contains(&format!("{what} fails a check: {check}"))),
                "{what}: {finding} not in {warnings:?}"
            );
        }
        let doubtful = !findings.is_empty() || report["low_confidence"] == true;
        assert_eq!(markdown.contains(&format!("⚠[^{n}]")), doubtful, "{what}: marker in\n{markdown}");
        assert_eq!(markdown.contains(&format!("\n[^{n}]: ")), doubtful, "{what}: note in\n{markdown}");
    }
    assert!(translated_again > 0, "no paragraph failed its first translation: {reports:?}");
}
