//! Translation with a Marian (opus-mt) model: segments are tokenized, split when longer than
//! the model's position limit (at sentence, then clause, then word boundaries, so nothing is
//! truncated), translated in length-sorted padded batches, and put back together in order.

use crate::conventions::{english_conventions, restore_source_numbers};
use crate::engine::marian::{GenerationConfig, GenerationOverrides, Hypothesis, Marian};
use crate::segment::split_sentences;
use crate::Result;

/// Marian decoding settings over the checkpoint's `generation_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct MarianSettings {
    pub overrides: GenerationOverrides,
    /// Sentences per padded batch (default 32).
    pub batch_size: usize,
}

impl Default for MarianSettings {
    fn default() -> Self {
        Self { overrides: GenerationOverrides::default(), batch_size: 32 }
    }
}

/// The translation of one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct MarianTranslation {
    /// The decoded text (`skip_special_tokens=True`); parts of a split segment joined by a space.
    pub text: String,
    /// Generated ids of every part in order, each without the decoder start token, with EOS
    /// when produced.
    pub tokens: Vec<u32>,
    /// The beam score (HF `sequences_scores`) or, for greedy decoding, the mean log-probability
    /// of the generated tokens; for a split segment the mean of its parts' scores weighted by
    /// their generated tokens. 0 for an empty segment.
    pub score: f32,
    /// How many parts the segment was split into (1 when it fit; 0 when empty).
    pub parts: usize,
    /// A part reached `max_new_tokens` (its EOS, if any, was forced).
    pub hit_limit: bool,
}

pub struct MarianTranslator<'m> {
    marian: &'m Marian,
    generation: GenerationConfig,
    batch_size: usize,
}

impl<'m> MarianTranslator<'m> {
    pub fn new(marian: &'m Marian, settings: &MarianSettings) -> Self {
        let generation = marian.generation.with(&settings.overrides, marian.model.config().max_position_embeddings);
        Self { marian, generation, batch_size: settings.batch_size }
    }

    pub fn generation(&self) -> &GenerationConfig {
        &self.generation
    }

    /// Translates each segment as one unit (split only when over the position limit);
    /// empty or blank segments give empty translations.
    pub fn translate_segments(&self, segments: &[&str]) -> Result<Vec<MarianTranslation>> {
        let limit = self.marian.max_source_tokens();
        let mut parts: Vec<Vec<u32>> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if segment.trim().is_empty() {
                continue;
            }
            for piece in split_to_fit(segment, &|s| Ok(self.marian.tokenizer.encode(s)?.len() <= limit))? {
                let mut ids = self.marian.tokenizer.encode(piece)?;
                // A single character over the limit (never in real text): its ids are cut, the
                // only place where anything is dropped.
                if ids.len() > limit {
                    ids.truncate(limit - 1);
                    ids.push(self.marian.tokenizer.eos_id());
                }
                parts.push(ids);
                owners.push(i);
            }
        }
        let hypotheses = self.marian.generate(&parts, &self.generation, self.batch_size)?;
        let mut grouped: Vec<Vec<Hypothesis>> = vec![Vec::new(); segments.len()];
        for (owner, h) in owners.into_iter().zip(hypotheses) {
            grouped[owner].push(h);
        }
        Ok(grouped.into_iter().map(|hs| self.join(hs)).collect())
    }

    /// Translates paragraphs sentence by sentence (Marian models are trained on sentences),
    /// every sentence of every paragraph in one set of batches; a paragraph's sentences are
    /// joined by a space and get the English number and quote conventions.
    pub fn translate_paragraphs(&self, paragraphs: &[String]) -> Result<Vec<MarianTranslation>> {
        let sentences: Vec<Vec<&str>> = paragraphs.iter().map(|p| split_sentences(p)).collect();
        let flat: Vec<&str> = sentences.iter().flatten().copied().collect();
        let mut translated = self.translate_segments(&flat)?.into_iter();
        Ok(paragraphs
            .iter()
            .zip(&sentences)
            .map(|(paragraph, s)| {
                let mut t = self.join_translations(translated.by_ref().take(s.len()).collect());
                t.text = restore_source_numbers(&english_conventions(&t.text), paragraph);
                t
            })
            .collect())
    }

    fn join(&self, parts: Vec<Hypothesis>) -> MarianTranslation {
        let eos = &self.generation.eos_token_ids;
        let translations = parts
            .into_iter()
            .map(|h| MarianTranslation {
                text: self.marian.tokenizer.decode(&h.tokens),
                // At the limit the last token is a forced EOS (or none at all).
                hit_limit: !h.tokens.last().is_some_and(|t| eos.contains(t)) || h.tokens.len() >= self.generation.max_new_tokens,
                tokens: h.tokens,
                score: h.score,
                parts: 1,
            })
            .collect();
        self.join_translations(translations)
    }

    fn join_translations(&self, parts: Vec<MarianTranslation>) -> MarianTranslation {
        let weight: usize = parts.iter().map(|p| p.tokens.len()).sum();
        let score = if weight == 0 {
            0.0
        } else {
            (parts.iter().map(|p| p.score as f64 * p.tokens.len() as f64).sum::<f64>() / weight as f64) as f32
        };
        MarianTranslation {
            text: parts.iter().map(|p| p.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "),
            tokens: parts.iter().flat_map(|p| p.tokens.iter().copied()).collect(),
            score,
            parts: parts.iter().map(|p| p.parts).sum(),
            hit_limit: parts.iter().any(|p| p.hit_limit),
        }
    }
}

