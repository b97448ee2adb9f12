//! The instruction-set level of the kernels, forced from the command line or the environment:
//! the forced level is the one that runs, and it decodes the same tokens as the detected one.

mod common;

use assert_cmd::Command;

/// `bench-llm` on the 0.5B model with a short prompt: its JSON report.
fn bench(cpu_flag: Option<&str>, cpu_env: Option<&str>) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, "Le président a annoncé mardi une réforme.").unwrap();
    let mut cmd = Command::cargo_bin("precis").unwrap();
    cmd.env_remove("PRECIS_CPU");
    if let Some(level) = cpu_env {
        cmd.env("PRECIS_CPU", level);
    }
    if let Some(level) = cpu_flag {
        cmd.args(["--cpu", level]);
    }
    let model = common::model(common::MODEL_0_5B);
    let out = cmd
        .args(["-q", "bench-llm", "--threads", "2", "--n-predict", "4", "--repeat", "1", "--as-translate", "--prompt-file"])
        .arg(&prompt)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_forced_level_runs_and_decodes_what_the_detected_one_decodes() {
    let _serial = common::serial();
    let detected = bench(None, None);
    assert_eq!(detected["cpu"], precis::engine::cpu::detected().name());
    let by_flag = bench(Some("portable"), None);
    assert_eq!(by_flag["cpu"], "portable");
    // The flag wins over the environment.
    let by_env = bench(None, Some("portable"));
    assert_eq!(by_env["cpu"], "portable");
    let flag_over_env = bench(Some(precis::engine::cpu::detected().name()), Some("portable"));
    assert_eq!(flag_over_env["cpu"], precis::engine::cpu::detected().name());
    assert_eq!(by_flag["tokens"], detected["tokens"]);
    assert_eq!(by_env["tokens"], detected["tokens"]);
    assert_eq!(detected["tokens"].as_array().unwrap().len(), 4);
}
