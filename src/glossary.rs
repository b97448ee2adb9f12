//! French -> English terms: the names of organisations, institutions, armed groups, parties and
//! places that news uses, and the English form a translation must give them (OTAN -> NATO,
//! FDS -> SDF, PIB -> GDP; SNCF stays SNCF).
//!
//! The table ships with precis (`data/glossary.fr-en.tsv`); `--glossary FILE` adds entries in the
//! same format, and they win over the shipped ones. Only the entries whose French term occurs in
//! a segment go into its prompt, and the translation is checked for their English form.
//!
//! Format: UTF-8 text, one entry per line, `french<TAB>english`, where `english` may list
//! accepted forms separated by ` | `, the preferred one first. `#` starts a comment line.
//! French acronyms (`EI`, `OTAN`) match case-sensitively as whole words; other terms match
//! without case or accents, word by word (`l'État islamique` has `Etat islamique`).

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::facts::{fold, is_acronym, word_parts};
use crate::{Error, Result};

const BUILTIN: &str = include_str!("../data/glossary.fr-en.tsv");

/// One entry: a French term and its accepted English forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub french: String,
    /// Accepted English forms, the preferred first.
    pub english: Vec<String>,
    /// Word parts of `french`: as written for an acronym, folded otherwise.
    key: Vec<String>,
}

impl Term {
    fn new(french: &str, english: Vec<String>) -> Self {
        let key = if is_acronym(french) {
            vec![french.to_string()]
        } else {
            word_parts(french).into_iter().map(|(_, part)| fold(part)).collect()
        };
        Self { french: french.to_string(), english, key }
    }

    pub fn is_acronym(&self) -> bool {
        is_acronym(&self.french)
    }

    /// The preferred English form.
    pub fn preferred(&self) -> &str {
        &self.english[0]
    }

    /// Whether a prompt gains from the term: a French acronym with another English form (EI,
    /// IS) or a name of several words (Forces démocratiques syriennes), which small models get
    /// wrong; not a name that stays as it is (SNCF) or a single word (Syrie, Allemagne), which
    /// they get right. The check covers every term either way.
    pub fn worth_prompting(&self) -> bool {
        let differs = !self.english.iter().any(|form| fold(form) == fold(&self.french));
        differs && (self.is_acronym() || self.key.len() > 1)
    }

    /// Whether `text` (English) contains one of the accepted forms.
    pub fn found_in(&self, text: &str) -> bool {
        self.english.iter().any(|form| contains_form(text, form))
    }
}

/// Whether `text` contains `form` as whole words: acronyms (and forms with dots, `U.S.`) as
/// written, other forms without case or accents.
fn contains_form(text: &str, form: &str) -> bool {
    if form.contains('.') {
        return text.contains(form);
    }
    let wanted: Vec<(bool, String)> = word_parts(form)
        .into_iter()
        .map(|(_, part)| if is_acronym(part) { (true, part.to_string()) } else { (false, fold(part)) })
        .collect();
    if wanted.is_empty() {
        return false;
    }
    let words: Vec<&str> = word_parts(text).into_iter().map(|(_, part)| part).collect();
    words
        .windows(wanted.len())
        .any(|window| window.iter().zip(&wanted).all(|(word, (exact, want))| if *exact { word == want } else { fold(word) == *want }))
}

/// The terms table.
#[derive(Debug, Clone, Default)]
pub struct Glossary {
    terms: Vec<Term>,
    /// First key word -> terms starting with it.
    index: HashMap<String, Vec<usize>>,
}

impl Glossary {
    /// The table that ships with precis.
    pub fn builtin() -> Result<Self> {
        Self::parse(BUILTIN, "data/glossary.fr-en.tsv (built in)")
    }

    /// The shipped table with the entries of `path` (`--glossary`), which win.
    pub fn with_user_file(path: Option<&Path>) -> Result<Self> {
        let builtin = Self::builtin()?;
        let Some(path) = path else { return Ok(builtin) };
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(text).map_err(|e| Error::Config(format!("glossary {}: not UTF-8 text ({e})", path.display())))?;
        let user = Self::parse(&text, &path.display().to_string())?;
        Ok(builtin.overridden_by(user))
    }

