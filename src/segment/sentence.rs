//! Paragraphs into sentences, for French and English news text.
//!
//! A sentence ends at a run of terminal punctuation (`.` `!` `?` `…`, including runs such as
//! `?!` or `...`), together with the closing quotes and brackets that follow it (`»` `”` `"`
//! `'` `’` `)` `]` `›`). French typography puts a space or no-break space before `»`, so
//! `« Bonjour. »` closes as one piece.
//!
//! A candidate end is only a boundary when whitespace follows it and the next visible character
//! can start a sentence (an uppercase letter, a digit, an opening quote or bracket, a dash).
//! Nothing is split after:
//! - known abbreviations and titles (`M.`, `Mme.`, `Dr.`, `Mr.`, `Gen.`, `etc.`, `e.g.`, `art.`,
//!   …), and `No.` before a number;
//! - single capital initials (`J. K. Rowling`, `J.-P. Sartre`) and dotted acronyms (`U.S.`);
//! - a period inside a number (`3.5`) or a word (`example.com`), since no whitespace follows;
//! - a list number opening the paragraph (`1. Introduction`).
//!
//! The splitter only cuts: the returned slices cover the whole input in order, minus the
//! whitespace at their ends.

/// Abbreviations after which a period never ends a sentence, compared case-sensitively with the
/// word before the period (without the period itself).
const ABBREVIATIONS: &[&str] = &[
    // French and English titles.
    "M", "MM", "Mme", "Mmes", "Mlle", "Mlles", "Me", "Mgr", "Dr", "Drs", "Pr", "Prof", "St", "Ste", "Mr", "Mrs", "Ms", "Messrs", "Gen",
    "Col", "Lt", "Sgt", "Capt", "Cpt", "Cmdr", "Adm", "Maj", "Gov", "Sen", "Rep", "Rev", "Jr", "Sr", "Hon", "Pres",
    // Latin and common abbreviations.
    "etc", "e.g", "i.e", "vs", "cf", "approx", "ca", // Places.
    "U.S", "U.K", "U.N", "E.U", "Mt", "Ft", // References.
    "p", "pp", "art", "Art", "al", "av", "Av", "bd", "Bd", "fig", "Fig", "vol", "Vol", "ch", "chap", "env",
];

/// Abbreviations that stand before a number (`No. 10`): not a boundary only when a digit follows.
const NUMBER_ABBREVIATIONS: &[&str] = &["No", "Nos", "no", "nos", "Nr", "nr"];

/// Splits a paragraph into sentences: trimmed, non-empty slices of `paragraph`, in order.
///
/// Removing all whitespace from the concatenation of the result gives exactly `paragraph`
/// without its whitespace: nothing is dropped and nothing is duplicated.
pub fn split_sentences(paragraph: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = paragraph.char_indices().collect();
    let byte_at = |index: usize| chars.get(index).map_or(paragraph.len(), |&(byte, _)| byte);

    let mut sentences = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        if !is_terminal(chars[i].1) {
            i += 1;
            continue;
        }
        let run_start = i;
        let mut run_end = i;
        while run_end < chars.len() && is_terminal(chars[run_end].1) {
            run_end += 1;
        }
        let end = consume_closers(&chars, run_end);
        let cut = Candidate {
            sentence_start: start,
            run_start: byte_at(run_start),
            lone_period: run_end == run_start + 1 && chars[run_start].1 == '.' && end == run_end,
            end,
        };
        if is_boundary(paragraph, &chars, &cut) {
            let end_byte = byte_at(end);
            push_trimmed(&mut sentences, &paragraph[start..end_byte]);
            start = end_byte;
        }
        i = end;
    }
    push_trimmed(&mut sentences, &paragraph[start..]);
    sentences
}

/// A possible sentence end found in the paragraph.
struct Candidate {
    /// Byte offset where the current sentence starts.
    sentence_start: usize,
    /// Byte offset of the first terminal punctuation mark.
    run_start: usize,
    /// The end is exactly one `.`, with no other terminal mark and no closer after it.
    lone_period: bool,
    /// Char index just after the terminal run and its closers.
    end: usize,
}

fn push_trimmed<'a>(sentences: &mut Vec<&'a str>, piece: &'a str) {
    let piece = piece.trim();
    if !piece.is_empty() {
        sentences.push(piece);
    }
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '‽')
}

/// Closing quotes and brackets that belong to the sentence they follow.
fn is_closer(c: char) -> bool {
    matches!(c, '»' | '”' | '"' | '\'' | '’' | ')' | ']' | '›')
}

/// Closers that may stand after a space (French `« Bonjour. »`).
fn is_spaced_closer(c: char) -> bool {
    matches!(c, '»' | '›' | '”')
}

