//! Grounding: every number and every name in a summary must be found in the sources.
//!
//! The sources are the French article and its English translation. The check is lexical and
//! deliberately simple, so that its verdicts can be explained:
//!
//! - **numbers**: every number in the summary must equal a number of the sources once both are
//!   canonicalised. `8,000`, `8 000`, `8\u{202F}000` and `8000` are the same number, and the
//!   French `2,5` is the English `2.5`. The summary is read as English (`8,000` is eight thousand,
//!   `8.5` eight and a half); a source number whose separators allow two readings (`8,000` in
//!   French is eight) counts with both.
//! - **names**: every capitalised word of the summary (including acronyms such as `CENTCOM`)
//!   must occur as a whole word in a source, compared case-insensitively and without diacritics,
//!   so `The` is grounded by `the` and `Etat` by `État`. Words are split on hyphens and
//!   apostrophes (`Al-Qaïda's` is `Al` and `Qaïda`). English function words (`The`, `However`,
//!   `He`, …) cannot be names and are not checked, so a sentence may open with one even when the
//!   sources are French only.

use std::collections::HashSet;

use serde::Serialize;

/// What a claim is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A number written with digits: a count, an amount, a percentage, a year, an ordinal.
    Number,
    /// A capitalised word: a person, place, organisation or acronym.
    Name,
}

/// A checkable item of a summary, as written in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub kind: ClaimKind,
    /// The number or word exactly as the summary writes it (`9,000`, `Qaïda`).
    pub text: String,
}

/// The verdict of [`check_grounding`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Grounding {
    /// Claims of the summary found in no source, each once, in order of appearance.
    pub unsupported: Vec<Claim>,
}

impl Grounding {
    /// True when every number and name of the summary is found in the sources.
    pub fn is_grounded(&self) -> bool {
        self.unsupported.is_empty()
    }
}

/// Capitalised English words that are never names (sentence openers), compared after folding.
const FUNCTION_WORDS: &str =
    "a about according after all also although an and as at because before both but by \
    despite during for from he her his however i if in it its meanwhile moreover no not \
    of on or our she since so some that the their there these they this those to under we \
    when where which while who with";

fn is_function_word(folded: &str) -> bool {
    FUNCTION_WORDS.split_whitespace().any(|word| word == folded)
}

/// Checks that every number and name of `summary` is found in `sources`.
pub fn check_grounding(summary: &str, sources: &[&str]) -> Grounding {
    let source_numbers: HashSet<String> = sources
        .iter()
        .flat_map(|source| number_tokens(source))
        .flat_map(|token| token.readings())
        .collect();
    let source_words: HashSet<String> = sources
        .iter()
        .flat_map(|source| word_parts(source))
        .map(|(_, part)| fold(part))
        .collect();

    let mut claims: Vec<(usize, Claim)> = Vec::new();
    for token in number_tokens(summary) {
        let supported = token
            .readings()
            .first()
            .is_some_and(|reading| source_numbers.contains(reading));
        if !supported {
            claims.push((token.start, claim(ClaimKind::Number, token.text)));
        }
    }
    for (start, part) in word_parts(summary) {
        if !is_name_candidate(part) {
            continue;
        }
        let folded = fold(part);
        if !is_function_word(&folded) && !source_words.contains(&folded) {
            claims.push((start, claim(ClaimKind::Name, part)));
        }
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

fn claim(kind: ClaimKind, text: &str) -> Claim {
    Claim {
        kind,
        text: text.to_string(),
    }
}

/// A number as written: digit groups and the separators between them.
#[derive(Debug)]
struct NumberToken<'a> {
    /// Byte offset in the text.
    start: usize,
    text: &'a str,
    /// Runs of ASCII digits, at least one.
    groups: Vec<&'a str>,
    /// `separators[i]` stands between `groups[i]` and `groups[i + 1]`.
    separators: Vec<char>,
}

/// Spaces that group digits in French.
fn is_space_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '\u{2009}')
}

/// Separators of the same class can group the same number.
fn separator_class(c: char) -> char {
    if is_space_separator(c) {
        ' '
    } else {
        c
    }
}

