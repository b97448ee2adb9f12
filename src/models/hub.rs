//! Hugging Face Hub models through `hf-hub`, with the standard cache layout
//! (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`) and `HF_HUB_OFFLINE`:
//! offline, or when the file is already cached for the revision, nothing touches the network.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::{Error, Result};

/// `HF_HUB_OFFLINE` set to a true value (`1`, `true`, `yes`, `on`), as huggingface_hub reads it.
pub fn offline_from_env() -> bool {
    std::env::var("HF_HUB_OFFLINE").map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")).unwrap_or(false)
}

/// The Hub cache directory, resolved like huggingface_hub does.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// The snapshot directory of `revision` (a branch or tag through `refs/`, or a commit hash).
fn snapshot_dir(cache: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let dir = repo_dir(cache, repo);
    let commit = match std::fs::read_to_string(dir.join("refs").join(revision)) {
        Ok(commit) => commit.trim().to_string(),
        Err(_) if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) => revision.to_string(),
        Err(_) => return None,
    };
    let snapshot = dir.join("snapshots").join(commit);
    snapshot.is_dir().then_some(snapshot)
}

/// Picks the GGUF file to use when the user named only a repository: the only one, or the
/// only Q4_K_M one.
fn choose_gguf(repo: &str, files: &[String]) -> Result<String> {
    let ggufs: Vec<&String> = files.iter().filter(|f| f.ends_with(".gguf")).collect();
    let q4: Vec<&&String> = ggufs.iter().filter(|f| f.to_ascii_lowercase().contains("q4_k_m")).collect();
    match (ggufs.as_slice(), q4.as_slice()) {
        ([only], _) => Ok((*only).clone()),
        (_, [only]) => Ok((**only).clone()),
        ([], _) => Err(Error::Fetch { what: repo.into(), message: "the repository has no .gguf file".into() }),
        _ => Err(Error::Fetch {
            what: repo.into(),
            message: format!(
                "several .gguf files; choose one with --model {repo}:FILE ({})",
                ggufs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Resolves `repo[:file]@revision` to a local path; returns the path and the file name.
pub fn resolve(repo: &str, file: Option<&str>, revision: &str, offline: bool, progress: bool) -> Result<(PathBuf, String)> {
    let cache = cache_dir();
    let fetch_error = |message: String| Error::Fetch { what: format!("{repo}@{revision}"), message };

    // The local cache first: a pre-seeded cache works without any network.
    if let Some(snapshot) = snapshot_dir(&cache, repo, revision) {
        let file = match file {
            Some(f) => Some(f.to_string()),
            None => {
                let names: Vec<String> = std::fs::read_dir(&snapshot)
                    .map_err(|e| Error::io(&snapshot, e))?
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect();
                choose_gguf(repo, &names).ok()
            }
        };
        if let Some(file) = file {
            let path = snapshot.join(&file);
            if path.is_file() {
                return Ok((path, file));
            }
        }
    }
    if offline {
        return Err(fetch_error(format!(
            "not in the local Hugging Face cache ({}) and HF_HUB_OFFLINE is set; download it once online, \
             or pass a local file with --model PATH",
            cache.display()
        )));
    }

    let api = ApiBuilder::from_cache(Cache::new(cache.clone()))
        .with_progress(progress)
        .build()
        .map_err(|e| fetch_error(format!("cannot start the Hub client: {e}")))?;
    let api_repo = api.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string()));
    let file = match file {
        Some(f) => f.to_string(),
        None => {
            let info = api_repo.info().map_err(|e| fetch_error(format!("listing files: {e}")))?;
            let names: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
            choose_gguf(repo, &names)?
        }
    };
    let path = api_repo.get(&file).map_err(|e| fetch_error(format!("downloading {file}: {e}")))?;
    Ok((path, file))
}

/// The files of a Marian checkpoint: every group names alternatives (the first one found is
/// used), with whether the file is required.
const MARIAN_FILES: [(&[&str], bool); 7] = [
    (&["config.json"], true),
    (&["generation_config.json"], false),
    (&["tokenizer_config.json"], false),
    (&["source.spm"], true),
    (&["target.spm"], true),
    (&["vocab.json"], true),
    (&["model.safetensors", "pytorch_model.bin"], true),
];

/// Resolves a Marian checkpoint `repo@revision` (cache first, then download unless offline)
/// to its snapshot directory.
pub fn resolve_marian(repo: &str, revision: &str, offline: bool, progress: bool) -> Result<PathBuf> {
    let mut dir = None;
    for (alternatives, required) in MARIAN_FILES {
        let mut last_error = None;
        let mut found = false;
        for file in alternatives {
            match resolve(repo, Some(file), revision, offline, progress) {
                Ok((path, _)) => {
                    dir = path.parent().map(Path::to_path_buf);
                    found = true;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if !found && required {
            if let Some(e) = last_error {
                return Err(e);
            }
        }
    }
    dir.ok_or_else(|| Error::Fetch { what: format!("{repo}@{revision}"), message: "no files resolved".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_only_or_the_q4_k_m_file() {
        let one = vec!["README.md".to_string(), "m-q8_0.gguf".to_string()];
        assert_eq!(choose_gguf("o/r", &one).unwrap(), "m-q8_0.gguf");
        let many = vec!["m-q8_0.gguf".to_string(), "m-Q4_K_M.gguf".to_string()];
        assert_eq!(choose_gguf("o/r", &many).unwrap(), "m-Q4_K_M.gguf");
        let ambiguous = vec!["a-q8_0.gguf".to_string(), "b-q6_k.gguf".to_string()];
        let err = choose_gguf("o/r", &ambiguous).unwrap_err().to_string();
        assert!(err.contains("a-q8_0.gguf") && err.contains("--model o/r:FILE"), "{err}");
        assert!(choose_gguf("o/r", &["x.bin".to_string()]).is_err());
    }

    #[test]
    fn finds_snapshots_through_refs_and_commit_hashes() {
        let cache = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let dir = repo_dir(cache.path(), "org/name");
        std::fs::create_dir_all(dir.join("refs")).unwrap();
        std::fs::create_dir_all(dir.join("snapshots").join(commit)).unwrap();
        std::fs::write(dir.join("refs").join("main"), commit).unwrap();
        let snap = dir.join("snapshots").join(commit);
        assert_eq!(snapshot_dir(cache.path(), "org/name", "main"), Some(snap.clone()));
        assert_eq!(snapshot_dir(cache.path(), "org/name", commit), Some(snap));
        assert_eq!(snapshot_dir(cache.path(), "org/name", "v2"), None);
        assert_eq!(snapshot_dir(cache.path(), "org/other", "main"), None);
    }
}
