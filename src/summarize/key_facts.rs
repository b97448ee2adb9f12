//! The central facts of an article, which a summary should keep: the numbers and names the
//! article repeats, and those of its lead (the title and the first paragraphs, where news put
//! the essentials), ranked by the sentences that state them plus a bonus for the title (3) and
//! the lead (2).

use serde::Serialize;

use crate::facts::{fold, french_names, mentions, Language, Mention, WordSet};
use crate::glossary::{Glossary, Term};
use crate::segment::split_sentences;

/// Body words that make the lead, counted paragraph by paragraph (at least the first one).
pub const LEAD_WORDS: usize = 75;

/// At most this many key facts (10: past the names and numbers the article repeats, the ones its
/// lead states once, such as a second figure or the source of one, have room).
const MAX_FACTS: usize = 10;

/// What stating a fact in the title, or in the lead, adds to its sentence count.
const TITLE_BONUS: usize = 3;
const LEAD_BONUS: usize = 2;

/// One fact: a number or a name, with the English forms that state it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFact {
    /// How an English text writes it: `8,000`, `Michael Kurilla`, `IS`.
    pub text: String,
    /// Occurrences in the article.
    pub count: usize,
    #[serde(skip)]
    what: What,
}

#[derive(Debug, Clone, PartialEq)]
enum What {
    Number(Vec<String>),
    Name(Vec<String>),
    Term(Term),
}

impl KeyFact {
    /// Whether `english` states this fact.
    pub fn in_text(&self, english: &str) -> bool {
        match &self.what {
            What::Number(values) => mentions(english, Language::English).iter().any(|m| m.values.iter().any(|v| values.contains(v))),
            What::Name(words) => {
                let found = WordSet::new(english);
                words.iter().any(|w| found.has_name(w))
            }
            What::Term(term) => term.found_in(english),
        }
    }

    fn forms(&self) -> Vec<String> {
        match &self.what {
            What::Number(values) => values.clone(),
            What::Name(words) => words.iter().map(|w| fold(w)).collect(),
            What::Term(term) => term.english.iter().map(|f| fold(f)).collect(),
        }
    }
}

/// The key facts of a French article: `title` and `body` paragraphs. Counts are of sentences.
pub fn key_facts(title: &str, body: &[String], glossary: &Glossary) -> Vec<KeyFact> {
    let mut lead_len = 0;
    let mut lead_paragraphs = 0;
    for paragraph in body {
        if lead_paragraphs > 0 && lead_len >= LEAD_WORDS {
            break;
        }
        lead_len += paragraph.split_whitespace().count();
        lead_paragraphs += 1;
    }
    let texts: Vec<&str> = std::iter::once(title).chain(body.iter().map(String::as_str)).collect();
    let lead = &texts[..=lead_paragraphs.min(texts.len() - 1)];

    // Candidates in order of first appearance, with their sentence counts and lead bonus.
    let mut facts: Vec<(KeyFact, usize)> = Vec::new();
    let mut add = |fact: KeyFact, bonus: usize| {
        let forms = fact.forms();
        match facts.iter_mut().find(|(f, _)| f.forms().iter().any(|form| forms.contains(form))) {
            Some((existing, best)) => {
                existing.count += 1;
                *best = (*best).max(bonus);
            }
            None => facts.push((fact, bonus)),
        }
    };
    let sentences = texts.iter().enumerate().flat_map(|(i, text)| split_sentences(text).into_iter().map(move |s| (i, s)));
    for (i, text) in sentences {
        let bonus = match i {
            0 => TITLE_BONUS,
            i if i < lead.len() => LEAD_BONUS,
            _ => 0,
        };
        let terms = glossary.terms_in(text);
        let term_words: Vec<String> = terms.iter().flat_map(|t| crate::facts::folded_words(&t.french)).collect();
        for term in &terms {
            add(KeyFact { text: term.preferred().to_string(), count: 1, what: What::Term((*term).clone()) }, bonus);
        }
        for name in name_groups(text) {
            let words: Vec<String> = crate::facts::word_parts(&name).into_iter().map(|(_, w)| w.to_string()).collect();
            if words.iter().any(|w| term_words.contains(&fold(w))) {
                continue;
            }
            // A summary names Michael Kurilla as Kurilla: any word but the first of a name of
            // several words (a first name, a title, Saint) says it is there.
            let telling: Vec<String> =
                if words.len() > 1 { words[1..].iter().filter(|w| crate::facts::is_capitalised(w)).cloned().collect() } else { words };
            add(KeyFact { text: name, count: 1, what: What::Name(telling) }, bonus);
        }
        for mention in mentions(text, Language::French).iter().filter(|m| m.strict) {
            add(KeyFact { text: english_number(mention), count: 1, what: What::Number(mention.values.clone()) }, bonus);
        }
    }
    // Facts stated once outside the lead are details.
    let mut ranked: Vec<(usize, usize, &KeyFact)> = facts
        .iter()
        .enumerate()
        .filter(|(_, (f, bonus))| *bonus > 0 || f.count >= 2)
        .map(|(i, (f, bonus))| (f.count + bonus, i, f))
        .collect();
    ranked.sort_by_key(|&(score, i, _)| (usize::MAX - score, i));
    ranked.into_iter().take(MAX_FACTS).map(|(_, _, f)| f.clone()).collect()
}

