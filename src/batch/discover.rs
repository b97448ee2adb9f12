//! What a batch run works on: its inputs (article files, directories of them, JSONL files of
//! `{"id": ..., "text": ...}` records, `-` for JSONL on standard input) turned into articles
//! with ids that are safe as file names and unique in the run, and the deterministic share of
//! them that one shard processes.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Extensions of article files picked up when walking a directory.
const ARTICLE_EXTENSIONS: &[&str] = &["txt", "md", "markdown", "html", "htm"];
/// Extensions of JSONL record files (given directly or found in a directory).
const JSONL_EXTENSIONS: &[&str] = &["jsonl", "ndjson"];
/// Longest id in bytes; longer ones are cut and made unique with a hash of the original.
const MAX_ID_BYTES: usize = 100;

/// Where an article's text comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An article file, read when its turn comes.
    File(PathBuf),
    /// A JSONL record's text, already read.
    Record { text: String },
    /// Something that could not be read as an article; the reason is the error to report.
    Unusable { reason: String },
}

/// One article of a batch run.
#[derive(Debug, Clone)]
pub struct Item {
    /// Safe, unique in the run: outputs are `<id>.json` and `<id>.md`.
    pub id: String,
    /// Where it came from, for messages: a path, or `path:line` for a JSONL record.
    pub origin: String,
    pub source: Source,
    /// What the user should know about the id (e.g. it was changed to be safe or unique).
    pub notes: Vec<String>,
}

/// The articles named by `inputs`, in order: each input in turn, directories walked in file
/// name order. `exclude` (the output directory) is never walked into.
pub fn discover(inputs: &[String], exclude: &Path, max_bytes: u64) -> Vec<Item> {
    let exclude = exclude.canonicalize().ok();
    let mut ids = IdSet::default();
    let mut items = Vec::new();
    for input in inputs {
        if input == "-" {
            let stdin = std::io::stdin();
            read_records("-", "stdin", stdin.lock(), max_bytes, &mut ids, &mut items);
            continue;
        }
        let path = Path::new(input);
        if path.is_dir() {
            walk(path, exclude.as_deref(), max_bytes, &mut ids, &mut items);
        } else if is_jsonl(path) {
            read_jsonl_file(path, max_bytes, &mut ids, &mut items);
        } else {
            let raw = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let source = if path.exists() {
                Source::File(path.to_path_buf())
            } else {
                Source::Unusable { reason: "no such file or directory".into() }
            };
            items.push(ids.item(&raw, input.clone(), source));
        }
    }
    items
}

fn walk(dir: &Path, exclude: Option<&Path>, max_bytes: u64, ids: &mut IdSet, items: &mut Vec<Item>) {
    let walker = walkdir::WalkDir::new(dir).sort_by_file_name().into_iter().filter_entry(|entry| {
        let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
        let excluded = exclude.is_some_and(|ex| entry.path().canonicalize().is_ok_and(|p| p == ex));
        !hidden && !excluded
    });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let origin = e.path().unwrap_or(dir).display().to_string();
                let reason = format!("cannot read: {}", e.io_error().map_or(e.to_string(), |io| io.to_string()));
                items.push(ids.item(&origin, origin.clone(), Source::Unusable { reason }));
                continue;
            }
        };
        let path = entry.path();
        if !entry.file_type().is_file() {
            continue;
        }
        if is_jsonl(path) {
            read_jsonl_file(path, max_bytes, ids, items);
            continue;
        }
        let is_article =
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| ARTICLE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !is_article {
            continue;
        }
        // The id is the path below the directory, without the extension: `2026/11/a.txt` -> `2026_11_a`.
        let relative = path.strip_prefix(dir).unwrap_or(path).with_extension("");
        let raw = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("_");
        items.push(ids.item(&raw, path.display().to_string(), Source::File(path.to_path_buf())));
    }
}

