//! The output directory of a batch run: locked against a second run, written only by atomic
//! renames (a killed run leaves no partial file), and read back to tell which articles are
//! already done.
//!
//! Locking uses the operating system's advisory file locks (`flock`) on `DIR/.precis.lock`:
//! the kernel releases them when the owner dies, even by `kill -9`, so a stale lock is taken
//! over by the next run without any guessing about process ids. The file records the owner's
//! pid and start time for the message that a second run prints. Sharded runs (`--shard I/N`)
//! share the directory lock and each hold `DIR/.precis.shard-I-of-N.lock` exclusively, so
//! shards of one job run side by side while a second copy of any shard is refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::discover::Shard;
use crate::{Error, Result};

const LOCK_FILE: &str = ".precis.lock";
/// Marks a file being written; never a final name (ids cannot start with `.`).
const TEMP_MARK: &str = ".precis-tmp-";

pub struct OutDir {
    path: PathBuf,
    /// Held for the life of the run; dropping them releases the locks.
    _locks: Vec<File>,
}

impl OutDir {
    /// Creates `path` if needed and locks it for this run; fails fast, naming the owner, when
    /// another run holds it.
    pub fn open(path: &Path, shard: Option<Shard>) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let dir_lock = path.join(LOCK_FILE);
        let mut locks = Vec::new();
        match shard {
            None => locks.push(lock(&dir_lock, true)?),
            Some(shard) => {
                locks.push(lock(&dir_lock, false)?);
                let name = format!(".precis.shard-{}-of-{}.lock", shard.index, shard.count);
                locks.push(lock(&path.join(name), true)?);
            }
        }
        let out = Self { path: path.to_path_buf(), _locks: locks };
        out.remove_stale_temp_files();
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `bytes` to `DIR/name` through a temporary file in DIR, flushed to disk and then
    /// renamed over the target: readers see the old file or the new one, never a mix.
    pub async fn write_atomic(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = self.file(name);
        let temp = self.file(&format!("{TEMP_MARK}{}-{}-{name}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&temp, &target).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(Error::io(target, e));
        }
        Ok(())
    }

    /// The fingerprint recorded in `DIR/<id>.json`, if that record and `DIR/<id>.md` both exist
    /// (the JSON is written last, so its presence means the article was finished).
    pub fn recorded_fingerprint(&self, id: &str) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Recorded {
            fingerprint: Option<String>,
        }
        if !self.file(&format!("{id}.md")).is_file() {
            return None;
        }
        let text = std::fs::read(self.file(&format!("{id}.json"))).ok()?;
        serde_json::from_slice::<Recorded>(&text).ok()?.fingerprint
    }

    /// Removes temporary files left by runs that died while writing (their pid is gone).
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(TEMP_MARK) else { continue };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                tracing::debug!("removing {}, left by a run that died", entry.path().display());
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Locks `path` (exclusive or shared) without waiting, recording our pid when exclusive.
fn lock(path: &Path, exclusive: bool) -> Result<File> {
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(|e| Error::io(path, e))?;
    let attempt = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match attempt {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(path).unwrap_or_default();
            let owner = owner.trim();
            let owner = if owner.is_empty() { String::from("another precis run") } else { format!("another precis run ({owner})") };
            return Err(Error::Locked {
                path: path.to_path_buf(),
                message: format!("{owner} is using this output directory; wait for it to finish or choose another --out"),
            });
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
    }
    if exclusive {
        let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let record = format!("pid {} on {}, started {started}\n", std::process::id(), hostname());
        // The lock is ours; the owner line is for other runs' messages only.
        let _ = file.set_len(0).and_then(|_| file.write_all(record.as_bytes())).and_then(|_| file.flush());
    }
    Ok(file)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutDir::open(dir.path(), None).unwrap();
        let err = OutDir::open(dir.path(), None).err().unwrap();
        let message = err.to_string();
        assert!(message.contains(".precis.lock") && message.contains(&format!("pid {}", std::process::id())), "{message}");
        // Shards need the directory lock too.
        assert!(OutDir::open(dir.path(), Shard::new(0, 2)).is_err());
        drop(first);
        let a = OutDir::open(dir.path(), Shard::new(0, 2)).unwrap();
        let b = OutDir::open(dir.path(), Shard::new(1, 2)).unwrap();
        assert!(OutDir::open(dir.path(), Shard::new(1, 2)).is_err(), "a shard twice");
        assert!(OutDir::open(dir.path(), None).is_err(), "an unsharded run beside shards");
        drop((a, b));
        OutDir::open(dir.path(), None).unwrap();
    }

    #[test]
    fn atomic_writes_and_recorded_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutDir::open(dir.path(), None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(out.write_atomic("a.json", br#"{"fingerprint": "abc", "title": "t"}"#.to_vec())).unwrap();
        // The Markdown is written first; without it the article is not done.
        assert_eq!(out.recorded_fingerprint("a"), None);
        rt.block_on(out.write_atomic("a.md", b"# t\n".to_vec())).unwrap();
        assert_eq!(out.recorded_fingerprint("a").as_deref(), Some("abc"));
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.contains(TEMP_MARK)), "{names:?}");
    }

    #[test]
    fn temp_files_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 is never a live run's.
        let stale = dir.path().join(format!("{TEMP_MARK}0-0-a.json"));
        std::fs::write(&stale, "partial").unwrap();
        let _out = OutDir::open(dir.path(), None).unwrap();
        assert!(!stale.exists());
    }
}
