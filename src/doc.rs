//! The domain records: what comes in (a [`Document`]) and what goes out (a [`Brief`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::input::InputFormat;
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
    /// The model's first summary passed the grounding check.
    Llm,
    /// The first failed; the model's second summary, with a stricter prompt, passed.
    LlmStrict,
    /// Both failed; the most central sentences of the translation, verbatim.
    Extractive,
}

/// One summary attempt that the grounding check rejected.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedSummary {
    pub method: SummaryMethod,
    pub text: String,
    pub grounding: Grounding,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub text: String,
    pub method: SummaryMethod,
    /// Earlier attempts that failed the grounding check, in order.
    pub rejected: Vec<RejectedSummary>,
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
}

/// The record `brief --json` prints and batch runs write.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub title: String,
    pub summary: String,
    pub summary_method: SummaryMethod,
    /// Summaries rejected by the grounding check before the one kept.
    pub rejected_summaries: Vec<RejectedSummary>,
    /// One English paragraph per source body paragraph, in order (the title is not included).
    pub translation: Vec<String>,
    pub source: SourceInfo,
    pub model: ModelInfo,
    /// The Marian model that translated (`--engine marian`); absent when the LLM translated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation_model: Option<MarianInfo>,
    /// Things the user should know (e.g. a segment that hit the generation limit).
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
    /// SHA-256 over everything that decides this record: the input bytes, the model file, the
    /// prompts and the settings. Batch runs skip an article whose fingerprint is unchanged.
    pub fingerprint: String,
}
