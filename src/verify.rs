//! Grounding: a summary states only what the article states, and says who said it.
//!
//! The check is lexical and deliberately simple, so that its verdicts can be explained:
//!
//! - **numbers**: every number of the summary, in digits or words ("three", "a dozen", "one in
//!   three"), equals a number of the *French* article (see [`crate::facts::numbers`]): a number
//!   the translation invented does not pass because the translation says it. Its qualifier
//!   stays: "plus de 1 200" is not "1,200", and "1 200" is not "more than 1,200".
//! - **dates**: every day of the week and month the summary names, the French article names.
//! - **names**: every capitalised word of the summary inside a sentence, and every acronym,
//!   occurs as a word in the French article, in its translation, or in the English form of a
//!   glossary term of the article, compared without case or diacritics.
//! - **attribution**: a sentence that reports speech ("X said/warned/announced that ...",
//!   "according to X") puts it in the mouth of someone the article names with it: the
//!   translation's sentence that best matches the statement mentions X, or, when that sentence
//!   goes on with a quotation without naming a speaker, one of the three before it does.
//!   Statements too short or too loosely paraphrased to locate are not judged.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::facts::{
    calendar_name, calendar_words, fold, folded_words, is_acronym, is_capitalised, mentions, opens_sentence, word_parts, Language, Mention,
    Qualifier,
};
use crate::glossary::Term;
use crate::segment::split_sentences;

/// What a claim is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A number the French article does not state.
    Number,
    /// A number whose qualifier ("more than") differs from the article's.
    Qualifier,
    /// A capitalised word found in no source.
    Name,
    /// Speech attributed to someone the article does not name with it.
    Attribution,
    /// A day of the week or a month the article does not name.
    Date,
}

/// A checkable item of a summary, as written in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub kind: ClaimKind,
    /// The number, word or sentence as the summary writes it.
    pub text: String,
}

/// The verdict of [`check_grounding`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Grounding {
    /// Claims of the summary the article does not support, each once, in order of appearance.
    pub unsupported: Vec<Claim>,
}

impl Grounding {
    /// True when every number, name and attribution of the summary is supported.
    pub fn is_grounded(&self) -> bool {
        self.unsupported.is_empty()
    }
}

/// What a summary is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The article as written: French for a brief, English for `precis summarize`.
    pub original: &'a str,
    pub language: Language,
    /// Its English translation, paragraph by paragraph (the title first, if there is one).
    pub english: &'a [String],
    /// The glossary terms of the French article.
    pub terms: &'a [&'a Term],
}

impl<'a> Sources<'a> {
    /// A French article, its translation and its glossary terms.
    pub fn french(original: &'a str, english: &'a [String], terms: &'a [&'a Term]) -> Self {
        Self { original, language: Language::French, english, terms }
    }
}

/// Capitalised English words that are never names (sentence openers), compared after folding.
const FUNCTION_WORDS: &str = "a about according after all also although an and as at because before both but by \
    despite during for from he her his however i if in it its meanwhile moreover no not \
    of on or our she since so some that the their there these they this those to under we \
    when where which while who with";

fn is_function_word(folded: &str) -> bool {
    FUNCTION_WORDS.split_whitespace().any(|word| word == folded)
}

fn is_calendar_word(folded: &str) -> bool {
    !calendar_words(folded, Language::English).is_empty() || matches!(folded, "may" | "march")
}

/// Words that open a quantity ("More than", "Nearly", "Dozens of"): no names.
fn is_quantity_word(folded: &str) -> bool {
    const WORDS: &str = "more fewer less over nearly almost around roughly approximately up least half one first second \
        dozens hundreds thousands millions billions several many few";
    WORDS.split_whitespace().any(|word| word == folded)
}

/// Checks the numbers, names and attributions of `summary` against `sources`. To check many
/// texts against the same sources, make one [`Grounder`].
pub fn check_grounding(summary: &str, sources: &Sources) -> Grounding {
    Grounder::new(sources).check(summary)
}

/// What the grounding check reads from the sources, read once for any number of texts checked
/// against them (the candidate summaries, and each sentence of the translation a summary may be
/// made of).
pub struct Grounder<'a> {
    original_numbers: Vec<Mention>,
    title_end: usize,
    original_days: Vec<String>,
    /// Folded words of the article, its translation and its glossary terms' English forms.
    known: HashSet<String>,
    /// The translation's sentences, each with its content stems and folded words.
    sentences: Vec<&'a str>,
    sentence_stems: Vec<HashSet<String>>,
    sentence_words: Vec<HashSet<String>>,
}

