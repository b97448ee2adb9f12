//! `--model REPO_ID[:FILE]` through the standard Hugging Face cache layout, offline: a cache
//! seeded the way huggingface_hub leaves it (blobs, a snapshot of symlinks, refs/main) serves
//! the real 0.5B model without any network.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REPO: &str = "precis-test/Qwen2.5-Coder-0.5B-Instruct-GGUF";
const FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// `HF_HOME/hub/models--org--name/{blobs,snapshots/COMMIT,refs/main}` with the model linked in.
fn seed_cache(hf_home: &Path) {
    let repo = hf_home.join("hub").join(format!("models--{}", REPO.replace('/', "--")));
    let sha = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32";
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(COMMIT)).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::os::unix::fs::symlink(common::model(common::MODEL_0_5B), repo.join("blobs").join(sha)).unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{sha}"), repo.join("snapshots").join(COMMIT).join(FILE)).unwrap();
    std::fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
}

fn translate_one_line(hf_home: &Path, model: &str, revision: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("one.fr");
    std::fs::write(&lines, "Bonjour.\n").unwrap();
    Command::cargo_bin("precis")
        .unwrap()
        .env("HF_HOME", hf_home)
        .env_remove("HF_HUB_CACHE")
        .env("HF_HUB_OFFLINE", "1")
        .args(["translate", "--json", "--model", model, "--revision", revision, "--lines"])
        .arg(&lines)
        .assert()
}

#[test]
fn hub_ids_resolve_from_a_seeded_cache_offline() {
    let _serial = common::serial();
    let home = tempfile::tempdir().unwrap();
    seed_cache(home.path());

    // REPO:FILE at a branch, REPO alone (its only GGUF) at a commit hash.
    for (model, revision) in [(format!("{REPO}:{FILE}"), "main"), (REPO.to_string(), COMMIT)] {
        let assert = translate_one_line(home.path(), &model, revision).success();
        let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
        let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(record["line"], 1);
        assert!(!record["text"].as_str().unwrap().is_empty(), "{stdout}");
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(stderr.contains(&format!("{REPO}:{FILE}@{revision}")), "{stderr}");
    }

    // A revision the cache does not have is an error, not a network call.
    translate_one_line(home.path(), REPO, "v9.9")
        .code(2)
        .stderr(predicate::str::contains(format!("{REPO}@v9.9")).and(predicate::str::contains("HF_HUB_OFFLINE")));
}
