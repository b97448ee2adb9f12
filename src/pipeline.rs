//! A loaded model with the settings of one run, and the stages it drives: translation of
//! paragraphs or lines, summarization, the whole brief. Also what identifies a run's output
//! ([`RunIdentity`]), so that batch runs can tell what is already done.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::check::check_translation;
use crate::config::{Command, Config, OutputFormat, TranslationEngine};
use crate::doc::{Brief, DecodeSettings, Document, MarianDecoding, MarianInfo, ModelInfo, ParagraphReport, SourceInfo, Summary};
use crate::engine::marian::{EarlyStopping, Marian, Precision};
use crate::engine::{ChatModel, StopReason};
use crate::facts::Language;
use crate::glossary::{english_acronyms, Glossary};
use crate::models::{file_sha256, ResolvedModel};
use crate::output::{write_json_line, write_text, LineRecord, MarianLineRecord};
use crate::progress::Progress;
use crate::segment::Article;
use crate::summarize::{key_facts, SummarizeSettings, Summarizer};
use crate::translate::marian::{MarianSettings, MarianTranslation, MarianTranslator};
use crate::translate::{Method, ParagraphTranslation, Prefixes, Source, TranslateSettings, Translator, LOW_CONFIDENCE};
use crate::verify::Sources;
use crate::{Error, Result};

/// Bumped when the output record changes shape or meaning, so that batch runs redo old outputs.
const RECORD_VERSION: u32 = 2;

/// Everything besides the input that decides an output record: the model file, the prompts,
/// the engine and its settings. Thread counts and progress do not (same output either way).
#[derive(Debug, Clone, Serialize)]
pub struct RunIdentity {
    pub record_version: u32,
    /// `llm` or `marian`: which model translates.
    pub engine: &'static str,
    /// The chat model (it summarizes, and translates with the `llm` engine).
    pub model_sha256: String,
    /// With `--engine marian`: the fingerprint of the checkpoint files, precision and settings.
    pub translation_model: Option<String>,
    pub prompts_sha256: String,
    /// The terms table: built in, with the `--glossary` file's entries.
    pub glossary_sha256: String,
    pub translate: TranslateSettings,
    pub summarize: SummarizeSettings,
}

