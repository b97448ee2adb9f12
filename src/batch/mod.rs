//! `precis run`: many articles into an output directory, for scheduled jobs.
//!
//! discover -> read and check -> fingerprint -> skip, or brief -> write -> report.
//!
//! Reading, checking and writing run on tokio; the model runs on a thread of its own and is
//! loaded only when the first article needs it, so a rerun where everything is up to date
//! never loads it. Every output goes through a temporary file and a rename; `report.json` is
//! rewritten as articles finish and once more at the end. Ctrl-C or SIGTERM stops the model at
//! its next token, lets the write in progress finish, writes the report and exits 130 (143);
//! a second signal exits at once (temporary files are cleaned up by the next run).
//!
//! [`discover`] finds the inputs and their ids and shards, [`outdir`] owns the output directory
//! (its lock and atomic writes), [`report`] is `report.json`.

pub mod discover;
pub mod outdir;
pub mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::{BatchSettings, Config};
use crate::doc::{Brief, Document};
use crate::input::{check_french, check_size, document_from_bytes, read_bytes, InputFormat};
use crate::models::file_sha256;
use crate::output::brief_markdown;
use crate::pipeline::{translation_fingerprint, Pipeline, RunIdentity};
use crate::progress::BatchProgress;
use crate::segment::{split_article, Article};
use crate::{exit, interrupt, Error, Result};
use discover::{discover, Item, Source};
use outdir::OutDir;
use report::{ArticleReport, ModelReport, Report, Status};

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A batch run finished, but this many articles failed.
    SomeFailed(usize),
    /// Stopped by this signal at a safe point.
    Interrupted(i32),
}

/// How often `report.json` is rewritten while a run goes on.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Runs a batch; see the module documentation.
pub fn run(config: &Config, settings: &BatchSettings) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the I/O runtime: {e}")))?;
    runtime.block_on(run_batch(config, settings))
}

/// An article ready for the model.
struct Work {
    index: usize,
    id: String,
    doc: Document,
    article: Article,
}

/// What the reader and the model thread tell the writer.
enum Event {
    Skipped { index: usize, fingerprint: String, warnings: Vec<String> },
    Failed { index: usize, reason: String, fingerprint: Option<String>, warnings: Vec<String> },
    Done { index: usize, brief: Box<Brief>, ms: u64 },
    Interrupted { index: usize },
    ModelLoaded { ms: u64 },
    ModelFailed { error: Error },
}