fn digit_run(text: &str) -> &str {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    &text[..end]
}

/// Every number written with digits in `text`, in order.
///
/// A space continues a number only as a thousands separator: between a leading group of 1–3
/// digits (and 3-digit groups) and a 3-digit group, so `2023 100` is two numbers.
fn number_tokens(text: &str) -> Vec<NumberToken<'_>> {
    let mut tokens = Vec::new();
    let mut rest_start = 0;
    while let Some(offset) = text[rest_start..].find(|c: char| c.is_ascii_digit()) {
        let start = rest_start + offset;
        let first = digit_run(&text[start..]);
        let mut groups = vec![first];
        let mut separators = Vec::new();
        let mut end = start + first.len();
        while let Some(separator) = text[end..].chars().next() {
            if !(matches!(separator, ',' | '.') || is_space_separator(separator)) {
                break;
            }
            let after = end + separator.len_utf8();
            let group = digit_run(&text[after..]);
            if group.is_empty() {
                break;
            }
            if is_space_separator(separator) && !(group.len() == 3 && is_grouped(&groups)) {
                break;
            }
            groups.push(group);
            separators.push(separator);
            end = after + group.len();
        }
        tokens.push(NumberToken {
            start,
            text: &text[start..end],
            groups,
            separators,
        });
        rest_start = end;
    }
    tokens
}

/// Whether `groups` read as thousands groups: a leading group of 1–3 digits, then 3-digit groups.
fn is_grouped(groups: &[&str]) -> bool {
    match groups.split_first() {
        Some((first, rest)) => (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3),
        None => false,
    }
}

impl NumberToken<'_> {
    /// The canonical values this token can mean, the English reading first.
    ///
    /// All separators may be thousands separators (`8,000` → `8000`), or the last one, when it
    /// is `,` or `.`, may be a decimal mark (`8,000` → `8`, `2,5` → `2.5`). English prefers the
    /// thousands reading after a comma and the decimal reading after a point. A token with no
    /// valid reading (`1.2.3`) stands for itself.
    fn readings(&self) -> Vec<String> {
        let Some((&last_separator, leading_separators)) = self.separators.split_last() else {
            return vec![canonical(&self.groups.concat(), "")];
        };
        let same_class = |separators: &[char]| {
            separators
                .windows(2)
                .all(|pair| separator_class(pair[0]) == separator_class(pair[1]))
        };
        let integer_groups = &self.groups[..self.groups.len() - 1];
        let fraction = self.groups[self.groups.len() - 1];

        let thousands = (is_grouped(&self.groups) && same_class(&self.separators))
            .then(|| canonical(&self.groups.concat(), ""));
        let decimal = (matches!(last_separator, ',' | '.')
            && (integer_groups.len() == 1
                || (is_grouped(integer_groups)
                    && same_class(leading_separators)
                    && leading_separators.iter().all(|&s| s != last_separator))))
        .then(|| canonical(&integer_groups.concat(), fraction));

        let ordered = if last_separator == '.' {
            [decimal, thousands]
        } else {
            [thousands, decimal]
        };
        let readings: Vec<String> = ordered.into_iter().flatten().collect();
        if readings.is_empty() {
            vec![self.groups.join(".")]
        } else {
            readings
        }
    }
}

/// `007` → `7`, (`2`, `50`) → `2.5`, (`8`, `000`) → `8`.
fn canonical(integer: &str, fraction: &str) -> String {
    let integer = integer.trim_start_matches('0');
    let integer = if integer.is_empty() { "0" } else { integer };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        integer.to_string()
    } else {
        format!("{integer}.{fraction}")
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '‘')
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑')
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c) || is_apostrophe(c) || is_hyphen(c)
}