/// Characters that open a sentence besides letters that are not lowercase and digits.
fn is_opener(c: char) -> bool {
    matches!(c, '«' | '“' | '"' | '\'' | '‘' | '„' | '‹' | '(' | '[' | '¿' | '¡' | '–' | '—' | '-' | '‐')
}

/// Index after the closers (and further terminal marks) that follow a terminal run at `index`.
fn consume_closers(chars: &[(usize, char)], mut index: usize) -> usize {
    loop {
        match chars.get(index) {
            Some(&(_, c)) if is_closer(c) || is_terminal(c) => {
                index += 1;
                continue;
            }
            _ => {}
        }
        let mut after_space = index;
        while after_space < chars.len() && is_inline_space(chars[after_space].1) {
            after_space += 1;
        }
        match chars.get(after_space) {
            Some(&(_, c)) if after_space > index && is_spaced_closer(c) => index = after_space + 1,
            _ => return index,
        }
    }
}

/// Whitespace that is not a line break.
fn is_inline_space(c: char) -> bool {
    c.is_whitespace() && c != '\n'
}

fn can_start_sentence(c: char) -> bool {
    c.is_numeric() || is_opener(c) || (c.is_alphabetic() && !c.is_lowercase())
}

fn is_boundary(text: &str, chars: &[(usize, char)], cut: &Candidate) -> bool {
    let Some(&(_, after)) = chars.get(cut.end) else {
        return true;
    };
    if !after.is_whitespace() {
        return false;
    }
    let Some(&(_, next)) = chars[cut.end..].iter().find(|(_, c)| !c.is_whitespace()) else {
        return true;
    };
    if !can_start_sentence(next) {
        return false;
    }
    if !cut.lone_period {
        return true;
    }
    let before = &text[cut.sentence_start..cut.run_start];
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '.' || c == '-')
        .last()
        .map_or(before.len(), |(byte, _)| byte);
    let word = &before[word_start..];
    let opens_sentence = before[..word_start].trim().is_empty();
    !is_abbreviation(word, next, opens_sentence)
}

/// Whether the `word` before a lone period is an abbreviation, an initial or a list number, so
/// the period does not end the sentence. `next` is the next visible character; `opens_sentence`
/// says the word is the first thing in its sentence.
fn is_abbreviation(word: &str, next: char, opens_sentence: bool) -> bool {
    if word.is_empty() {
        return false;
    }
    if ABBREVIATIONS.contains(&word) {
        return true;
    }
    if NUMBER_ABBREVIATIONS.contains(&word) && next.is_numeric() {
        return true;
    }
    if word.chars().all(|c| c.is_ascii_digit()) {
        return opens_sentence;
    }
    // Initials and dotted acronyms: `J.`, `J.-P.`, `U.S.`, `e.g.`; but not `Super-G.`.
    let parts: Vec<&str> = word.split(['.', '-']).filter(|part| !part.is_empty()).collect();
    let all_single_letters = parts.iter().all(|part| {
        let mut letters = part.chars();
        matches!((letters.next(), letters.next()), (Some(c), None) if c.is_alphabetic())
    });
    match parts.as_slice() {
        [] => false,
        [single] => all_single_letters && single.chars().all(char::is_uppercase),
        _ => all_single_letters,
    }
}

/// Splits a sentence that is too long to translate in one piece into consecutive pieces of at
/// most `max` units as counted by `count` (e.g. tokens): at clause punctuation (`,` `;` `:`
/// and dashes) first, between words when a clause alone is too long, and inside a word only
/// when a single word is. The pieces, joined by single spaces, give back the sentence's words.
pub fn split_long<E>(sentence: &str, max: usize, count: impl Fn(&str) -> Result<usize, E>) -> Result<Vec<String>, E> {
    let mut pieces = Vec::new();
    for clause in clauses(sentence) {
        if count(clause)? <= max {
            pieces.push(clause.to_string());
            continue;
        }
        for word in clause.split_whitespace() {
            if count(word)? <= max {
                pieces.push(word.to_string());
            } else {
                pieces.extend(split_word(word, max, &count)?);
            }
        }
    }
    // Greedy packing: consecutive pieces share a segment while they fit.
    let mut packed: Vec<String> = Vec::new();
    for piece in pieces {
        if let Some(last) = packed.last_mut() {
            let joined = format!("{last} {piece}");
            if count(&joined)? <= max {
                *last = joined;
                continue;
            }
        }
        packed.push(piece);
    }
    Ok(packed)
}