    /// Reads the format described in the module documentation; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut terms = Vec::new();
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let error = |what: &str| Error::Config(format!("glossary {origin}, line {}: {what}: {line:?}", n + 1));
            let fields: Vec<&str> = line.split('\t').collect();
            let [french, english] = fields[..] else {
                return Err(error(&format!("expected two tab-separated fields (french, english), found {}", fields.len())));
            };
            let french = french.trim();
            let english: Vec<String> = english.split(" | ").map(|form| form.trim().to_string()).collect();
            if french.is_empty() || word_parts(french).is_empty() {
                return Err(error("the French term is empty"));
            }
            if english.iter().any(|form| form.is_empty() || word_parts(form).is_empty()) {
                return Err(error("an English form is empty"));
            }
            terms.push(Term::new(french, english));
        }
        let mut glossary = Self::default();
        for term in terms {
            glossary.insert(term);
        }
        Ok(glossary)
    }

    /// Adds `term`, replacing an entry with the same French key.
    fn insert(&mut self, term: Term) {
        if let Some(&existing) = self.index.get(&term.key[0]).and_then(|ids| ids.iter().find(|&&i| self.terms[i].key == term.key)) {
            self.terms[existing] = term;
            return;
        }
        self.index.entry(term.key[0].clone()).or_default().push(self.terms.len());
        self.terms.push(term);
    }

    fn overridden_by(mut self, user: Glossary) -> Self {
        for term in user.terms {
            self.insert(term);
        }
        self
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// SHA-256 of the entries, part of what decides an output.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for term in &self.terms {
            hasher.update(term.french.as_bytes());
            hasher.update([0]);
            hasher.update(term.english.join(" | ").as_bytes());
            hasher.update([b'\n']);
        }
        hex::encode(hasher.finalize())
    }

    /// The entries whose French term occurs in `french`, in order of first occurrence (see
    /// [`Glossary::occurrences`] for overlapping terms).
    pub fn terms_in(&self, french: &str) -> Vec<&Term> {
        let mut found: Vec<usize> = Vec::new();
        for (_, i) in self.occurrences(french) {
            if !found.contains(&i) {
                found.push(i);
            }
        }
        found.into_iter().map(|i| &self.terms[i]).collect()
    }

    /// `french` with every occurrence of the French term of one of `terms` replaced by its
    /// preferred English form (capitalised where the French was): `Douze cas de rougeole` ->
    /// `Douze cas de measles`. Given to the model, such a mixed text keeps the term as written
    /// where the term in the prompt's list was not enough.
    pub fn with_english_terms(&self, french: &str, terms: &[&Term]) -> String {
        let mut out = String::with_capacity(french.len());
        let mut last = 0;
        for (range, i) in self.occurrences(french) {
            let term = &self.terms[i];
            if !terms.iter().any(|t| t.french == term.french) {
                continue;
            }
            out.push_str(&french[last..range.start]);
            let english = term.preferred();
            match english.chars().next() {
                Some(first) if french[range.clone()].starts_with(char::is_uppercase) => {
                    out.extend(first.to_uppercase());
                    out.push_str(&english[first.len_utf8()..]);
                }
                _ => out.push_str(english),
            }
            last = range.end;
        }
        out.push_str(&french[last..]);
        out
    }

    /// Where terms occur in `french`: byte ranges and term indices, in order. The longest term
    /// starting at a word wins; a match inside a longer one is part of it (Etat in Etat
    /// islamique); of two that overlap, the later one wins (chef de l'[État] islamique is the
    /// head of the Islamic State, not a head of state).
    fn occurrences(&self, french: &str) -> Vec<(std::ops::Range<usize>, usize)> {
        let words = word_parts(french);
        let parts: Vec<&str> = words.iter().map(|&(_, part)| part).collect();
        let folded: Vec<String> = parts.iter().map(|part| fold(part)).collect();
        // The longest term starting at each word: (start, end, term).
        let mut matches: Vec<(usize, usize, usize)> = Vec::new();
        for at in 0..parts.len() {
            let candidates = [self.index.get(parts[at]), self.index.get(&folded[at])];
            let longest = candidates
                .into_iter()
                .flatten()
                .flatten()
                .copied()
                .filter(|&i| {
                    let term = &self.terms[i];
                    if term.is_acronym() {
                        parts[at] == term.key[0]
                    } else {
                        folded[at..].starts_with(&term.key)
                    }
                })
                .max_by_key(|&i| self.terms[i].key.len());
            if let Some(i) = longest {
                matches.push((at, at + self.terms[i].key.len(), i));
            }
        }
        matches
            .iter()
            .filter(|&&(start, end, _)| {
                !matches.iter().any(|&(s, e, _)| (s <= start && end <= e && e - s > end - start) || (start < s && s < end && end < e))
            })
            .map(|&(start, end, i)| {
                let (from, _) = words[start];
                let (to, part) = words[end - 1];
                (from..to + part.len(), i)
            })
            .collect()
    }
}