impl<'a> Grounder<'a> {
    pub fn new(sources: &Sources<'a>) -> Self {
        let mut known: HashSet<String> = folded_words(sources.original).into_iter().collect();
        known.extend(sources.english.iter().flat_map(|p| folded_words(p)));
        known.extend(sources.terms.iter().flat_map(|t| t.english.iter()).flat_map(|form| folded_words(form)));
        let sentences: Vec<&str> = sources.english.iter().flat_map(|p| split_sentences(p)).collect();
        Self {
            original_numbers: mentions(sources.original, sources.language),
            title_end: title_end(sources.original),
            original_days: calendar_words(sources.original, sources.language),
            known,
            sentence_stems: sentences.iter().map(|s| stems(s)).collect(),
            sentence_words: sentences.iter().map(|s| folded_words(s).into_iter().collect()).collect(),
            sentences,
        }
    }

    /// Checks the numbers, names and attributions of `summary`.
    pub fn check(&self, summary: &str) -> Grounding {
        let mut claims: Vec<(usize, Claim)> = Vec::new();
        let claim = |kind, text: &str| Claim { kind, text: text.to_string() };

        let summary_numbers = mentions(summary, Language::English);
        for mention in summary_numbers.iter().filter(|m| m.strict) {
            let same: Vec<&Mention> = self.original_numbers.iter().filter(|f| f.shares_value(mention)).collect();
            if same.is_empty() {
                claims.push((mention.start, claim(ClaimKind::Number, mention.text(summary))));
            } else if !compatible(&same.iter().map(|f| (f.qualifier, f.start < self.title_end)).collect::<Vec<_>>(), mention.qualifier) {
                claims.push((mention.start, claim(ClaimKind::Qualifier, &qualified(summary, mention))));
            }
        }

        for day in calendar_words(summary, Language::English).into_iter().filter(|d| !self.original_days.contains(d)) {
            let name = calendar_name(&day);
            let start = summary.find(name).unwrap_or(0);
            claims.push((start, claim(ClaimKind::Date, name)));
        }

        for (start, part) in word_parts(summary) {
            // Number words ("Four", "Twelve") are checked as numbers, days and months as dates;
            // qualifiers are no names.
            let in_number = summary_numbers.iter().any(|m| (m.start..m.end).contains(&start));
            let folded = fold(part);
            if !is_capitalised(part) || in_number || is_quantity_word(&folded) || is_calendar_word(&folded) {
                continue;
            }
            // A capital that opens a sentence says nothing, unless the word is an acronym.
            if opens_sentence(summary, start) && !is_acronym(part) {
                continue;
            }
            if !is_function_word(&folded) && !self.known.contains(&folded) {
                claims.push((start, claim(ClaimKind::Name, part)));
            }
        }

        for (start, sentence) in self.misattributed(summary) {
            claims.push((start, claim(ClaimKind::Attribution, sentence)));
        }

        claims.sort_by_key(|(start, _)| *start);
        let mut unsupported: Vec<Claim> = Vec::new();
        for (_, claim) in claims {
            if !unsupported.contains(&claim) {
                unsupported.push(claim);
            }
        }
        Grounding { unsupported }
    }
}

/// Whether a summary may state a number with the qualifier `summary` where the article states it
/// with the qualifiers `source` (one per mention, with whether it is in the title): a bound the
/// article gives ("plus de 1 200") stays, even where a title rounds it off ("1 200 évacués"),
/// unless the body also states the number without one (the bound then belongs to another
/// statement: "un train sur trois seulement" ... "si moins d'un train sur trois"); otherwise the
/// summary may state the number as the article does, or as an approximation of an exact number
/// (and the reverse).
fn compatible(source: &[(Option<Qualifier>, bool)], summary: Option<Qualifier>) -> bool {
    let bounds: Vec<Qualifier> = source.iter().filter_map(|&(q, _)| q).filter(|q| *q != Qualifier::About).collect();
    if let Some(q) = summary.filter(|q| *q != Qualifier::About) {
        return bounds.contains(&q);
    }
    let exact_in_body = source.iter().any(|&(q, in_title)| q.is_none() && !in_title);
    if !bounds.is_empty() && !exact_in_body {
        return false;
    }
    source.iter().any(|&(q, _)| q == summary || matches!((q, summary), (Some(Qualifier::About), None) | (None, Some(Qualifier::About))))
}

