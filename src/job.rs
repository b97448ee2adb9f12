//! The runner: the only module that knows every stage. It reads inputs, resolves and loads
//! the model, drives translation and summarization, and writes records to stdout.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::config::{Command, Config, OutputFormat, TranslationEngine};
use crate::doc::{Brief, DecodeSettings, Document, MarianDecoding, MarianInfo, ModelInfo, SourceInfo, Summary};
use crate::engine::marian::{EarlyStopping, Marian, Precision};
use crate::engine::{ChatModel, StopReason};
use crate::input::read_document;
use crate::models::{file_sha256, ResolvedModel, DEFAULT_DRAFT, DEFAULT_MODEL};
use crate::output::{brief_markdown, write_json_line};
use crate::segment::{split_article, split_paragraphs, Article};
use crate::summarize::{SummarizeSettings, Summarizer};
use crate::translate::marian::{MarianSettings, MarianTranslator};
use crate::translate::{TranslateSettings, Translator};
use crate::{Error, Result};

/// Executes one command, writing its data to `out`.
pub fn run(config: &Config, out: &mut dyn Write) -> Result<()> {
    match &config.command {
        Command::FetchModels { all } => {
            config.store.resolve_lab(&DEFAULT_MODEL)?;
            if *all {
                config.store.resolve_lab(&DEFAULT_DRAFT)?;
            }
            Ok(())
        }
        Command::Brief { input, format } => {
            let doc = read_document(input)?;
            // Check the input before spending seconds on loading the model.
            let article = split_article(&doc.text).map_err(|e| Error::invalid_input(&doc.origin, e.to_string()))?;
            let pipeline = Pipeline::load(config)?;
            let brief = pipeline.brief(&doc, &article)?;
            match format {
                OutputFormat::Json => write_json_line(out, &brief)?,
                OutputFormat::Text => write_text(out, &brief_markdown(&brief))?,
            }
            Ok(())
        }
        Command::Translate { input, format } => {
            let doc = read_document(input)?;
            let paragraphs = split_paragraphs(&doc.text);
            let pipeline = Pipeline::load(config)?;
            let english = pipeline.translate_paragraphs(&doc, &paragraphs)?;
            match format {
                OutputFormat::Json => {
                    let source = pipeline.source_info(&doc, paragraphs.len());
                    let (paragraphs, warnings) = (english.texts, english.warnings);
                    match (&pipeline.marian, &pipeline.model_info) {
                        (Some(m), _) => write_json_line(out, &TranslationRecord { paragraphs, source, model: &m.info, warnings })?,
                        (None, Some(model)) => write_json_line(out, &TranslationRecord { paragraphs, source, model, warnings })?,
                        (None, None) => return Err(Error::Config("no translation model loaded".into())),
                    }
                }
                OutputFormat::Text => write_text(out, &(english.texts.join("\n\n") + "\n"))?,
            }
            Ok(())
        }
        Command::TranslateLines { input, format } => {
            let doc = read_document(input)?;
            let pipeline = Pipeline::load(config)?;
            pipeline.translate_lines(&doc, *format, out)
        }
        Command::Summarize { input, format } => {
            let doc = read_document(input)?;
            let paragraphs = split_paragraphs(&doc.text);
            let pipeline = Pipeline::load(config)?;
            let summary = pipeline.summarize(&paragraphs, &[doc.text.as_str()])?;
            match format {
                OutputFormat::Json => write_json_line(out, &summary)?,
                OutputFormat::Text => write_text(out, &(summary.text + "\n"))?,
            }
            Ok(())
        }
        Command::BenchLlm { prompt_file, as_translate, n_predict, repeat } => {
            let pipeline = Pipeline::load(config)?;
            let text = std::fs::read_to_string(prompt_file).map_err(|e| Error::io(prompt_file, e))?;
            let model = pipeline.llm()?;
            let prompt = if *as_translate {
                model.prompt(&crate::translate::translation_messages(&text))?
            } else {
                model.tokenizer.encode(&text, true)?
            };
            let report = crate::engine::bench::run(&model.llm, &prompt, *n_predict, *repeat, config.threads)?;
            write_json_line(out, &report)
        }
    }
}