impl RunIdentity {
    /// `translation` is [`translation_fingerprint`] of the run (`None` for the `llm` engine);
    /// `glossary` the run's terms table.
    pub fn new(config: &Config, model_sha256: String, translation: Option<String>, glossary: &Glossary) -> Self {
        let mut prompts = Sha256::new();
        for prompt in crate::translate::PROMPTS.iter().chain(crate::summarize::PROMPTS.iter()) {
            prompts.update((prompt.len() as u64).to_le_bytes());
            prompts.update(prompt.as_bytes());
        }
        Self {
            record_version: RECORD_VERSION,
            engine: if translation.is_some() { "marian" } else { "llm" },
            model_sha256,
            translation_model: translation,
            prompts_sha256: hex::encode(prompts.finalize()),
            glossary_sha256: glossary.sha256(),
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

/// The title (as a headline), then the body paragraphs: what a brief translates.
fn title_and_body(article: &Article) -> Vec<Source<'_>> {
    std::iter::once(Source::headline(&article.title)).chain(article.paragraphs.iter().map(|p| Source::body(p))).collect()
}

/// What a reader is told about paragraph `i` of `doc`, numbered from `first` (0 when the title
/// comes first): the generation limit, checks failed after the repairs, low confidence. Each
/// warning is logged too.
fn paragraph_warnings(doc: &Document, first: usize, i: usize, hit_limit: bool, report: &ParagraphReport) -> Vec<String> {
    let what = match first + i {
        0 => "the title".to_string(),
        n => format!("paragraph {n}"),
    };
    let mut warnings = Vec::new();
    if hit_limit {
        warnings.push(format!("{}: {what} hit the generation limit; its translation may be incomplete", doc.origin));
    }
    for finding in &report.findings {
        warnings.push(format!("{}: {what} fails a check: {finding}", doc.origin));
    }
    if report.low_confidence {
        let confidence = report.confidence.unwrap_or(f32::NEG_INFINITY);
        warnings.push(format!("{}: {what} has low confidence ({confidence:.2}); check it against the French", doc.origin));
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    warnings
}

/// The report of a paragraph: its confidence and what its checks found.
fn report(paragraph: usize, t: &ParagraphTranslation) -> ParagraphReport {
    let confidence = t.confidence();
    ParagraphReport {
        paragraph,
        confidence,
        low_confidence: confidence.is_some_and(|c| c < LOW_CONFIDENCE),
        findings: t.findings.clone(),
        method: t.method,
        first_findings: t.first_findings.clone(),
    }
}

/// Marian translations of a document's paragraphs (the title first when `first` is 0), with
/// the glossary's acronyms, the checks and their warnings (after what the input itself warned
/// about). Marian paragraphs are not translated again: they are translated sentence by
/// sentence already.
fn marian_paragraphs(
    doc: &Document,
    sources: &[Source],
    first: usize,
    translations: Vec<MarianTranslation>,
    pipeline: &Pipeline,
) -> TranslatedParagraphs {
    let mut english = TranslatedParagraphs { texts: Vec::new(), warnings: doc.warnings.clone(), reports: Vec::new() };
    for (i, (t, source)) in translations.into_iter().zip(sources).enumerate() {
        let terms = pipeline.terms(source.text);
        let text = english_acronyms(&terms, &t.text);
        let findings = if pipeline.translate.faithful { check_translation(source.text, &text, &terms) } else { Vec::new() };
        let confidence = (t.parts > 0).then_some(t.score);
        let report = ParagraphReport {
            paragraph: first + i,
            confidence,
            low_confidence: confidence.is_some_and(|c| c < LOW_CONFIDENCE),
            findings,
            method: Method::First,
            first_findings: Vec::new(),
        };
        english.warnings.extend(paragraph_warnings(doc, first, i, t.hit_limit, &report));
        english.texts.push(text);
        english.reports.push(report);
    }
    english
}

/// With `--engine marian`, what decides the Marian translations: the SHA-256 of the checkpoint's
/// files (weights, config, generation config, vocabulary, SentencePiece models), the precision
/// and the decoding settings. `None` for the `llm` engine.
pub fn translation_fingerprint(config: &Config) -> Result<Option<String>> {
    let TranslationEngine::Marian { checkpoint, precision, settings } = &config.translation else { return Ok(None) };
    let dir = config.store.resolve_marian(checkpoint)?.path;
    let mut hasher = Sha256::new();
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let path = dir.join(name);
        if path.is_file() {
            hasher.update(file_sha256(&path, config.progress)?.as_bytes());
            break;
        }
    }
    for name in ["config.json", "generation_config.json", "vocab.json", "source.spm", "target.spm"] {
        let path = dir.join(name);
        // A missing file is the loader's error to report; here it simply changes the hash.
        if let Ok(bytes) = std::fs::read(&path) {
            hasher.update(name.as_bytes());
            hasher.update(Sha256::digest(&bytes));
        }
    }
    hasher.update(format!("{precision:?} {settings:?}").as_bytes());
    Ok(Some(hex::encode(hasher.finalize())))
}

/// The loaded models with the settings of this run: the chat model (unless a Marian model does
/// all the work) and the Marian model of `--engine marian`.
pub struct Pipeline {
    pub(crate) model: Option<ChatModel>,
    /// What decides a brief besides its input (set when the chat model is loaded).
    identity: Option<RunIdentity>,
    pub(crate) model_info: Option<ModelInfo>,
    pub(crate) marian: Option<LoadedMarian>,
    /// The terms table: built in, with the `--glossary` file's entries.
    glossary: Glossary,
    /// The translation prompts' shared prefixes, computed on first use and kept for every article.
    prefixes: std::cell::OnceCell<Prefixes>,
    translate: TranslateSettings,
    summarize: SummarizeSettings,
    progress: bool,
    load_ms: u64,
}

pub(crate) struct LoadedMarian {
    marian: Marian,
    settings: MarianSettings,
    pub(crate) info: MarianInfo,
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
            "Marian model loaded: d_model {}, {}+{} layers, {:?}, {} threads, {} kernels, {:.1}s",
            c.d_model,
            c.encoder_layers,
            c.decoder_layers,
            precision,
            config.threads,
            config.cpu,
            start.elapsed().as_secs_f64()
        );
        let info = MarianInfo {
            name: resolved.name,
            path: resolved.path.display().to_string(),
            weights_sha256,
            architecture: "marian",
            precision: match precision {
                Precision::F32 => "f32",
                Precision::Int8 => "int8",
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
                cpu: config.cpu.name(),
            },
        };
        Ok(Self { marian, settings: settings.clone(), info })
    }
}