/// Clauses: cut after `,` `;` `:` or a dash that is followed by a space.
fn clauses(sentence: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = sentence.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_some_and(|&(_, n)| n.is_whitespace());
        if matches!(c, ',' | ';' | ':' | '\u{2013}' | '\u{2014}') && next_is_space {
            let end = i + c.len_utf8();
            push_trimmed(&mut out, &sentence[start..end]);
            start = end;
        }
    }
    push_trimmed(&mut out, &sentence[start..]);
    out
}

/// A single over-long "word" (a URL, a run without spaces) in pieces of at most `max` units.
fn split_word<E>(word: &str, max: usize, count: &impl Fn(&str) -> Result<usize, E>) -> Result<Vec<String>, E> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in word.chars() {
        current.push(c);
        if current.chars().count() > 1 && count(&current)? > max {
            current.pop();
            pieces.push(std::mem::take(&mut current));
            current.push(c);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn non_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// The property every split must satisfy.
    fn assert_lossless(paragraph: &str) {
        let sentences = split_sentences(paragraph);
        assert!(sentences.iter().all(|s| !s.is_empty()), "empty sentence in {sentences:?}");
        assert!(sentences.iter().all(|s| s.trim() == *s), "untrimmed sentence in {sentences:?}");
        assert_eq!(
            non_whitespace(&sentences.concat()),
            non_whitespace(paragraph),
            "split of {paragraph:?} lost or duplicated text: {sentences:?}"
        );
    }

    /// The first `count` lines of a FLORES devtest file shipped with the tests.
    fn first_lines(file: &str, count: usize) -> Vec<String> {
        let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flores200-devtest").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let lines: Vec<String> = text.lines().take(count).map(str::to_string).collect();
        assert_eq!(lines.len(), count, "{file} has fewer than {count} lines");
        lines
    }

    #[test]
    fn splits_plain_sentences() {
        assert_eq!(
            split_sentences("One sentence. Another one! A question? Yes."),
            vec!["One sentence.", "Another one!", "A question?", "Yes."]
        );
    }

    #[test]
    fn empty_and_whitespace_paragraphs_have_no_sentences() {
        assert!(split_sentences("").is_empty());
        assert!(split_sentences(" \u{A0}\n\t").is_empty());
    }

    #[test]
    fn text_without_terminal_punctuation_is_one_sentence() {
        assert_eq!(split_sentences("  a headline without a period  "), vec!["a headline without a period"]);
    }

    #[test]
    fn punctuation_runs_stay_together() {
        assert_eq!(split_sentences("Really?! Yes... And then… Nothing."), vec!["Really?!", "Yes...", "And then…", "Nothing."]);
    }

    #[test]
    fn french_spaced_punctuation_and_guillemets() {
        assert_eq!(
            split_sentences("Il a dit : « Bonjour. » Puis il est parti ! Vraiment ?\u{A0}Oui."),
            vec!["Il a dit : « Bonjour. »", "Puis il est parti !", "Vraiment ?", "Oui."]
        );
        assert_eq!(
            split_sentences("«\u{A0}C'est fini.\u{A0}» Le ministre est parti."),
            vec!["«\u{A0}C'est fini.\u{A0}»", "Le ministre est parti."]
        );
    }

    #[test]
    fn closing_quotes_and_brackets_stay_with_their_sentence() {
        assert_eq!(
            split_sentences("He said \"no.\" Then he left. (It rained.) She stayed.'"),
            vec!["He said \"no.\"", "Then he left.", "(It rained.)", "She stayed.'"]
        );
        assert_eq!(split_sentences("“It is over.” The minister left."), vec!["“It is over.”", "The minister left."]);
    }

    #[test]
    fn opening_quote_starts_a_new_sentence() {
        assert_eq!(
            split_sentences("He left. \"Come back,\" she said. « Non », dit-il."),
            vec!["He left.", "\"Come back,\" she said.", "« Non », dit-il."]
        );
    }

    #[test]
    fn no_split_after_titles_and_abbreviations() {
        let cases = [
            "M. Healey a déclaré que Mme. Dupont et Dr. Martin étaient là.",
            "Le Pr. Durand et St. Louis, Mr. Smith, Mrs. Smith, Ms. Jones.",
            "Gen. Kurilla, Col. Smith, Lt. Brown and Sgt. Green met Jr. Jones.",
            "Fruit, vegetables, etc. Were on the table.",
            "Big cities, e.g. Paris, and small ones, i.e. Villages.",
            "France vs. Germany was played in the U.S. Last year in the U.K. Too.",
            "See p. 12 and art. L. 122 on the av. Foch, bd. Haussmann.",
            "The No. 10 bus stops here.",
        ];
        for case in cases {
            assert_eq!(split_sentences(case), vec![case], "split inside {case:?}");
        }
    }

    #[test]
    fn no_before_a_word_ends_a_sentence() {
        assert_eq!(split_sentences("He said no. Then he left."), vec!["He said no.", "Then he left."]);
    }

    #[test]
    fn no_split_after_initials() {
        for case in ["J. K. Rowling wrote it.", "J.-P. Sartre et Simone de Beauvoir.", "George W. Bush spoke."] {
            assert_eq!(split_sentences(case), vec![case], "split inside {case:?}");
        }
    }

    #[test]
    fn capital_letter_inside_a_hyphenated_word_is_not_an_initial() {
        assert_eq!(split_sentences("He won the Super-G. Jelinek was sixteenth."), vec!["He won the Super-G.", "Jelinek was sixteenth."]);
    }

    #[test]
    fn no_split_inside_numbers_or_words() {
        for case in ["Growth was 3.5 percent in 2023.", "Visit example.com for more.", "Il y a 1.200 personnes."] {
            assert_eq!(split_sentences(case), vec![case], "split inside {case:?}");
        }
    }

    #[test]
    fn no_split_before_lowercase_or_punctuation() {
        assert_eq!(split_sentences("Il a dit… et puis rien. Fin."), vec!["Il a dit… et puis rien.", "Fin."]);
        let stray = "Un point de vue mondial. , ces événements ont eu lieu.";
        assert_eq!(split_sentences(stray), vec![stray]);
    }

    #[test]
    fn splits_before_a_digit_or_a_dash() {
        assert_eq!(
            split_sentences("Il avait trois ans. 5 personnes sont mortes. — Non."),
            vec!["Il avait trois ans.", "5 personnes sont mortes.", "— Non."]
        );
    }

    #[test]
    fn list_number_at_the_start_is_not_a_sentence() {
        assert_eq!(
            split_sentences("1. Introduction to the topic. Second sentence."),
            vec!["1. Introduction to the topic.", "Second sentence."]
        );
    }

    #[test]
    fn slices_point_into_the_input() {
        let paragraph = "  First one.  Second one.  ";
        for sentence in split_sentences(paragraph) {
            let start = sentence.as_ptr() as usize - paragraph.as_ptr() as usize;
            assert_eq!(&paragraph[start..start + sentence.len()], sentence);
        }
    }

    #[test]
    fn lossless_on_tricky_inputs() {
        for paragraph in [
            "...",
            "?!",
            " . . . ",
            "« »",
            "a. b. c.",
            "M. M. M.",
            "« Fin. » » ».",
            "Text. \u{A0}» Orphan closer.",
            "Émile est là. À bientôt. Ça va ?",
            "x.\n\nY.",
        ] {
            assert_lossless(paragraph);
        }
    }

    #[test]
    fn lossless_on_flores_french_and_english() {
        for file in ["fra_Latn.devtest", "eng_Latn.devtest"] {
            for line in first_lines(file, 200) {
                assert_lossless(&line);
            }
        }
    }

    #[test]
    fn flores_french_and_english_mostly_agree_on_sentence_counts() {
        let french = first_lines("fra_Latn.devtest", 200);
        let english = first_lines("eng_Latn.devtest", 200);
        let agreeing = french.iter().zip(&english).filter(|(fr, en)| split_sentences(fr).len() == split_sentences(en).len()).count();
        assert!(agreeing >= 190, "only {agreeing} of 200 lines agree");
    }

    fn words(text: &str) -> Result<usize, ()> {
        Ok(text.split_whitespace().count())
    }

    #[test]
    fn splits_an_over_long_sentence_at_clauses_then_words() {
        let sentence = "Le maire, qui parlait mardi, a annoncé trois mesures : une piscine, deux écoles et un parc.";
        let pieces = split_long(sentence, 6, words).unwrap();
        assert_eq!(pieces, ["Le maire, qui parlait mardi,", "a annoncé trois mesures :", "une piscine,", "deux écoles et un parc."]);
        assert_eq!(pieces.join(" "), sentence);
        // A clause over the limit is cut between words; pieces are packed while they fit.
        let pieces = split_long(sentence, 4, words).unwrap();
        assert_eq!(pieces, ["Le maire,", "qui parlait mardi, a", "annoncé trois mesures :", "une piscine, deux écoles", "et un parc."]);
        assert_eq!(pieces.join(" "), sentence);
        // Fits already: one piece, unchanged.
        assert_eq!(split_long(sentence, 100, words).unwrap(), [sentence]);
    }

    #[test]
    fn splits_a_single_over_long_word() {
        let chars = |t: &str| Ok::<usize, ()>(t.chars().count());
        assert_eq!(split_long("abcdefgh ij", 3, chars).unwrap(), ["abc", "def", "gh", "ij"]);
    }
}
