//! Words as the checks see them: split on hyphens and apostrophes, compared without case or
//! diacritics.

/// Apostrophes, straight and typographic.
pub fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '‘')
}

/// Hyphens that join compound words.
pub fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑')
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// A letter or digit of a word, or a combining accent.
pub fn is_letter(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

fn is_word_char(c: char) -> bool {
    is_letter(c) || is_apostrophe(c) || is_hyphen(c)
}

/// The parts of every word of `text` with their byte offsets: words are split on hyphens and
/// apostrophes, and lose a possessive `'s` first.
pub fn word_parts(text: &str) -> Vec<(usize, &str)> {
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
        let word = ["'s", "’s", "'S", "’S"].iter().find_map(|suffix| word.strip_suffix(suffix)).unwrap_or(word);
        let mut part_start = start;
        for part in word.split(|c: char| is_apostrophe(c) || is_hyphen(c)) {
            if !part.is_empty() {
                parts.push((part_start, part));
            }
            // Every separator is one char; find its width from the text itself.
            let separator_width = text[part_start + part.len()..].chars().next().map_or(0, char::len_utf8);
            part_start += part.len() + separator_width;
        }
    }
    parts
}

/// Folded word parts of `text`, in order.
pub fn folded_words(text: &str) -> Vec<String> {
    word_parts(text).into_iter().map(|(_, part)| fold(part)).collect()
}

/// A word part whose first character is an uppercase letter.
pub fn is_capitalised(part: &str) -> bool {
    part.chars().next().is_some_and(char::is_uppercase)
}

/// Two or more letters, all uppercase (digits allowed after the first): `OTAN`, `G20`, `CENTCOM`.
pub fn is_acronym(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(char::is_uppercase) && part.chars().count() >= 2 && chars.all(|c| c.is_uppercase() || c.is_ascii_digit())
}

/// Lowercase without diacritics: `État` → `etat`, `Œuvre` → `oeuvre`.
pub fn fold(word: &str) -> String {
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
    ACCENTED.iter().find(|(_, variants)| variants.contains(c)).map_or(c, |&(base, _)| base)
}

/// Whether the word at byte `start` of `text` opens a sentence, a quotation or the text: only
/// spaces and opening punctuation stand between it and the previous sentence's end.
pub fn opens_sentence(text: &str, start: usize) -> bool {
    for (at, c) in text[..start].char_indices().rev() {
        if c.is_whitespace() || matches!(c, '«' | '»' | '"' | '“' | '”' | '(' | '[' | '—' | '–' | '*' | '#') {
            if matches!(c, '«' | '"' | '“' | '—' | '–') {
                return true;
            }
            continue;
        }
        if c == '.' {
            // The point of a title (M. Healey, Dr. Schindler) ends no sentence.
            let before = text[..at].rsplit(|c: char| !c.is_alphabetic()).next().unwrap_or("");
            return !matches!(
                before,
                "M" | "Mr" | "Mrs" | "Ms" | "Dr" | "Pr" | "St" | "Mme" | "Mgr" | "Me" | "Jr" | "Gen" | "Col" | "Lt" | "Sgt"
            );
        }
        return matches!(c, '!' | '?' | ':' | '…');
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_hyphens_apostrophes_and_possessives() {
        let parts: Vec<&str> = word_parts("l’État, Al-Qaïda's (FDS) Kurilla’s").into_iter().map(|(_, p)| p).collect();
        assert_eq!(parts, ["l", "État", "Al", "Qaïda", "FDS", "Kurilla"]);
    }

    #[test]
    fn folding_drops_case_and_diacritics() {
        assert_eq!(fold("État"), "etat");
        assert_eq!(fold("Œuvre"), "oeuvre");
        assert_eq!(fold("Erdoğan"), "erdogan");
        assert_eq!(fold("E\u{301}tat"), "etat");
    }

    #[test]
    fn acronyms_are_two_or_more_capitals() {
        for word in ["OTAN", "G20", "CENTCOM", "EI"] {
            assert!(is_acronym(word), "{word}");
        }
        for word in ["A", "Otan", "20", "gP"] {
            assert!(!is_acronym(word), "{word}");
        }
    }

    #[test]
    fn sentence_openings() {
        let text = "Il a dit : « Nous partons. » Puis Paris (Le Monde) et Lyon.";
        let at = |word: &str| opens_sentence(text, text.find(word).expect("word in text"));
        assert!(at("Il"));
        assert!(at("Nous"));
        assert!(at("Puis"));
        assert!(!at("Paris"));
        assert!(!at("Le Monde"));
        assert!(!at("Lyon"));
    }
}