async fn run_batch(config: &Config, settings: &BatchSettings) -> Result<Outcome> {
    let start = Instant::now();
    let started_at = report::now();
    let shard = settings.shard.as_ref().map(|(s, _)| *s);
    let out = Arc::new(OutDir::open(&settings.out, shard)?);
    listen_for_signals();

    let (inputs, exclude, max_bytes) = (settings.inputs.clone(), out.path().to_path_buf(), config.max_bytes);
    let items = tokio::task::spawn_blocking(move || discover(&inputs, &exclude, max_bytes))
        .await
        .map_err(|e| Error::Config(format!("discovering inputs: {e}")))?;
    let discovered = items.len();
    let items: Vec<Item> = items.into_iter().filter(|item| shard.is_none_or(|s| s.contains(&item.id))).collect();
    match shard {
        Some(s) => tracing::info!("{} of {discovered} articles in shard {s}", items.len()),
        None => tracing::info!("{discovered} articles"),
    }

    // The model's identity (provisioning it if needed) decides what is up to date; a model
    // that cannot be had stops the run before anything is written.
    let resolved = config.store.resolve(&config.model)?;
    let model_sha256 = file_sha256(&resolved.path, config.progress)?;
    let glossary = crate::glossary::Glossary::with_user_file(config.glossary.as_deref())?;
    let identity = RunIdentity::new(config, model_sha256.clone(), translation_fingerprint(config)?, &glossary);

    let report_name = match shard {
        Some(s) => format!("report.shard-{}-of-{}.json", s.index, s.count),
        None => "report.json".to_string(),
    };
    let mut report = Report {
        precis_version: env!("CARGO_PKG_VERSION"),
        started_at,
        finished_at: None,
        exit_code: None,
        stopped: None,
        inputs: settings.inputs.clone(),
        out_dir: out.path().display().to_string(),
        shard: Report::shard_report(settings.shard.clone()),
        model: ModelReport { name: resolved.name.clone(), path: resolved.path.display().to_string(), sha256: model_sha256, loaded: false },
        identity: identity.clone(),
        force: settings.force,
        totals: Default::default(),
        timings_ms: BTreeMap::new(),
        articles: items
            .iter()
            .map(|item| ArticleReport {
                id: item.id.clone(),
                input: item.origin.clone(),
                status: Status::Pending,
                reason: None,
                warnings: item.notes.clone(),
                fingerprint: None,
                outputs: Vec::new(),
                timings_ms: BTreeMap::new(),
            })
            .collect(),
    };
    report.count();

    let progress = BatchProgress::new(config.progress, items.len());
    // Read ahead one article, or a batch's worth when the engine batches across articles.
    let read_ahead = if matches!(config.translation, crate::config::TranslationEngine::Marian { .. }) { ARTICLES_PER_BATCH } else { 1 };
    let (work_tx, work_rx) = mpsc::channel::<Work>(read_ahead);
    let (event_tx, event_rx) = mpsc::unbounded_channel::<Event>();
    let model_config = Config { progress: false, ..config.clone() };
    let model_events = event_tx.clone();
    let model_progress = progress.clone();
    let model_thread = std::thread::Builder::new()
        .name("precis-model".into())
        .spawn(move || model_worker(&model_config, work_rx, &model_events, &model_progress))
        .map_err(|e| Error::Config(format!("cannot start the model thread: {e}")))?;

    let reader = read_all(items, config, settings.force, &identity, &out, work_tx, event_tx);
    let writer = write_all(&out, &report_name, &mut report, event_rx, &progress);
    let ((), fatal) = tokio::join!(reader, writer);
    // The model thread ends once the reader has dropped its sender and it has sent its last event.
    let _ = tokio::task::spawn_blocking(move || model_thread.join()).await;
    progress.finish();

    let signal = interrupt::requested();
    report.count();
    report.finished_at = Some(report::now());
    report.timings_ms.insert("total".into(), start.elapsed().as_millis() as u64);
    let outcome = match (&fatal, signal) {
        (_, Some(signal)) => Outcome::Interrupted(signal),
        (Some(_), None) => Outcome::Success,
        (None, None) if report.totals.failed > 0 => Outcome::SomeFailed(report.totals.failed),
        (None, None) => Outcome::Success,
    };
    report.exit_code = Some(match (&fatal, outcome) {
        (Some(error), outcome) if !matches!(outcome, Outcome::Interrupted(_)) => exit::for_error(error),
        (_, outcome) => exit::for_outcome(outcome),
    });
    if let Some(signal) = signal {
        report.stopped = Some(format!("signal {signal}"));
    }
    if let Some(error) = &fatal {
        report.stopped = Some(error_chain(error));
    }
    write_report(&out, &report_name, &report).await?;
    let t = &report.totals;
    tracing::info!(
        "{} articles: {} ok, {} skipped, {} failed{}; report in {}",
        t.articles,
        t.ok,
        t.skipped,
        t.failed,
        if t.pending + t.interrupted > 0 { format!(", {} not done", t.pending + t.interrupted) } else { String::new() },
        out.file(&report_name).display()
    );
    match fatal {
        Some(error) => Err(error),
        None => Ok(outcome),
    }
}

/// Reads and checks each article in turn, skips those already done, and hands the rest to
/// the model thread (one ahead, so that reading overlaps the model's work).
async fn read_all(
    items: Vec<Item>,
    config: &Config,
    force: bool,
    identity: &RunIdentity,
    out: &Arc<OutDir>,
    work: mpsc::Sender<Work>,
    events: mpsc::UnboundedSender<Event>,
) {
    for (index, item) in items.into_iter().enumerate() {
        if interrupt::requested().is_some() {
            break;
        }
        let warnings = item.notes.clone();
        let prepared = prepare(&item, config).await;
        let (doc, article) = match prepared {
            Ok(ok) => ok,
            Err(e) => {
                let _ = events.send(Event::Failed { index, reason: error_chain(&e), fingerprint: None, warnings });
                continue;
            }
        };
        let fingerprint = identity.fingerprint(&doc.sha256);
        let recorded = {
            let (out, id) = (Arc::clone(out), item.id.clone());
            tokio::task::spawn_blocking(move || out.recorded_fingerprint(&id)).await.ok().flatten()
        };
        if !force && recorded.as_deref() == Some(fingerprint.as_str()) {
            let _ = events.send(Event::Skipped { index, fingerprint, warnings });
            continue;
        }
        if work.send(Work { index, id: item.id, doc, article }).await.is_err() {
            // The model thread has stopped (it failed to load the model): nothing more to do.
            break;
        }
    }
}

