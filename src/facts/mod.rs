//! What a text states that a translation or a summary must keep: numbers ([`numbers`]), proper
//! names, and the days of the week and months it names, read from French or English text.

pub mod numbers;
pub mod words;

use std::collections::HashSet;

pub use numbers::{mentions, Language, Mention, Qualifier};
pub use words::{fold, folded_words, is_acronym, is_capitalised, opens_sentence, word_parts};

/// Capitalised French words that are not names in the middle of a sentence: honorifics, nouns
/// French capitalises by convention, and the first word of an institution's name (Direction
/// générale de l'aviation civile), which English translates.
const NOT_NAMES: &str = "m mme mmes mlle me mgr dr pr st ste etat etats president presidente \
    premier premiere gouvernement ministre nord sud est ouest republique eglise le la les un une \
    des du de au aux et ou direction ministere conseil agence banque cour assemblee commission \
    office institut haut haute autorite federation parti mouvement comite centre caisse chambre \
    tribunal prefecture mairie region departement universite ecole hopital syndicat societe \
    groupe association fondation observatoire secretariat service services police gendarmerie \
    armee marine justice sante education defense";

/// The proper names of a French text, with their byte offsets: capitalised words that do not
/// open a sentence or a quotation (a capital there says nothing), and acronyms anywhere.
pub fn french_names(text: &str) -> Vec<(usize, &str)> {
    word_parts(text)
        .into_iter()
        .filter(|&(start, part)| {
            is_acronym(part)
                || (is_capitalised(part)
                    && part.chars().count() > 1
                    && !opens_sentence(text, start)
                    && !NOT_NAMES.split_whitespace().any(|w| w == fold(part)))
        })
        .collect()
}

/// The days of the week and the months a text names, as `day:1` (Monday) to `day:7` and
/// `month:1` to `month:12`, each once, in order. English `May` and `March` count only capitalised
/// and next to a number (`May 3`, `3 March`), since they are also common words.
pub fn calendar_words(text: &str, language: Language) -> Vec<String> {
    const FRENCH: [&str; 19] = [
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    ];
    const ENGLISH: [&str; 19] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let names = match language {
        Language::French => &FRENCH,
        Language::English => &ENGLISH,
    };
    let parts = word_parts(text);
    let mut found = Vec::new();
    for (k, &(start, part)) in parts.iter().enumerate() {
        let folded = fold(part);
        let Some(i) = names.iter().position(|n| *n == folded) else { continue };
        if language == Language::English && matches!(folded.as_str(), "may" | "march") {
            let near_number = |j: Option<usize>| j.and_then(|j| parts.get(j)).is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()));
            if !is_capitalised(part) || !(near_number(k.checked_sub(1)) || near_number(Some(k + 1))) {
                continue;
            }
        }
        let _ = start;
        let word = if i < 7 { format!("day:{}", i + 1) } else { format!("month:{}", i - 6) };
        if !found.contains(&word) {
            found.push(word);
        }
    }
    found
}

/// The English name of a [`calendar_words`] entry (`day:2` -> `Tuesday`).
pub fn calendar_name(word: &str) -> &'static str {
    const NAMES: [&str; 19] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let index = match word.split_once(':') {
        Some(("day", n)) => n.parse::<usize>().ok().map(|n| n - 1),
        Some(("month", n)) => n.parse::<usize>().ok().map(|n| n + 6),
        _ => None,
    };
    index.and_then(|i| NAMES.get(i)).copied().unwrap_or("?")
}

/// The folded words of an English text, to look names up in.
pub struct WordSet(HashSet<String>);

impl WordSet {
    pub fn new(text: &str) -> Self {
        Self(folded_words(text).into_iter().collect())
    }

    /// Whether a French name is found: the same word without case or accents, an acronym with
    /// an English plural `s` (deux TGV, two TGVs), or (for words of four letters or more that
    /// are not acronyms) a word with the same first four letters, as Syrie/Syria, Kurdes/Kurds,
    /// Américains/Americans.
    pub fn has_name(&self, name: &str) -> bool {
        let folded = fold(name);
        if self.0.contains(&folded) {
            return true;
        }
        if is_acronym(name) {
            return self.0.contains(&format!("{folded}s"));
        }
        if folded.chars().count() < 4 {
            return false;
        }
        let stem: String = folded.chars().take(4).collect();
        self.0.iter().any(|word| word.starts_with(&stem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_names_skip_sentence_openings_and_honorifics() {
        let text = "Le général Michael Kurilla a déclaré à Damas que M. Healey et l’EI. Selon Météo-France, il pleut.";
        let names: Vec<&str> = french_names(text).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["Michael", "Kurilla", "Damas", "Healey", "EI", "Météo", "France"]);
    }

    #[test]
    fn days_and_months() {
        assert_eq!(calendar_words("Jeudi 3 mars, puis mardi et encore jeudi", Language::French), ["day:4", "month:3", "day:2"]);
        assert_eq!(calendar_words("On Thursday, March 3, then Tuesday", Language::English), ["day:4", "month:3", "day:2"]);
        // "may" and "march" are verbs unless capitalised next to a number.
        assert_eq!(calendar_words("They may march on 3 May.", Language::English), ["month:5"]);
        assert_eq!(calendar_name("day:2"), "Tuesday");
        assert_eq!(calendar_name("month:12"), "December");
    }

    #[test]
    fn names_are_found_by_stem() {
        let english = WordSet::new("The Kurds of Syria met the Americans and the EI in Damascus; two TGVs in five run.");
        for name in ["Kurdes", "Syrie", "Américains", "Damas", "EI", "TGV"] {
            assert!(english.has_name(name), "{name}");
        }
        for name in ["FDS", "Allemagne", "Abu", "RER"] {
            assert!(!english.has_name(name), "{name}");
        }
    }
}
