//! Translator: French paragraphs to English with a chat model, one paragraph per prompt.
//! A paragraph longer than the segment budget is translated in groups of whole sentences, so
//! nothing is truncated; every output gets the English number and quote conventions.

use crate::conventions::{english_conventions, restore_source_numbers};
use crate::engine::kv_cache::PrefixCache;
use crate::engine::search::LoopGuard;
use crate::engine::{ChatMessage, ChatModel, StopReason};
use crate::segment::{split_long, split_sentences};
use crate::Result;

pub mod marian;

const SYSTEM_PROMPT: &str = include_str!("../prompts/translate.system.txt");
const USER_PROMPT: &str = include_str!("../prompts/translate.user.txt");

/// The prompt texts, part of what decides an output (see [`crate::job::RunIdentity`]).
pub const PROMPTS: [&str; 2] = [SYSTEM_PROMPT, USER_PROMPT];

/// Translation settings. Defaults in [`TranslateSettings::default`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TranslateSettings {
    /// Source tokens above which a paragraph is split into sentence groups (default 400).
    pub max_segment_tokens: usize,
    /// Generation limit per segment is `max_new_base + max_new_per_token * source tokens`
    /// (defaults 64 and 3): far above any faithful translation, so hitting it means the model
    /// went astray, which is reported as a warning.
    pub max_new_base: usize,
    pub max_new_per_token: usize,
}

impl Default for TranslateSettings {
    fn default() -> Self {
        Self { max_segment_tokens: 400, max_new_base: 64, max_new_per_token: 3 }
    }
}

/// The translation of one segment of source text.
#[derive(Debug, Clone)]
pub struct SegmentTranslation {
    /// English text after [`english_conventions`], on one line.
    pub text: String,
    /// Generated ids, without the end-of-generation token.
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub stop: StopReason,
}

/// The translation of one paragraph (one or more segments joined by a space).
#[derive(Debug, Clone)]
pub struct ParagraphTranslation {
    pub text: String,
    pub segments: Vec<SegmentTranslation>,
}

impl ParagraphTranslation {
    /// A segment ended without an end-of-generation token (the limit, or a repetition loop).
    pub fn hit_limit(&self) -> bool {
        self.segments.iter().any(|s| s.stop != StopReason::Eog)
    }

    pub fn generated_tokens(&self) -> usize {
        self.segments.iter().map(|s| s.tokens.len()).sum()
    }

    pub fn prompt_tokens(&self) -> usize {
        self.segments.iter().map(|s| s.prompt_tokens).sum()
    }
}

/// How many segments are decoded together. More keeps the cores busier per weight read, at a
/// KV cache of ~17 MB per segment for a 1.5B model.
pub const BATCH: usize = 16;

pub struct Translator<'m> {
    model: &'m ChatModel,
    settings: TranslateSettings,
    /// The system prompt and instructions, identical for every segment, computed once.
    prefix: PrefixCache,
}

/// The chat messages that ask for the translation of `text`.
pub fn translation_messages(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::system(SYSTEM_PROMPT), ChatMessage::user(USER_PROMPT.replace("{text}", text))]
}

impl<'m> Translator<'m> {
    pub fn new(model: &'m ChatModel, settings: TranslateSettings) -> Result<Self> {
        let prefix = model.shared_prefix(translation_messages)?;
        Ok(Self { model, settings, prefix })
    }

    pub fn settings(&self) -> &TranslateSettings {
        &self.settings
    }