/// `english` with every French acronym of `terms` that the translation left as it was replaced
/// by its preferred English form (`the EI` -> `the IS`, `(FDS)` -> `(SDF)`), unless the French
/// form is also an accepted English one (`SNCF`).
pub fn english_acronyms(terms: &[&Term], english: &str) -> String {
    let mut text = english.to_string();
    for term in terms.iter().filter(|t| t.is_acronym() && !t.english.iter().any(|form| form == &t.french)) {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, part) in word_parts(&text) {
            if part == term.french {
                out.push_str(&text[last..start]);
                out.push_str(term.preferred());
                last = start + part.len();
            }
        }
        out.push_str(&text[last..]);
        text = out;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary(text: &str) -> Glossary {
        Glossary::parse(text, "test").expect("valid glossary")
    }

    #[test]
    fn the_builtin_table_parses_and_has_the_common_terms() {
        let g = Glossary::builtin().expect("built-in glossary");
        assert!(g.len() >= 200, "{} entries", g.len());
        for (french, english) in [
            ("OTAN", "NATO"),
            ("ONU", "UN"),
            ("UE", "EU"),
            ("BCE", "ECB"),
            ("FMI", "IMF"),
            ("OMS", "WHO"),
            ("EI", "IS"),
            ("FDS", "SDF"),
            ("PIB", "GDP"),
            ("SNCF", "SNCF"),
        ] {
            let terms = g.terms_in(&format!("selon l'{french} hier"));
            assert_eq!(terms.len(), 1, "{french}: {terms:?}");
            assert!(terms[0].english.iter().any(|e| e == english), "{french}: {:?}", terms[0].english);
        }
    }

    #[test]
    fn terms_match_whole_words_acronyms_by_case_others_without_accents() {
        let g = glossary("EI\tIS | Islamic State\nEtat islamique\tIslamic State\nOTAN\tNATO\n");
        let french = |text: &str| g.terms_in(text).iter().map(|t| t.french.clone()).collect::<Vec<_>>();
        assert_eq!(french("l’État islamique et l'EI"), ["Etat islamique", "EI"]);
        assert_eq!(french("la lei, les otaniens, ei"), Vec::<String>::new());
        assert_eq!(french("de l’OTAN."), ["OTAN"]);
    }

    #[test]
    fn the_longest_term_wins_where_terms_overlap() {
        let g = glossary("Forces démocratiques syriennes\tSyrian Democratic Forces\nForces\tForces\nFDS\tSDF\n");
        let french: Vec<String> = g.terms_in("les Forces démocratiques syriennes (FDS)").iter().map(|t| t.french.clone()).collect();
        assert_eq!(french, ["Forces démocratiques syriennes", "FDS"]);
    }

    #[test]
    fn of_two_overlapping_terms_the_later_wins() {
        let g = glossary("chef de l'État\thead of state\nÉtat islamique\tIslamic State\n");
        let french = |text: &str| g.terms_in(text).iter().map(|t| t.french.clone()).collect::<Vec<_>>();
        assert_eq!(french("le chef de l’État islamique"), ["État islamique"]);
        assert_eq!(french("le chef de l’État a parlé"), ["chef de l'État"]);
    }

    #[test]
    fn prompts_skip_terms_models_get_right() {
        let g = glossary(
            "Syrie\tSyria\nAllemagne\tGermany\nSNCF\tSNCF\nEI\tIS\nHTS\tHTS | Hayat Tahrir al-Sham\nBanque mondiale\tWorld Bank\n",
        );
        let terms = g.terms_in("Syrie, Allemagne, SNCF, EI, HTS, Banque mondiale");
        let prompted: Vec<String> = terms.iter().filter(|t| t.worth_prompting()).map(|t| t.french.clone()).collect();
        assert_eq!(prompted, ["EI", "Banque mondiale"]);
    }

    #[test]
    fn english_forms_are_found_as_words() {
        let g = glossary("EI\tIS | Islamic State | ISIS\nÉtats-Unis\tUnited States | US | U.S.\n");
        let ei = &g.terms_in("EI")[0];
        assert!(ei.found_in("the IS leader"));
        assert!(ei.found_in("the islamic state leader"));
        assert!(!ei.found_in("this is the leader"));
        let us = &g.terms_in("aux États-Unis")[0];
        assert!(us.found_in("in the U.S. today"));
        assert!(us.found_in("US forces"));
        assert!(!us.found_in("let us go"));
    }

    #[test]
    fn french_acronyms_left_in_the_translation_are_replaced() {
        let g = glossary("EI\tIS | Islamic State\nFDS\tSDF\nSNCF\tSNCF\n");
        let terms = g.terms_in("l'EI, les FDS et la SNCF");
        let english = english_acronyms(&terms, "The EI's leader, the Syrian Democratic Forces (FDS), the SNCF and LEI.");
        assert_eq!(english, "The IS's leader, the Syrian Democratic Forces (SDF), the SNCF and LEI.");
    }

    #[test]
    fn terms_are_put_in_english_in_the_french_text() {
        let g = glossary("rougeole\tmeasles\ncollège\tmiddle school\nÉtat islamique\tIslamic State | IS\n");
        let french = "Rougeole : douze cas au collège, dont trois de rougeole grave ; l’État islamique.";
        let terms = g.terms_in(french);
        assert_eq!(terms.len(), 3);
        // Only the terms asked for, each occurrence, capitalised where the French was.
        let measles_and_school: Vec<&Term> = terms.iter().copied().filter(|t| t.french != "État islamique").collect();
        assert_eq!(
            g.with_english_terms(french, &measles_and_school),
            "Measles : douze cas au middle school, dont trois de measles grave ; l’État islamique."
        );
        assert_eq!(
            g.with_english_terms(french, &terms),
            "Measles : douze cas au middle school, dont trois de measles grave ; l’Islamic State."
        );
        assert_eq!(g.with_english_terms(french, &[]), french);
    }

    #[test]
    fn user_entries_win() {
        let mut g = glossary("OTAN\tNATO\nEI\tIS\n");
        g = g.overridden_by(glossary("EI\tISIS | IS\nBCE\tECB\n"));
        assert_eq!(g.len(), 3);
        assert_eq!(g.terms_in("EI")[0].preferred(), "ISIS");
    }

    #[test]
    fn bad_files_are_named_errors() {
        for (text, what) in [
            ("OTAN NATO\n", "expected two tab-separated fields"),
            ("OTAN\tNATO\tNAT\n", "found 3"),
            ("\tNATO\n", "French term is empty"),
            ("OTAN\tNATO | \n", "English form is empty"),
        ] {
            let error = Glossary::parse(text, "my.tsv").expect_err(text).to_string();
            assert!(error.contains("my.tsv, line 1") && error.contains(what), "{text:?}: {error}");
        }
        let error = Glossary::with_user_file(Some(Path::new("/nonexistent/terms.tsv"))).expect_err("missing file").to_string();
        assert!(error.contains("/nonexistent/terms.tsv"), "{error}");
    }
}