impl Pipeline {
    pub fn load(config: &Config) -> Result<Self> {
        let start = Instant::now();
        let glossary = Glossary::with_user_file(config.glossary.as_deref())?;
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
        let identity = match &model_info {
            Some(info) => Some(RunIdentity::new(config, info.sha256.clone(), translation_fingerprint(config)?, &glossary)),
            None => None,
        };
        Ok(Self {
            model,
            identity,
            model_info,
            marian,
            glossary,
            prefixes: std::cell::OnceCell::new(),
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
            "model loaded: {:?}, {} layers, {} tokens of context, {} threads, {} kernels, {:.1}s",
            c.arch,
            c.n_layer,
            c.context_length,
            config.threads,
            config.cpu,
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
                cpu: config.cpu.name(),
            },
        };
        Ok((model, model_info))
    }

    /// The translation prompts' shared prefixes for the chat model.
    fn prefixes(&self) -> Result<&Prefixes> {
        if let Some(prefixes) = self.prefixes.get() {
            return Ok(prefixes);
        }
        let prefixes = Prefixes::new(self.llm()?, &self.translate)?;
        Ok(self.prefixes.get_or_init(|| prefixes))
    }

    /// The chat model; every command but `translate --engine marian` loads one.
    pub(crate) fn llm(&self) -> Result<&ChatModel> {
        self.model.as_ref().ok_or_else(|| Error::Config("this command needs the chat model (--model)".into()))
    }

    pub(crate) fn source_info(&self, doc: &Document, paragraphs: usize) -> SourceInfo {
        SourceInfo { path: doc.origin.clone(), sha256: doc.sha256.clone(), encoding: doc.encoding.clone(), format: doc.format, paragraphs }
    }

    /// The glossary terms of `french` (none with `--plain`).
    fn terms(&self, french: &str) -> Vec<&crate::glossary::Term> {
        if self.translate.faithful {
            self.glossary.terms_in(french)
        } else {
            Vec::new()
        }
    }

    pub fn brief(&self, doc: &Document, article: &Article) -> Result<Brief> {
        let start = Instant::now();
        let english = self.translate_paragraphs(doc, &title_and_body(article), 0)?;
        self.finish_brief(doc, article, english, start.elapsed().as_millis() as u64)
    }

    /// Whether [`Pipeline::brief_many`] translates several articles in one batch (the Marian
    /// engine does; the LLM translates one prompt at a time).
    pub fn batches_articles(&self) -> bool {
        self.marian.is_some()
    }

