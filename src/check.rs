//! Source-target checks of one translated paragraph: what a reader would catch by comparing the
//! English with the French, done by rules whose verdicts can be explained.
//!
//! - **numbers**: every number of the French is in the English and the English has none the
//!   French lacks, comparing values (`1 200` = `1,200`, `douze` = `12`, "un train sur trois" =
//!   "one in three"), and "plus de 1 200" keeps its "more than"; the same for days of the week
//!   and months (mardi is Tuesday);
//! - **names**: every proper name of the French (a capitalised word inside a sentence, or an
//!   acronym) is in the English, compared without case or accents, or by its first four letters
//!   (Syrie/Syria); names inside glossary terms are left to the glossary check, and names English
//!   translates (Nouvelle-Écosse) leave new capitalised words in their place; no acronym of the
//!   English is missing from the French (or its glossary terms);
//! - **glossary**: every glossary term of the French has one of its English forms;
//! - **quotes**: a French quotation stays a quotation;
//! - **negation**: a negated French sentence stays negated, and no negation appears from nowhere;
//! - **length**: the English is not far shorter or longer than the French, and no sentence is lost;
//! - **not_translation**: no comment about the text ("Here is the translation:"), no French left
//!   untranslated, no quoted restatement of the whole paragraph.
//!
//! [`strip_commentary`] removes what a model wrote around a translation before the checks run.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::facts::{
    calendar_name, calendar_words, fold, folded_words, french_names, is_acronym, is_capitalised, mentions, opens_sentence, word_parts,
    Language, Mention, WordSet,
};
use crate::glossary::Term;
use crate::segment::split_sentences;

/// One kind of check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Numbers,
    Names,
    Glossary,
    Quotes,
    Negation,
    Length,
    NotTranslation,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Numbers => "numbers",
            Check::Names => "names",
            Check::Glossary => "glossary",
            Check::Quotes => "quotes",
            Check::Negation => "negation",
            Check::Length => "length",
            Check::NotTranslation => "not_translation",
        }
    }
}

/// A check a translation failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub detail: String,
}

impl Finding {
    /// A numbers finding that only reports qualifiers lost ("about ten" as "ten"): the values
    /// are there, which makes it a lesser failure than a number lost or changed ("a dozen").
    pub fn is_minor(&self) -> bool {
        self.check == Check::Numbers && self.detail.starts_with("qualifier lost") && !self.detail.contains("; ")
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check.name(), self.detail)
    }
}

/// Runs every check of the module documentation on `english`, the translation of `french`;
/// `terms` are the glossary terms of `french`. Empty when the translation passes them all.
pub fn check_translation(french: &str, english: &str, terms: &[&Term]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |check, detail: String| findings.push(Finding { check, detail });
    if let Some(detail) = numbers(french, english) {
        add(Check::Numbers, detail);
    }
    if let Some(detail) = names(french, english, terms) {
        add(Check::Names, detail);
    }
    let missing: Vec<String> =
        terms.iter().filter(|t| !t.found_in(english)).map(|t| format!("{} -> {}", t.french, t.preferred())).collect();
    if !missing.is_empty() {
        add(Check::Glossary, format!("not in the English form: {}", missing.join(", ")));
    }
    if let Some(quote) = full_quotation(french).filter(|_| !english.contains(['"', '“', '”'])) {
        add(Check::Quotes, format!("the French quotes «{quote}» and the English has no quotation marks"));
    }
    if let Some(detail) = negation(french, english) {
        add(Check::Negation, detail);
    }
    if let Some(detail) = length(french, english) {
        add(Check::Length, detail);
    }
    if let Some(detail) = not_translation(french, english) {
        add(Check::NotTranslation, detail);
    }
    findings
}

fn listed(text: &str, items: &[&Mention]) -> String {
    let mut seen: Vec<&str> = items.iter().map(|m| m.text(text)).collect();
    seen.dedup();
    seen.join(", ")
}

