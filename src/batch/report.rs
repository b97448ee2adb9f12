//! `report.json`: what a batch run did with every article, and why.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::batch::discover::Shard;
use crate::pipeline::RunIdentity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Processed in this run; outputs written.
    Ok,
    /// Unchanged since its last successful output (same input bytes, model and settings).
    Skipped,
    /// Could not be processed; `reason` says why.
    Failed,
    /// The run was stopped while this article was being processed; nothing was written for it.
    Interrupted,
    /// Not reached: the run stopped before it (interrupted, or the model failed to load).
    Pending,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArticleReport {
    pub id: String,
    /// Where it came from: a path, or `path:line` for a JSONL record.
    pub input: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Notes about the id, the input's encoding or language, segments that hit a limit.
    pub warnings: Vec<String>,
    /// Fingerprint of the record (see `Brief::fingerprint`), when the input could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Files written (or kept, when skipped), relative to the output directory.
    pub outputs: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub articles: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub pending: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub path: String,
    pub sha256: String,
    /// Whether this run loaded the model (not when every article was skipped).
    pub loaded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardReport {
    pub index: usize,
    pub count: usize,
    /// `--shard`, `JOB_COMPLETION_INDEX` or `SLURM_ARRAY_TASK_ID`.
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub precis_version: &'static str,
    pub started_at: String,
    /// Unset while the run is going on (the report is rewritten as articles finish).
    pub finished_at: Option<String>,
    /// The exit code of the run (unset while it is going on).
    pub exit_code: Option<u8>,
    /// Set when the run stopped early: the signal, or the error that stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub inputs: Vec<String>,
    pub out_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardReport>,
    pub model: ModelReport,
    /// What decides the outputs besides the inputs (engine, settings, prompt and model hashes).
    pub identity: RunIdentity,
    pub force: bool,
    pub totals: Totals,
    pub timings_ms: BTreeMap<String, u64>,
    pub articles: Vec<ArticleReport>,
}

impl Report {
    pub fn shard_report(shard: Option<(Shard, String)>) -> Option<ShardReport> {
        shard.map(|(s, from)| ShardReport { index: s.index, count: s.count, from })
    }

    /// Recounts [`Totals`] from the articles.
    pub fn count(&mut self) {
        let mut totals = Totals { articles: self.articles.len(), ..Totals::default() };
        for article in &self.articles {
            match article.status {
                Status::Ok => totals.ok += 1,
                Status::Skipped => totals.skipped += 1,
                Status::Failed => totals.failed += 1,
                Status::Interrupted => totals.interrupted += 1,
                Status::Pending => totals.pending += 1,
            }
        }
        self.totals = totals;
    }
}

/// Now, as an RFC 3339 UTC timestamp (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
