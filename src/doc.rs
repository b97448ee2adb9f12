//! The domain records: what comes in (a [`Document`]) and what goes out (a [`Brief`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::check::Finding;
use crate::translate::Method;
use crate::verify::Grounding;

/// One input text as read: where it came from, its bytes' hash, and its decoded text.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where the text came from: a path, or `-` for standard input.
    pub origin: String,
    pub text: String,
    pub sha256: String,
    /// The encoding the bytes were decoded from (`UTF-8` unless a BOM or detection said otherwise).
    pub encoding: String,
    /// What the text was written in; `text` holds its plain text (HTML and Markdown reduced).
    pub format: InputFormat,
    /// Things the user should know about the input (e.g. it was not UTF-8).
    pub warnings: Vec<String>,
}

/// How the summary was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryMethod {
    /// A model summary that passed the grounding check.
    Llm,
    /// No model summary passed; the best one without its ungrounded sentences.
    LlmTrimmed,
    /// The lead of the translation and the sentences that state the key facts it misses,
    /// verbatim: it kept more key facts than any grounded model summary.
    Lead,
    /// No model summary was usable: the most central sentences of the translation, verbatim.
    Extractive,
}

/// One candidate summary, and how it fared.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryCandidate {
    /// Which instruction asked for it (`prompts/summarize.instructions.txt`), or `lead` for
    /// the lead summary (`src/summarize/lead.rs`).
    pub prompt: String,
    pub text: String,
    pub words: usize,
    pub grounding: Grounding,
    /// How many of the article's key facts it keeps.
    pub key_facts_kept: usize,
    /// The summary kept is this one (trimmed, with `llm_trimmed`).
    pub chosen: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub text: String,
    pub method: SummaryMethod,
    /// Every candidate summary (those the model wrote, and the lead summary), with its checks.
    pub candidates: Vec<SummaryCandidate>,
    /// The article's key facts (numbers and names of its lead and those it repeats), as an
    /// English text writes them.
    pub key_facts: Vec<String>,
}

/// How one translated paragraph fared.
#[derive(Debug, Clone, Serialize)]
pub struct ParagraphReport {
    /// 0 for the title, then the body paragraphs from 1 (for `translate`, paragraphs from 1).
    pub paragraph: usize,
    /// Mean log-probability of the translation's tokens (LLM), or the beam score (Marian);
    /// `null` for an empty paragraph.
    pub confidence: Option<f32>,
    /// Confidence below the threshold: the translation is doubtful.
    pub low_confidence: bool,
    /// Checks the translation kept still fails.
    pub findings: Vec<Finding>,
    /// `first`, or how the paragraph was translated again after failing a check.
    pub method: Method,
    /// Checks the first translation failed, when it was translated again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_findings: Vec<Finding>,
}

impl ParagraphReport {
    /// Whether the Markdown marks the paragraph: a failed check or low confidence.
    pub fn is_doubtful(&self) -> bool {
        self.low_confidence || !self.findings.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    pub path: String,
    /// SHA-256 of the input bytes as read.
    pub sha256: String,
    pub encoding: String,
    pub format: InputFormat,
    /// Body paragraphs (the title is not counted).
    pub paragraphs: usize,
}

/// Decoding settings, recorded so that a run can be reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeSettings {
    pub strategy: &'static str,
    /// Paragraphs longer than this many tokens are translated in sentence groups.
    pub max_segment_tokens: usize,
    /// Generation limit per segment: `base + per_source_token * source tokens`.
    pub max_new_tokens_base: usize,
    pub max_new_tokens_per_source_token: usize,
    pub summary_max_new_tokens: usize,
    pub threads: usize,
    /// Instruction-set level of the kernels (`portable`, `avx2`); the same results at every level.
    pub cpu: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub architecture: String,
    pub decoding: DecodeSettings,
}

/// A Marian translation model and its decoding settings, recorded so that a run can be reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct MarianInfo {
    /// The checkpoint as given: a directory or `REPO_ID@revision`.
    pub name: String,
    /// The checkpoint directory.
    pub path: String,
    /// sha256 of the weights file (`model.safetensors` or `pytorch_model.bin`).
    pub weights_sha256: String,
    pub architecture: &'static str,
    /// `f32` or `int8` (--int8).
    pub precision: &'static str,
    pub decoding: MarianDecoding,
}

#[derive(Debug, Clone, Serialize)]
pub struct MarianDecoding {
    /// `greedy` or `beam`.
    pub strategy: &'static str,
    pub num_beams: usize,
    pub length_penalty: f32,
    /// `true`, `false` or `never`, as in HF.
    pub early_stopping: &'static str,
    pub max_new_tokens: usize,
    pub min_new_tokens: usize,
    pub batch_size: usize,
    pub threads: usize,
    /// Instruction-set level of the kernels (`portable`, `avx2`); the same results at every level.
    pub cpu: &'static str,
}

/// The record `brief --json` prints and batch runs write.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub title: String,
    pub summary: String,
    pub summary_method: SummaryMethod,
    /// Every summary the model wrote, with its grounding and the key facts it keeps.
    pub summary_candidates: Vec<SummaryCandidate>,
    /// The key facts the summaries were measured on.
    pub key_facts: Vec<String>,
    /// One English paragraph per source body paragraph, in order (the title is not included).
    pub translation: Vec<String>,
    /// Confidence and checks of the title (paragraph 0) and of each translated paragraph.
    pub paragraphs: Vec<ParagraphReport>,
    pub source: SourceInfo,
    pub model: ModelInfo,
    /// The Marian model that translated (`--engine marian`); absent when the LLM translated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation_model: Option<MarianInfo>,
    /// Things the user should know: a segment that hit the generation limit, a paragraph that
    /// fails a check after its repairs, or whose confidence is low.
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
    /// SHA-256 over everything that decides this record: the input bytes, the model file, the
    /// prompts, the glossary and the settings. Batch runs skip an article whose fingerprint is
    /// unchanged.
    pub fingerprint: String,
}

/// What kind of text a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    Text,
    Markdown,
    Html,
}

impl InputFormat {
    /// From a file name's extension; `None` when it says nothing (the content decides).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "html" | "htm" | "xhtml" => Some(InputFormat::Html),
            "md" | "markdown" => Some(InputFormat::Markdown),
            "txt" | "text" => Some(InputFormat::Text),
            _ => None,
        }
    }
}