/// Where the title of `text` ends: its first non-empty line, when more text follows; else 0.
fn title_end(text: &str) -> usize {
    let start = text.len() - text.trim_start().len();
    match text[start..].find('\n') {
        Some(end) if !text[start + end..].trim().is_empty() => start + end,
        _ => 0,
    }
}

/// A summary mention with the words before it, as a reader would quote it ("1,200 residents").
fn qualified(text: &str, mention: &Mention) -> String {
    let before: Vec<&str> = text[..mention.start].split_whitespace().rev().take(2).collect();
    let before: Vec<&str> = before.into_iter().rev().collect();
    format!("{} {}", before.join(" "), mention.text(text)).trim().to_string()
}

/// Verbs that report speech, and "according to".
static REPORTING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:said|says|say|warned|warns|warn|warning|stated|states|announced|announces|told|tells|revealed|reveals|admitted|admits|added|declared|declares|claimed|claims|insisted|stressed|noted|confirmed|confirms|explained|argued|accused|denied|denies|urged|vowed|pledged)\b",
    )
    .unwrap_or_else(|err| panic!("invalid built-in regex: {err}"))
});

static ACCORDING_TO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\baccording to ([^,.;]+)[,.;]?").unwrap_or_else(|err| panic!("invalid built-in regex: {err}")));

/// Content words of a statement, as five-letter stems.
fn stems(text: &str) -> HashSet<String> {
    const COMMON: &str = "that this with from have been were will would could should their there they them which about after \
        before into over than then these those also more most such what when where while other being";
    folded_words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 4 && !COMMON.split_whitespace().any(|c| c == w))
        .map(|w| w.chars().take(5).collect())
        .collect()
}

impl Grounder<'_> {
    /// Sentences of `summary` (with their offsets) that report speech of a named speaker the
    /// translation does not name with it.
    fn misattributed<'s>(&self, summary: &'s str) -> Vec<(usize, &'s str)> {
        let (sentences, sentence_stems, sentence_words) = (&self.sentences, &self.sentence_stems, &self.sentence_words);
        let mut found = Vec::new();
        for sentence in split_sentences(summary) {
            let Some((speaker, statement)) = speech(sentence) else { continue };
            let speaker_words: Vec<String> = word_parts(speaker)
                .into_iter()
                .filter(|(_, part)| is_capitalised(part) && !is_function_word(&fold(part)))
                .map(|(_, part)| fold(part))
                .collect();
            let wanted = stems(statement);
            if speaker_words.is_empty() || wanted.len() < 2 {
                continue;
            }
            let scores: Vec<usize> = sentence_stems.iter().map(|s| wanted.intersection(s).count()).collect();
            let best = scores.iter().copied().max().unwrap_or(0);
            if best < 2 || (best as f64) < 0.4 * wanted.len() as f64 {
                continue;
            }
            // The speaker is named in the matched sentence; a sentence that reports no speech of its
            // own (a quotation going on from an earlier one) may have it up to three sentences back.
            let named = |i: usize| {
                let first = if REPORTING.is_match(sentences[i]) || ACCORDING_TO.is_match(sentences[i]) { i } else { i.saturating_sub(3) };
                (first..=i).any(|j| {
                    speaker_words.iter().any(|w| {
                        let stem: String = w.chars().take(4).collect();
                        sentence_words[j].contains(w) || (w.chars().count() >= 4 && sentence_words[j].iter().any(|s| s.starts_with(&stem)))
                    })
                })
            };
            if !(0..sentences.len()).filter(|&i| scores[i] == best).any(named) {
                let start = sentence.as_ptr() as usize - summary.as_ptr() as usize;
                found.push((start, sentence));
            }
        }
        found
    }
}

