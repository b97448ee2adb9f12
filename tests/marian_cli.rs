//! `precis translate --engine marian` as a user meets it, on the tiny checkpoints of
//! tests/fixtures/marian: JSON lines against HF's outputs, empty lines, sentences longer than
//! the position limit, and broken checkpoints failing at load time with the file and tensor named.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn precis() -> Command {
    let mut cmd = Command::cargo_bin("precis").unwrap();
    cmd.env("PRECIS_MODELS_DIR", "/nonexistent-precis-models").env("HF_HUB_OFFLINE", "1").arg("-q");
    cmd
}

fn checkpoint(name: &str) -> PathBuf {
    common::repo_root().join("tests").join("fixtures").join("marian").join(name)
}

fn flores_line(i: usize) -> String {
    common::flores_line("fra_Latn.devtest", i)
}

fn copy_checkpoint(name: &str, to: &Path) {
    for entry in std::fs::read_dir(checkpoint(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn json_lines_carry_hf_tokens_and_scores_and_empty_lines_stay_empty() {
    let _guard = common::serial();
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(checkpoint("tiny-swish").join("hf_generate.json")).unwrap()).unwrap();
    // The checkpoint's defaults (beam 4) are the fixture's "beam4" run.
    let beam4 = fixture["runs"].as_array().unwrap().iter().find(|r| r["name"] == "beam4").unwrap();
    let expected: Vec<&Value> = beam4["outputs"].as_array().unwrap().iter().take(2).collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    let line = |o: &Value| flores_line(o["line"].as_u64().unwrap() as usize);
    std::fs::write(&input, format!("{}\n\n   \n{}\n", line(expected[0]), line(expected[1]))).unwrap();
    let out = precis()
        .args(["translate", "--engine", "marian", "--model"])
        .arg(checkpoint("tiny-swish"))
        .arg("--lines")
        .arg(&input)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let records = json_lines(&out);
    assert_eq!(records.len(), 4, "one record per input line");
    for (record, want) in [(&records[0], expected[0]), (&records[3], expected[1])] {
        assert_eq!(record["tokens"], want["tokens"]);
        assert_eq!(record["text"], want["text"]);
        let diff = (record["score"].as_f64().unwrap() - want["score"].as_f64().unwrap()).abs();
        assert!(diff < 1e-4, "score differs by {diff}");
    }
    for empty in [&records[1], &records[2]] {
        assert_eq!((empty["text"].as_str(), empty["tokens"].as_array().map(Vec::len)), (Some(""), Some(0)));
        assert_eq!(empty["parts"], 0);
    }
    assert_eq!(records[3]["line"], 4);
}

#[test]
fn a_sentence_longer_than_the_position_limit_is_split_not_truncated() {
    let _guard = common::serial();
    // tiny-relu-untied has max_position_embeddings 64; FLORES line 2 is longer than that.
    let text = flores_line(2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.txt");
    std::fs::write(&input, format!("{text}\n")).unwrap();
    let out = precis()
        .args(["translate", "--engine", "marian", "--beams", "1", "--model"])
        .arg(checkpoint("tiny-relu-untied"))
        .arg("--lines")
        .arg(&input)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let record = &json_lines(&out)[0];
    let parts = record["parts"].as_u64().unwrap();
    assert!(parts >= 2, "{record}");
    // Every part produced its own EOS-terminated translation (the model copies its input).
    let tokens = record["tokens"].as_array().unwrap();
    assert_eq!(tokens.iter().filter(|t| t.as_u64() == Some(0)).count() as u64, parts, "{record}");
    assert!(record["text"].as_str().unwrap().len() > text.len() / 2, "{record}");
}

#[test]
fn a_missing_tensor_is_named_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    copy_checkpoint("tiny-swish", dir.path());
    let weights = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    tensors.remove("model.decoder.layers.1.fc2.weight").unwrap();
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "Bonjour.\n").unwrap();
    precis()
        .args(["translate", "--engine", "marian", "--model"])
        .arg(dir.path())
        .arg("--lines")
        .arg(&input)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("model.decoder.layers.1.fc2.weight").and(predicate::str::contains("model.safetensors")));
}

