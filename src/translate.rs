//! Translator: French paragraphs to English with a chat model, one paragraph per prompt.
//!
//! A paragraph longer than the segment budget is translated in groups of whole sentences, so
//! nothing is truncated; the title is translated as a headline. Every output is cleaned
//! (English number and quote conventions, comments about the text removed, the French acronyms
//! of the glossary replaced by their English form) and checked against its source
//! ([`crate::check`]). A paragraph that fails a check is translated a second time as soon as its
//! first translation is done, in the places of the batch that come free: sentence by sentence
//! when it has several sentences, else with a stricter prompt, each prompt giving the glossary
//! terms of its text. The version that fails the fewest checks is kept (on a tie, the one the
//! model is most confident of). A paragraph's confidence is the mean log-probability of its
//! tokens.
//!
//! The prompt of a second translation starts with two example translations
//! (`prompts/translate.examples.txt`); the first translation's does not (see [`examples`]), and
//! gives no glossary terms: they lengthen a prompt by 20-40 tokens, which over a whole article
//! is seconds of prefill. With `--plain`, every prompt is the plain one, so
//! that the output is what llama.cpp's greedy decoding of the same prompt gives.

use serde::Serialize;

use crate::check::{check_translation, restore_quotes, strip_commentary, Check, Finding};
use crate::conventions::{english_conventions, restore_source_numbers};
use crate::engine::kv_cache::PrefixCache;
use crate::engine::search::{Generation, Job, LoopGuard};
use crate::engine::{ChatMessage, ChatModel, StopReason};
use crate::facts::numbers::{plain_approximations, plain_times};
use crate::glossary::{english_acronyms, Glossary, Term};
use crate::segment::{split_long, split_sentences};
use crate::Result;

pub mod marian;

const SYSTEM_PROMPT: &str = include_str!("../prompts/translate.system.txt");
const USER_PROMPT: &str = include_str!("../prompts/translate.user.txt");
const HEADLINE_PROMPT: &str = include_str!("../prompts/translate.headline.txt");
const RETRY_PROMPT: &str = include_str!("../prompts/translate.retry.txt");
const TERMS_PROMPT: &str = include_str!("../prompts/translate.terms.txt");
const EXAMPLES: &str = include_str!("../prompts/translate.examples.txt");

/// The prompt texts, part of what decides an output (see [`crate::pipeline::RunIdentity`]).
pub const PROMPTS: [&str; 6] = [SYSTEM_PROMPT, USER_PROMPT, HEADLINE_PROMPT, RETRY_PROMPT, TERMS_PROMPT, EXAMPLES];

/// Mean token log-probability below which a paragraph is marked as doubtful (see README,
/// "Confidence", for how it relates to translation quality on FLORES).
pub const LOW_CONFIDENCE: f32 = -0.4;

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
    /// Glossary terms in prompts, checks and repairs (default true). Off (`--plain`), every
    /// segment gets the plain prompt and the first translation is kept, as llama.cpp's greedy
    /// decoding of the same prompt would give it.
    pub faithful: bool,
}

impl Default for TranslateSettings {
    fn default() -> Self {
        Self { max_segment_tokens: 400, max_new_base: 64, max_new_per_token: 3, faithful: true }
    }
}

/// What a text to translate is, which decides its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An article's title: translated as a headline.
    Headline,
    /// Body text.
    Body,
    /// Body text translated again after its first translation failed a check.
    Retry,
}

/// One text to translate.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub text: &'a str,
    pub kind: Kind,
}

impl<'a> Source<'a> {
    pub fn body(text: &'a str) -> Self {
        Self { text, kind: Kind::Body }
    }

    pub fn headline(text: &'a str) -> Self {
        Self { text, kind: Kind::Headline }
    }
}

/// The translation of one segment of source text.
#[derive(Debug, Clone)]
pub struct SegmentTranslation {
    /// English text, cleaned (see the module documentation), on one line.
    pub text: String,
    /// Generated ids, without the end-of-generation token.
    pub tokens: Vec<u32>,
    /// Sum of the tokens' log-probabilities.
    pub logprob: f64,
    pub prompt_tokens: usize,
    pub stop: StopReason,
}

/// How the translation kept for a paragraph was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The first translation (it passed the checks, or nothing did better).
    First,
    /// The stricter prompt, sentence by sentence, after the first failed a check.
    Sentences,
    /// The stricter prompt, after the first failed a check (a paragraph of one sentence).
    Retry,
}

