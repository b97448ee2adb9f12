//! A loaded model with the settings of one run, and the stages it drives: translation of
//! paragraphs or lines, summarization, the whole brief. Also what identifies a run's output
//! ([`RunIdentity`]), so that batch runs can tell what is already done.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{write_text, LineRecord, TranslatedParagraphs};
use crate::config::{Config, OutputFormat};
use crate::doc::{Brief, DecodeSettings, Document, ModelInfo, SourceInfo, Summary};
use crate::engine::{ChatModel, StopReason};
use crate::models::{file_sha256, ResolvedModel};
use crate::output::write_json_line;
use crate::segment::Article;
use crate::summarize::{SummarizeSettings, Summarizer};
use crate::translate::{TranslateSettings, Translator};
use crate::Result;

/// Bumped when the output record changes shape or meaning, so that batch runs redo old outputs.
const RECORD_VERSION: u32 = 1;

/// Everything besides the input that decides an output record: the model file, the prompts,
/// the engine and its settings. Thread counts and progress do not (same output either way).
#[derive(Debug, Clone, Serialize)]
pub struct RunIdentity {
    pub record_version: u32,
    pub engine: &'static str,
    pub model_sha256: String,
    pub prompts_sha256: String,
    pub translate: TranslateSettings,
    pub summarize: SummarizeSettings,
}

impl RunIdentity {
    pub fn new(config: &Config, model_sha256: String) -> Self {
        let mut prompts = Sha256::new();
        for prompt in crate::translate::PROMPTS.iter().chain(crate::summarize::PROMPTS.iter()) {
            prompts.update((prompt.len() as u64).to_le_bytes());
            prompts.update(prompt.as_bytes());
        }
        Self {
            record_version: RECORD_VERSION,
            engine: "llm",
            model_sha256,
            prompts_sha256: hex::encode(prompts.finalize()),
            translate: config.translate.clone(),
            summarize: config.summarize.clone(),
        }
    }

    /// The fingerprint of the record made from an input with these bytes' SHA-256.
    pub fn fingerprint(&self, input_sha256: &str) -> String {
        let identity = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(format!("{input_sha256}\n{identity}")))
    }
}

/// A loaded model with the settings of this run.
pub struct Pipeline {
    pub(crate) model: ChatModel,
    identity: RunIdentity,
    pub(crate) model_info: ModelInfo,
    translate: TranslateSettings,
    summarize: SummarizeSettings,
    progress: bool,
    load_ms: u64,
}

impl Pipeline {
    pub fn load(config: &Config) -> Result<Self> {
        let start = Instant::now();
        let resolved: ResolvedModel = config.store.resolve(&config.model)?;
        tracing::info!("loading model {} ({})", resolved.name, resolved.path.display());
        let sha256 = file_sha256(&resolved.path, config.progress)?;
        let model = ChatModel::load(&resolved.path)?;
        let c = model.llm.config();
        tracing::info!(
            "model loaded: {:?}, {} layers, {} tokens of context, {} threads, {:.1}s",
            c.arch,
            c.n_layer,
            c.context_length,
            config.threads,
            start.elapsed().as_secs_f64()
        );
        let model_info = ModelInfo {
            name: resolved.name.clone(),
            path: resolved.path.display().to_string(),
            sha256,
            architecture: format!("{:?}", c.arch).to_lowercase(),
            decoding: DecodeSettings {
                strategy: "greedy",
                max_segment_tokens: config.translate.max_segment_tokens,
                max_new_tokens_base: config.translate.max_new_base,
                max_new_tokens_per_source_token: config.translate.max_new_per_token,
                summary_max_new_tokens: config.summarize.max_new_tokens,
                threads: config.threads,
            },
        };
        Ok(Self {
            model,
            identity: RunIdentity::new(config, model_info.sha256.clone()),
            model_info,
            translate: config.translate.clone(),
            summarize: config.summarize.clone(),
            progress: config.progress,
            load_ms: start.elapsed().as_millis() as u64,
        })
    }

    pub(crate) fn source_info(&self, doc: &Document, paragraphs: usize) -> SourceInfo {
        SourceInfo {
            path: doc.origin.clone(),
            sha256: doc.sha256.clone(),
            encoding: doc.encoding.clone(),
            format: doc.format,
            paragraphs,
        }
    }

