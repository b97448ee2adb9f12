//! Progress on stderr, in one place: `Progress` for the steps of one command (translating,
//! summarizing), `BatchProgress` for `precis run` (articles done out of the total), and
//! [`bytes_bar`] for byte counts (model checksums and assembly). Each draws a bar on a
//! terminal; the first two log lines instead when stderr is not one, and stay silent when
//! progress is disabled.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr: a bar on a terminal, log lines otherwise, nothing when disabled.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
}

impl Progress {
    pub(crate) fn new(enabled: bool, total: u64, label: &str) -> Self {
        if !enabled {
            return Self { bar: None, log: false };
        }
        if !std::io::stderr().is_terminal() {
            tracing::info!("{label}...");
            return Self { bar: None, log: true };
        }
        let bar = if total == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(total) };
        bar.set_style(style("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}"));
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar: Some(bar), log: false }
    }

    pub(crate) fn step(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
            bar.inc(1);
        } else if self.log {
            tracing::info!("{message}");
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Batch progress on stderr: a bar on a terminal (articles done / total, current article,
/// rate), a log line per article otherwise, nothing with `--quiet`.
#[derive(Clone)]
pub(crate) struct BatchProgress {
    bar: Option<ProgressBar>,
    log: bool,
    total: usize,
    done: Arc<AtomicUsize>,
}

impl BatchProgress {
    pub(crate) fn new(enabled: bool, total: usize) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        if !enabled || !std::io::stderr().is_terminal() {
            return Self { bar: None, log: enabled, total, done };
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(style("{prefix:>10} [{bar:30}] {pos}/{len} articles, {per_sec}, {elapsed_precise}, eta {eta} {msg}"));
        bar.set_prefix("briefing");
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar: Some(bar), log: false, total, done }
    }

    pub(crate) fn working(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        } else if self.log {
            tracing::info!("[{}/{}] {what}...", self.done.load(Ordering::Relaxed) + 1, self.total);
        }
    }

    /// One article done: `status` is what to say about article `id`; a failure is logged as a
    /// warning even when progress is disabled.
    pub(crate) fn finished(&self, id: &str, status: &str, failed: bool) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.println(format!("{id}: {status}"));
            bar.inc(1);
        } else if failed {
            // Failures are worth a warning even with --quiet.
            tracing::warn!("{id}: {status}");
        } else if self.log {
            tracing::info!("[{n}/{}] {id}: {status}", self.total);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A byte-count progress bar on stderr (hidden automatically when stderr is not a terminal).
pub fn bytes_bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(style("{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"));
    bar.set_message(label.to_string());
    bar
}

/// The bars' look: `template`, drawn with `=> `.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}