    /// Briefs several articles; with the Marian engine their sentences are translated together
    /// in one set of padded batches (the same output as one article at a time: each sentence is
    /// decoded independently), then each article is summarized.
    pub fn brief_many(&self, articles: &[(&Document, &Article)]) -> Vec<Result<Brief>> {
        let Some(m) = self.marian.as_ref().filter(|_| articles.len() > 1) else {
            return articles.iter().map(|(doc, article)| self.brief(doc, article)).collect();
        };
        let start = Instant::now();
        let paragraphs: Vec<Vec<Source>> = articles.iter().map(|(_, article)| title_and_body(article)).collect();
        let flat: Vec<String> = paragraphs.iter().flatten().map(|s| s.text.to_string()).collect();
        let translated = match MarianTranslator::new(&m.marian, &m.settings).translate_paragraphs(&flat) {
            Ok(translated) => translated,
            Err(Error::Interrupted { signal }) => {
                return articles.iter().map(|_| Err(Error::Interrupted { signal })).collect();
            }
            // One article may be the cause: translate them one by one so that only it fails.
            Err(_) => return articles.iter().map(|(doc, article)| self.brief(doc, article)).collect(),
        };
        // One translation pass served every article of the batch: each records its duration.
        let translate_ms = start.elapsed().as_millis() as u64;
        let mut translated = translated.into_iter();
        articles
            .iter()
            .zip(&paragraphs)
            .map(|((doc, article), own)| {
                let mine: Vec<_> = translated.by_ref().take(own.len()).collect();
                let english = marian_paragraphs(doc, own, 0, mine, self);
                self.finish_brief(doc, article, english, translate_ms)
            })
            .collect()
    }

    /// Summarizes the translated article and assembles its record.
    fn finish_brief(&self, doc: &Document, article: &Article, english: TranslatedParagraphs, translate_ms: u64) -> Result<Brief> {
        let summarize_start = Instant::now();
        let terms = self.terms(&doc.text);
        let sources = Sources::french(&doc.text, &english.texts, &terms);
        let facts = key_facts(&article.title, &article.paragraphs, &self.glossary);
        let (title, body) = english.texts.split_first().expect("an article has a title");
        let summary: Summary = self.summarize(Some(title), body, &sources, &facts)?;
        let summarize_ms = summarize_start.elapsed().as_millis() as u64;

        let mut texts = english.texts.into_iter();
        let title = texts.next().unwrap_or_default();
        let timings_ms = BTreeMap::from([
            ("load_model".to_string(), self.load_ms),
            ("translate".to_string(), translate_ms),
            ("summarize".to_string(), summarize_ms),
            ("total".to_string(), self.load_ms + translate_ms + summarize_ms),
        ]);
        Ok(Brief {
            title,
            summary: summary.text,
            summary_method: summary.method,
            summary_candidates: summary.candidates,
            key_facts: summary.key_facts,
            translation: texts.collect(),
            paragraphs: english.reports,
            source: self.source_info(doc, article.paragraphs.len()),
            model: self.model_info.clone().ok_or_else(|| Error::Config("brief needs the chat model".into()))?,
            translation_model: self.marian.as_ref().map(|m| m.info.clone()),
            warnings: english.warnings,
            timings_ms,
            fingerprint: self.identity.as_ref().map(|i| i.fingerprint(&doc.sha256)).unwrap_or_default(),
        })
    }

    /// Translates `sources` (paragraphs of `doc`, numbered from `first` in reports: 0 when the
    /// title comes first).
    pub(crate) fn translate_paragraphs(&self, doc: &Document, sources: &[Source], first: usize) -> Result<TranslatedParagraphs> {
        if let Some(m) = &self.marian {
            let progress = Progress::new(self.progress, 0, "translating");
            let texts: Vec<String> = sources.iter().map(|s| s.text.to_string()).collect();
            let translations = MarianTranslator::new(&m.marian, &m.settings).translate_paragraphs(&texts)?;
            progress.finish();
            return Ok(marian_paragraphs(doc, sources, first, translations, self));
        }
        let translator = Translator::new(self.llm()?, self.translate.clone(), &self.glossary, self.prefixes()?);
        let progress = Progress::new(self.progress, sources.len() as u64, "translating");
        // What the input itself warned about (e.g. its encoding) comes first.
        let mut english = TranslatedParagraphs { texts: Vec::new(), warnings: doc.warnings.clone(), reports: Vec::new() };
        let mut finished = 0;
        let translations = translator.translate_paragraphs(sources, |i, t| {
            finished += 1;
            progress.step(&format!(
                "paragraph {}/{} done ({finished} of {}, {} tokens)",
                i + 1,
                sources.len(),
                sources.len(),
                t.generated_tokens()
            ));
        })?;
        for (i, t) in translations.into_iter().enumerate() {
            let report = report(first + i, &t);
            english.warnings.extend(paragraph_warnings(doc, first, i, t.hit_limit(), &report));
            english.texts.push(t.text);
            english.reports.push(report);
        }
        progress.finish();
        Ok(english)
    }