/// The translation of one paragraph (one or more segments joined by a space).
#[derive(Debug, Clone)]
pub struct ParagraphTranslation {
    pub text: String,
    pub segments: Vec<SegmentTranslation>,
    /// Checks the translation kept fails (empty when they were not run).
    pub findings: Vec<Finding>,
    pub method: Method,
    /// Checks the first translation failed, when another was tried.
    pub first_findings: Vec<Finding>,
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

    /// Mean log-probability of the generated tokens; `None` for an empty paragraph.
    pub fn confidence(&self) -> Option<f32> {
        let tokens = self.generated_tokens();
        (tokens > 0).then(|| (self.segments.iter().map(|s| s.logprob).sum::<f64>() / tokens as f64) as f32)
    }

    fn from_segments(segments: Vec<SegmentTranslation>, method: Method) -> Self {
        let text = segments.iter().map(|t| t.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Self { text, segments, findings: Vec::new(), method, first_findings: Vec::new() }
    }

    /// Sort key among versions of one paragraph: fewer failed checks (a lost qualifier counting
    /// half, see [`Finding::is_minor`]), then more confidence.
    fn rank(&self) -> (usize, i64) {
        let confidence = self.confidence().unwrap_or(0.0);
        let failed = self.findings.iter().map(|f| if f.is_minor() { 1 } else { 2 }).sum();
        (failed, -(confidence as f64 * 1e6) as i64)
    }
}

/// How many segments are decoded together. More keeps the cores busier per weight read, at a
/// KV cache of ~17 MB per segment for a 1.5B model.
pub const BATCH: usize = 16;

pub struct Translator<'m> {
    model: &'m ChatModel,
    settings: TranslateSettings,
    glossary: &'m Glossary,
    prefixes: &'m Prefixes,
}

/// The prompt prefixes every segment shares (system prompt, examples, instruction), computed once
/// for a loaded model and kept for every article it translates.
pub struct Prefixes {
    body: PrefixCache,
    /// The same for the stricter prompt of second translations, computed when the first is
    /// needed.
    retry: std::cell::OnceCell<PrefixCache>,
    faithful: bool,
}

impl Prefixes {
    pub fn new(model: &ChatModel, settings: &TranslateSettings) -> Result<Self> {
        let body = model.shared_prefix(|text| model_messages(model, Kind::Body, text, &[], examples(Kind::Body, settings.faithful)))?;
        Ok(Self { body, retry: std::cell::OnceCell::new(), faithful: settings.faithful })
    }

    fn of(&self, kind: Kind, model: &ChatModel) -> Result<&PrefixCache> {
        if kind != Kind::Retry {
            return Ok(&self.body);
        }
        if let Some(prefix) = self.retry.get() {
            return Ok(prefix);
        }
        let prefix = model.shared_prefix_after(Some(&self.body), |text| {
            model_messages(model, Kind::Retry, text, &[], examples(Kind::Retry, self.faithful))
        })?;
        Ok(self.retry.get_or_init(|| prefix))
    }
}

/// Whether the prompt of `kind` starts with the example translations: a paragraph's, first or
/// second translation (not a headline's, nor with `--plain`). They raise chrF on FLORES devtest
/// by about one point (see the README); they sit in the prefix every prompt shares, computed
/// once, so a segment pays for them only in attention.
fn examples(kind: Kind, faithful: bool) -> bool {
    faithful && kind != Kind::Headline
}

/// The chat messages that ask for the translation of `text` with the plain prompt.
pub fn translation_messages(text: &str) -> Vec<ChatMessage> {
    messages(Kind::Body, text, &[], false)
}

/// The chat messages that ask for the translation of `text` as `kind`, giving `terms`; with
/// `examples`, the example translations of `prompts/translate.examples.txt` come first, as
/// earlier turns of the conversation.
pub fn messages(kind: Kind, text: &str, terms: &[&Term], examples: bool) -> Vec<ChatMessage> {
    let template = match kind {
        Kind::Body => USER_PROMPT,
        Kind::Headline => HEADLINE_PROMPT,
        Kind::Retry => RETRY_PROMPT,
    };
    let pairs: Vec<String> = terms.iter().filter(|t| t.worth_prompting()).map(|t| format!("{} = {}", t.french, t.preferred())).collect();
    let user = if pairs.is_empty() {
        template.replace("{text}", text)
    } else {
        format!("{}\n\n{}", template.replace("{text}", text), TERMS_PROMPT.replace("{terms}", &pairs.join("; ")))
    };
    let mut messages = vec![ChatMessage::system(SYSTEM_PROMPT)];
    if examples {
        for (french, english) in EXAMPLES.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('\t')) {
            messages.push(ChatMessage::user(USER_PROMPT.replace("{text}", french)));
            messages.push(ChatMessage::assistant(english));
        }
    }
    messages.push(ChatMessage::user(user));
    messages
}

