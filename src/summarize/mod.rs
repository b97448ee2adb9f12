//! Summarizer: a short factual English briefing from the English translation.
//!
//! Candidates: the lead summary ([`lead_summary`]: the translation's lead and the sentences that
//! state the key facts it misses) and summaries the model writes, each asked for with a
//! different instruction after the same article (the article's part of the prompt is computed
//! once). The model writes none when the lead summary already keeps every key fact, and more than
//! one only when neither its first nor the lead summary is good enough. Each candidate is checked
//! against the article by [`crate::verify`], and the one kept is the first by: grounded, then the
//! share of the article's key facts it keeps ([`key_facts`]), then a length inside the limits.
//! When no candidate is grounded, the sentences holding unsupported claims are dropped from the
//! best one (`llm_trimmed`); when too little is left, the summary is extractive: the article's
//! most central sentences.

pub mod extractive;
pub mod key_facts;
pub mod lead;

use crate::doc::{Summary, SummaryCandidate, SummaryMethod};
use crate::engine::kv_cache::PrefixCache;
use crate::engine::{ChatMessage, ChatModel};
use crate::segment::split_sentences;
use crate::verify::{Grounder, Sources};
use crate::Result;

pub use extractive::{extractive_summary, shape_summary};
pub use key_facts::{key_facts, KeyFact};
pub use lead::lead_summary;

const SYSTEM_PROMPT: &str = include_str!("../../prompts/summarize.system.txt");
const USER_PROMPT: &str = include_str!("../../prompts/summarize.user.txt");
const INSTRUCTIONS: &str = include_str!("../../prompts/summarize.instructions.txt");

/// The prompt texts, part of what decides an output (see [`crate::pipeline::RunIdentity`]).
pub const PROMPTS: [&str; 3] = [SYSTEM_PROMPT, USER_PROMPT, INSTRUCTIONS];

/// Summary settings. Defaults in [`SummarizeSettings::default`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SummarizeSettings {
    /// Most sentences kept from a model summary (default 5).
    pub max_sentences: usize,
    /// Most words kept, cutting at a sentence boundary (default 120).
    pub max_words: usize,
    /// Generation limit for one summary, in tokens (default 200: 120 words are about 160).
    pub max_new_tokens: usize,
}

impl Default for SummarizeSettings {
    fn default() -> Self {
        Self { max_sentences: 5, max_words: 120, max_new_tokens: 200 }
    }
}

/// A summary shorter than this many words, or of fewer sentences than [`MIN_SENTENCES`], is
/// not worth keeping after trimming.
const MIN_WORDS: usize = 25;
const MIN_SENTENCES: usize = 2;

/// The candidate instructions: `(name, text)`, in the order they are tried on ties. `{facts}`
/// stands for the article's key facts.
fn instructions() -> Vec<(&'static str, &'static str)> {
    INSTRUCTIONS.lines().filter(|line| !line.trim().is_empty() && !line.starts_with('#')).filter_map(|line| line.split_once('\t')).collect()
}

/// The chat messages asking for a summary of `article` (English text) with `instruction`.
pub fn summary_messages(article: &str, instruction: &str) -> Vec<ChatMessage> {
    let user = USER_PROMPT.replace("{text}", article).replace("{instruction}", instruction);
    vec![ChatMessage::system(SYSTEM_PROMPT), ChatMessage::user(user)]
}

/// The `prompt` of the lead summary among the candidates ([`lead_summary`]).
pub const LEAD_CANDIDATE: &str = "lead";

/// Share of the key facts a first summary must keep for the other instructions to be skipped.
const GOOD_ENOUGH_FACTS: f64 = 0.5;

/// Whether a summary is kept without trying the other instructions: grounded, long enough, and
/// keeping [`GOOD_ENOUGH_FACTS`] of the key facts.
fn good_enough(c: &SummaryCandidate, facts: usize) -> bool {
    c.grounding.is_grounded() && c.words >= MIN_WORDS && c.key_facts_kept as f64 >= GOOD_ENOUGH_FACTS * facts as f64
}

/// Whether no model summary could rank above `c`: grounded, long enough, and keeping all of
/// the `facts` (at least one) key facts.
fn unbeatable(c: &SummaryCandidate, facts: usize) -> bool {
    facts > 0 && c.grounding.is_grounded() && c.words >= MIN_WORDS && c.key_facts_kept == facts
}