fn write_text(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| Error::io("<stdout>", e))
}

#[derive(Serialize)]
struct TranslationRecord<'a, M: Serialize> {
    paragraphs: Vec<String>,
    source: SourceInfo,
    model: &'a M,
    warnings: Vec<String>,
}

/// One line of `translate --lines --json --engine marian`.
#[derive(Serialize)]
struct MarianLineRecord<'a> {
    line: usize,
    text: &'a str,
    /// Generated ids without the decoder start token, EOS included when produced.
    tokens: &'a [u32],
    /// HF `sequences_scores` (beam) or the mean token log-probability (greedy).
    score: f32,
    /// Parts the line was split into to fit the model's position limit (0 for an empty line).
    parts: usize,
    stop: StopReason,
}

/// One line of `translate --lines --json`.
#[derive(Serialize)]
struct LineRecord<'a> {
    line: usize,
    text: &'a str,
    tokens: &'a [u32],
    prompt_tokens: usize,
    stop: StopReason,
}

struct TranslatedParagraphs {
    texts: Vec<String>,
    warnings: Vec<String>,
}

/// The loaded models with the settings of this run: the chat model (unless a Marian model does
/// all the work) and the Marian model of `--engine marian`.
pub struct Pipeline {
    model: Option<ChatModel>,
    model_info: Option<ModelInfo>,
    marian: Option<LoadedMarian>,
    translate: TranslateSettings,
    summarize: SummarizeSettings,
    progress: bool,
    load_ms: u64,
}

struct LoadedMarian {
    marian: Marian,
    settings: MarianSettings,
    info: MarianInfo,
}

impl LoadedMarian {
    fn load(config: &Config, checkpoint: &crate::models::ModelSpec, precision: Precision, settings: &MarianSettings) -> Result<Self> {
        let start = Instant::now();
        let resolved = config.store.resolve_marian(checkpoint)?;
        tracing::info!("loading Marian model {} ({})", resolved.name, resolved.path.display());
        let marian = Marian::load(&resolved.path, precision)?;
        let weights_sha256 = file_sha256(&marian.weights_path, config.progress)?;
        let g = MarianTranslator::new(&marian, settings).generation().clone();
        let c = marian.model.config();
        tracing::info!(
            "Marian model loaded: d_model {}, {}+{} layers, {:?}, {} threads, {:.1}s",
            c.d_model,
            c.encoder_layers,
            c.decoder_layers,
            precision,
            config.threads,
            start.elapsed().as_secs_f64()
        );
        let info = MarianInfo {
            name: resolved.name,
            path: resolved.path.display().to_string(),
            weights_sha256,
            architecture: "marian",
            precision: match precision {
                Precision::F32 => "f32",
                Precision::Q8 => "q8_0",
            },
            decoding: MarianDecoding {
                strategy: if g.num_beams > 1 { "beam" } else { "greedy" },
                num_beams: g.num_beams,
                length_penalty: g.length_penalty,
                early_stopping: match g.early_stopping {
                    EarlyStopping::Yes => "true",
                    EarlyStopping::Heuristic => "false",
                    EarlyStopping::Never => "never",
                },
                max_new_tokens: g.max_new_tokens,
                min_new_tokens: g.min_new_tokens,
                batch_size: settings.batch_size,
                threads: config.threads,
            },
        };
        Ok(Self { marian, settings: settings.clone(), info })
    }
}

impl Pipeline {
    pub fn load(config: &Config) -> Result<Self> {
        let start = Instant::now();
        let marian = match &config.translation {
            TranslationEngine::Llm => None,
            TranslationEngine::Marian { checkpoint, precision, settings } => {
                Some(LoadedMarian::load(config, checkpoint, *precision, settings)?)
            }
        };
        // `translate` with a Marian model needs no chat model.
        let marian_only = marian.is_some() && matches!(config.command, Command::Translate { .. } | Command::TranslateLines { .. });
        let (model, model_info) = if marian_only {
            (None, None)
        } else {
            let (model, info) = Self::load_llm(config)?;
            (Some(model), Some(info))
        };
        Ok(Self {
            model,
            model_info,
            marian,
            translate: config.translate.clone(),
            summarize: config.summarize.clone(),
            progress: config.progress,
            load_ms: start.elapsed().as_millis() as u64,
        })
    }