fn numbers(french: &str, english: &str) -> Option<String> {
    let mut parts = Vec::new();
    let (source_days, target_days) = (calendar_words(french, Language::French), calendar_words(english, Language::English));
    let missing: Vec<&str> = source_days.iter().filter(|d| !target_days.contains(d)).map(|d| calendar_name(d)).collect();
    let added: Vec<&str> = target_days.iter().filter(|d| !source_days.contains(d)).map(|d| calendar_name(d)).collect();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !added.is_empty() {
        parts.push(format!("not in the French: {}", added.join(", ")));
    }
    let source = mentions(french, Language::French);
    let target = mentions(english, Language::English);
    let missing: Vec<&Mention> = source.iter().filter(|s| s.strict && !target.iter().any(|t| s.shares_value(t))).collect();
    let added: Vec<&Mention> = target.iter().filter(|t| t.strict && !source.iter().any(|s| s.shares_value(t))).collect();
    // "plus de 1 200" must not become "1,200": some English mention of the value keeps the
    // qualifier.
    let unqualified: Vec<&Mention> = source
        .iter()
        .filter(|s| s.qualifier.is_some())
        .filter(|s| {
            let same: Vec<&Mention> = target.iter().filter(|t| s.shares_value(t)).collect();
            !same.is_empty() && !same.iter().any(|t| t.qualifier == s.qualifier)
        })
        .collect();
    if !missing.is_empty() {
        parts.push(format!("missing {}", listed(french, &missing)));
    }
    if !added.is_empty() {
        parts.push(format!("not in the French: {}", listed(english, &added)));
    }
    if !unqualified.is_empty() {
        parts.push(format!("qualifier lost: {}", unqualified.iter().map(|m| qualified_text(french, m)).collect::<Vec<_>>().join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A mention with the words of its qualifier: `plus de 1 200`.
fn qualified_text(text: &str, mention: &Mention) -> String {
    let before = &text[..mention.start];
    let words: Vec<&str> = before.split_whitespace().rev().take(2).collect();
    let prefix: Vec<&str> = words.into_iter().rev().collect();
    format!("{} {}", prefix.join(" "), mention.text(text)).trim().to_string()
}

fn names(french: &str, english: &str, terms: &[&Term]) -> Option<String> {
    let in_terms: HashSet<String> = terms.iter().flat_map(|t| folded_words(&t.french)).collect();
    let words = WordSet::new(english);
    let names = french_names(french);
    // Names of several words, joined by a space or a hyphen (Nouvelle-Écosse, Meilleur Acteur).
    let in_compound = |i: usize| {
        let (start, name) = names[i];
        let joined =
            |a: (usize, &str), b: (usize, &str)| french[a.0 + a.1.len()..b.0].chars().all(|c| c == ' ' || c == '-' || c == '\u{A0}');
        (i > 0 && joined(names[i - 1], (start, name))) || names.get(i + 1).is_some_and(|&next| joined((start, name), next))
    };
    let mut missing: Vec<&str> = Vec::new();
    let mut compound_missing = 0;
    for (i, &(_, name)) in names.iter().enumerate() {
        if !in_terms.contains(&fold(name)) && !words.has_name(name) && !missing.contains(&name) {
            missing.push(name);
            compound_missing += usize::from(in_compound(i));
        }
    }
    // A name of several words that English translates (Nouvelle-Écosse, Nova Scotia; Meilleur
    // Acteur, Best Actor) leaves new capitalised words in the English: as many as there are,
    // such missing names are taken for translated ones. A single name (Dravonie) must be there.
    let french_words = WordSet::new(french);
    let translated = word_parts(english)
        .into_iter()
        .filter(|&(start, part)| {
            is_capitalised(part)
                && part.chars().count() > 1
                && !opens_sentence(english, start)
                && !ENGLISH_TITLES.split_whitespace().any(|t| t == fold(part))
                && !french_words.has_name(part)
        })
        .map(|(_, part)| fold(part))
        .collect::<HashSet<String>>()
        .len();
    let mut problems = Vec::new();
    if missing.len() > compound_missing.min(translated) {
        problems.push(format!("not in the English: {}", missing.join(", ")));
    }
    // An acronym from nowhere: small models carry names over from their prompt's examples.
    let term_forms: HashSet<String> = terms.iter().flat_map(|t| t.english.iter()).flat_map(|form| folded_words(form)).collect();
    let invented: Vec<&str> = word_parts(english)
        .into_iter()
        .map(|(_, part)| part)
        .filter(|part| is_acronym(part) && !french_words.has_name(part) && !term_forms.contains(&fold(part)))
        .filter(|part| !CLOCK_ACRONYMS.contains(part))
        .collect();
    if !invented.is_empty() {
        problems.push(format!("not in the French: {}", invented.join(", ")));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Acronyms English writes for a French time of day (20 h, 8 PM), which is checked as a number.
const CLOCK_ACRONYMS: [&str; 2] = ["AM", "PM"];

/// Capitalised English words that translate a French common noun (le général, General): no
/// trace of a translated name.
const ENGLISH_TITLES: &str = "general president minister prime secretary mr mrs ms dr sir lord lady king queen prince \
    princess pope saint st mayor governor senator chancellor colonel captain commander lieutenant sergeant admiral \
    director chief judge justice professor government state republic army police court parliament ministry";

/// The first quotation of four words or more that `text` opens and closes, if any (a few
/// quoted words, or a paragraph that goes on with a quotation, may lose their marks in English).
fn full_quotation(text: &str) -> Option<&str> {
    static QUOTED: LazyLock<Regex> = LazyLock::new(|| compiled(r#"«([^«»]*)»|“([^“”]*)”"#));
    QUOTED
        .captures_iter(text)
        .filter_map(|caps| caps.get(1).or_else(|| caps.get(2)))
        .map(|m| m.as_str().trim())
        .find(|quote| quote.split_whitespace().count() >= 4)
}

/// `english` with the quotation marks of a paragraph that opens or closes a quotation: a
/// quotation that goes on over several paragraphs opens each of them, and closes the last.
pub fn restore_quotes(french: &str, english: &str) -> String {
    let french = french.trim();
    let english = english.trim();
    if english.is_empty() {
        return String::new();
    }
    let is_quote = |c: char| matches!(c, '"' | '“' | '”' | '«' | '»');
    let mut text = english.to_string();
    if french.starts_with(['«', '“', '"']) && !english.starts_with(is_quote) {
        text.insert(0, '"');
    }
    let closes = french.trim_end_matches(['.', ' ', '\u{A0}']).ends_with(['»', '”', '"']);
    let closed = english.trim_end_matches(['.', '!', '?', ' ']).ends_with(is_quote) || english.ends_with(is_quote);
    if closes && !closed {
        text.push('"');
    }
    text
}

/// French words that negate: `pas`, `jamais`, `aucun`, `sans`, ... (`ne ... que` is "only" and
/// not counted; `plus` and `personne` only after `ne`).
fn french_negations(french: &str) -> Vec<String> {
    let words = folded_words(french);
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let after_ne = words[i.saturating_sub(4)..i].iter().any(|p| p == "ne" || p == "n");
        let negates = match w.as_str() {
            "pas" | "jamais" | "aucun" | "aucune" | "rien" | "sans" | "nullement" | "guere" | "ni" | "non" | "nul" | "nulle" => true,
            "plus" | "personne" => after_ne,
            _ => false,
        };
        if negates {
            found.push(w.clone());
        }
    }
    found
}

fn english_negations(english: &str) -> Vec<String> {
    english
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.to_lowercase().replace('’', "'"))
        .filter(|w| {
            w.ends_with("n't")
                || matches!(
                    w.as_str(),
                    "not" | "no" | "never" | "none" | "nothing" | "nobody" | "without" | "neither" | "nor" | "cannot" | "non" | "nowhere"
                )
        })
        .collect()
}

fn negation(french: &str, english: &str) -> Option<String> {
    let source = french_negations(french);
    let target = english_negations(english);
    if !source.is_empty() && target.is_empty() {
        return Some(format!("the French negates ({}) and the English does not", source.join(", ")));
    }
    // A negation from nowhere: only the plain ones, and only when the French has no negative
    // word at all (`ne`, `impossible`, `refus`, ... can be rendered with "not").
    let plain: Vec<&String> = target.iter().filter(|w| matches!(w.as_str(), "not" | "never") || w.ends_with("n't")).collect();
    let french_words = folded_words(french);
    let negative_hint = french_words.iter().any(|w| {
        matches!(
            w.as_str(),
            "ne" | "n" | "impossible" | "interdit" | "interdite" | "faute" | "manque" | "sauf" | "hors" | "refuse" | "refusent" | "absence"
        ) || w.starts_with("empech")
            || w.starts_with("refus")
            || w.starts_with("echou")
    });
    if source.is_empty() && !plain.is_empty() && !negative_hint {
        return Some(format!(
            "the English negates ({}) and the French does not",
            plain.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    None
}

/// Below and above these English/French length ratios, text was dropped or added.
const MIN_LENGTH_RATIO: f64 = 0.55;
const MAX_LENGTH_RATIO: f64 = 1.8;

fn length(french: &str, english: &str) -> Option<String> {
    let count = |text: &str| text.chars().filter(|c| !c.is_whitespace()).count();
    let (source, target) = (count(french), count(english));
    if source < 40 {
        return None;
    }
    let ratio = target as f64 / source as f64;
    if !(MIN_LENGTH_RATIO..=MAX_LENGTH_RATIO).contains(&ratio) {
        return Some(format!("the English is {ratio:.2} times the length of the French"));
    }
    let (source_sentences, target_sentences) = (split_sentences(french).len(), split_sentences(english).len());
    if source_sentences >= 3 && target_sentences + 1 < source_sentences {
        return Some(format!("{target_sentences} sentences for the French's {source_sentences}"));
    }
    None
}

/// Compiles one of the constant patterns of this module; they are covered by the tests.
fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|err| panic!("invalid built-in regex {pattern:?}: {err}"))
}

/// A line that announces a translation instead of being one: "Here is the translation:",
/// "The French text translates to:", "Translation:".
static PREAMBLE: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r#"(?i)^\s*(?:(?:sure|certainly|of course)[,!.]\s*)?(?:(?:here(?:'s|’s| is| are)|below is)\b[^:\n]{0,80}:|(?:the |an? )?(?:english )?(?:translation|translated text|version)(?: of [^:\n]{0,60})?(?: is| reads)?\s*:|(?:the|this) (?:french |original |above |given )?(?:text|sentence|paragraph|passage|headline|title)\b[^:\n]{0,60}\b(?:translates?|reads?|means?|says?)\b[^:\n]{0,40}:|in english\s*:)"#,
    )
});

/// A note about the translation, from where it starts to the end.
static NOTE: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r#"(?is)(?:\n|^|\s)\(?\s*(?:translator'?s? )?note\s*:.*$|\n\s*\(?\s*(?:this|the) (?:translation|text)\b[^\n]*$"#)
});

/// The glossary line of a prompt, or an entry of it, repeated in the output: "HTS = Hayat
/// Tahrir al-Sham", "Write these names in English as shown: ...".
static TERMS_ECHO: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r#"(?i)write these names in english as shown:?[^\n]*?(?:\.(?:\s|$)|\n|$)|(?:^|[\n.;]\s*)[^\n.;=]{1,60} = [^\n.;=]{1,80}(?:[.;](?:\s|$)|\n|$)"#,
    )
});

