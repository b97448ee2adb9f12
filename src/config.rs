//! The validated run configuration that [`crate::job::run`] executes.

use std::path::PathBuf;

use crate::engine::marian::Precision;
use crate::models::{ModelSpec, ModelStore};
use crate::summarize::SummarizeSettings;
use crate::translate::marian::MarianSettings;
use crate::translate::TranslateSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Markdown for briefs, plain text otherwise.
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum Command {
    Brief { input: String, format: OutputFormat },
    Translate { input: String, format: OutputFormat },
    TranslateLines { input: String, format: OutputFormat },
    Summarize { input: String, format: OutputFormat },
    FetchModels { all: bool },
    BenchLlm { prompt_file: PathBuf, as_translate: bool, n_predict: usize, repeat: usize },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub command: Command,
    pub model: ModelSpec,
    pub store: ModelStore,
    /// CPU threads for inference.
    pub threads: usize,
    /// Progress bars (on a terminal) or progress log lines (otherwise) on stderr.
    pub progress: bool,
    pub translate: TranslateSettings,
    pub summarize: SummarizeSettings,
    /// Which model translates (`--engine`).
    pub translation: TranslationEngine,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TranslationEngine {
    /// The chat model of `model` translates (default).
    Llm,
    /// A Marian checkpoint translates; the chat model only summarizes (`brief`).
    Marian { checkpoint: ModelSpec, precision: Precision, settings: MarianSettings },
}