/// Splits `text` into consecutive pieces that each `fits`: whole text if it fits, else groups
/// of sentences, then of clauses (after `,;:`), then of words, then of characters. Pieces are
/// slices of `text`, trimmed; nothing is dropped but the whitespace between them.
pub fn split_to_fit<'t>(text: &'t str, fits: &dyn Fn(&str) -> Result<bool>) -> Result<Vec<&'t str>> {
    let text = text.trim();
    if text.is_empty() || fits(text)? {
        return Ok(vec![text]);
    }
    let levels: [fn(&str) -> Vec<&str>; 4] = [
        |t| split_sentences(t),
        |t| split_after(t, |c| matches!(c, ',' | ';' | ':')),
        |t| split_after(t, char::is_whitespace),
        |t| t.char_indices().map(|(i, c)| &t[i..i + c.len_utf8()]).collect(),
    ];
    for split in levels {
        let units = split(text);
        if units.len() < 2 {
            continue;
        }
        let mut pieces = Vec::new();
        let mut start: Option<&str> = None;
        for unit in units {
            if let Some(current) = start {
                let joined = span(text, current, unit);
                if fits(joined)? {
                    start = Some(joined);
                    continue;
                }
                pieces.extend(split_to_fit(current, fits)?);
            }
            start = Some(unit);
        }
        if let Some(current) = start {
            pieces.extend(split_to_fit(current, fits)?);
        }
        return Ok(pieces.into_iter().filter(|p| !p.is_empty()).collect());
    }
    Ok(vec![text])
}

/// The slice of `text` from the start of `a` to the end of `b` (both slices of `text`).
fn span<'t>(text: &'t str, a: &str, b: &str) -> &'t str {
    let base = text.as_ptr() as usize;
    let start = a.as_ptr() as usize - base;
    let end = b.as_ptr() as usize - base + b.len();
    &text[start..end]
}

/// Slices of `text` that end after each character matching `at` (and the rest).
fn split_after(text: &str, at: impl Fn(char) -> bool) -> Vec<&str> {
    let mut units = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if at(c) {
            let end = i + c.len_utf8();
            units.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        units.push(&text[start..]);
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_at_most(n: usize) -> impl Fn(&str) -> Result<bool> {
        move |s: &str| Ok(s.split_whitespace().count() <= n)
    }

    #[test]
    fn text_that_fits_stays_whole() {
        assert_eq!(split_to_fit("  Une phrase courte.  ", &words_at_most(5)).unwrap(), vec!["Une phrase courte."]);
    }

    #[test]
    fn long_text_splits_at_sentences_then_clauses_then_words() {
        let text = "Un deux trois. Quatre cinq. Six sept huit, neuf dix onze douze treize.";
        let pieces = split_to_fit(text, &words_at_most(5)).unwrap();
        assert_eq!(pieces, vec!["Un deux trois. Quatre cinq.", "Six sept huit,", "neuf dix onze douze treize."]);
        let pieces = split_to_fit("a b c d e f g", &words_at_most(3)).unwrap();
        assert_eq!(pieces, vec!["a b c", "d e f", "g"]);
        // Nothing but whitespace between pieces is lost.
        let pieces = split_to_fit(text, &words_at_most(2)).unwrap();
        let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(strip(&pieces.concat()), strip(text));
        assert!(pieces.iter().all(|p| p.split_whitespace().count() <= 2), "{pieces:?}");
    }

    #[test]
    fn a_word_longer_than_the_limit_splits_into_characters() {
        let fits = |s: &str| Ok(s.chars().count() <= 3);
        assert_eq!(split_to_fit("abcdefg", &fits).unwrap(), vec!["abc", "def", "g"]);
    }
}