    pub(crate) fn translate_lines(&self, doc: &Document, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
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
                        let record = MarianLineRecord { line: i + 1, text: &text, tokens: &t.tokens, score: t.score, parts: t.parts, stop };
                        write_json_line(out, &record)?
                    }
                }
            }
            return Ok(());
        }
        let translator = Translator::new(self.llm()?, self.translate.clone(), &self.glossary, self.prefixes()?);
        let progress = Progress::new(self.progress, lines.len() as u64, "translating");
        // Windows of lines decoded together; each window's lines are written when it is done,
        // so a long input streams out.
        const WINDOW: usize = 4 * crate::translate::BATCH;
        let mut finished = 0;
        for (w, window) in lines.chunks(WINDOW).enumerate() {
            let sources: Vec<Source> = window.iter().map(|line| Source::body(line)).collect();
            let translations = translator.translate_paragraphs(&sources, |_, _| {
                finished += 1;
                progress.step(&format!("line {finished}/{}", lines.len()));
            })?;
            for (j, t) in translations.iter().enumerate() {
                let i = w * WINDOW + j;
                // One output line per input line, whatever the model wrote.
                let text = t.text.replace(['\n', '\r'], " ");
                if t.hit_limit() {
                    tracing::warn!("{}: line {} hit the generation limit", doc.origin, i + 1);
                }
                for finding in &t.findings {
                    tracing::warn!("{}: line {} fails a check: {finding}", doc.origin, i + 1);
                }
                match format {
                    OutputFormat::Text => write_text(out, &(text + "\n"))?,
                    OutputFormat::Json => {
                        let tokens: Vec<u32> = t.segments.iter().flat_map(|s| s.tokens.iter().copied()).collect();
                        let stop = if t.hit_limit() { StopReason::MaxTokens } else { StopReason::Eog };
                        let record = LineRecord {
                            line: i + 1,
                            text: &text,
                            tokens: &tokens,
                            prompt_tokens: t.prompt_tokens(),
                            stop,
                            report: report(i + 1, t),
                        };
                        write_json_line(out, &record)?
                    }
                }
            }
        }
        progress.finish();
        Ok(())
    }

    /// Summarizes an English article (`title`, `body`), checked against `sources`.
    pub(crate) fn summarize(
        &self,
        title: Option<&str>,
        body: &[String],
        sources: &Sources,
        facts: &[crate::summarize::KeyFact],
    ) -> Result<Summary> {
        let progress = Progress::new(self.progress, 0, "summarizing");
        let summary = Summarizer::new(self.llm()?, self.summarize.clone()).summarize(title, body, sources, facts);
        progress.finish();
        summary
    }

    /// Summarizes English text (`precis summarize`): checked against the text itself.
    pub(crate) fn summarize_english(&self, paragraphs: &[String], text: &str) -> Result<Summary> {
        let sources = Sources { original: text, language: Language::English, english: paragraphs, terms: &[] };
        match paragraphs.split_first() {
            Some((title, body)) if !body.is_empty() => self.summarize(Some(title), body, &sources, &[]),
            _ => self.summarize(None, paragraphs, &sources, &[]),
        }
    }
}

/// Translated paragraphs with what the reader must be told about them.
pub(crate) struct TranslatedParagraphs {
    pub texts: Vec<String>,
    pub warnings: Vec<String>,
    pub reports: Vec<ParagraphReport>,
}
