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

    /// Translates one segment as is (no splitting). Empty input gives empty output.
    pub fn translate_segment(&self, text: &str) -> Result<SegmentTranslation> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(SegmentTranslation { text: String::new(), tokens: vec![], prompt_tokens: 0, stop: StopReason::Eog });
        }
        let source_tokens = self.model.tokenizer.encode(text, false)?.len();
        let prompt = self.model.prompt(&translation_messages(text))?;
        let limit = self.settings.max_new_base + self.settings.max_new_per_token * source_tokens;
        let limit = limit.min(self.model.room_after(prompt.len()));
        let guard = LoopGuard::for_translation(source_tokens);
        let generation = self.model.complete_after(&self.prefix, &prompt, limit, Some(guard))?;
        let raw = self.model.tokenizer.decode(&generation.tokens, true);
        let text = restore_source_numbers(&english_conventions(&raw), text);
        // A paragraph stays one paragraph, whatever line breaks the model wrote.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(SegmentTranslation {
            text,
            tokens: generation.tokens,
            prompt_tokens: generation.prompt_tokens,
            stop: generation.stop,
        })
    }

    /// Translates a paragraph, in sentence groups when it exceeds the segment budget.
    pub fn translate_paragraph(&self, paragraph: &str) -> Result<ParagraphTranslation> {
        let segments = self.segments(paragraph)?;
        let translations = segments.iter().map(|s| self.translate_segment(s)).collect::<Result<Vec<_>>>()?;
        let text = translations.iter().map(|t| t.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Ok(ParagraphTranslation { text, segments: translations })
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