/// The parts of every word of `text` with their byte offsets: words are split on hyphens and
/// apostrophes, and lose a possessive `'s` first.
fn word_parts(text: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    let mut words = text.char_indices().peekable();
    while let Some((start, c)) = words.next() {
        if !is_word_char(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(index, c)) = words.peek() {
            if !is_word_char(c) {
                break;
            }
            end = index + c.len_utf8();
            words.next();
        }
        let word = &text[start..end];
        let word = ["'s", "’s", "'S", "’S"]
            .iter()
            .find_map(|suffix| word.strip_suffix(suffix))
            .unwrap_or(word);
        let mut part_start = start;
        for part in word.split(|c: char| is_apostrophe(c) || is_hyphen(c)) {
            if !part.is_empty() {
                parts.push((part_start, part));
            }
            // Every separator is one char; find its width from the text itself.
            let separator_width = text[part_start + part.len()..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
            part_start += part.len() + separator_width;
        }
    }
    parts
}

/// A word part whose first character is an uppercase letter.
fn is_name_candidate(part: &str) -> bool {
    part.chars().next().is_some_and(char::is_uppercase)
}

/// Lowercase without diacritics: `État` → `etat`, `Œuvre` → `oeuvre`.
fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'æ' => folded.push_str("ae"),
            'œ' => folded.push_str("oe"),
            'ß' => folded.push_str("ss"),
            'þ' => folded.push_str("th"),
            _ => folded.push(base_letter(c)),
        }
    }
    folded
}