/// Comment about a text rather than a translation of it, anywhere.
static COMMENTARY: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r#"(?i)\b(?:translates? (?:to|as)|translated (?:as|to|from|into)|the (?:french|original) (?:text|sentence|paragraph)|I (?:have )?translated|as an AI|here is the translation|the text you provided)\b"#,
    )
});

/// Removes what a model wrote around its translation: an announcement before it ("Here is the
/// translation:"), a note after it, and quotation marks wrapped around the whole of it when the
/// French is not a quotation. Returns the text unchanged when there is nothing to remove.
pub fn strip_commentary(french: &str, english: &str) -> String {
    let mut text = english.trim().to_string();
    // Each removal may expose the next entry of a list ("EI = IS; FDS = SDF").
    for _ in 0..8 {
        let without_echo = TERMS_ECHO.replace_all(&text, |caps: &regex::Captures| {
            // Keep the sentence end that the match took from before it.
            let m = caps.get(0).map_or("", |m| m.as_str());
            if m.starts_with(['.', ';']) {
                ". ".to_string()
            } else {
                " ".to_string()
            }
        });
        let without_echo = without_echo.trim().trim_end_matches(" .").to_string();
        if without_echo.is_empty() || without_echo == text {
            break;
        }
        text = without_echo;
    }
    if let Some(m) = NOTE.find(&text) {
        if m.start() > 0 {
            text.truncate(m.start());
        }
    }
    if let Some(m) = PREAMBLE.find(&text) {
        let rest = text[m.end()..].trim();
        if !rest.is_empty() {
            text = rest.to_string();
        }
    }
    let text = text.trim();
    if !french.trim_start().starts_with(['«', '"', '“']) {
        for (open, close) in [('"', '"'), ('“', '”')] {
            if let Some(inner) = text.strip_prefix(open).and_then(|t| t.strip_suffix(close)) {
                if !inner.contains([open, close]) && !inner.trim().is_empty() {
                    return inner.trim().to_string();
                }
            }
        }
    }
    text.to_string()
}