/// Source and target language of a request to a model whose chat template takes language codes
/// (TranslateGemma); keys of that template's table of language names, which has no `en-US`.
pub const LANGUAGE_CODES: (&str, &str) = ("fr", "en");

/// The chat messages that ask `model` for the translation of `text`: [`messages`], or for a model
/// whose template takes language codes ([`crate::engine::ChatTemplate::takes_language_codes`],
/// TranslateGemma) one user message with the text alone. That template writes the instruction
/// itself and refuses a system message; example turns and glossary terms are left out too (a
/// second translation still gets the text with the terms its first missed already in English).
pub fn model_messages(model: &ChatModel, kind: Kind, text: &str, terms: &[&Term], examples: bool) -> Vec<ChatMessage> {
    if model.template.takes_language_codes() {
        vec![ChatMessage::translation(LANGUAGE_CODES.0, LANGUAGE_CODES.1, text)]
    } else {
        messages(kind, text, terms, examples)
    }
}

/// One segment to translate: its text, prompt kind and glossary terms (whose French acronyms
/// the output gets in English).
#[derive(Debug)]
struct Request<'t> {
    text: String,
    kind: Kind,
    terms: Vec<&'t Term>,
    /// The terms the prompt lists (a second translation's).
    prompted: Vec<&'t Term>,
    /// The text the model is given, when it is not `text`: a second translation's, with the
    /// terms the first translation missed already in English.
    given: Option<String>,
}

impl<'m> Translator<'m> {
    /// A translator of `model` with `settings`; `prefixes` must have been made with the same
    /// model and settings.
    pub fn new(model: &'m ChatModel, settings: TranslateSettings, glossary: &'m Glossary, prefixes: &'m Prefixes) -> Self {
        Self { model, settings, glossary, prefixes }
    }

    pub fn settings(&self) -> &TranslateSettings {
        &self.settings
    }

    /// Whether `english` misses the English form of a glossary term of `french` that is a common
    /// word or phrase in both languages (lower case, not a name or an acronym: "taux
    /// directeurs", key interest rates).
    fn misses_common_term(&self, french: &str, english: &str) -> bool {
        let common = |t: &Term| t.french.starts_with(char::is_lowercase) && t.preferred().starts_with(char::is_lowercase);
        self.terms(french).iter().any(|t| common(t) && !t.found_in(english))
    }