#[test]
fn a_vocabulary_of_another_model_is_refused_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    copy_checkpoint("tiny-swish", dir.path());
    std::fs::copy(checkpoint("tiny-relu-untied").join("vocab.json"), dir.path().join("vocab.json")).unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "Bonjour.\n").unwrap();
    precis()
        .args(["translate", "--engine", "marian", "--model"])
        .arg(dir.path())
        .arg("--lines")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("vocab.json").and(predicate::str::contains("mismatched vocabulary")));
}

#[test]
fn marian_flags_are_checked_before_any_model_loads() {
    precis().args(["brief", "article.txt", "--engine", "marian"]).assert().code(2).stderr(predicate::str::contains("--translation-model"));
    precis()
        .args(["translate", "--lines", "x.txt", "--translation-model", "some/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--engine marian"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "Bonjour.\n").unwrap();
    precis()
        .args(["translate", "--engine", "marian", "--model", "/no/such/checkpoint", "--lines"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/checkpoint"));
}

#[test]
fn a_hub_repository_resolves_from_a_seeded_cache_offline() {
    let _guard = common::serial();
    const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";
    let home = tempfile::tempdir().unwrap();
    // HF_HOME/hub/models--org--name/{snapshots/COMMIT, refs/main}, as huggingface_hub leaves it
    // (files copied rather than linked to blobs: precis reads through either).
    let repo = home.path().join("hub").join("models--precis-test--opus-mt-tiny");
    let snapshot = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
    copy_checkpoint("tiny-swish", &snapshot);
    let input = home.path().join("in.txt");
    std::fs::write(&input, format!("{}\n", flores_line(0))).unwrap();
    let run = |revision: &str| {
        let mut cmd = Command::cargo_bin("precis").unwrap();
        cmd.env("HF_HOME", home.path()).env_remove("HF_HUB_CACHE").env("HF_HUB_OFFLINE", "1");
        cmd.args(["translate", "--json", "--engine", "marian", "--model", "precis-test/opus-mt-tiny", "--revision", revision]);
        cmd.arg("--lines").arg(&input).assert()
    };
    let out = run("main").success().get_output().clone();
    let record = &json_lines(&out.stdout)[0];
    assert!(!record["text"].as_str().unwrap().is_empty(), "{record}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("precis-test/opus-mt-tiny@main"));
    run("v2").code(2).stderr(predicate::str::contains("HF_HUB_OFFLINE"));
}

/// `brief --engine marian`: the Marian checkpoint translates, the real 0.5B chat model summarizes,
/// and the record names both.
#[test]
fn brief_translates_with_marian_and_summarizes_with_the_llm() {
    let _guard = common::serial();
    let article = common::repo_root().join("examples").join("article.fr.txt");
    let out = precis()
        .args(["brief", "--json", "--engine", "marian", "--beams", "1", "--translation-model"])
        .arg(checkpoint("tiny-swish"))
        .arg("--model")
        .arg(common::model(common::MODEL_0_5B))
        .arg(&article)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let brief = &json_lines(&out)[0];
    assert_eq!(brief["translation"].as_array().unwrap().len(), 4, "{brief}");
    assert!(!brief["title"].as_str().unwrap().is_empty() && !brief["summary"].as_str().unwrap().is_empty(), "{brief}");
    let marian = &brief["translation_model"];
    assert_eq!((marian["architecture"].as_str(), marian["precision"].as_str()), (Some("marian"), Some("f32")));
    assert_eq!(marian["decoding"]["strategy"], "greedy");
    assert_eq!(marian["weights_sha256"].as_str().unwrap().len(), 64);
    assert!(brief["model"]["name"].as_str().unwrap().contains("0.5b"), "{}", brief["model"]);
    // Marian paragraphs carry their beam score as confidence, and the checks' findings.
    let reports = brief["paragraphs"].as_array().unwrap();
    assert_eq!(reports.len(), 5, "title + 4 paragraphs: {brief}");
    for report in reports {
        let confidence = report["confidence"].as_f64().unwrap();
        assert!(confidence <= 0.0 && confidence.is_finite(), "{report}");
        assert_eq!(report["method"], "first");
        assert!(report["findings"].is_array());
    }
}