/// The base Latin letter of an accented lowercase letter, or the letter itself.
fn base_letter(c: char) -> char {
    const ACCENTED: &[(char, &str)] = &[
        ('a', "àáâãäåāăą"),
        ('c', "çćĉċč"),
        ('d', "ďđð"),
        ('e', "èéêëēĕėęě"),
        ('g', "ĝğġģ"),
        ('h', "ĥħ"),
        ('i', "ìíîïĩīĭįı"),
        ('j', "ĵ"),
        ('k', "ķ"),
        ('l', "ĺļľŀł"),
        ('n', "ñńņňŉ"),
        ('o', "òóôõöøōŏő"),
        ('r', "ŕŗř"),
        ('s', "śŝşšș"),
        ('t', "ţťŧț"),
        ('u', "ùúûüũūŭůűų"),
        ('w', "ŵ"),
        ('y', "ýÿŷ"),
        ('z', "źżž"),
    ];
    ACCENTED
        .iter()
        .find(|(_, variants)| variants.contains(c))
        .map_or(c, |&(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Claim {
        claim(ClaimKind::Number, text)
    }

    fn name(text: &str) -> Claim {
        claim(ClaimKind::Name, text)
    }

    fn unsupported(summary: &str, sources: &[&str]) -> Vec<Claim> {
        check_grounding(summary, sources).unsupported
    }

    const FRENCH: &str = "Le général Michael Kurilla a déclaré que l’État islamique veut libérer \
        « plus de 8\u{A0}000 » djihadistes détenus au Moyen-Orient. Le taux est de 2,5\u{202F}% \
        depuis 2021. Le 1er janvier, Al-Qaïda a été visé par le CENTCOM.";
    const ENGLISH: &str = "General Michael Kurilla said that Islamic State wants to free \
        \"more than 8,000\" jihadists held in the Middle East. The rate has been 2.5% since \
        2021. On 1 January, al-Qaeda was targeted by CENTCOM.";

    #[test]
    fn faithful_paraphrase_is_grounded() {
        let summary = "Kurilla warned that Islamic State aims to free more than 8,000 jihadists \
            in the Middle East. CENTCOM targeted al-Qaeda on 1 January; the rate has been 2.5% \
            since 2021.";
        let grounding = check_grounding(summary, &[FRENCH, ENGLISH]);
        assert!(grounding.is_grounded(), "{:?}", grounding.unsupported);
    }

    #[test]
    fn number_grouping_does_not_matter() {
        for source in [
            "8 000",
            "8\u{A0}000",
            "8\u{202F}000",
            "8\u{2009}000",
            "8000",
            "8,000",
        ] {
            for summary in ["8,000 fighters", "8 000 fighters", "8000 fighters"] {
                assert!(
                    check_grounding(summary, &[source]).is_grounded(),
                    "{summary:?} vs {source:?}"
                );
            }
        }
        assert!(check_grounding("1,200,000 people", &["1 200 000 personnes"]).is_grounded());
    }

    #[test]
    fn french_decimal_comma_equals_english_point() {
        assert!(check_grounding("growth of 2.5%", &["une croissance de 2,5 %"]).is_grounded());
        assert!(check_grounding("0.75 points", &["0,75 point"]).is_grounded());
        assert!(check_grounding("2.50 euros", &["2,5 euros"]).is_grounded());
        assert_eq!(unsupported("2.6%", &["2,5 %"]), vec![number("2.6")]);
    }

    #[test]
    fn ambiguous_source_number_counts_with_both_readings() {
        let french = "Il a parcouru 8,000 kilomètres.";
        assert!(check_grounding("8 km", &[french]).is_grounded());
        assert!(check_grounding("8,000 km", &[french]).is_grounded());
    }

    #[test]
    fn summary_numbers_are_read_as_english() {
        // `8,000` in a summary is eight thousand: a source with only 8 does not ground it.
        assert_eq!(
            unsupported("8,000 died", &["8 morts"]),
            vec![number("8,000")]
        );
        assert_eq!(
            unsupported("8.5 died", &["8 500 morts"]),
            vec![number("8.5")]
        );
    }

    #[test]
    fn changed_number_is_unsupported() {
        assert_eq!(
            unsupported("More than 9,000 jihadists", &[FRENCH, ENGLISH]),
            vec![number("9,000")]
        );
    }

    #[test]
    fn invented_number_is_unsupported() {
        assert_eq!(
            unsupported("Kurilla said 12 jihadists escaped.", &[FRENCH, ENGLISH]),
            vec![number("12")]
        );
    }

    #[test]
    fn year_not_in_sources_is_unsupported() {
        assert_eq!(
            unsupported("The rate has been 2.5% since 2019.", &[FRENCH, ENGLISH]),
            vec![number("2019")]
        );
    }

    #[test]
    fn ordinals_and_percentages_are_numbers() {
        assert!(check_grounding("the 1st of the month", &["le 1er du mois"]).is_grounded());
        assert!(check_grounding("15% of", &["15\u{A0}% des"]).is_grounded());
        assert_eq!(
            unsupported("the 2nd day", &["le 1er jour"]),
            vec![number("2")]
        );
    }

    #[test]
    fn space_separated_numbers_are_not_merged() {
        assert!(check_grounding("in 2023, 100 people", &["en 2023 100 personnes"]).is_grounded());
        assert_eq!(
            unsupported("2023100 people", &["en 2023 100 personnes"]),
            vec![number("2023100")]
        );
    }

    #[test]
    fn invented_place_is_unsupported() {
        assert_eq!(
            unsupported("Kurilla spoke in Baghdad.", &[FRENCH, ENGLISH]),
            vec![name("Baghdad")]
        );
    }

    #[test]
    fn invented_person_is_unsupported() {
        assert_eq!(
            unsupported(
                "General John Smith said 8,000 jihadists could be freed.",
                &[FRENCH, ENGLISH]
            ),
            vec![name("John"), name("Smith")]
        );
    }

    #[test]
    fn names_match_without_case_or_diacritics() {
        assert!(check_grounding("The Etat", &["l’État et le"]).is_grounded());
        assert!(check_grounding("ÉTAT", &["etat"]).is_grounded());
        assert!(check_grounding("Œuvre", &["oeuvre"]).is_grounded());
        assert!(check_grounding("Erdogan", &["Erdoğan"]).is_grounded());
        assert!(check_grounding("E\u{301}tat", &["État"]).is_grounded());
    }

    #[test]
    fn names_are_whole_words() {
        assert_eq!(unsupported("Syr", &["la Syrie"]), vec![name("Syr")]);
        assert_eq!(unsupported("Syria", &["Syr"]), vec![name("Syria")]);
    }

    #[test]
    fn possessives_hyphens_and_apostrophes_split_words() {
        assert!(check_grounding("Kurilla's forces", &["Kurilla"]).is_grounded());
        assert!(check_grounding("Kurilla’s forces", &["Kurilla"]).is_grounded());
        assert!(check_grounding("Al-Qaïda", &["al-Qaïda"]).is_grounded());
        assert!(check_grounding("Orient", &["Moyen-Orient"]).is_grounded());
        assert!(check_grounding("L'Etat", &["l’État"]).is_grounded());
        assert_eq!(
            unsupported("Al-Shabaab", &["al-Qaïda"]),
            vec![name("Shabaab")]
        );
    }

    #[test]
    fn acronyms_are_names() {
        assert!(check_grounding("CENTCOM said", &[FRENCH]).is_grounded());
        assert_eq!(unsupported("NATO said", &[FRENCH]), vec![name("NATO")]);
    }

    #[test]
    fn function_words_opening_a_sentence_are_not_names() {
        assert!(check_grounding("However, The group", &["groupe"]).is_grounded());
        assert!(check_grounding("The group", &["the"]).is_grounded());
    }

    #[test]
    fn each_claim_is_reported_once_in_order_of_appearance() {
        let summary = "Smith said 9,000 fled to Paris; Smith repeated 9,000 and 7.";
        assert_eq!(
            unsupported(summary, &["rien"]),
            vec![name("Smith"), number("9,000"), name("Paris"), number("7")]
        );
    }

    #[test]
    fn empty_summary_is_grounded() {
        assert!(check_grounding("", &[FRENCH]).is_grounded());
        assert!(check_grounding("nothing checkable here.", &[]).is_grounded());
        assert!(!check_grounding("Paris", &[]).is_grounded());
    }

    #[test]
    fn grounding_serializes_with_snake_case_kinds() {
        let grounding = check_grounding("Paris had 9 000", &["rien"]);
        let json = serde_json::to_string(&grounding).expect("serializes");
        assert_eq!(
            json,
            r#"{"unsupported":[{"kind":"name","text":"Paris"},{"kind":"number","text":"9 000"}]}"#
        );
    }

    #[test]
    fn number_readings() {
        let readings = |text: &str| {
            let tokens = number_tokens(text);
            assert_eq!(tokens.len(), 1, "{text:?} gave {tokens:?}");
            tokens[0].readings()
        };
        assert_eq!(readings("8,000"), vec!["8000", "8"]);
        assert_eq!(readings("8.000"), vec!["8", "8000"]);
        assert_eq!(readings("1.200.000"), vec!["1200000"]);
        assert_eq!(readings("1,200.5"), vec!["1200.5"]);
        assert_eq!(readings("1 200,5"), vec!["1200.5"]);
        assert_eq!(readings("12345,5"), vec!["12345.5"]);
        assert_eq!(readings("2,5"), vec!["2.5"]);
        assert_eq!(readings("007"), vec!["7"]);
        assert_eq!(readings("1.2.3"), vec!["1.2.3"]);
    }

    #[test]
    fn numbers_end_at_trailing_punctuation() {
        let tokens = number_tokens("in 2021. Then 8 000, and 3.");
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        assert_eq!(texts, vec!["2021", "8 000", "3"]);
    }

    fn seed_article() -> String {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/article.fr.txt");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read the seed article {}: {err}", path.display()))
    }

    const SEED_SUMMARY: &str = "Kurilla, who leads CENTCOM, said more than 8,000 jihadists held \
        in camps could be freed. Abu Yusif was killed in an air strike in Dayr az Zawr. John \
        Healey met HTS leader Ahmad al Sharaa in Damas. Hans-Jakob Schindler of the Counter \
        Extremism Project said jihadists saw victories in Afghanistan in 2021 and since 2022.";

    #[test]
    fn seed_article_grounds_a_faithful_summary() {
        let article = seed_article();
        let grounding = check_grounding(SEED_SUMMARY, &[&article]);
        assert!(grounding.is_grounded(), "{:?}", grounding.unsupported);
    }

    #[test]
    fn seed_article_rejects_a_wrong_number() {
        let article = seed_article();
        let wrong = SEED_SUMMARY.replace("8,000", "80,000");
        assert_eq!(unsupported(&wrong, &[&article]), vec![number("80,000")]);
    }
}
