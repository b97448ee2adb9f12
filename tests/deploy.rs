//! The deployment files that `docs/scheduled-jobs.md` shows are the files in `deploy/` that
//! `scripts/test-slurm.sh` submits and `scripts/check-manifests.sh` validates: each code block
//! that follows a link to one of them must be that file, byte for byte.

use std::path::Path;

const GUIDE: &str = "docs/scheduled-jobs.md";

/// The fenced code block after the first line that links to `file` (`](../file)`).
fn block_after_link(guide: &str, file: &str) -> Option<String> {
    let link = format!("](../{file})");
    let after = &guide[guide.find(&link)?..];
    let fence = after.find("\n```")? + 1;
    let body = &after[fence..];
    let body = &body[body.find('\n')? + 1..];
    let end = body.find("\n```\n")?;
    Some(format!("{}\n", &body[..end]))
}

fn check(file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join(GUIDE)).unwrap_or_else(|e| panic!("{GUIDE}: {e}"));
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let shown = block_after_link(&guide, file).unwrap_or_else(|| panic!("{GUIDE} has no code block after a link to {file}"));
    if shown != text {
        let line = shown.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(shown.lines().count().min(text.lines().count()));
        panic!("{GUIDE} shows another {file}: first difference at line {}", line + 1);
    }
}

#[test]
fn the_guide_shows_the_slurm_script_that_the_test_submits() {
    check("deploy/slurm/precis-array.sbatch");
}

#[test]
fn the_guide_shows_the_kubernetes_manifest_that_is_validated() {
    check("deploy/kubernetes/precis-cronjob.yaml");
}

#[test]
fn a_changed_block_is_noticed() {
    let guide = "see [x](../deploy/x.sh):\n\n```bash\necho a\necho b\n```\n";
    assert_eq!(block_after_link(guide, "deploy/x.sh").as_deref(), Some("echo a\necho b\n"));
    assert_eq!(block_after_link(guide, "deploy/y.sh"), None);
}