/// Sort key of a candidate: grounded first, then more key facts, then a length inside the limits.
fn rank(c: &SummaryCandidate) -> (bool, usize, bool) {
    (!c.grounding.is_grounded(), usize::MAX - c.key_facts_kept, c.words < MIN_WORDS)
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

    /// Summarizes an English article (`title`, if it has one, and `body` paragraphs), checking
    /// the candidates against `sources`; `facts` are the article's key facts.
    pub fn summarize(&self, title: Option<&str>, body: &[String], sources: &Sources, facts: &[KeyFact]) -> Result<Summary> {
        if self.model.template.takes_language_codes() {
            let path = self.model.template.path().unwrap_or(std::path::Path::new("(chat model)"));
            return Err(crate::Error::model(
                path,
                "is a translation model: its chat template (TranslateGemma's) takes only language codes and a text to \
                 translate; summaries need a general instruction-tuned model",
            ));
        }
        let paragraphs: Vec<String> = title.map(str::to_string).into_iter().chain(body.iter().cloned()).collect();
        let grounder = Grounder::new(sources);
        let article = paragraphs.join("\n\n");
        let fact_list = facts.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("; ");
        // Without key facts (English input), the instruction that lists them has nothing to say.
        let instructions: Vec<_> = instructions().into_iter().filter(|(_, text)| !facts.is_empty() || !text.contains("{facts}")).collect();
        let prompts = instructions
            .iter()
            .map(|(_, text)| self.model.prompt(&summary_messages(&article, &text.replace("{facts}", &fact_list))))
            .collect::<Result<Vec<_>>>()?;
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let limit = self.settings.max_new_tokens.min(self.model.room_after(longest));
        let write = |prefix: &PrefixCache, range: std::ops::Range<usize>| -> Result<Vec<SummaryCandidate>> {
            let jobs = prompts[range.clone()]
                .iter()
                .map(|prompt| {
                    let mut job = self.model.job_after(prefix, prompt, limit, None);
                    job.enough = Some(Box::new(move |tokens: &[u32]| self.is_complete(tokens)));
                    job
                })
                .collect();
            let generations = self.model.complete_all(jobs, range.len(), |_, _| {})?;
            Ok(instructions[range]
                .iter()
                .zip(&generations)
                .map(|((name, _), generation)| {
                    let raw = self.model.reply_text(&generation.tokens);
                    tracing::debug!("summary {name:?}: {} tokens ({:?}): {raw:?}", generation.tokens.len(), generation.stop);
                    let text = shape_summary(&raw, self.settings.max_sentences, self.settings.max_words);
                    candidate(name, text, &grounder, facts)
                })
                .collect())
        };
        // The lead summary first: when it keeps every key fact, no model summary can rank above
        // it, and none is written (the article's prompt alone is most of a brief's summary
        // time). Else the first instruction, then, unless it or the lead summary is good
        // enough, the other instructions in one batch (a batch of several sequences costs more
        // per step than one on the CPU).
        let grounded = |sentence: &str| grounder.check(sentence).is_grounded();
        let s = &self.settings;
        let lead = lead_summary(body, facts, grounded, key_facts::LEAD_WORDS, s.max_sentences, s.max_words);
        let lead = (!lead.is_empty()).then(|| candidate(LEAD_CANDIDATE, lead, &grounder, facts));
        let mut candidates = Vec::new();
        if !lead.as_ref().is_some_and(|c| unbeatable(c, facts.len())) {
            let prefix = self.model.prefix_cache(&prompts)?;
            candidates = write(&prefix, 0..prompts.len().min(1))?;
            if !candidates.iter().chain(&lead).any(|c| good_enough(c, facts.len())) {
                candidates.extend(write(&prefix, candidates.len()..prompts.len())?);
            }
        }
        // After the model's: on a tie, a summary in the model's words is kept.
        candidates.extend(lead);
        for c in candidates.iter().filter(|c| !c.grounding.is_grounded()) {
            let claims: Vec<&str> = c.grounding.unsupported.iter().map(|claim| claim.text.as_str()).collect();
            tracing::info!("summary candidate {:?} not grounded: {}", c.prompt, claims.join(" | "));
        }
        let best = candidates.iter().enumerate().filter(|(_, c)| !c.text.is_empty()).min_by_key(|(i, c)| (rank(c), *i)).map(|(i, _)| i);
        let (text, method) = match best {
            Some(i) if candidates[i].grounding.is_grounded() => {
                candidates[i].chosen = true;
                let method = if candidates[i].prompt == LEAD_CANDIDATE { SummaryMethod::Lead } else { SummaryMethod::Llm };
                (candidates[i].text.clone(), method)
            }
            _ => match trimmed(&candidates, &grounder, facts) {
                Some((i, text)) => {
                    candidates[i].chosen = true;
                    (text, SummaryMethod::LlmTrimmed)
                }
                None => (self.extractive(&paragraphs, &grounder), SummaryMethod::Extractive),
            },
        };
        Ok(Summary { text, method, candidates, key_facts: facts.iter().map(|f| f.text.clone()).collect() })
    }
}