    /// Translates segments as they are (no splitting), decoding up to [`BATCH`] of them at once;
    /// each output is identical to translating the segment alone. `on_done(i, translation)` is
    /// called as segment `i` finishes (empty ones first).
    pub fn translate_segments(
        &self,
        texts: &[&str],
        mut on_done: impl FnMut(usize, &SegmentTranslation),
    ) -> Result<Vec<SegmentTranslation>> {
        let mut done: Vec<Option<SegmentTranslation>> = vec![None; texts.len()];
        let mut jobs = Vec::new();
        // The segment each job translates.
        let mut segment_of = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let text = text.trim();
            if text.is_empty() {
                let empty = SegmentTranslation { text: String::new(), tokens: vec![], prompt_tokens: 0, stop: StopReason::Eog };
                on_done(i, &empty);
                done[i] = Some(empty);
                continue;
            }
            let source_tokens = self.model.tokenizer.encode(text, false)?.len();
            let prompt = self.model.prompt(&translation_messages(text))?;
            let limit = self.settings.max_new_base + self.settings.max_new_per_token * source_tokens;
            let limit = limit.min(self.model.room_after(prompt.len()));
            segment_of.push(i);
            jobs.push(self.model.job_after(&self.prefix, &prompt, limit, Some(LoopGuard::for_translation(source_tokens))));
        }
        self.model.complete_all(jobs, BATCH, |job, generation| {
            let i = segment_of[job];
            let raw = self.model.tokenizer.decode(&generation.tokens, true);
            let text = restore_source_numbers(&english_conventions(&raw), texts[i].trim());
            // A paragraph stays one paragraph, whatever line breaks the model wrote.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let translation = SegmentTranslation {
                text,
                tokens: generation.tokens.clone(),
                prompt_tokens: generation.prompt_tokens,
                stop: generation.stop,
            };
            on_done(i, &translation);
            done[i] = Some(translation);
        })?;
        Ok(done.into_iter().map(|t| t.expect("every segment translated")).collect())
    }

    /// Translates a paragraph, in sentence groups when it exceeds the segment budget.
    pub fn translate_paragraph(&self, paragraph: &str) -> Result<ParagraphTranslation> {
        Ok(self.translate_paragraphs(&[paragraph], |_, _| {})?.pop().expect("one paragraph, one translation"))
    }

    /// Translates paragraphs, all their segments decoded together in batches (see
    /// [`Translator::translate_segments`]). `on_done(i, translation)` is called as paragraph `i`
    /// is complete.
    pub fn translate_paragraphs(
        &self,
        paragraphs: &[&str],
        mut on_done: impl FnMut(usize, &ParagraphTranslation),
    ) -> Result<Vec<ParagraphTranslation>> {
        let mut segments = Vec::new();
        // Per segment: (paragraph, place in the paragraph).
        let mut owner = Vec::new();
        let mut parts: Vec<Vec<Option<SegmentTranslation>>> = Vec::with_capacity(paragraphs.len());
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let pieces = self.segments(paragraph)?;
            owner.extend((0..pieces.len()).map(|k| (p, k)));
            parts.push(vec![None; pieces.len()]);
            segments.extend(pieces);
        }
        let mut out: Vec<Option<ParagraphTranslation>> = vec![None; paragraphs.len()];
        let mut finish = |p: usize, parts: &mut Vec<Option<SegmentTranslation>>| {
            let segments: Vec<SegmentTranslation> = parts.drain(..).map(|t| t.expect("segment translated")).collect();
            let text = segments.iter().map(|t| t.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
            let translation = ParagraphTranslation { text, segments };
            on_done(p, &translation);
            out[p] = Some(translation);
        };
        for (p, paragraph_parts) in parts.iter_mut().enumerate() {
            if paragraph_parts.is_empty() {
                finish(p, paragraph_parts);
            }
        }
        let texts: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.translate_segments(&texts, |s, translation| {
            let (p, k) = owner[s];
            parts[p][k] = Some(translation.clone());
            if parts[p].iter().all(Option::is_some) {
                finish(p, &mut parts[p]);
            }
        })?;
        Ok(out.into_iter().map(|t| t.expect("every paragraph translated")).collect())
    }

    /// Groups of whole sentences within the token budget. A single sentence over the budget is
    /// cut at clauses (then between words) rather than translated in one piece: a 5,000-character
    /// sentence would otherwise take minutes and stray far from its source.
    fn segments(&self, paragraph: &str) -> Result<Vec<String>> {
        let budget = self.settings.max_segment_tokens;
        let count = |text: &str| self.model.tokenizer.encode(text, false).map(|ids| ids.len());
        if count(paragraph)? <= budget {
            return Ok(vec![paragraph.to_string()]);
        }
        let mut pieces = Vec::new();
        for sentence in split_sentences(paragraph) {
            if count(sentence)? <= budget {
                pieces.push(sentence.to_string());
            } else {
                pieces.extend(split_long(sentence, budget, count)?);
            }
        }
        let mut groups: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut current_tokens = 0;
        for piece in pieces {
            let n = count(&piece)?;
            if !current.is_empty() && current_tokens + n > budget {
                groups.push(std::mem::take(&mut current));
                current_tokens = 0;
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&piece);
            current_tokens += n;
        }
        if !current.is_empty() {
            groups.push(current);
        }
        Ok(groups)
    }
}
