//! Summarizer: a short factual English briefing from the English translation, checked
//! against the article by [`crate::verify`]. The model gets two chances (the second with a
//! stricter prompt); if both summaries state a number or name the article does not, the
//! summary is extractive: the article's most central sentences, verbatim.

pub mod extractive;

use crate::doc::{RejectedSummary, Summary, SummaryMethod};
use crate::engine::{ChatMessage, ChatModel};
use crate::verify::check_grounding;
use crate::Result;

pub use extractive::{extractive_summary, shape_summary};

const SYSTEM_PROMPT: &str = include_str!("../../prompts/summarize.system.txt");
const STRICT_SYSTEM_PROMPT: &str = include_str!("../../prompts/summarize.strict.system.txt");
const USER_PROMPT: &str = include_str!("../../prompts/summarize.user.txt");

/// The prompt texts, part of what decides an output (see [`crate::job::RunIdentity`]).
pub const PROMPTS: [&str; 3] = [SYSTEM_PROMPT, STRICT_SYSTEM_PROMPT, USER_PROMPT];

/// Summary settings. Defaults in [`SummarizeSettings::default`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SummarizeSettings {
    /// Most sentences kept from a model summary (default 5).
    pub max_sentences: usize,
    /// Most words kept, cutting at a sentence boundary (default 120).
    pub max_words: usize,
    /// Generation limit for one summary, in tokens (default 320).
    pub max_new_tokens: usize,
}

impl Default for SummarizeSettings {
    fn default() -> Self {
        Self { max_sentences: 5, max_words: 120, max_new_tokens: 320 }
    }
}

/// The chat messages asking for a summary of `article` (English text).
pub fn summary_messages(article: &str, strict: bool) -> Vec<ChatMessage> {
    let system = if strict { STRICT_SYSTEM_PROMPT } else { SYSTEM_PROMPT };
    vec![ChatMessage::system(system), ChatMessage::user(USER_PROMPT.replace("{text}", article))]
}

pub struct Summarizer<'m> {
    model: &'m ChatModel,
    settings: SummarizeSettings,
}

impl<'m> Summarizer<'m> {
    pub fn new(model: &'m ChatModel, settings: SummarizeSettings) -> Self {
        Self { model, settings }
    }

    pub fn settings(&self) -> &SummarizeSettings {
        &self.settings
    }

    /// Summarizes `paragraphs` (English; the title first if there is one). `sources` are the
    /// texts a summary's numbers and names must be found in (the original and its translation).
    pub fn summarize(&self, paragraphs: &[String], sources: &[&str]) -> Result<Summary> {
        let article = paragraphs.join("\n\n");
        let mut rejected = Vec::new();
        for (strict, method) in [(false, SummaryMethod::Llm), (true, SummaryMethod::LlmStrict)] {
            let text = self.generate(&article, strict)?;
            let grounding = check_grounding(&text, sources);
            if grounding.is_grounded() && !text.is_empty() {
                return Ok(Summary { text, method, rejected });
            }
            tracing::warn!(
                "summary ({method:?}) rejected: not found in the article: {}",
                grounding.unsupported.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(", ")
            );
            rejected.push(RejectedSummary { method, text, grounding });
        }
        let text = extractive_summary(paragraphs, self.settings.max_sentences, self.settings.max_words);
        Ok(Summary { text, method: SummaryMethod::Extractive, rejected })
    }

    fn generate(&self, article: &str, strict: bool) -> Result<String> {
        let prompt = self.model.prompt(&summary_messages(article, strict))?;
        let limit = self.settings.max_new_tokens.min(self.model.room_after(prompt.len()));
        let generation = self.model.complete(&prompt, limit, None)?;
        let raw = self.model.tokenizer.decode(&generation.tokens, true);
        Ok(shape_summary(&raw, self.settings.max_sentences, self.settings.max_words))
    }
}