/// French words common enough that English text has almost none of them.
const FRENCH_FUNCTION_WORDS: &str = "le la les de des du un une est et en dans pour que qui sur avec par au aux ont sont pas ce cette ses leur leurs nous vous il elle ils elles";

fn not_translation(french: &str, english: &str) -> Option<String> {
    if let Some(m) =
        PREAMBLE.find(english).or_else(|| COMMENTARY.find(english)).or_else(|| NOTE.find(english)).or_else(|| TERMS_ECHO.find(english))
    {
        return Some(format!("comment about the text: {:?}", m.as_str().trim()));
    }
    let words = folded_words(english);
    let french_like = words.iter().filter(|w| FRENCH_FUNCTION_WORDS.split_whitespace().any(|f| f == w.as_str())).count();
    if words.len() >= 6 && french_like * 5 >= words.len() {
        return Some(format!("{french_like} of {} words are French", words.len()));
    }
    let quoted = |t: &str| t.trim_start().starts_with(['"', '“']) && t.trim_end().ends_with(['"', '”']);
    if quoted(english) && !french.trim_start().starts_with(['«', '"', '“']) && english.matches(['"', '“', '”']).count() == 2 {
        return Some("the English is a quotation of the whole paragraph".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glossary::Glossary;

    fn checks(french: &str, english: &str) -> Vec<Check> {
        check_translation(french, english, &[]).into_iter().map(|f| f.check).collect()
    }

    fn passes(french: &str, english: &str) {
        let findings = check_translation(french, english, &[]);
        assert!(findings.is_empty(), "{english:?} should pass: {findings:?}");
    }

    const FLOOD: &str = "Plus de 1 200 habitants de la vallée du Vidourle ont été évacués dans la nuit, \
        après des pluies d’une intensité exceptionnelle sur le Gard, a annoncé la préfecture.";

    #[test]
    fn a_faithful_translation_passes() {
        passes(FLOOD, "More than 1,200 residents of the Vidourle valley were evacuated overnight after rain of exceptional intensity in the Gard, the prefecture announced.");
        passes(
            "« Nous avons mobilisé 450 pompiers et trois hélicoptères », a déclaré la préfète, Marie Lefèvre. Aucune victime n’était à déplorer.",
            "\"We have mobilised 450 firefighters and three helicopters,\" said the prefect, Marie Lefèvre. No casualties were reported.",
        );
        passes("Il est tombé 310 millimètres d’eau en douze heures.", "310 millimetres of rain fell in twelve hours.");
    }

    #[test]
    fn numbers_dropped_changed_added_or_unqualified_fail() {
        assert_eq!(checks(FLOOD, "1,200 residents of the Vidourle valley were evacuated overnight after rain of exceptional intensity in the Gard, the prefecture announced."), [Check::Numbers]);
        let finding =
            &check_translation("Un train sur trois circulera mardi.", "Three out of every four trains will run on Tuesday.", &[])[0];
        assert_eq!(finding.check, Check::Numbers);
        assert!(
            finding.detail.contains("missing Un train sur trois") && finding.detail.contains("Three out of every four"),
            "{}",
            finding.detail
        );
        assert_eq!(checks("Il est tombé 310 millimètres.", "It rained 31 millimetres."), [Check::Numbers]);
        assert_eq!(checks("Il est tombé beaucoup de pluie mardi.", "Over 2 days, a lot of rain fell on Tuesday."), [Check::Numbers]);
        passes("Un train sur trois circulera mardi.", "One train in three will run on Tuesday.");
        let finding = &check_translation("Aucune négociation avant mardi.", "No negotiation before Monday.", &[])[0];
        assert_eq!((finding.check, finding.detail.as_str()), (Check::Numbers, "missing Tuesday; not in the French: Monday"));
        // "une dizaine" is about ten: "ten" loses the qualifier only (a lesser failure), "a
        // dozen" changes the number.
        let french = "Une dizaine d'autres cas sont analysés.";
        let ten = &check_translation(french, "Ten other cases are being analysed.", &[])[0];
        assert_eq!((ten.detail.as_str(), ten.is_minor()), ("qualifier lost: Une dizaine", true));
        let dozen = &check_translation(french, "A dozen other cases are being analysed.", &[])[0];
        assert!(dozen.detail.starts_with("missing Une dizaine") && !dozen.is_minor(), "{}", dozen.detail);
        passes(french, "About ten other cases are being analysed.");
    }

    #[test]
    fn names_must_survive() {
        assert_eq!(
            checks(
                "Le général Michael Kurilla dirige les forces au Moyen-Orient.",
                "General Michael directs the forces in the Middle East."
            ),
            [Check::Names]
        );
        passes("Les Kurdes de Syrie ont rencontré les Américains.", "The Kurds of Syria met the Americans.");
        // Names English translates leave English names in their place.
        passes("Il est arrivé en Nouvelle-Écosse mardi.", "He arrived in Nova Scotia on Tuesday.");
        passes("Elle a reçu le prix du Meilleur Acteur.", "She received the Best Actor award.");
        // A single name is no translated compound, whatever new names the English has.
        assert_eq!(
            checks("Le convoi a été touché près de la Dravonie dimanche.", "The convoy was hit near the Congo on Sunday."),
            [Check::Names]
        );
        assert_eq!(
            checks("Il est arrivé en Nouvelle-Écosse avec Paul Martin.", "He arrived in Nova Scotia with a friend."),
            [Check::Names]
        );
        // An acronym the French does not have.
        assert_eq!(checks("La présidente Marie Lefèvre a parlé à Nîmes.", "NATO President Marie Lefèvre spoke in Nîmes."), [Check::Names]);
        // An English plural of an acronym, and the English time of day, are no new names.
        passes("Deux TGV sur cinq rouleront à partir de 20 h.", "Two TGVs in five will run from 8 PM.");
    }

    #[test]
    fn glossary_terms_need_their_english_form() {
        let glossary = Glossary::parse("FMI\tIMF | International Monetary Fund\n", "test").expect("glossary");
        let french = "Le FMI prévoit une croissance de 2,5 %.";
        let terms = glossary.terms_in(french);
        let findings = check_translation(french, "The FIM forecasts growth of 2.5%.", &terms);
        // FIM is also an acronym the French does not have.
        assert_eq!(findings.iter().map(|f| f.check).collect::<Vec<_>>(), [Check::Names, Check::Glossary]);
        assert!(findings[1].detail.contains("FMI -> IMF"));
        assert!(check_translation(french, "The IMF forecasts growth of 2.5%.", &terms).is_empty());
    }

    #[test]
    fn quotations_stay_quotations() {
        assert_eq!(
            checks("« Nous partirons demain matin », a dit le maire.", "We will leave tomorrow morning, the mayor said."),
            [Check::Quotes]
        );
        // A few quoted words may lose their marks.
        passes("Le maire a parlé d’une « situation inédite ».", "The mayor spoke of an unprecedented situation.");
    }

    #[test]
    fn paragraph_quotations_get_their_marks_back() {
        // A paragraph that goes on with a quotation opens with a quotation mark; the last closes.
        assert_eq!(
            restore_quotes("« Nous voulons garantir la sécurité.", "We want to guarantee security."),
            "\"We want to guarantee security."
        );
        assert_eq!(restore_quotes("« Et nous y veillerons. »", "And we will see to it."), "\"And we will see to it.\"");
        assert_eq!(restore_quotes("« Et nous y veillerons. »", "\"And we will see to it.\""), "\"And we will see to it.\"");
        assert_eq!(restore_quotes("Il a dit : « non ».", "He said \"no\"."), "He said \"no\".");
        assert_eq!(restore_quotes("Le train part.", "The train leaves."), "The train leaves.");
    }

    #[test]
    fn negations_stay_and_do_not_appear() {
        assert_eq!(checks("Le train ne circulera pas mardi.", "The train will run on Tuesday."), [Check::Negation]);
        assert_eq!(checks("Le train circulera mardi.", "The train will not run on Tuesday."), [Check::Negation]);
        passes("Le train ne circule plus.", "The train no longer runs.");
        passes("Il n’y aura que deux trains.", "There will be only two trains.");
        passes("Il est impossible de partir.", "It is not possible to leave.");
    }

    #[test]
    fn dropped_text_is_a_length_failure() {
        assert_eq!(
            checks(
                "Le fleuve a dépassé la cote de sept mètres peu après minuit. Les pompiers sont restés mobilisés toute la nuit. La préfecture a ouvert un centre d’accueil au gymnase.",
                "The river passed seven metres shortly after midnight."
            ),
            [Check::Length]
        );
    }

    #[test]
    fn commentary_and_untranslated_text_fail() {
        let french = "Le fleuve a dépassé la cote de sept mètres peu après minuit.";
        for english in [
            "The French text translates to: \"The river exceeded the seven-metre mark shortly after midnight.\"",
            "Here is the translation: The river exceeded the seven-metre mark shortly after midnight.",
            "The river exceeded the seven-metre mark shortly after midnight. (Note: \"cote\" is the water level.)",
            "Le fleuve a dépassé la cote de seven metres peu après minuit.",
            "\"The river exceeded the seven-metre mark shortly after midnight.\"",
        ] {
            assert_eq!(checks(french, english), [Check::NotTranslation], "{english}");
        }
    }

    #[test]
    fn commentary_is_stripped() {
        let french = "Le fleuve a dépassé la cote de sept mètres peu après minuit.";
        let clean = "The river exceeded the seven-metre mark shortly after midnight.";
        for english in [
            format!("The French text translates to: \"{clean}\""),
            format!("Here is the translation:\n\n{clean}"),
            format!("{clean}\n\nNote: \"cote\" is the water level."),
            format!("{clean} (Note: \"cote\" is the water level.)"),
            format!("\"{clean}\""),
            format!("Translation: {clean}"),
            format!("Write these names in English as shown: HTS = HTS. {clean}"),
            format!("{clean} HTS = Humanitarian Transitional State"),
            format!("{clean}\n\nWrite these names in English as shown: EI = IS; FDS = SDF."),
        ] {
            assert_eq!(strip_commentary(french, &english), clean, "{english}");
            passes(french, &strip_commentary(french, &english));
        }
        // A quotation of the French stays one; a translation that is already clean is unchanged.
        let quoted = "\"We are leaving.\"";
        assert_eq!(strip_commentary("« Nous partons. »", quoted), quoted);
        assert_eq!(strip_commentary(french, clean), clean);
    }
}