/// The article's text, decoded and checked: readable, French (unless forced), a title and a body.
async fn prepare(item: &Item, config: &Config) -> Result<(Document, Article)> {
    let max_bytes = config.max_bytes;
    let mut doc = match &item.source {
        Source::Unusable { reason } => return Err(Error::invalid_input(&item.origin, reason.clone())),
        Source::Record { text } => {
            check_size(&item.origin, text.len() as u64, max_bytes)?;
            document_from_bytes(&item.origin, text.as_bytes(), None)?
        }
        Source::File(path) => {
            let path = path.clone();
            let origin = item.origin.clone();
            tokio::task::spawn_blocking(move || {
                let bytes = read_bytes(&path, max_bytes)?;
                document_from_bytes(&origin, &bytes, InputFormat::from_path(&path))
            })
            .await
            .map_err(|e| Error::invalid_input(&item.origin, format!("reading failed: {e}")))??
        }
    };
    doc.warnings.splice(0..0, item.notes.iter().cloned());
    check_french(&mut doc, config.force_language)?;
    let article = split_article(&doc.text).map_err(|e| Error::invalid_input(&doc.origin, e.to_string()))?;
    Ok((doc, article))
}

/// Most articles the model thread takes at once when its engine batches across articles.
const ARTICLES_PER_BATCH: usize = 16;

