//! The command line as a user meets it: exit codes, messages naming the file and the problem,
//! stdout kept for data. These cases fail before any model is loaded.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn precis() -> Command {
    let mut cmd = Command::cargo_bin("precis").unwrap();
    // Never provision the default model from these tests.
    cmd.env("PRECIS_MODELS_DIR", "/nonexistent-precis-models").env("HF_HUB_OFFLINE", "1");
    cmd
}

#[test]
fn no_arguments_is_a_usage_error() {
    precis().assert().code(2).stdout("").stderr(predicate::str::contains("Usage"));
}

#[test]
fn help_lists_the_commands() {
    precis()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("brief").and(predicate::str::contains("translate")).and(predicate::str::contains("summarize")));
}

#[test]
fn missing_article_names_the_path_and_exits_1() {
    precis()
        .args(["brief", "/no/such/article.txt"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("/no/such/article.txt").and(predicate::str::contains("cannot read")));
}

#[test]
fn empty_and_whitespace_articles_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("empty.txt", &b""[..]), ("blank.txt", &b" \n\r\n\t \n"[..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        precis()
            .arg("brief")
            .arg(&path)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains(name).and(predicate::str::contains("empty")));
    }
}

#[test]
fn empty_stdin_exits_1() {
    precis().args(["translate", "-"]).write_stdin("").assert().code(1).stderr(predicate::str::contains("-: is empty"));
}

#[test]
fn binary_and_non_utf8_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("image.bin");
    std::fs::write(&bin, [0x89, b'P', b'N', b'G', 0, 0, 0, 13]).unwrap();
    precis()
        .arg("translate")
        .arg(&bin)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("image.bin").and(predicate::str::contains("binary")));
    // Neither UTF-8 nor plausible text in an 8-bit encoding (C1 control characters).
    // (French in Windows-1252 is decoded with a warning: see the unit tests of src/input.rs.)
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, b"Le caf\x81\x8d\x90 \x9d.").unwrap();
    precis()
        .arg("translate")
        .arg(&garbage)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("garbage.txt").and(predicate::str::contains("UTF-8")));
}

#[test]
fn title_without_body_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("title-only.txt");
    std::fs::write(&path, "Un titre seul\n").unwrap();
    precis()
        .arg("brief")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("title-only.txt").and(predicate::str::contains("no body")));
}

#[test]
fn directory_as_article_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    precis().arg("brief").arg(dir.path()).assert().code(1).stderr(predicate::str::contains("directory"));
}

#[test]
fn missing_model_file_exits_2_and_names_it() {
    let article = common::repo_root().join("examples/article.fr.txt");
    precis()
        .args(["brief", "--model", "/no/such/model.gguf"])
        .arg(&article)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("/no/such/model.gguf").and(predicate::str::contains("no such model file")));
}

#[test]
fn a_non_gguf_model_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.gguf");
    std::fs::write(&fake, b"this is not a gguf file at all").unwrap();
    let article = common::repo_root().join("examples/article.fr.txt");
    precis()
        .arg("brief")
        .arg("--model")
        .arg(&fake)
        .arg(&article)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("fake.gguf").and(predicate::str::contains("GGUF")));
}

#[test]
fn a_truncated_gguf_model_file_exits_2_naming_the_file_and_the_tensor() {
    // The real 0.5B model's first 16 MB: a whole header, then tensors that stop short.
    let mut head = vec![0u8; 16 << 20];
    let mut file = std::fs::File::open(common::model(common::MODEL_0_5B)).unwrap();
    std::io::Read::read_exact(&mut file, &mut head).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &head).unwrap();
    let article = common::repo_root().join("examples/article.fr.txt");
    precis().arg("brief").arg("--model").arg(&cut).arg(&article).assert().code(2).stderr(
        predicate::str::contains("cut.gguf")
            .and(predicate::str::contains("tensor `"))
            .and(predicate::str::contains("past the end of the file")),
    );
}

#[test]
fn uncached_hub_model_offline_exits_2_with_advice() {
    let cache = tempfile::tempdir().unwrap();
    let article = common::repo_root().join("examples/article.fr.txt");
    precis()
        .env("HF_HOME", cache.path())
        .env_remove("HF_HUB_CACHE")
        .args(["brief", "--model", "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"])
        .arg(&article)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF@main").and(predicate::str::contains("HF_HUB_OFFLINE")));
}

#[test]
fn unknown_cpu_levels_are_named_with_the_accepted_ones() {
    for args in [&["--cpu", "neon", "translate", "-"][..], &["translate", "-"]] {
        let mut cmd = precis();
        if args.len() == 2 {
            cmd.env("PRECIS_CPU", "neon");
        }
        let from = if args.len() == 2 { "PRECIS_CPU" } else { "--cpu" };
        cmd.args(args)
            .write_stdin("x")
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(from).and(predicate::str::contains("`neon`")).and(predicate::str::contains("portable, avx2")));
    }
}