/// The speaker and the statement of a sentence that reports speech.
fn speech(sentence: &str) -> Option<(&str, &str)> {
    if let Some(caps) = ACCORDING_TO.captures(sentence) {
        let whole = caps.get(0)?;
        let speaker = caps.get(1)?.as_str();
        let statement = if whole.start() == 0 { &sentence[whole.end()..] } else { &sentence[..whole.start()] };
        return Some((speaker, statement));
    }
    let verb = REPORTING.find(sentence)?;
    Some((&sentence[..verb.start()], &sentence[verb.end()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glossary::Glossary;

    const FRENCH: &str = "Le général Michael Kurilla a déclaré que l’État islamique veut libérer \
        « plus de 8\u{A0}000 » djihadistes détenus au Moyen-Orient. Le taux est de 2,5\u{202F}% \
        depuis 2021. Le 1er janvier, Al-Qaïda a été visé par le CENTCOM. Trois camps sont visés.";

    fn english() -> Vec<String> {
        vec!["General Michael Kurilla said that Islamic State wants to free \"more than 8,000\" jihadists held in \
            the Middle East. The rate has been 2.5% since 2021. On 1 January, al-Qaeda was targeted by CENTCOM. \
            Three camps are targeted."
            .to_string()]
    }

    fn unsupported(summary: &str) -> Vec<Claim> {
        let english = english();
        check_grounding(summary, &Sources::french(FRENCH, &english, &[])).unsupported
    }

    fn claim(kind: ClaimKind, text: &str) -> Claim {
        Claim { kind, text: text.to_string() }
    }

    #[test]
    fn faithful_paraphrase_is_grounded() {
        let summary = "Kurilla warned that Islamic State aims to free more than 8,000 jihadists in the Middle East. \
            CENTCOM targeted al-Qaeda on 1 January; the rate has been 2.5% since 2021. Three camps are targeted.";
        assert_eq!(unsupported(summary), []);
    }

    #[test]
    fn numbers_must_be_in_the_french_article() {
        assert_eq!(unsupported("More than 9,000 jihadists"), [claim(ClaimKind::Number, "9,000")]);
        assert_eq!(unsupported("The rate has been 2.5% since 2019."), [claim(ClaimKind::Number, "2019")]);
        assert_eq!(unsupported("Four camps are targeted."), [claim(ClaimKind::Number, "Four")]);
        // In the translation but not in the French: not grounded.
        let french = "Un train sur trois circulera.";
        let english = vec!["Three out of four trains will run.".to_string()];
        let sources = Sources::french(french, &english, &[]);
        assert_eq!(check_grounding("Three out of four trains ran.", &sources).unsupported, [claim(ClaimKind::Number, "Three out of four")]);
        assert!(check_grounding("One train in three ran.", &sources).is_grounded());
    }

    #[test]
    fn a_bound_stated_anywhere_stays() {
        let sources = Sources::french("Inondations : 1 200 évacués\n\nPlus de 1 200 habitants ont été évacués.", &[], &[]);
        assert_eq!(check_grounding("1,200 residents were evacuated.", &sources).unsupported, [claim(ClaimKind::Qualifier, "1,200")]);
        assert!(check_grounding("More than 1,200 residents were evacuated.", &sources).is_grounded());
        // In the body without a bound too: the bound belongs to another statement.
        let french = "Grève : un train sur trois\n\nUn train sur trois seulement circulera.\n\nLes abonnés seront indemnisés si moins d'un train sur trois est assuré.";
        let sources = Sources::french(french, &[], &[]);
        assert_eq!(check_grounding("Only one train in three will run.", &sources).unsupported, []);
        assert!(check_grounding("Subscribers are compensated if fewer than one train in three runs.", &sources).is_grounded());
        assert_eq!(
            check_grounding("More than one train in three will run.", &sources).unsupported,
            [claim(ClaimKind::Qualifier, "More than one train in three")]
        );
    }

    #[test]
    fn qualifiers_must_match() {
        assert_eq!(unsupported("Islamic State wants to free 8,000 jihadists."), [claim(ClaimKind::Qualifier, "to free 8,000")]);
        assert_eq!(unsupported("Fewer than 8,000 jihadists."), [claim(ClaimKind::Qualifier, "Fewer than 8,000")]);
        assert_eq!(unsupported("More than three camps are targeted."), [claim(ClaimKind::Qualifier, "More than three")]);
        assert_eq!(unsupported("About three camps are targeted."), []);
    }

    #[test]
    fn number_grouping_and_decimal_marks_do_not_matter() {
        for french in ["8 000", "8\u{A0}000", "8\u{202F}000", "8000"] {
            for summary in ["8,000 fighters", "8000 fighters"] {
                let sources = Sources::french(french, &[], &[]);
                assert!(check_grounding(summary, &sources).is_grounded(), "{summary:?} vs {french:?}");
            }
        }
        let sources = Sources::french("une croissance de 2,5 %", &[], &[]);
        assert!(check_grounding("growth of 2.5%", &sources).is_grounded());
        assert!(!check_grounding("growth of 2.6%", &sources).is_grounded());
    }

    #[test]
    fn days_must_be_the_article_s() {
        let english = vec!["No negotiation is planned before Monday.".to_string()];
        let sources = Sources::french("Aucune négociation n'est prévue avant mardi.", &english, &[]);
        assert_eq!(check_grounding("Talks will not start before Monday.", &sources).unsupported, [claim(ClaimKind::Date, "Monday")]);
        assert!(check_grounding("Talks will not start before Tuesday.", &sources).is_grounded());
    }

    #[test]
    fn invented_names_are_unsupported() {
        assert_eq!(unsupported("Kurilla spoke in Baghdad."), [claim(ClaimKind::Name, "Baghdad")]);
        assert_eq!(
            unsupported("General John Smith said 8,000 jihadists could be freed."),
            [claim(ClaimKind::Name, "John"), claim(ClaimKind::Name, "Smith"), claim(ClaimKind::Qualifier, "Smith said 8,000")]
        );
        assert_eq!(unsupported("NATO said"), [claim(ClaimKind::Name, "NATO")]);
    }

    #[test]
    fn glossary_forms_ground_names() {
        let glossary = Glossary::parse("OTAN\tNATO | North Atlantic Treaty Organization\n", "test").expect("glossary");
        let french = "L'OTAN se réunit.";
        let terms = glossary.terms_in(french);
        let sources = Sources::french(french, &[], &terms);
        assert!(check_grounding("NATO meets.", &sources).is_grounded());
    }

    #[test]
    fn speech_belongs_to_its_speaker() {
        let french = "Le général Kurilla a dit que l'EI veut libérer ses agents. Les diplomates britanniques ont \
            averti que la Syrie ne devait pas devenir un refuge pour les terroristes.";
        let english = vec![
            "General Kurilla said that IS wants to free its agents.".to_string(),
            "This is the first time military chiefs have admitted it. The group is banned.".to_string(),
            "British diplomats held talks in Damascus and warned that Syria must not become a refuge for terrorists.".to_string(),
        ];
        let sources = Sources::french(french, &english, &[]);
        assert!(check_grounding("British diplomats warned that Syria must not become a refuge for terrorists.", &sources).is_grounded());
        assert!(check_grounding("Kurilla said IS wants to free its agents.", &sources).is_grounded());
        let wrong = "General Kurilla warned that Syria must not become a refuge for terrorists.";
        assert_eq!(check_grounding(wrong, &sources).unsupported, [claim(ClaimKind::Attribution, wrong)]);
        // A statement that cannot be located is not judged.
        assert!(check_grounding("Kurilla said the group is dangerous.", &sources).is_grounded());
    }

    #[test]
    fn each_claim_is_reported_once_in_order() {
        let sources = Sources::french("rien", &[], &[]);
        let found = check_grounding("Smith said 9,000 fled to Paris; Smith repeated 9,000 and 7.", &sources).unsupported;
        assert_eq!(
            found,
            // The first Smith opens the sentence, where a capital says nothing.
            [
                claim(ClaimKind::Number, "9,000"),
                claim(ClaimKind::Name, "Paris"),
                claim(ClaimKind::Name, "Smith"),
                claim(ClaimKind::Number, "7")
            ]
        );
        let json = serde_json::to_string(&check_grounding("In Paris, 9 000 had", &sources)).expect("serializes");
        assert_eq!(json, r#"{"unsupported":[{"kind":"name","text":"Paris"},{"kind":"number","text":"9 000"}]}"#);
    }

    #[test]
    fn function_words_opening_a_sentence_are_not_names() {
        let sources = Sources::french("le groupe", &[], &[]);
        assert!(check_grounding("However, The group", &sources).is_grounded());
    }
}