    /// The glossary terms of `text` (none with `--plain`).
    fn terms(&self, text: &str) -> Vec<&'m Term> {
        if self.settings.faithful {
            self.glossary.terms_in(text)
        } else {
            Vec::new()
        }
    }

    /// The decoding job of a request with text.
    fn job(&self, request: &Request) -> Result<Job<'static>> {
        let text = request.given.as_deref().unwrap_or(&request.text).trim();
        let source_tokens = self.model.tokenizer.encode(text, false)?.len();
        let messages = model_messages(self.model, request.kind, text, &request.prompted, examples(request.kind, self.settings.faithful));
        let prompt = self.model.prompt(&messages)?;
        let limit = self.settings.max_new_base + self.settings.max_new_per_token * source_tokens;
        let limit = limit.min(self.model.room_after(prompt.len()));
        let prefix = self.prefixes.of(request.kind, self.model)?;
        Ok(self.model.job_after(prefix, &prompt, limit, Some(LoopGuard::for_translation(source_tokens))))
    }

    /// The cleaned translation of `request` from its generation.
    fn finish(&self, request: &Request, generation: &Generation) -> SegmentTranslation {
        let french = request.text.trim();
        let raw = self.model.reply_text(&generation.tokens);
        let mut text = english_conventions(&raw);
        if self.settings.faithful {
            text = english_acronyms(&request.terms, &restore_quotes(french, &strip_commentary(french, &text)));
        }
        let text = restore_source_numbers(&text, french);
        // A paragraph stays one paragraph, whatever line breaks the model wrote.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        SegmentTranslation {
            text,
            tokens: generation.tokens.clone(),
            logprob: generation.logprobs.iter().map(|&p| p as f64).sum(),
            prompt_tokens: generation.prompt_tokens,
            stop: generation.stop,
        }
    }

    /// Jobs for `new` requests, numbered after `requests`; a request with no text is done at
    /// once (and what its completion asks for is queued too).
    fn jobs_for<'t>(
        &self,
        new: Vec<Request<'t>>,
        requests: &mut Vec<Request<'t>>,
        request_of: &mut Vec<usize>,
        on_done: &mut impl FnMut(usize, SegmentTranslation) -> Vec<Request<'t>>,
    ) -> Result<Vec<Job<'static>>> {
        let mut queue: std::collections::VecDeque<Request<'t>> = new.into();
        let mut jobs = Vec::new();
        while let Some(request) = queue.pop_front() {
            let i = requests.len();
            if request.text.trim().is_empty() {
                requests.push(request);
                let empty =
                    SegmentTranslation { text: String::new(), tokens: vec![], logprob: 0.0, prompt_tokens: 0, stop: StopReason::Eog };
                queue.extend(on_done(i, empty));
                continue;
            }
            jobs.push(self.job(&request)?);
            requests.push(request);
            request_of.push(i);
        }
        Ok(jobs)
    }

    /// Translates requests as they are (no splitting), decoding up to [`BATCH`] of them at once;
    /// each output is identical to translating the request alone. `on_done(i, translation)` is
    /// called as request `i` finishes, and the requests it returns are translated too (numbered
    /// on from the last), in the places that come free.
    fn run<'t>(&self, initial: Vec<Request<'t>>, mut on_done: impl FnMut(usize, SegmentTranslation) -> Vec<Request<'t>>) -> Result<()> {
        let mut requests = Vec::new();
        // The request of each job.
        let mut request_of = Vec::new();
        let jobs = self.jobs_for(initial, &mut requests, &mut request_of, &mut on_done)?;
        let mut failure = None;
        self.model.complete_growing(jobs, BATCH, |job, generation| {
            let i = request_of[job];
            tracing::trace!(request = i, kind = ?requests[i].kind, tokens = generation.tokens.len(), stop = ?generation.stop, "segment done");
            let new = on_done(i, self.finish(&requests[i], generation));
            match self.jobs_for(new, &mut requests, &mut request_of, &mut on_done) {
                Ok(jobs) => jobs,
                Err(e) => {
                    failure.get_or_insert(e);
                    Vec::new()
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Translates a paragraph of body text (see [`Translator::translate_paragraphs`]).
    pub fn translate_paragraph(&self, paragraph: &str) -> Result<ParagraphTranslation> {
        Ok(self.translate_paragraphs(&[Source::body(paragraph)], |_, _| {})?.pop().expect("one paragraph, one translation"))
    }

    /// Translates paragraphs, all their segments decoded together in batches. A paragraph whose
    /// translation fails a check is translated a second time as soon as the first is done, in
    /// the same batches (sentence by sentence when it has several sentences, else with the
    /// stricter prompt), and the better version is kept. `on_done(i, translation)` is called
    /// as paragraph `i`'s first translation is complete.
    pub fn translate_paragraphs(
        &self,
        paragraphs: &[Source],
        mut on_done: impl FnMut(usize, &ParagraphTranslation),
    ) -> Result<Vec<ParagraphTranslation>> {
        // Per request: its paragraph, whether it is of the second translation, its piece.
        let mut owners: Vec<(usize, bool, usize)> = Vec::new();
        let mut requests = Vec::new();
        let mut first: Vec<Vec<Option<SegmentTranslation>>> = Vec::with_capacity(paragraphs.len());
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let pieces = self.segments(paragraph.text)?;
            owners.extend((0..pieces.len()).map(|k| (p, false, k)));
            first.push(vec![None; pieces.len()]);
            requests.extend(pieces.into_iter().map(|text| Request {
                terms: self.terms(&text),
                text,
                kind: paragraph.kind,
                prompted: Vec::new(),
                given: None,
            }));
        }
        let mut second: Vec<(Method, Vec<Option<SegmentTranslation>>)> = vec![(Method::First, Vec::new()); paragraphs.len()];
        let mut best: Vec<Option<ParagraphTranslation>> = vec![None; paragraphs.len()];
        let mut failure = None;
        self.run(requests, |i, translation| {
            let (p, again, k) = owners[i];
            let french = paragraphs[p].text;
            let parts = if again { &mut second[p].1 } else { &mut first[p] };
            parts[k] = Some(translation);
            if !parts.iter().all(Option::is_some) {
                return Vec::new();
            }
            let segments: Vec<SegmentTranslation> = parts.drain(..).flatten().collect();
            if again {
                let candidate = self.checked(french, ParagraphTranslation::from_segments(segments, second[p].0));
                if let Some(kept) = best[p].as_mut().filter(|kept| candidate.rank() < kept.rank()) {
                    let first_findings = std::mem::take(&mut kept.first_findings);
                    *kept = ParagraphTranslation { first_findings, ..candidate };
                }
                return Vec::new();
            }
            let mut translation = self.checked(french, ParagraphTranslation::from_segments(segments, Method::First));
            on_done(p, &translation);
            // A name of the glossary missing on its own is reported, not worth a second
            // translation of a paragraph: acronyms are put in English whatever the model wrote,
            // and a second translation seldom changes how a name of several words is rendered
            // (it costs one whole paragraph's decoding, often at the end of the batch, where it
            // runs alone). A common term missing ("taux directeurs" taken for directors,
            // "rougeole" for a red eye) is a meaning error, which the terms of the retry prompt
            // mend; so is any term of a title, which costs a few tokens.
            // (Without a glossary finding no term is missing: the check looked for every one.)
            let headline = paragraphs[p].kind == Kind::Headline;
            let glossary_only = translation.findings.iter().all(|f| f.check == Check::Glossary);
            let again =
                !translation.findings.is_empty() && (headline || !glossary_only || self.misses_common_term(french, &translation.text));
            let retry = if again {
                self.second_requests(french, &translation.text).unwrap_or_else(|e| {
                    failure.get_or_insert(e);
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            if !retry.is_empty() {
                tracing::debug!("paragraph {} fails a check ({}); translating it again", p + 1, translation.findings[0]);
                translation.first_findings = translation.findings.clone();
                second[p] = (if retry.len() > 1 { Method::Sentences } else { Method::Retry }, vec![None; retry.len()]);
                owners.extend((0..retry.len()).map(|k| (p, true, k)));
            }
            best[p] = Some(translation);
            retry
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(best.into_iter().map(|t| t.expect("every paragraph translated")).collect())
    }

    /// `translation` of `french` with the findings of the checks (none with `--plain`).
    fn checked(&self, french: &str, mut translation: ParagraphTranslation) -> ParagraphTranslation {
        if self.settings.faithful {
            translation.findings = check_translation(french, &translation.text, &self.terms(french));
        }
        translation
    }

    /// The second translation of a paragraph that failed a check, whose first translation was
    /// `first`: with the stricter prompt, sentence by sentence when it has several sentences
    /// (shorter jobs side by side finish sooner than one long one, which matters at the end of
    /// a batch, where the paragraphs that finish last are the longest). The prompt lists the
    /// glossary terms; those `first` missed (other than acronyms, which are put in English
    /// after) are already in English in the text the model is given: "Douze cas de rougeole"
    /// became "Twelve cases of red eye" with "rougeole = measles" in the prompt, and "Twelve
    /// measles cases" from "Douze cas de measles". Approximate counts and times of day are given
    /// plainly too ("une dizaine de cas" as "environ dix cas", "mercredi 20 h" as "mercredi
    /// 20:00": see [`plain_approximations`] and [`plain_times`]).
    fn second_requests(&self, french: &str, first: &str) -> Result<Vec<Request<'m>>> {
        let sentences = split_sentences(french);
        let pieces = if sentences.len() > 1 { sentences.into_iter().map(str::to_string).collect() } else { self.segments(french)? };
        Ok(pieces
            .into_iter()
            .map(|text| {
                let terms = self.terms(&text);
                let (missed, prompted): (Vec<&Term>, Vec<&Term>) = terms.iter().partition(|t| !t.is_acronym() && !t.found_in(first));
                let mut given = (!missed.is_empty()).then(|| self.glossary.with_english_terms(&text, &missed));
                if let Some(plain) = plain_approximations(given.as_deref().unwrap_or(&text)) {
                    given = Some(plain);
                }
                if let Some(plain) = plain_times(given.as_deref().unwrap_or(&text)) {
                    given = Some(plain);
                }
                Request { terms, text, kind: Kind::Retry, prompted, given }
            })
            .collect())
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