#[test]
fn zero_threads_is_rejected() {
    precis().args(["translate", "--threads", "0", "-"]).write_stdin("x").assert().code(2).stderr(predicate::str::contains("--threads"));
}

#[test]
fn beams_out_of_range_are_rejected_before_any_model_is_loaded() {
    for beams in ["0", "257", "1099511627776"] {
        precis()
            .args(["translate", "--engine", "marian", "--model", "no-such-dir", "--beams", beams, "-"])
            .write_stdin("x")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--beams"));
    }
}

#[test]
fn english_and_german_articles_are_refused_naming_the_language() {
    let english = "Bridge closed in Lyon\n\nThe Lafayette bridge in Lyon has been closed to traffic since Tuesday \
                   for works that will last three weeks, the metropolitan authority announced.\n";
    precis()
        .args(["brief", "-"])
        .write_stdin(english)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("is in English (eng), not French").and(predicate::str::contains("--force-language")));
    let german = "Brücke gesperrt\n\nDie Brücke in Lyon ist seit Dienstag für den Verkehr gesperrt, die Bauarbeiten \
                  werden drei Wochen dauern, teilte die Metropole mit.\n";
    precis().args(["translate", "-"]).write_stdin(german).assert().code(1).stderr(predicate::str::contains("is in German (deu)"));
}

#[test]
fn inputs_over_max_bytes_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "Titre\n\nUn paragraphe assez long pour dépasser la limite.\n").unwrap();
    precis()
        .args(["brief", "--max-bytes", "10"])
        .arg(&big)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("big.txt: is too large").and(predicate::str::contains("limit 10")));
}

#[test]
fn bad_shard_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    precis()
        .args(["run", "--shard", "4/4", "--out"])
        .arg(dir.path().join("out"))
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--shard \"4/4\""));
    precis()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(dir.path())
        .env("JOB_COMPLETION_INDEX", "1")
        .env_remove("JOB_COMPLETIONS")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("JOB_COMPLETIONS is not"));
}

#[test]
#[cfg(target_os = "linux")]
fn the_default_model_goes_to_the_user_data_directory_whatever_the_working_directory() {
    // Without PRECIS_MODELS_DIR, the models directory is precis/models under XDG_DATA_HOME: a
    // missing default model is fetched there (here the fetch fails at once: no Python), not into
    // the directory precis runs from.
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cwd = home.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::cargo_bin("precis").unwrap();
    cmd.env_remove("PRECIS_MODELS_DIR")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &data)
        .env("PRECIS_PYTHON", "/nonexistent/python3")
        .current_dir(&cwd)
        .arg("fetch-models")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(data.join("precis/models").display().to_string()).and(predicate::str::contains("pip")));
    assert!(data.join("precis/models").is_dir());
    assert!(!cwd.join("models").exists());
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definition() {
    let bash = precis().args(["generate", "bash"]).assert().success().get_output().stdout.clone();
    let bash = String::from_utf8(bash).unwrap();
    assert!(bash.contains("complete") && bash.contains("--glossary") && bash.contains("fetch-models"), "{bash}");
    let man = precis().args(["generate", "man"]).assert().success().get_output().stdout.clone();
    let man = String::from_utf8(man).unwrap();
    assert!(man.starts_with(".ie") && man.contains(".TH precis 1") && man.contains("brief"), "{man}");
    precis().args(["generate", "tcsh"]).assert().code(2).stderr(predicate::str::contains("tcsh"));
}

#[test]
fn each_command_has_a_one_line_summary() {
    let help = precis().arg("--help").assert().success().get_output().stdout.clone();
    let help = String::from_utf8(help).unwrap();
    let commands = help.split("Commands:").nth(1).unwrap().split("Options:").next().unwrap();
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.len() < 110, "a summary longer than a line: {line}");
    }
}

#[test]
fn each_command_lists_only_the_options_that_apply_to_it() {
    let help = |command: &str| {
        let out = precis().args([command, "--help"]).assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap()
    };
    for command in ["brief", "translate", "run"] {
        let text = help(command);
        for option in ["--model", "--threads", "--max-bytes", "--glossary", "--plain", "--engine", "--beams", "--quiet"] {
            assert!(text.contains(option), "`{command} --help` lacks {option}:\n{text}");
        }
    }
    let summarize = help("summarize");
    assert!(summarize.contains("--model") && summarize.contains("--max-bytes"), "{summarize}");
    for option in ["--glossary", "--plain", "--engine", "--beams", "--shard"] {
        assert!(!summarize.contains(option), "`summarize --help` lists {option}:\n{summarize}");
    }
    let fetch = help("fetch-models");
    assert!(!fetch.contains("--model") && !fetch.contains("--glossary"), "{fetch}");
    let bench = help("bench-llm");
    assert!(bench.contains("--model") && !bench.contains("--beams") && !bench.contains("--glossary"), "{bench}");
    // Options of a command go after it.
    precis().args(["--threads", "2", "translate", "-"]).assert().code(2).stderr(predicate::str::contains("--threads"));
}