fn is_jsonl(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| JSONL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_jsonl_file(path: &Path, max_bytes: u64, ids: &mut IdSet, items: &mut Vec<Item>) {
    let origin = path.display().to_string();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match std::fs::File::open(path) {
        Ok(file) => read_records(&origin, &stem, std::io::BufReader::new(file), max_bytes, ids, items),
        Err(e) => items.push(ids.item(&stem, origin, Source::Unusable { reason: format!("cannot read: {e}") })),
    }
}

#[derive(serde::Deserialize)]
struct Record {
    id: Option<serde_json::Value>,
    text: Option<serde_json::Value>,
}

/// One item per non-blank line; a line that is not a usable record becomes an unusable item
/// (reported as failed), and the rest goes on.
fn read_records(origin: &str, stem: &str, mut reader: impl BufRead, max_bytes: u64, ids: &mut IdSet, items: &mut Vec<Item>) {
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let line_origin = format!("{origin}:{number}");
        let fallback_id = format!("{stem}-{number}");
        // Lines are read with a bound: a record over the limit is skipped without holding it.
        let read = std::io::Read::take(&mut reader, max_bytes + 2).read_until(b'\n', &mut line);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let reason = format!("cannot read: {e}");
                items.push(ids.item(&fallback_id, line_origin, Source::Unusable { reason }));
                break;
            }
        }
        let complete = line.ends_with(b"\n");
        if (line.len() - complete as usize) as u64 > max_bytes {
            let reason = format!("record is larger than the --max-bytes limit of {max_bytes} bytes");
            items.push(ids.item(&fallback_id, line_origin, Source::Unusable { reason }));
            // Skip the rest of the over-long line without holding it.
            if !complete && skip_line(&mut reader).is_err() {
                break;
            }
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (id, source) = match serde_json::from_slice::<Record>(&line) {
            Err(e) => (fallback_id, Source::Unusable { reason: format!("not a JSON record: {e}") }),
            Ok(record) => {
                let id = match record.id {
                    Some(serde_json::Value::String(s)) => s,
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => fallback_id,
                };
                let source = match record.text {
                    Some(serde_json::Value::String(text)) => Source::Record { text },
                    _ => Source::Unusable { reason: "record has no \"text\" string".into() },
                };
                (id, source)
            }
        };
        items.push(ids.item(&id, line_origin, source));
    }
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Ids given out so far in this run (compared case-insensitively, for case-insensitive file systems).
#[derive(Default)]
struct IdSet {
    taken: HashSet<String>,
}

impl IdSet {
    fn item(&mut self, raw: &str, origin: String, source: Source) -> Item {
        let mut notes = Vec::new();
        let safe = sanitize_id(raw);
        if safe != raw {
            notes.push(format!("id {raw:?} was changed to {safe:?} to be a safe file name"));
        }
        let mut id = safe.clone();
        let mut n = 2;
        while !self.taken.insert(id.to_lowercase()) {
            id = format!("{safe}-{n}");
            n += 1;
        }
        if id != safe {
            notes.push(format!("id {safe:?} was already taken in this run; written as {id:?}"));
        }
        Item { id, origin, source, notes }
    }
}

/// A file-name-safe id: letters, digits, `-`, `_` and `.` only (others become `_`), never
/// starting with `.` or `-`, never a reserved name, at most [`MAX_ID_BYTES`] bytes.
pub fn sanitize_id(raw: &str) -> String {
    let mut id = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' };
        if !(c == '_' && id.ends_with('_')) {
            id.push(c);
        }
    }
    let id = id.trim_start_matches(['.', '-', '_']).trim_end_matches(['.', '_']);
    let mut id = if id.is_empty() { "article".to_string() } else { id.to_string() };
    // `report` would collide with the run's report.json.
    if id.eq_ignore_ascii_case("report") || id.to_ascii_lowercase().starts_with("report.") {
        id = format!("article-{id}");
    }
    if id.len() > MAX_ID_BYTES {
        let hash = hex::encode(&Sha256::digest(raw.as_bytes())[..4]);
        let mut cut = MAX_ID_BYTES - hash.len() - 1;
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        id = format!("{}-{hash}", id[..cut].trim_end_matches(['.', '_']));
    }
    id
}