impl Summarizer<'_> {
    /// The most central sentences of the translation that are grounded themselves (a number
    /// the translation invented stays out of the summary too); all of them when none is.
    fn extractive(&self, paragraphs: &[String], grounder: &Grounder) -> String {
        let grounded: Vec<String> = paragraphs
            .iter()
            .map(|p| split_sentences(p).into_iter().filter(|s| grounder.check(s).is_grounded()).collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .collect();
        let from = if grounded.is_empty() { paragraphs } else { &grounded };
        extractive_summary(from, self.settings.max_sentences, self.settings.max_words)
    }

    /// Whether a summary being written has all [`shape_summary`] keeps: the sentence limit
    /// reached and another sentence begun, or the word limit reached (models that copy the
    /// article out would go on to the token limit).
    fn is_complete(&self, tokens: &[u32]) -> bool {
        let text = self.model.reply_text(tokens);
        text.split_whitespace().count() > self.settings.max_words || split_sentences(&text).len() > self.settings.max_sentences
    }
}

fn candidate(prompt: &str, text: String, grounder: &Grounder, facts: &[KeyFact]) -> SummaryCandidate {
    SummaryCandidate {
        prompt: prompt.to_string(),
        words: text.split_whitespace().count(),
        grounding: grounder.check(&text),
        key_facts_kept: facts.iter().filter(|f| f.in_text(&text)).count(),
        text,
        chosen: false,
    }
}

/// The candidate that keeps the most key facts (then words) once its sentences with unsupported
/// claims are dropped, if enough is left: its index and text.
fn trimmed(candidates: &[SummaryCandidate], grounder: &Grounder, facts: &[KeyFact]) -> Option<(usize, String)> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.prompt != LEAD_CANDIDATE)
        .filter_map(|(i, c)| {
            let kept: Vec<&str> = split_sentences(&c.text).into_iter().filter(|s| grounder.check(s).is_grounded()).collect();
            let text = kept.join(" ");
            let words = text.split_whitespace().count();
            let usable = kept.len() >= MIN_SENTENCES && words >= MIN_WORDS && grounder.check(&text).is_grounded();
            usable.then(|| (facts.iter().filter(|f| f.in_text(&text)).count(), words, i, text))
        })
        .max_by_key(|(kept, words, i, _)| (*kept, *words, usize::MAX - i))
        .map(|(_, _, i, text)| (i, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Grounding;

    #[test]
    fn the_candidate_instructions_parse() {
        let found = instructions();
        assert!(found.len() >= 2, "{found:?}");
        assert!(found.iter().any(|(_, text)| text.contains("{facts}")));
        let names: std::collections::HashSet<&str> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.len(), found.len(), "names are unique");
    }

    #[test]
    fn grounded_candidates_rank_first_then_key_facts_then_length() {
        let grounded = |kept, words| SummaryCandidate {
            prompt: String::new(),
            text: String::new(),
            words,
            grounding: Grounding::default(),
            key_facts_kept: kept,
            chosen: false,
        };
        let mut ungrounded = grounded(9, 80);
        ungrounded.grounding.unsupported.push(crate::verify::Claim { kind: crate::verify::ClaimKind::Number, text: "9".into() });
        assert!(rank(&grounded(2, 80)) < rank(&ungrounded));
        assert!(rank(&grounded(5, 80)) < rank(&grounded(4, 80)));
        assert!(rank(&grounded(4, 80)) < rank(&grounded(4, 10)));
    }

    #[test]
    fn trimming_drops_the_ungrounded_sentences() {
        let french = "Plus de 1 200 habitants ont été évacués dans le Gard. La préfecture a mobilisé 450 pompiers. \
            Les écoles de 14 communes resteront fermées.";
        let english = vec!["More than 1,200 residents were evacuated in the Gard. The prefecture mobilised 450 firefighters. \
            Schools in 14 towns will remain closed."
            .to_string()];
        let sources = Sources::french(french, &english, &[]);
        let text = "More than 1,200 residents of the Gard were evacuated from their homes overnight. The prefecture \
            mobilised 450 firefighters and 30 helicopters. Schools in 14 towns of the department will remain closed until further \
            notice, the prefecture said.";
        let grounder = Grounder::new(&sources);
        let c = candidate("test", text.to_string(), &grounder, &[]);
        assert!(!c.grounding.is_grounded());
        let (i, kept) = trimmed(&[c], &grounder, &[]).expect("enough is left");
        assert_eq!(i, 0);
        assert_eq!(
            kept,
            "More than 1,200 residents of the Gard were evacuated from their homes overnight. Schools in 14 towns of the \
             department will remain closed until further notice, the prefecture said."
        );
    }
}
