//! SHA-256 of model files, remembered in a `<file>.sha256` sidecar (keyed by size and
//! modification time) so that a 1 GB model is hashed once, not on every run.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::progress::bytes_bar;
use crate::{Error, Result};

fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// `size mtime_ns` of a file, the key under which its hash is remembered.
fn stamp(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    Ok(format!("{} {}", meta.len(), mtime))
}

/// Hex SHA-256 of a file's bytes, from the sidecar when it is still valid.
pub fn file_sha256(path: &Path, progress: bool) -> Result<String> {
    let stamp = stamp(path)?;
    let side = sidecar(path);
    if let Ok(text) = std::fs::read_to_string(&side) {
        if let Some((hash, rest)) = text.trim().split_once(' ') {
            if rest == stamp && hash.len() == 64 {
                return Ok(hash.to_string());
            }
        }
    }
    let hash = hash_file(path, progress)?;
    // The sidecar is a cache: a read-only directory (e.g. a shared HF cache) just means no cache.
    let _ = std::fs::write(&side, format!("{hash} {stamp}\n"));
    Ok(hash)
}

/// Hashes a file from scratch, with a byte progress bar on stderr when `progress` is set.
pub fn hash_file(path: &Path, progress: bool) -> Result<String> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let bar = if progress { bytes_bar(len, "checksum") } else { ProgressBar::hidden() };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_content_and_reuses_the_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, b"abc").unwrap();
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(file_sha256(&path, false).unwrap(), expected);
        let side = std::fs::read_to_string(sidecar(&path)).unwrap();
        assert!(side.starts_with(expected), "{side}");
        assert_eq!(file_sha256(&path, false).unwrap(), expected);
        // Changed content (and size) invalidates the sidecar.
        std::fs::write(&path, b"abcd").unwrap();
        assert_ne!(file_sha256(&path, false).unwrap(), expected);
    }
}