/// A deterministic share of the articles: those whose id hashes to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// From 0 to `count - 1`.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (0 <= I < N).
    pub fn parse(value: &str) -> Result<Self> {
        let bad = || Error::Config(format!("--shard {value:?}: expected I/N with 0 <= I < N, e.g. 0/4"));
        let (i, n) = value.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        Self::new(index, count).ok_or_else(bad)
    }

    pub fn new(index: usize, count: usize) -> Option<Self> {
        (count > 0 && index < count).then_some(Self { index, count })
    }

    /// The shard set by a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the number of
    /// completions in `JOB_COMPLETIONS`, which the manifest sets) or a Slurm job array
    /// (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`).
    /// Returns the shard and the variable it came from.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Self, &'static str)>> {
        let number = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| Error::Config(format!("{name}={v:?} is not a non-negative integer"))),
            }
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number("JOB_COMPLETIONS")?.ok_or_else(|| {
                Error::Config("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: set it to the Job's spec.completions".into())
            })?;
            let shard = Self::new(index, count)
                .ok_or_else(|| Error::Config(format!("JOB_COMPLETION_INDEX={index} is not below JOB_COMPLETIONS={count}")))?;
            return Ok(Some((shard, "JOB_COMPLETION_INDEX")));
        }
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .ok_or_else(|| Error::Config("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".into()))?;
            // Only a whole contiguous array numbers its shards from MIN: `--array=1,3` (MIN 1,
            // MAX 3, COUNT 2) or `--array=0-6:2` (STEP 2) would brief some shards twice and
            // others never. Slurm sets MAX and STEP for every array.
            let (max, step) = (number("SLURM_ARRAY_TASK_MAX")?, number("SLURM_ARRAY_TASK_STEP")?);
            let contiguous = step.is_none_or(|step| step == 1) && max.is_none_or(|max| Some(max) == (min + count).checked_sub(1));
            if !contiguous {
                return Err(Error::Config(format!(
                    "SLURM_ARRAY_TASK_ID={task}: the array (SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_MAX={}, \
                     SLURM_ARRAY_TASK_STEP={}, SLURM_ARRAY_TASK_COUNT={count}) is not contiguous, so its task ids are not \
                     shard numbers: submit --array=0-{} or give --shard I/N (deploy/slurm/precis-array.sbatch does)",
                    max.map_or("unset".into(), |m| m.to_string()),
                    step.map_or("unset".into(), |s| s.to_string()),
                    count.saturating_sub(1)
                )));
            }
            let shard = task.checked_sub(min).and_then(|index| Self::new(index, count)).ok_or_else(|| {
                Error::Config(format!(
                    "SLURM_ARRAY_TASK_ID={task} minus SLURM_ARRAY_TASK_MIN={min} is not below SLURM_ARRAY_TASK_COUNT={count} \
                     (use a contiguous array such as --array=0-{})",
                    count.saturating_sub(1)
                ))
            })?;
            return Ok(Some((shard, "SLURM_ARRAY_TASK_ID")));
        }
        Ok(None)
    }

    /// Whether this shard processes the article with this id (a stable hash: the same id lands
    /// in the same shard on every machine and every version).
    pub fn contains(&self, id: &str) -> bool {
        let digest = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % self.count as u64) as usize == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_output_directory() {
        assert_eq!(sanitize_id("../x"), "x");
        assert_eq!(sanitize_id("/etc/passwd"), "etc_passwd");
        assert_eq!(sanitize_id("a/../../b"), "a_.._.._b");
        assert_eq!(sanitize_id(".."), "article");
        assert_eq!(sanitize_id(".hidden"), "hidden");
        assert_eq!(sanitize_id("nul\0byte"), "nul_byte");
        assert_eq!(sanitize_id("-rf"), "rf");
        assert_eq!(sanitize_id(""), "article");
        assert_eq!(sanitize_id("Élection à Lyon"), "Élection_à_Lyon");
        assert_eq!(sanitize_id("report"), "article-report");
        for id in ["../x", "a/../../b", "C:\\x", "a\\..\\b"] {
            let safe = sanitize_id(id);
            assert!(!safe.contains('/') && !safe.contains('\\') && !safe.starts_with('.'), "{safe}");
        }
    }

    #[test]
    fn long_ids_are_cut_and_stay_distinct() {
        let a = sanitize_id(&"é".repeat(300));
        let b = sanitize_id(&format!("{}x", "é".repeat(300)));
        assert!(a.len() <= MAX_ID_BYTES && b.len() <= MAX_ID_BYTES, "{} {}", a.len(), b.len());
        assert_ne!(a, b);
    }

    #[test]
    fn duplicate_ids_get_a_suffix() {
        let mut ids = IdSet::default();
        let source = || Source::Record { text: String::new() };
        assert_eq!(ids.item("a", "x:1".into(), source()).id, "a");
        let second = ids.item("A", "x:2".into(), source());
        assert_eq!(second.id, "A-2");
        assert!(second.notes[0].contains("already taken"), "{:?}", second.notes);
        assert_eq!(ids.item("a", "x:3".into(), source()).id, "a-3");
    }

    #[test]
    fn jsonl_records_bad_lines_and_limits() {
        let input = "{\"id\": \"un\", \"text\": \"Bonjour\"}\n\n{\"id\": 7, \"text\": \"Salut\"}\nnot json\n\
                     {\"id\": \"sans-texte\"}\n{\"text\": \"anonyme\"}\n{\"id\": \"gros\", \"text\": \"0123456789012345678901234567890123456789\"}\n{\"id\": \"fin\", \"text\": \"x\"}";
        let mut ids = IdSet::default();
        let mut items = Vec::new();
        read_records("in.jsonl", "in", input.as_bytes(), 40, &mut ids, &mut items);
        let summary: Vec<(&str, &str, bool)> =
            items.iter().map(|i| (i.id.as_str(), i.origin.as_str(), matches!(i.source, Source::Record { .. }))).collect();
        assert_eq!(
            summary,
            [
                ("un", "in.jsonl:1", true),
                ("7", "in.jsonl:3", true),
                ("in-4", "in.jsonl:4", false),
                ("sans-texte", "in.jsonl:5", false),
                ("in-6", "in.jsonl:6", true),
                ("in-7", "in.jsonl:7", false),
                ("fin", "in.jsonl:8", true),
            ]
        );
    }

    #[test]
    fn shards_partition_the_ids() {
        let ids: Vec<String> = (0..200).map(|i| format!("article-{i}")).collect();
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        for id in &ids {
            assert_eq!(shards.iter().filter(|s| s.contains(id)).count(), 1, "{id}");
        }
        let sizes: Vec<usize> = shards.iter().map(|s| ids.iter().filter(|id| s.contains(id)).count()).collect();
        assert!(sizes.iter().all(|&n| n > 40), "{sizes:?}");
        assert_eq!(Shard::parse("1/3").unwrap(), shards[1]);
        for bad in ["3/3", "1", "a/b", "0/0", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_from_kubernetes_and_slurm_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let k8s = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "4")])).unwrap();
        assert_eq!(k8s, Some((Shard { index: 2, count: 4 }, "JOB_COMPLETION_INDEX")));
        let slurm =
            Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "8")])).unwrap();
        assert_eq!(slurm, Some((Shard { index: 4, count: 8 }, "SLURM_ARRAY_TASK_ID")));
        // The variables Slurm 22.05 set for `sbatch --array=0-3` (task 1), `--array=1,3` (tasks 1
        // and 3) and `--array=0-6:2` (task 2), as printed by jobs on scripts/test-slurm.sh's cluster.
        let slurm = |task: &str, min: &str, max: &str, step: &str, count: &str| {
            let names =
                ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT"];
            let vars: Vec<(&str, String)> = names.into_iter().zip([task, min, max, step, count].map(String::from)).collect();
            Shard::from_env(move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        };
        assert_eq!(slurm("1", "0", "3", "1", "4").unwrap(), Some((Shard { index: 1, count: 4 }, "SLURM_ARRAY_TASK_ID")));
        let error = slurm("3", "1", "3", "1", "2").unwrap_err().to_string();
        assert!(error.contains("not contiguous") && error.contains("SLURM_ARRAY_TASK_MAX=3"), "{error}");
        // Task 1 of that array would otherwise be taken for shard 0 of 2.
        assert!(slurm("1", "1", "3", "1", "2").is_err());
        assert!(slurm("2", "0", "6", "2", "4").unwrap_err().to_string().contains("SLURM_ARRAY_TASK_STEP=2"));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "4"), ("JOB_COMPLETIONS", "4")])).is_err());
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    }
}