    pub fn brief(&self, doc: &Document, article: &Article) -> Result<Brief> {
        let start = Instant::now();
        let mut all = Vec::with_capacity(article.paragraphs.len() + 1);
        all.push(article.title.clone());
        all.extend(article.paragraphs.iter().cloned());
        let translate_start = Instant::now();
        let english = self.translate_paragraphs(doc, &all)?;
        let translate_ms = translate_start.elapsed().as_millis() as u64;

        let summarize_start = Instant::now();
        let summary: Summary = self.summarize(&english.texts, &[doc.text.as_str()])?;
        let summarize_ms = summarize_start.elapsed().as_millis() as u64;

        let mut texts = english.texts.into_iter();
        let title = texts.next().unwrap_or_default();
        let timings_ms = BTreeMap::from([
            ("load_model".to_string(), self.load_ms),
            ("translate".to_string(), translate_ms),
            ("summarize".to_string(), summarize_ms),
            ("total".to_string(), start.elapsed().as_millis() as u64 + self.load_ms),
        ]);
        Ok(Brief {
            title,
            summary: summary.text,
            summary_method: summary.method,
            rejected_summaries: summary.rejected,
            translation: texts.collect(),
            source: self.source_info(doc, article.paragraphs.len()),
            model: self.model_info.clone(),
            warnings: english.warnings,
            timings_ms,
            fingerprint: self.identity.fingerprint(&doc.sha256),
        })
    }

    pub(crate) fn translate_paragraphs(&self, doc: &Document, paragraphs: &[String]) -> Result<TranslatedParagraphs> {
        let translator = Translator::new(&self.model, self.translate.clone())?;
        let progress = Progress::new(self.progress, paragraphs.len() as u64, "translating");
        let mut texts = Vec::with_capacity(paragraphs.len());
        // What the input itself warned about (e.g. its encoding) comes first.
        let mut warnings = doc.warnings.clone();
        for (i, paragraph) in paragraphs.iter().enumerate() {
            let t = translator.translate_paragraph(paragraph)?;
            if t.hit_limit() {
                let w = format!(
                    "{}: paragraph {} hit the generation limit; its translation may be incomplete",
                    doc.origin,
                    i + 1
                );
                tracing::warn!("{w}");
                warnings.push(w);
            }
            progress.step(&format!("paragraph {}/{} ({} tokens)", i + 1, paragraphs.len(), t.generated_tokens()));
            texts.push(t.text);
        }
        progress.finish();
        Ok(TranslatedParagraphs { texts, warnings })
    }

    pub(crate) fn translate_lines(&self, doc: &Document, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
        let translator = Translator::new(&self.model, self.translate.clone())?;
        let lines: Vec<&str> = doc.text.lines().collect();
        let progress = Progress::new(self.progress, lines.len() as u64, "translating");
        for (i, line) in lines.iter().enumerate() {
            let t = translator.translate_paragraph(line)?;
            // One output line per input line, whatever the model wrote.
            let text = t.text.replace(['\n', '\r'], " ");
            if t.hit_limit() {
                tracing::warn!("{}: line {} hit the generation limit", doc.origin, i + 1);
            }
            match format {
                OutputFormat::Text => write_text(out, &(text + "\n"))?,
                OutputFormat::Json => {
                    let tokens: Vec<u32> = t.segments.iter().flat_map(|s| s.tokens.iter().copied()).collect();
                    let stop = if t.hit_limit() { StopReason::MaxTokens } else { StopReason::Eog };
                    write_json_line(
                        out,
                        &LineRecord { line: i + 1, text: &text, tokens: &tokens, prompt_tokens: t.prompt_tokens(), stop },
                    )?
                }
            }
            progress.step(&format!("line {}/{}", i + 1, lines.len()));
        }
        progress.finish();
        Ok(())
    }

    pub(crate) fn summarize(&self, english: &[String], originals: &[&str]) -> Result<Summary> {
        let english_text = english.join("\n\n");
        let mut sources: Vec<&str> = originals.to_vec();
        sources.push(&english_text);
        let progress = Progress::new(self.progress, 0, "summarizing");
        let summary = Summarizer::new(&self.model, self.summarize.clone()).summarize(english, &sources);
        progress.finish();
        summary
    }
}

/// Progress on stderr: a bar on a terminal, log lines otherwise, nothing when disabled.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
}

impl Progress {
    fn new(enabled: bool, total: u64, label: &str) -> Self {
        if !enabled {
            return Self { bar: None, log: false };
        }
        if !std::io::stderr().is_terminal() {
            tracing::info!("{label}...");
            return Self { bar: None, log: true };
        }
        let bar = if total == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(total) };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self { bar: Some(bar), log: false }
    }

    fn step(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
            bar.inc(1);
        } else if self.log {
            tracing::info!("{message}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
