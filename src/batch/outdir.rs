//! The output directory of a batch run: locked against a second run, written only by atomic
//! renames (a killed run leaves no partial file), and read back to tell which articles are
//! already done.
//!
//! Locking uses the operating system's advisory file locks (`flock`) on `DIR/.precis.lock`:
//! the kernel releases them when the owner dies, even by `kill -9`, so a stale lock is taken
//! over by the next run without any guessing about process ids. The file records the owner's
//! pid and start time for the message that a second run prints. Sharded runs (`--shard I/N`)
//! share the directory lock and each hold `DIR/.precis.shard-I-of-N.lock` exclusively, so
//! shards of one job run side by side while a second copy of any shard is refused. They also
//! share `DIR/.precis.shards-of-N.lock`, and a shard refuses to start while shards of another N
//! hold theirs (2/3 and 1/2 would brief some articles twice and race on their outputs); a short
//! exclusive lock on `DIR/.precis.open.lock` makes that check and the locking one step.
//!
//! Temporary files are named after the run's part of the directory (`all`, or the shard), not
//! only its pid: shards on other hosts or in other containers share the directory, and their
//! pids mean nothing here. A run removes the temporary files of its own part only, which no
//! live run can be writing since it holds that part's lock; an unsharded run removes them all.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::batch::discover::Shard;
use crate::{Error, Result};

const LOCK_FILE: &str = ".precis.lock";
/// Held for a moment while a shard checks for shards of another count and takes its locks.
const OPEN_LOCK_FILE: &str = ".precis.open.lock";
/// How long a shard waits for another to finish taking its locks.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(10);
/// Marks a file being written; never a final name (ids cannot start with `.`).
const TEMP_MARK: &str = ".precis-tmp-";

pub struct OutDir {
    path: PathBuf,
    /// `all`, or `sI-of-N` for a shard: the part of the directory this run owns, in the names
    /// of its temporary files.
    part: String,
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
        let part = match shard {
            None => {
                locks.push(lock(&dir_lock, true)?);
                "all".to_string()
            }
            Some(shard) => {
                locks.push(lock(&dir_lock, false)?);
                let opening = lock_waiting(&path.join(OPEN_LOCK_FILE), OPEN_LOCK_WAIT)?;
                locks.push(lock(&path.join(shards_of(shard.count)), false)?);
                refuse_other_shard_counts(path, shard.count)?;
                let name = format!(".precis.shard-{}-of-{}.lock", shard.index, shard.count);
                locks.push(lock(&path.join(name), true)?);
                drop(opening);
                format!("s{}-of-{}", shard.index, shard.count)
            }
        };
        let out = Self { path: path.to_path_buf(), part, _locks: locks };
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
        let temp =
            self.file(&format!("{TEMP_MARK}{}-{}-{}-{name}", self.part, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
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

    /// Removes temporary files left by runs that died while writing: those of this run's part
    /// (its lock shows that no live run owns it), or all of them for an unsharded run.
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else { return };
        let own = format!("{TEMP_MARK}{}-", self.part);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_MARK) && (self.part == "all" || name.starts_with(&own)) {
                tracing::debug!("removing {}, left by a run that died", entry.path().display());
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The lock that the running shards of an N-shard split share.
fn shards_of(count: usize) -> String {
    format!(".precis.shards-of-{count}.lock")
}

/// Fails when shards of a split into another number of shards are running in `dir`.
fn refuse_other_shard_counts(dir: &Path, count: usize) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let other =
            name.strip_prefix(".precis.shards-of-").and_then(|rest| rest.strip_suffix(".lock")).and_then(|n| n.parse::<usize>().ok());
        let Some(other) = other.filter(|&other| other != count) else { continue };
        let file = File::open(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: entry.path(),
                    message: format!(
                        "shards of a split into {other} are running in this output directory; a split into {count} \
                         would brief some of their articles again: wait for them, or use --shard I/{other}"
                    ),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(entry.path(), e)),
        }
    }
    Ok(())
}

/// Locks `path` exclusively, waiting up to `limit` for its owner (a run that holds it only
/// while it takes its own locks).
fn lock_waiting(path: &Path, limit: Duration) -> Result<File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(|e| Error::io(path, e))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                    message: format!("another precis run has held this lock for over {} s while starting", limit.as_secs()),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
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
    fn shards_of_another_count_are_refused_while_shards_run() {
        let dir = tempfile::tempdir().unwrap();
        let a = OutDir::open(dir.path(), Shard::new(2, 3)).unwrap();
        let message = OutDir::open(dir.path(), Shard::new(1, 2)).err().unwrap().to_string();
        assert!(message.contains(".precis.shards-of-3.lock") && message.contains("--shard I/3"), "{message}");
        let b = OutDir::open(dir.path(), Shard::new(0, 3)).unwrap();
        drop(a);
        assert!(OutDir::open(dir.path(), Shard::new(1, 2)).is_err(), "0/3 still runs");
        drop(b);
        // Once the 3-way split is over, another split may start, and the old lock files stay
        // behind without blocking anything.
        let c = OutDir::open(dir.path(), Shard::new(1, 2)).unwrap();
        assert!(OutDir::open(dir.path(), Shard::new(0, 3)).is_err(), "1/2 runs now");
        drop(c);
        OutDir::open(dir.path(), Shard::new(0, 3)).unwrap();
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
        let stale = dir.path().join(format!("{TEMP_MARK}all-0-0-a.json"));
        std::fs::write(&stale, "partial").unwrap();
        let _out = OutDir::open(dir.path(), None).unwrap();
        assert!(!stale.exists());
    }

    /// A shard leaves other shards' temporary files alone whatever their pid: a shard on
    /// another host or in another container may be writing them, with a pid that does not
    /// exist here (or that is this process's own).
    #[test]
    fn a_shard_removes_only_its_own_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let name = |part: &str, pid: u32| dir.path().join(format!("{TEMP_MARK}{part}-{pid}-0-x.json"));
        let files = [name("s0-of-2", 0), name("s1-of-2", 0), name("s1-of-2", std::process::id()), name("s1-of-3", 0)];
        for file in &files {
            std::fs::write(file, "partial").unwrap();
        }
        let exists = || files.iter().map(|f| f.exists()).collect::<Vec<_>>();
        let zero = OutDir::open(dir.path(), Shard::new(0, 2)).unwrap();
        assert_eq!(exists(), [false, true, true, true]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(zero.write_atomic("y.json", b"{}".to_vec())).unwrap();
        drop(zero);
        OutDir::open(dir.path(), Shard::new(1, 2)).unwrap();
        assert_eq!(exists(), [false, false, false, true]);
        OutDir::open(dir.path(), None).unwrap();
        assert_eq!(exists(), [false, false, false, false]);
        assert!(dir.path().join("y.json").is_file());
    }
}