    fn load_llm(config: &Config) -> Result<(ChatModel, ModelInfo)> {
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
        Ok((model, model_info))
    }

    /// The chat model; every command but `translate --engine marian` loads one.
    fn llm(&self) -> Result<&ChatModel> {
        self.model.as_ref().ok_or_else(|| Error::Config("this command needs the chat model (--model)".into()))
    }

    fn source_info(&self, doc: &Document, paragraphs: usize) -> SourceInfo {
        SourceInfo { path: doc.origin.clone(), sha256: doc.sha256.clone(), paragraphs }
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
            model: self.model_info.clone().ok_or_else(|| Error::Config("brief needs the chat model".into()))?,
            translation_model: self.marian.as_ref().map(|m| m.info.clone()),
            warnings: english.warnings,
            timings_ms,
        })
    }

    fn translate_paragraphs(&self, doc: &Document, paragraphs: &[String]) -> Result<TranslatedParagraphs> {
        if let Some(m) = &self.marian {
            let progress = Progress::new(self.progress, 0, "translating");
            let translations = MarianTranslator::new(&m.marian, &m.settings).translate_paragraphs(paragraphs)?;
            progress.finish();
            let mut warnings = doc.warnings.clone();
            for (i, _) in translations.iter().enumerate().filter(|(_, t)| t.hit_limit) {
                let w = format!("{}: paragraph {} hit the generation limit; its translation may be incomplete", doc.origin, i + 1);
                tracing::warn!("{w}");
                warnings.push(w);
            }
            return Ok(TranslatedParagraphs { texts: translations.into_iter().map(|t| t.text).collect(), warnings });
        }
        let translator = Translator::new(self.llm()?, self.translate.clone())?;
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

    fn translate_lines(&self, doc: &Document, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
        let lines: Vec<&str> = doc.text.lines().collect();
        if let Some(m) = &self.marian {
            let progress = Progress::new(self.progress, 0, "translating");
            let start = Instant::now();
            let translations = MarianTranslator::new(&m.marian, &m.settings).translate_segments(&lines)?;
            progress.finish();
            let tokens: usize = translations.iter().map(|t| t.tokens.len()).sum();
            let seconds = start.elapsed().as_secs_f64();
            tracing::info!(
                "translated {} segments in {seconds:.3} s ({tokens} target tokens, {:.1} tok/s)",
                lines.len(),
                tokens as f64 / seconds
            );
            for (i, t) in translations.iter().enumerate() {
                if t.hit_limit {
                    tracing::warn!("{}: line {} hit the generation limit", doc.origin, i + 1);
                }
                // One output line per input line.
                let text = t.text.replace(['\n', '\r'], " ");
                match format {
                    OutputFormat::Text => write_text(out, &(text + "\n"))?,
                    OutputFormat::Json => {
                        let stop = if t.hit_limit { StopReason::MaxTokens } else { StopReason::Eog };
                        let record =
                            MarianLineRecord { line: i + 1, text: &text, tokens: &t.tokens, score: t.score, parts: t.parts, stop };
                        write_json_line(out, &record)?
                    }
                }
            }
            return Ok(());
        }
        let translator = Translator::new(self.llm()?, self.translate.clone())?;
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

    fn summarize(&self, english: &[String], originals: &[&str]) -> Result<Summary> {
        let english_text = english.join("\n\n");
        let mut sources: Vec<&str> = originals.to_vec();
        sources.push(&english_text);
        let progress = Progress::new(self.progress, 0, "summarizing");
        let summary = Summarizer::new(self.llm()?, self.summarize.clone()).summarize(english, &sources);
        progress.finish();
        summary
    }
}

/// Progress on stderr: a bar on a terminal, log lines otherwise, nothing when disabled.
struct Progress {
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