/// Runs of proper names with only spaces between them (`Michael Kurilla`, `Abu Yusif`), or
/// parts of one hyphenated name (`Saint-Hervé-du-Loir`).
fn name_groups(text: &str) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    let mut last_end = None;
    for (start, name) in french_names(text) {
        let gap = last_end.map(|end: usize| &text[end..start]);
        let joined = gap.is_some_and(|gap| gap.chars().all(|c| c == ' ' || c == '\u{A0}') || !gap.contains(char::is_whitespace));
        match groups.last_mut() {
            Some(group) if joined => {
                group.push_str(gap.unwrap_or(" "));
                group.push_str(name);
            }
            _ => groups.push(name.to_string()),
        }
        last_end = Some(start + name.len());
    }
    groups
}

/// A number as an English text writes it: `8 000` -> `8,000`, `2,5` -> `2.5`, `f1/3` -> `one in
/// three`.
fn english_number(mention: &Mention) -> String {
    let value = &mention.values[0];
    if let Some(fraction) = value.strip_prefix('f') {
        return fraction.replace('/', " in ");
    }
    if let Some(time) = value.strip_prefix('t') {
        return time.to_string();
    }
    let (integer, fraction) = value.split_once('.').map_or((value.as_str(), None), |(i, f)| (i, Some(f)));
    let digits: Vec<char> = integer.chars().collect();
    // Four digits that can be a year stay as they are.
    let year = fraction.is_none() && integer.parse::<u32>().is_ok_and(|n| (1800..=2100).contains(&n));
    let mut grouped = String::new();
    for (k, c) in digits.iter().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) && !year {
            grouped.push(',');
        }
        grouped.push(*c);
    }
    match fraction {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        Glossary::parse("EI\tIS | ISIS | Islamic State\nÉtat islamique\tIslamic State | IS\nFDS\tSDF\nSyrie\tSyria\n", "test")
            .expect("glossary")
    }

    const TITLE: &str = "Les chefs militaires révèlent que l'EI veut libérer « 8 000 » djihadistes";

    fn body() -> Vec<String> {
        [
            "L’État islamique veut faire sortir « plus de 8 000 » djihadistes des camps de prisonniers en Syrie, \
            ont révélé des chefs militaires lors d’une audition devant une commission du parlement qui siégeait \
            à huis clos depuis le début de la semaine dernière.",
            "Le général Michael Kurilla, qui dirige les forces américaines dans la région depuis plusieurs années, \
            a déclaré que le groupe terroriste avait l’intention de libérer ses agents et de se reconstituer \
            rapidement dans les zones où il reste présent.",
            "Le chef de l’Etat islamique, Abu Yusif, a été tué lors d’une frappe aérienne, a ajouté Kurilla.",
            "Les camps sont contrôlés par les FDS. Les FDS sont soutenues par les États-Unis.",
            "Un expert du Counter Extremism Project a parlé de la situation en 2021.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn facts_rank_by_repetition_and_place() {
        let facts = key_facts(TITLE, &body(), &glossary());
        let texts: Vec<&str> = facts.iter().map(|f| f.text.as_str()).collect();
        // IS: 3 sentences + title; 8,000: 2 + title; Michael Kurilla: 2 + lead; Syria: 1 + lead;
        // SDF: 2 sentences.
        assert_eq!(texts, ["IS", "8,000", "Michael Kurilla", "Syria", "SDF"]);
        // Abu Yusif, named once past the lead, is not a key fact; in a lead, it is.
        let short: Vec<String> = body()[2..].to_vec();
        let facts = key_facts(TITLE, &short, &glossary());
        assert!(facts.iter().any(|f| f.text == "Abu Yusif"), "{facts:?}");
    }

    #[test]
    fn facts_are_found_in_english_forms() {
        let facts = key_facts(TITLE, &body(), &glossary());
        let summary = "Islamic State wants to free more than 8,000 jihadists held in Syria, General Kurilla said.";
        let kept: Vec<&str> = facts.iter().filter(|f| f.in_text(summary)).map(|f| f.text.as_str()).collect();
        assert_eq!(kept, ["IS", "8,000", "Michael Kurilla", "Syria"]);
    }

    #[test]
    fn at_most_ten_facts_the_first_stated_on_a_tie() {
        // Twelve numbers, each stated once in the lead: all score the lead bonus, so the first
        // ten in article order are kept.
        let body = ["Le bilan : 11 blessés, 12 maisons, 13 routes, 14 écoles, 15 fermes, 16 ponts, 17 bus, 18 trains, \
            19 usines, 21 mairies, 22 gares et 23 ports."
            .to_string()];
        let facts = key_facts("Tempête", &body, &Glossary::default());
        let texts: Vec<&str> = facts.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["11", "12", "13", "14", "15", "16", "17", "18", "19", "21"]);
    }

    #[test]
    fn a_strike_is_a_key_fact_of_the_builtin_glossary() {
        // The title and a sentence of the lead say « grève »: the summary has to name the
        // strike, which "stop work" (« cesser le travail ») does not.
        let body = ["Les cheminots cesseront le travail jeudi. La grève durera deux jours.".to_string()];
        let facts = key_facts("Grève à la SNCF", &body, &Glossary::builtin().expect("built-in glossary"));
        let strike = facts.iter().find(|f| f.text == "strike").expect("strike is a key fact");
        assert_eq!(strike.count, 2);
        assert!(strike.in_text("The SNCF strike will last two days."));
        assert!(strike.in_text("Rail workers staged a walkout."));
        assert!(!strike.in_text("Rail workers will stop work on Thursday."));
    }

    #[test]
    fn hyphenated_names_are_one_fact() {
        let facts = key_facts("Rougeole dans un collège de Saint-Hervé-du-Loir", &[], &Glossary::default());
        assert_eq!(facts.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(), ["Saint-Hervé-du-Loir"]);
        assert!(facts[0].in_text("Measles at a school in Saint-Hervé-du-Loir"));
        assert!(!facts[0].in_text("Measles at a school in Saint-Malo"));
    }

    #[test]
    fn english_numbers() {
        let m = |text| mentions(text, Language::French).remove(0);
        assert_eq!(english_number(&m("8 000")), "8,000");
        assert_eq!(english_number(&m("1 200 000")), "1,200,000");
        assert_eq!(english_number(&m("2,5")), "2.5");
        assert_eq!(english_number(&m("2024")), "2024");
        assert_eq!(english_number(&m("un sur trois")), "1 in 3");
    }
}
