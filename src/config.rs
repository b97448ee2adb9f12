//! The validated run configuration that [`crate::commands::run`] executes.

use std::path::PathBuf;

use crate::batch::discover::Shard;
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
    Brief {
        input: String,
        format: OutputFormat,
    },
    Translate {
        input: String,
        format: OutputFormat,
    },
    TranslateLines {
        input: String,
        format: OutputFormat,
    },
    Summarize {
        input: String,
        format: OutputFormat,
    },
    FetchModels {
        all: bool,
    },
    BenchLlm {
        prompt_file: PathBuf,
        as_translate: bool,
        n_predict: usize,
        repeat: usize,
        logits_out: Option<PathBuf>,
        draft: Option<PathBuf>,
        lookahead: usize,
    },
    /// A batch run over many articles into an output directory.
    Run(BatchSettings),
}

#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// Files, directories, JSONL files, `-` for JSONL on stdin.
    pub inputs: Vec<String>,
    /// Output directory: `<id>.json`, `<id>.md`, `report.json`.
    pub out: PathBuf,
    /// Process every article, even those whose outputs are up to date.
    pub force: bool,
    /// This run's share of the articles, and where that came from (`--shard` or an env var).
    pub shard: Option<(Shard, String)>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub command: Command,
    pub model: ModelSpec,
    pub store: ModelStore,
    /// CPU threads for inference.
    pub threads: usize,
    /// Instruction-set level of the kernels (`--cpu`, `PRECIS_CPU`, else detected).
    pub cpu: crate::engine::cpu::Level,
    /// Progress bars (on a terminal) or progress log lines (otherwise) on stderr.
    pub progress: bool,
    /// Inputs larger than this are refused (`--max-bytes`).
    pub max_bytes: u64,
    /// Process articles detected as not French (with a warning) instead of refusing them.
    pub force_language: bool,
    pub translate: TranslateSettings,
    /// The user's terms file (`--glossary`), used with the built-in table.
    pub glossary: Option<PathBuf>,
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