/// The model thread: loads the model on the first article, then briefs articles as they come
/// (several at once when the engine batches across articles and several are ready).
fn model_worker(config: &Config, mut work: mpsc::Receiver<Work>, events: &mpsc::UnboundedSender<Event>, progress: &BatchProgress) {
    let mut pipeline: Option<Pipeline> = None;
    while let Some(first) = work.blocking_recv() {
        let pipeline = match &mut pipeline {
            Some(pipeline) => pipeline,
            None => {
                progress.working("loading the model");
                let start = Instant::now();
                match Pipeline::load(config) {
                    Ok(loaded) => {
                        let _ = events.send(Event::ModelLoaded { ms: start.elapsed().as_millis() as u64 });
                        pipeline.insert(loaded)
                    }
                    Err(error) => {
                        let _ = events.send(Event::ModelFailed { error });
                        return;
                    }
                }
            }
        };
        let mut batch = vec![first];
        while pipeline.batches_articles() && batch.len() < ARTICLES_PER_BATCH {
            match work.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let ids: Vec<&str> = batch.iter().map(|w| w.id.as_str()).collect();
        progress.working(&ids.join(", "));
        let start = Instant::now();
        let inputs: Vec<(&Document, &Article)> = batch.iter().map(|w| (&w.doc, &w.article)).collect();
        let results = pipeline.brief_many(&inputs);
        let ms = start.elapsed().as_millis() as u64 / batch.len() as u64;
        for (Work { index, doc, .. }, result) in batch.iter().zip(results) {
            let event = match result {
                Ok(brief) => Event::Done { index: *index, brief: Box::new(brief), ms },
                Err(Error::Interrupted { .. }) => Event::Interrupted { index: *index },
                Err(e) => Event::Failed { index: *index, reason: error_chain(&e), fingerprint: None, warnings: doc.warnings.clone() },
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}

/// Applies events to the report, writes the outputs of finished articles, and rewrites the
/// report from time to time. Returns the error that stopped the run, if one did.
async fn write_all(
    out: &OutDir,
    report_name: &str,
    report: &mut Report,
    mut events: mpsc::UnboundedReceiver<Event>,
    progress: &BatchProgress,
) -> Option<Error> {
    let mut last_report = Instant::now();
    let mut fatal = None;
    while let Some(event) = events.recv().await {
        let index = match event {
            Event::ModelLoaded { ms } => {
                report.model.loaded = true;
                report.timings_ms.insert("load_model".into(), ms);
                continue;
            }
            Event::ModelFailed { error } => {
                fatal = Some(error);
                break;
            }
            Event::Skipped { index, fingerprint, warnings } => {
                let entry = &mut report.articles[index];
                entry.status = Status::Skipped;
                entry.reason = Some("unchanged since its last output (same input, model and settings)".into());
                entry.fingerprint = Some(fingerprint);
                entry.warnings = warnings;
                entry.outputs = vec![format!("{}.json", entry.id), format!("{}.md", entry.id)];
                index
            }
            Event::Failed { index, reason, fingerprint, warnings } => {
                let entry = &mut report.articles[index];
                entry.status = Status::Failed;
                entry.reason = Some(reason);
                entry.fingerprint = fingerprint;
                entry.warnings = warnings;
                index
            }
            Event::Interrupted { index } => {
                report.articles[index].status = Status::Interrupted;
                index
            }
            Event::Done { index, brief, ms } => {
                let entry = &mut report.articles[index];
                let start = Instant::now();
                match write_outputs(out, &entry.id, &brief).await {
                    Ok(outputs) => {
                        entry.status = Status::Ok;
                        entry.outputs = outputs;
                    }
                    Err(e) => {
                        entry.status = Status::Failed;
                        entry.reason = Some(format!("writing the outputs: {}", error_chain(&e)));
                    }
                }
                entry.fingerprint = Some(brief.fingerprint.clone());
                entry.warnings = brief.warnings.clone();
                for stage in ["translate", "summarize"] {
                    if let Some(&t) = brief.timings_ms.get(stage) {
                        entry.timings_ms.insert(stage.into(), t);
                    }
                }
                entry.timings_ms.insert("model".into(), ms);
                entry.timings_ms.insert("write".into(), start.elapsed().as_millis() as u64);
                index
            }
        };
        let entry = &report.articles[index];
        progress.finished(&entry.id, &status_text(entry), entry.status == Status::Failed);
        if last_report.elapsed() >= REPORT_INTERVAL {
            report.count();
            if let Err(e) = write_report(out, report_name, report).await {
                tracing::warn!("{}", error_chain(&e));
            }
            last_report = Instant::now();
        }
    }
    fatal
}

/// `<id>.md`, then `<id>.json`: the JSON record is the mark of a finished article.
async fn write_outputs(out: &OutDir, id: &str, brief: &Brief) -> Result<Vec<String>> {
    let (md, json) = (format!("{id}.md"), format!("{id}.json"));
    out.write_atomic(&md, brief_markdown(brief).into_bytes()).await?;
    let mut record = serde_json::to_vec_pretty(brief).map_err(|e| Error::Config(format!("serializing {json}: {e}")))?;
    record.push(b'\n');
    out.write_atomic(&json, record).await?;
    Ok(vec![json, md])
}

async fn write_report(out: &OutDir, name: &str, report: &Report) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| Error::Config(format!("serializing {name}: {e}")))?;
    bytes.push(b'\n');
    out.write_atomic(name, bytes).await
}

/// An error and its causes on one line.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// First Ctrl-C or SIGTERM: stop at the next safe point. Second: exit at once.
fn listen_for_signals() {
    tokio::spawn(async {
        #[cfg(unix)]
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                None
            }
        };
        loop {
            #[cfg(unix)]
            let signal = tokio::select! {
                _ = tokio::signal::ctrl_c() => 2,
                Some(()) = async { match terminate.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => 15,
            };
            #[cfg(not(unix))]
            let signal = {
                let _ = tokio::signal::ctrl_c().await;
                2
            };
            if interrupt::requested().is_some() {
                std::process::exit(i32::from(exit::SIGNAL_BASE) + signal);
            }
            interrupt::request(signal);
            tracing::warn!("stopping: the current article is abandoned, files being written are finished (signal again to stop at once)");
        }
    });
}

/// What the progress says about an article once it is done.
fn status_text(entry: &ArticleReport) -> String {
    match entry.status {
        Status::Ok => "ok".to_string(),
        Status::Skipped => "skipped (up to date)".to_string(),
        Status::Failed => format!("FAILED: {}", entry.reason.as_deref().unwrap_or("")),
        Status::Interrupted => "interrupted".to_string(),
        Status::Pending => "pending".to_string(),
    }
}
