//! Numbers as a French or English text states them: digits in either convention, number words,
//! fractions ("un sur trois", "one in three", "two-thirds"), times ("14 h 30", "2:30 p.m."),
//! multipliers ("2,5 milliards", "2.5 billion") and the qualifier in front of them ("plus de",
//! "more than"). Each [`Mention`] carries canonical values, so that `1 200`, `1,200`, `1200` and
//! "mille deux cents" are the same number, and "un sur trois" is `1/3`, never 1 and 3.
//!
//! Some words are numbers only sometimes ("un", "one", "first", "neuf" = new, "half"): they are
//! *soft* mentions, which can stand for a number the other text states but are never required.

use serde::Serialize;

use super::words::fold;

/// Which conventions a text follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    French,
    English,
}

/// A word in front of a number that changes what it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// plus de, au moins / more than, over, at least.
    Above,
    /// moins de, jusqu'à / less than, fewer than, up to.
    Below,
    /// près de, environ, une dizaine / about, nearly, some.
    About,
}

/// One number of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    /// Byte range in the text, qualifier excluded.
    pub start: usize,
    pub end: usize,
    /// Canonical values, the likeliest first: `8000`, `2.5`, `f1/3` (a fraction), `t14:30` (a
    /// time of day). A French `8,000` has two (`8000` and `8`); an English one only `8000`.
    pub values: Vec<String>,
    /// False for words that are numbers only sometimes (see the module documentation).
    pub strict: bool,
    pub qualifier: Option<Qualifier>,
}

impl Mention {
    /// The mention as written.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }

    /// Whether `other` can state the same number.
    pub fn shares_value(&self, other: &Mention) -> bool {
        self.values.iter().any(|v| other.values.contains(v))
    }
}

/// Every number of `text`, in order.
pub fn mentions(text: &str, language: Language) -> Vec<Mention> {
    let tokens = tokenize(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match read_mention(text, &tokens, i, language) {
            Some((mut mention, next)) => {
                if mention.qualifier.is_none() {
                    mention.qualifier = qualifier_before(&tokens, i, language);
                }
                found.push(mention);
                i = next;
            }
            None => i += 1,
        }
    }
    found
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Digits; `readings` as [`digit_readings`] gives them.
    Digits(Vec<String>),
    /// A run of letters, folded.
    Word(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    kind: Kind,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_ascii_digit() {
            let (end, readings) = digits_at(text, start);
            tokens.push(Token { start, end, kind: Kind::Digits(readings) });
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
        } else if c.is_alphabetic() {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !(c.is_alphabetic() || matches!(c, '\u{0300}'..='\u{036F}')) {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            tokens.push(Token { start, end, kind: Kind::Word(fold(&text[start..end])) });
        } else {
            chars.next();
            // A line break ends a number as punctuation does ("sur trois\n\nUn train").
            if !c.is_whitespace() || c == '\n' {
                tokens.push(Token { start, end: start + c.len_utf8(), kind: Kind::Punct(c) });
            }
        }
    }
    tokens
}

/// Spaces that group digits in French.
fn is_space_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '\u{2009}')
}

fn digit_run(text: &str) -> &str {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    &text[..end]
}

/// The number written with digits at byte `start`: its end and its readings. A space continues
/// a number only as a thousands separator (a leading group of 1-3 digits, then 3-digit groups),
/// so `2023 100` is two numbers.
fn digits_at(text: &str, start: usize) -> (usize, Vec<String>) {
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
    (end, digit_readings(&groups, &separators))
}

/// Whether `groups` read as thousands groups: a leading group of 1–3 digits, then 3-digit groups.
fn is_grouped(groups: &[&str]) -> bool {
    match groups.split_first() {
        Some((first, rest)) => (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3),
        None => false,
    }
}

/// Separators of the same class can group the same number.
fn separator_class(c: char) -> char {
    if is_space_separator(c) {
        ' '
    } else {
        c
    }
}

/// The canonical values digit groups can mean, the English reading first.
///
/// All separators may be thousands separators (`8,000` → `8000`), or the last one, when it
/// is `,` or `.`, may be a decimal mark (`8,000` → `8`, `2,5` → `2.5`). English prefers the
/// thousands reading after a comma and the decimal reading after a point. Groups with no
/// valid reading (`1.2.3`) stand for themselves.
pub(crate) fn digit_readings(groups: &[&str], separators: &[char]) -> Vec<String> {
    let Some((&last_separator, leading_separators)) = separators.split_last() else {
        return vec![canonical(&groups.concat(), "")];
    };
    let same_class = |separators: &[char]| separators.windows(2).all(|pair| separator_class(pair[0]) == separator_class(pair[1]));
    let integer_groups = &groups[..groups.len() - 1];
    let fraction = groups[groups.len() - 1];

    let thousands = (is_grouped(groups) && same_class(separators)).then(|| canonical(&groups.concat(), ""));
    let decimal = (matches!(last_separator, ',' | '.')
        && (integer_groups.len() == 1
            || (is_grouped(integer_groups) && same_class(leading_separators) && leading_separators.iter().all(|&s| s != last_separator))))
    .then(|| canonical(&integer_groups.concat(), fraction));

    let ordered = if last_separator == '.' { [decimal, thousands] } else { [thousands, decimal] };
    let readings: Vec<String> = ordered.into_iter().flatten().collect();
    if readings.is_empty() {
        vec![groups.join(".")]
    } else {
        readings
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

/// A canonical value times `factor`, canonical again (`2.5` × 10⁹ → `2500000000`).
fn scaled(value: &str, factor: f64) -> String {
    let Ok(x) = value.parse::<f64>() else { return value.to_string() };
    let product = x * factor;
    if (product - product.round()).abs() < 1e-6 * product.abs().max(1.0) && product.abs() < 1e18 {
        format!("{}", product.round() as i64)
    } else {
        let written = format!("{product}");
        match written.split_once('.') {
            Some((integer, fraction)) => canonical(integer, fraction),
            None => written,
        }
    }
}

/// How a number word combines (see [`word_number_at`]).
#[derive(Clone, Copy)]
enum NumberWord {
    /// Added to the group being read: units, teens, tens.
    Small(u64),
    /// Multiplies the group being read: hundred, cent.
    Hundred,
    /// Closes the group being read, multiplied: thousand, million.
    Big(u64),
}

fn number_word(word: &str, language: Language) -> Option<NumberWord> {
    use NumberWord::*;
    let small = |v| Some(Small(v));
    match language {
        Language::French => match word {
            "zero" => small(0),
            "un" | "une" => small(1),
            "deux" => small(2),
            "trois" => small(3),
            "quatre" => small(4),
            "cinq" => small(5),
            "six" => small(6),
            "sept" => small(7),
            "huit" => small(8),
            "neuf" => small(9),
            "dix" => small(10),
            "onze" => small(11),
            "douze" => small(12),
            "treize" => small(13),
            "quatorze" => small(14),
            "quinze" => small(15),
            "seize" => small(16),
            "vingt" | "vingts" => small(20),
            "trente" => small(30),
            "quarante" => small(40),
            "cinquante" => small(50),
            "soixante" => small(60),
            "cent" | "cents" => Some(Hundred),
            "mille" => Some(Big(1_000)),
            "million" | "millions" => Some(Big(1_000_000)),
            "milliard" | "milliards" => Some(Big(1_000_000_000)),
            _ => None,
        },
        Language::English => match word {
            "zero" => small(0),
            "one" => small(1),
            "two" => small(2),
            "three" => small(3),
            "four" => small(4),
            "five" => small(5),
            "six" => small(6),
            "seven" => small(7),
            "eight" => small(8),
            "nine" => small(9),
            "ten" => small(10),
            "eleven" => small(11),
            "twelve" => small(12),
            "thirteen" => small(13),
            "fourteen" => small(14),
            "fifteen" => small(15),
            "sixteen" => small(16),
            "seventeen" => small(17),
            "eighteen" => small(18),
            "nineteen" => small(19),
            "twenty" => small(20),
            "thirty" => small(30),
            "forty" => small(40),
            "fifty" => small(50),
            "sixty" => small(60),
            "seventy" => small(70),
            "eighty" => small(80),
            "ninety" => small(90),
            "hundred" => Some(Hundred),
            "thousand" => Some(Big(1_000)),
            "million" | "millions" => Some(Big(1_000_000)),
            "billion" | "billions" => Some(Big(1_000_000_000)),
            "trillion" | "trillions" => Some(Big(1_000_000_000_000)),
            _ => None,
        },
    }
}

/// A multiplier after digits: `2,5 milliards`, `3 million`.
fn multiplier(word: &str, language: Language) -> Option<f64> {
    match (language, word) {
        (Language::French, "million" | "millions") => Some(1e6),
        (Language::French, "milliard" | "milliards") => Some(1e9),
        (Language::French, "billion" | "billions") => Some(1e12),
        (Language::English, "million" | "millions") => Some(1e6),
        (Language::English, "billion" | "billions" | "bn") => Some(1e9),
        (Language::English, "trillion" | "trillions") => Some(1e12),
        _ => None,
    }
}

/// Ordinal words and their values; `soft` for first and second (premier ministre, a second).
fn ordinal_word(word: &str, language: Language) -> Option<(u64, bool)> {
    let strict = |v| Some((v, true));
    match language {
        Language::French => match word {
            "premier" | "premiere" | "premiers" | "premieres" => Some((1, false)),
            "deuxieme" | "second" | "seconde" => Some((2, false)),
            "troisieme" => strict(3),
            "quatrieme" => strict(4),
            "cinquieme" => strict(5),
            "sixieme" => strict(6),
            "septieme" => strict(7),
            "huitieme" => strict(8),
            "neuvieme" => strict(9),
            "dixieme" => strict(10),
            "onzieme" => strict(11),
            "douzieme" => strict(12),
            "treizieme" => strict(13),
            "quatorzieme" => strict(14),
            "quinzieme" => strict(15),
            "seizieme" => strict(16),
            "vingtieme" => strict(20),
            "trentieme" => strict(30),
            "centieme" => strict(100),
            "millieme" => strict(1000),
            _ => None,
        },
        Language::English => match word {
            "first" => Some((1, false)),
            "second" => Some((2, false)),
            "third" => strict(3),
            "fourth" => strict(4),
            "fifth" => strict(5),
            "sixth" => strict(6),
            "seventh" => strict(7),
            "eighth" => strict(8),
            "ninth" => strict(9),
            "tenth" => strict(10),
            "eleventh" => strict(11),
            "twelfth" => strict(12),
            "thirteenth" => strict(13),
            "fourteenth" => strict(14),
            "fifteenth" => strict(15),
            "sixteenth" => strict(16),
            "twentieth" => strict(20),
            "thirtieth" => strict(30),
            "hundredth" => strict(100),
            "thousandth" => strict(1000),
            _ => None,
        },
    }
}

/// `french` with each singular approximate count before its noun written as `environ` and the
/// number (`une dizaine d'élèves` -> `environ dix élèves`, the same meaning), or `None` when it has
/// none. Given to the model in a second translation after the first lost such a number: "une
/// dizaine de cas suspects" came out as "a dozen suspects" and as "ten suspected cases".
/// (`une douzaine` stays: English has "a dozen".)
pub fn plain_approximations(french: &str) -> Option<String> {
    const PLAIN: [(&str, &str); 8] = [
        ("dizaine", "dix"),
        ("quinzaine", "quinze"),
        ("vingtaine", "vingt"),
        ("trentaine", "trente"),
        ("quarantaine", "quarante"),
        ("cinquantaine", "cinquante"),
        ("soixantaine", "soixante"),
        ("centaine", "cent"),
    ];
    let mut out = String::with_capacity(french.len());
    let mut last = 0;
    for (start, _) in french.match_indices(['u', 'U']) {
        let word_start = french[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let une = french.get(start..).and_then(|s| s.get(..4)).is_some_and(|une| une.eq_ignore_ascii_case("une "));
        if !une || !word_start || start < last {
            continue;
        }
        let tail = &french[start + 4..];
        let found = PLAIN.iter().find_map(|(noun, number)| {
            let rest = tail.strip_prefix(noun)?;
            let rest = [" de ", " d'", " d’"].iter().find_map(|de| rest.strip_prefix(de))?;
            Some((number, french.len() - rest.len()))
        });
        if let Some((number, end)) = found {
            out.push_str(&french[last..start]);
            out.push_str(if french[start..].starts_with('U') { "Environ " } else { "environ " });
            out.push_str(number);
            out.push(' ');
            last = end;
        }
    }
    if last == 0 {
        return None;
    }
    out.push_str(&french[last..]);
    Some(out)
}

/// `french` with its times of day written as `20:00` and `16:30` (`à 20 h`, `mercredi 20 h`,
/// `de 16 h 30 à 19 h 30`), or `None` when it has none. An hour without minutes counts only after
/// a word that makes it a time of day (`à`, `dès`, `vers`, `avant`, `après`, a day of the week):
/// `pendant 48 h` and `12 h de retard` are durations. Given to the model in a second translation
/// after the first changed a time: "mercredi 20 h" came out as "Wednesday at 6 PM", then as "2
/// p.m.".
pub fn plain_times(french: &str) -> Option<String> {
    use std::sync::OnceLock;
    static TIME: OnceLock<regex::Regex> = OnceLock::new();
    let time = TIME.get_or_init(|| {
        regex::Regex::new(r"(?i)(?:\b(à|dès|des|vers|avant|après|apres|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+)?\b([01]?\d|2[0-4])\s?h(?:\s?([0-5]\d))?\b")
            .expect("a valid pattern")
    });
    let mut out = String::with_capacity(french.len());
    let mut last = 0;
    for caps in time.captures_iter(french) {
        let (Some(all), Some(hours)) = (caps.get(0), caps.get(2)) else { continue };
        let minutes = caps.get(3).map(|m| m.as_str());
        if minutes.is_none() && caps.get(1).is_none() {
            continue;
        }
        let start = hours.start();
        out.push_str(&french[last..start]);
        out.push_str(&format!("{}:{}", hours.as_str(), minutes.unwrap_or("00")));
        last = all.end();
    }
    if last == 0 {
        return None;
    }
    out.push_str(&french[last..]);
    Some(out)
}

/// French approximate counts: `une dizaine` is about ten.
fn approximate_noun(word: &str) -> Option<u64> {
    match word {
        "dizaine" | "dizaines" => Some(10),
        "douzaine" | "douzaines" => Some(12),
        "quinzaine" | "quinzaines" => Some(15),
        "vingtaine" | "vingtaines" => Some(20),
        "trentaine" => Some(30),
        "quarantaine" => Some(40),
        "cinquantaine" => Some(50),
        "soixantaine" => Some(60),
        "centaine" | "centaines" => Some(100),
        "millier" | "milliers" => Some(1000),
        _ => None,
    }
}

/// Suffixes that make digits an ordinal: `1er`, `3e`, `2nd`, `21st`.
fn is_ordinal_suffix(word: &str) -> bool {
    matches!(word, "er" | "re" | "ere" | "e" | "eme" | "es" | "st" | "nd" | "rd" | "th")
}

/// Qualifier phrases, as folded words; the longest that ends right before a number wins.
fn qualifier_phrases(language: Language) -> &'static [(&'static str, Qualifier)] {
    use Qualifier::*;
    match language {
        Language::French => &[
            ("plus de", Above),
            ("plus d", Above),
            ("plus que", Above),
            ("au moins", Above),
            ("au dela de", Above),
            ("au dela d", Above),
            ("superieur a", Above),
            ("superieure a", Above),
            ("superieurs a", Above),
            ("superieures a", Above),
            ("moins de", Below),
            ("moins d", Below),
            ("moins que", Below),
            ("au plus", Below),
            ("jusqu a", Below),
            ("inferieur a", Below),
            ("inferieure a", Below),
            ("inferieurs a", Below),
            ("inferieures a", Below),
            ("pres de", About),
            ("pres d", About),
            ("environ", About),
            ("quelque", About),
            ("presque", About),
            ("autour de", About),
            ("autour d", About),
            ("a peu pres", About),
            ("approximativement", About),
            ("pratiquement", About),
            ("quasiment", About),
            ("de l ordre de", About),
        ],
        Language::English => &[
            ("more than", Above),
            ("over", Above),
            ("above", Above),
            ("at least", Above),
            ("upwards of", Above),
            ("in excess of", Above),
            ("greater than", Above),
            ("exceeding", Above),
            ("just over", Above),
            ("less than", Below),
            ("fewer than", Below),
            ("under", Below),
            ("below", Below),
            ("at most", Below),
            ("up to", Below),
            ("no more than", Below),
            ("just under", Below),
            ("about", About),
            ("around", About),
            ("some", About),
            ("roughly", About),
            ("approximately", About),
            ("nearly", About),
            ("almost", About),
            ("close to", About),
            ("an estimated", About),
            ("estimated", About),
            ("approx", About),
            ("circa", About),
        ],
    }
}

/// The qualifier that ends right before token `i` (quotes and apostrophes between allowed).
fn qualifier_before(tokens: &[Token], i: usize, language: Language) -> Option<Qualifier> {
    let mut words: Vec<&str> = Vec::new();
    let mut j = i;
    while j > 0 && words.len() < 4 {
        j -= 1;
        match &tokens[j].kind {
            Kind::Word(w) => words.push(w),
            Kind::Punct('«' | '"' | '“' | '\'' | '’' | '-' | '‑') => {}
            _ => break,
        }
    }
    words.reverse();
    let before = words.join(" ");
    qualifier_phrases(language)
        .iter()
        .filter(|(phrase, _)| before == *phrase || before.ends_with(&format!(" {phrase}")))
        .max_by_key(|(phrase, _)| phrase.len())
        .map(|&(_, q)| q)
}

fn word(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i).map(|t| &t.kind) {
        Some(Kind::Word(w)) => Some(w),
        _ => None,
    }
}

fn is_punct(tokens: &[Token], i: usize, c: char) -> bool {
    matches!(tokens.get(i).map(|t| &t.kind), Some(Kind::Punct(p)) if *p == c)
}

/// Token `i + 1` follows token `i` with nothing between (`14h30`, `1er`).
fn adjacent(tokens: &[Token], i: usize) -> bool {
    tokens.get(i + 1).is_some_and(|next| next.start == tokens[i].end)
}

/// A number read at a token: its values, whether it is strict, and the next token.
struct Read {
    values: Vec<String>,
    strict: bool,
    next: usize,
}

/// Digits at token `i`, with a multiplier or ordinal suffix after them.
fn digits_number(tokens: &[Token], i: usize, language: Language) -> Option<Read> {
    let Kind::Digits(readings) = &tokens.get(i)?.kind else { return None };
    let mut values = match language {
        Language::French => readings.clone(),
        Language::English => readings[..1].to_vec(),
    };
    let mut next = i + 1;
    if let Some(factor) = word(tokens, next).and_then(|w| multiplier(w, language)) {
        values = values.iter().map(|v| scaled(v, factor)).collect();
        next += 1;
    } else if adjacent(tokens, i) && word(tokens, next).is_some_and(is_ordinal_suffix) {
        next += 1;
    }
    Some(Read { values, strict: true, next })
}

/// A run of number words at token `i` ("trois mille deux cents", "twenty-one", "a hundred").
fn word_number_at(tokens: &[Token], i: usize, language: Language) -> Option<Read> {
    let first = word(tokens, i)?;
    let (mut total, mut current) = (0u64, 0u64);
    // The last unit, teen or ten added to `current`: what may follow it (dix-sept, not deux trois).
    let mut last_small: Option<u64> = None;
    let mut previous = first;
    let mut j = i;
    let mut end = i;
    if language == Language::English && matches!(first, "a" | "an") {
        // "a hundred", "a million", "a dozen": the article is one.
        match word(tokens, i + 1) {
            Some("dozen") => return Some(Read { values: vec!["1".into()], strict: true, next: i + 1 }),
            Some(w) if matches!(number_word(w, language), Some(NumberWord::Hundred | NumberWord::Big(_))) => {
                current = 1;
                j = i + 1;
            }
            _ => return None,
        }
    }
    while let Some(w) = word(tokens, j) {
        let Some(kind) = number_word(w, language) else { break };
        let eighty = language == Language::French && w.starts_with("vingt") && previous == "quatre" && j > i;
        match (kind, last_small) {
            (NumberWord::Small(v), Some(before)) if !(v < before || eighty) => break,
            (NumberWord::Small(_), _) if eighty => {
                current += 80 - 4;
                last_small = Some(80);
            }
            (NumberWord::Small(v), _) => {
                current += v;
                last_small = Some(v);
            }
            (NumberWord::Hundred, _) => {
                current = current.max(1) * 100;
                last_small = None;
            }
            (NumberWord::Big(m), _) => {
                total += current.max(1) * m;
                current = 0;
                last_small = None;
            }
        }
        previous = w;
        j += 1;
        end = j;
        // Joiners: dix-sept, vingt et un, one hundred and five.
        let joined = is_punct(tokens, j, '-') || matches!(word(tokens, j), Some("et" | "and"));
        if joined && word(tokens, j + 1).is_some_and(|w| number_word(w, language).is_some()) {
            j += 1;
        }
    }
    if end == i {
        return None;
    }
    let soft = end == i + 1 && matches!(first, "un" | "une" | "one" | "neuf");
    // A number word joined to another word (three-dimensional, two-day) may render a French word
    // with no number in it (tridimensionnel): it can stand for a number but is not required.
    let compound = language == Language::English && is_punct(tokens, end, '-') && word(tokens, end + 1).is_some();
    Some(Read { values: vec![(total + current).to_string()], strict: !soft && !compound, next: end })
}

/// Whatever number starts at token `i`: digits or words, then what can follow them.
fn read_mention(text: &str, tokens: &[Token], i: usize, language: Language) -> Option<(Mention, usize)> {
    let start = tokens[i].start;
    let mention = |values: Vec<String>, strict: bool, next: usize, qualifier: Option<Qualifier>| {
        let end = tokens[next - 1].end;
        (Mention { start, end, values, strict, qualifier }, next)
    };
    // Roman ordinals: XXIe siècle.
    if let Some(value) = roman_ordinal(&text[tokens[i].start..tokens[i].end]) {
        return Some(mention(vec![value.to_string()], value >= 3, i + 1, None));
    }
    if let Some(w) = word(tokens, i) {
        if let Some((value, strict)) = ordinal_word(w, language) {
            // "a third of" is a fraction, not an ordinal.
            let fraction = language == Language::English && value == 3 && i > 0 && matches!(word(tokens, i - 1), Some("a" | "one"));
            if !fraction {
                return Some(mention(vec![value.to_string()], strict, i + 1, None));
            }
        }
        if let Some(read) = fraction_words(tokens, i, language) {
            return Some(mention(read.values, read.strict, read.next, None));
        }
    }
    let read = digits_number(tokens, i, language).or_else(|| word_number_at(tokens, i, language))?;
    // Fractions: un train sur trois, one in three, 2 out of 5.
    let noun_between = word(tokens, read.next).is_some_and(|w| number_word(w, language).is_none());
    let tail = fraction_tail(tokens, read.next, language)
        .or_else(|| noun_between.then(|| fraction_tail(tokens, read.next + 1, language)).flatten());
    if let Some((denominator, next)) = tail {
        if let Some(numerator) = read.values.first().and_then(|v| v.parse::<u64>().ok()) {
            if numerator < denominator {
                return Some(mention(vec![format!("f{numerator}/{denominator}")], true, next, None));
            }
        }
    }
    // Approximate nouns: une dizaine, deux centaines.
    if language == Language::French {
        if let Some(base) = word(tokens, read.next).and_then(approximate_noun) {
            let count: u64 = read.values[0].parse().unwrap_or(1);
            return Some(mention(vec![(count * base).to_string()], true, read.next + 1, Some(Qualifier::About)));
        }
    }
    if language == Language::English && word(tokens, read.next).is_some_and(|w| w == "dozen") {
        let count: u64 = read.values[0].parse().unwrap_or(1);
        return Some(mention(vec![(count * 12).to_string()], true, read.next + 1, None));
    }
    // Fraction nouns: un tiers, deux tiers, trois quarts, two-thirds.
    let noun_at = read.next + usize::from(is_punct(tokens, read.next, '-'));
    if let Some(denominator) = word(tokens, noun_at).and_then(|w| fraction_noun(w, language)) {
        if let Ok(numerator) = read.values[0].parse::<u64>() {
            return Some(mention(vec![format!("f{numerator}/{denominator}")], true, noun_at + 1, None));
        }
    }
    if let Some((values, next)) = time_of_day(tokens, i, &read, language) {
        return Some(mention(values, true, next, None));
    }
    Some(mention(read.values, read.strict, read.next, None))
}

/// `sur 3` / `in 3`, `out of 3`, `of every 3` after a number: the denominator and next token.
fn fraction_tail(tokens: &[Token], i: usize, language: Language) -> Option<(u64, usize)> {
    let skip = match (language, word(tokens, i), word(tokens, i + 1), word(tokens, i + 2)) {
        (Language::French, Some("sur"), _, _) => 1,
        (Language::English, Some("out"), Some("of"), Some("every")) => 3,
        (Language::English, Some("out" | "in" | "of"), Some("of" | "every"), _) => 2,
        (Language::English, Some("in"), _, _) => 1,
        _ => return None,
    };
    let read = digits_number(tokens, i + skip, language).or_else(|| word_number_at(tokens, i + skip, language))?;
    let denominator: u64 = read.values.first()?.parse().ok()?;
    (2..=1000).contains(&denominator).then_some((denominator, read.next))
}

/// The denominator a fraction noun stands for: tiers, quart; thirds, quarters.
fn fraction_noun(word: &str, language: Language) -> Option<u64> {
    match (language, word) {
        (Language::French, "tiers") => Some(3),
        (Language::French, "quart" | "quarts") => Some(4),
        (Language::English, "third" | "thirds") => Some(3),
        (Language::English, "quarter" | "quarters") => Some(4),
        (Language::English, "fifth" | "fifths") => Some(5),
        _ => None,
    }
}

/// Fractions written with words only: la moitié, half, a third of.
fn fraction_words(tokens: &[Token], i: usize, language: Language) -> Option<Read> {
    let w = word(tokens, i)?;
    match language {
        Language::French if w == "moitie" && matches!(i.checked_sub(1).and_then(|p| word(tokens, p)), Some("la" | "une")) => {
            Some(Read { values: vec!["f1/2".into()], strict: true, next: i + 1 })
        }
        Language::English if w == "half" => Some(Read { values: vec!["f1/2".into()], strict: false, next: i + 1 }),
        Language::English if matches!(w, "third" | "quarter") => {
            let article = i > 0 && matches!(word(tokens, i - 1), Some("a" | "one"));
            let of = word(tokens, i + 1) == Some("of");
            let denominator = if w == "third" { 3 } else { 4 };
            (article && of).then(|| Read { values: vec![format!("f1/{denominator}")], strict: true, next: i + 1 })
        }
        _ => None,
    }
}

/// A time of day after a number read at token `i`: `14 h 30`, `14h`, `14 heures`; `2:30 p.m.`,
/// `14:30`, `2 pm`. French hours without minutes may be a duration, so they keep their count too.
fn time_of_day(tokens: &[Token], i: usize, read: &Read, language: Language) -> Option<(Vec<String>, usize)> {
    let hours: u64 = read.values.first()?.parse().ok()?;
    if hours > 24 {
        return None;
    }
    let minutes_at = |j: usize| match tokens.get(j).map(|t| &t.kind) {
        Some(Kind::Digits(r)) if tokens[j].end - tokens[j].start == 2 => r[0].parse::<u64>().ok().filter(|m| *m < 60),
        _ => None,
    };
    let n = read.next;
    match language {
        Language::French => {
            if !matches!(word(tokens, n), Some("h" | "heure" | "heures")) {
                return None;
            }
            if let Some(minutes) = minutes_at(n + 1) {
                return Some((vec![format!("t{hours}:{minutes:02}")], n + 2));
            }
            Some((vec![hours.to_string(), format!("t{hours}:00")], n + 1))
        }
        Language::English => {
            let (minutes, after) = if is_punct(tokens, n, ':') && n == i + 1 { (Some(minutes_at(n + 1)?), n + 2) } else { (None, n) };
            let (half, next) = match (word(tokens, after), word(tokens, after + 2)) {
                (Some("am"), _) => (Some(0), after + 1),
                (Some("pm"), _) => (Some(12), after + 1),
                (Some("a"), Some("m")) if is_punct(tokens, after + 1, '.') => {
                    (Some(0), after + 3 + usize::from(is_punct(tokens, after + 3, '.')))
                }
                (Some("p"), Some("m")) if is_punct(tokens, after + 1, '.') => {
                    (Some(12), after + 3 + usize::from(is_punct(tokens, after + 3, '.')))
                }
                (Some("o"), Some("clock")) => (None, after + 3),
                _ => (None, after),
            };
            if minutes.is_none() && next == after {
                return None;
            }
            let m = minutes.unwrap_or(0);
            let values = match half {
                Some(offset) if hours <= 12 => vec![format!("t{}:{m:02}", hours % 12 + offset)],
                Some(_) => return None,
                None if hours < 12 => vec![format!("t{hours}:{m:02}"), format!("t{}:{m:02}", hours + 12)],
                None => vec![format!("t{hours}:{m:02}")],
            };
            Some((values, next))
        }
    }
}

/// `XXIe`, `IIIe`, `Ier`: an uppercase Roman numeral with a French ordinal suffix.
fn roman_ordinal(word: &str) -> Option<u64> {
    let numeral = ["ème", "eme", "er", "e"].iter().find_map(|suffix| word.strip_suffix(suffix))?;
    // A lone L or C with a suffix is a word (Le, Ce), not a numeral.
    if numeral.is_empty() || matches!(numeral, "L" | "C") || !numeral.chars().all(|c| matches!(c, 'I' | 'V' | 'X' | 'L' | 'C')) {
        return None;
    }
    let value = |c| match c {
        'I' => 1,
        'V' => 5,
        'X' => 10,
        'L' => 50,
        _ => 100,
    };
    let digits: Vec<u64> = numeral.chars().map(value).collect();
    let mut total = 0;
    for (k, &d) in digits.iter().enumerate() {
        if digits.get(k + 1).is_some_and(|&next| next > d) {
            total -= d as i64;
        } else {
            total += d as i64;
        }
    }
    u64::try_from(total).ok().filter(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, values, strict, qualifier) of every mention.
    fn read(text: &str, language: Language) -> Vec<(String, Vec<String>, bool, Option<Qualifier>)> {
        mentions(text, language).into_iter().map(|m| (m.text(text).to_string(), m.values, m.strict, m.qualifier)).collect()
    }

    fn values(text: &str, language: Language) -> Vec<Vec<String>> {
        mentions(text, language).into_iter().filter(|m| m.strict).map(|m| m.values).collect()
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    use Language::{English, French};

    #[test]
    fn digits_in_both_conventions() {
        assert_eq!(values("1 200 habitants, 2,5 %, 8\u{202F}000", French), [v(&["1200"]), v(&["2.5"]), v(&["8000"])]);
        assert_eq!(values("8,000 people and 2.5%", English), [v(&["8000"]), v(&["2.5"])]);
        // A French 8,000 may be eight; an English one is eight thousand.
        assert_eq!(values("8,000", French), [v(&["8000", "8"])]);
        assert_eq!(values("en 2023 100 personnes", French), [v(&["2023"]), v(&["100"])]);
    }

    #[test]
    fn number_words_are_numbers() {
        assert_eq!(values("trois hélicoptères et douze heures", French), [v(&["3"]), v(&["12", "t12:00"])]);
        assert_eq!(
            values("dix-sept, soixante-dix, quatre-vingt-dix-neuf, vingt et un", French),
            [v(&["17"]), v(&["70"]), v(&["99"]), v(&["21"])]
        );
        assert_eq!(values("trois mille deux cents", French), [v(&["3200"])]);
        assert_eq!(
            values("three helicopters, twenty-one, one hundred and five, a thousand", English),
            [v(&["3"]), v(&["21"]), v(&["105"]), v(&["1000"])]
        );
        assert_eq!(values("a dozen, two dozen", English), [v(&["12"]), v(&["24"])]);
    }

    #[test]
    fn articles_and_ambiguous_words_are_soft() {
        let french = read("un homme, une femme, un bâtiment neuf, le premier ministre", French);
        assert!(french.iter().all(|(_, _, strict, _)| !strict), "{french:?}");
        let english = read("one of them, the first time, a second, half an hour, three-dimensional", English);
        assert!(english.iter().all(|(_, _, strict, _)| !strict), "{english:?}");
        assert!(read("a man and an idea", English).is_empty());
    }

    #[test]
    fn fractions_are_one_value() {
        assert_eq!(values("un train sur trois", French), [v(&["f1/3"])]);
        assert_eq!(values("deux TGV sur cinq", French), [v(&["f2/5"])]);
        assert_eq!(values("un tiers des vols, la moitié des écoles, trois quarts", French), [v(&["f1/3"]), v(&["f1/2"]), v(&["f3/4"])]);
        assert_eq!(values("one train in three", English), [v(&["f1/3"])]);
        assert_eq!(values("one in three trains, 2 out of 5, three out of every four", English), [v(&["f1/3"]), v(&["f2/5"]), v(&["f3/4"])]);
        assert_eq!(values("a third of flights, two-thirds, a quarter of", English), [v(&["f1/3"]), v(&["f2/3"]), v(&["f1/4"])]);
        // A number ends with its line: a title's "sur trois" and the "Un" that opens the next
        // paragraph are not "sur trois un" (four).
        assert_eq!(values("un train sur trois\n\nUn train sur trois seulement", French), [v(&["f1/3"]), v(&["f1/3"])]);
        // "in" between a count and a year is no fraction.
        assert_eq!(values("rose by 3 in 2023", English), [v(&["3"]), v(&["2023"])]);
        // A fraction word ending the text has no denominator after it (found by the grounding
        // fuzz target: reading past the last token panicked).
        assert_eq!(values("said 3,000 in", English), [v(&["3000"])]);
        assert_eq!(values("3 out of", English), [v(&["3"])]);
        assert_eq!(values("3 sur", French), [v(&["3"])]);
    }

    #[test]
    fn multipliers_scale() {
        assert_eq!(values("2,5 milliards d'euros et 1,2 million", French), [v(&["2500000000"]), v(&["1200000"])]);
        assert_eq!(values("2.5 billion euros and 1.2 million", English), [v(&["2500000000"]), v(&["1200000"])]);
        assert_eq!(values("trois millions", French), [v(&["3000000"])]);
    }

    #[test]
    fn times_of_day() {
        assert_eq!(values("à 14 h 30, à 14h30, à 9 h", French), [v(&["t14:30"]), v(&["t14:30"]), v(&["9", "t9:00"])]);
        assert_eq!(values("at 2:30 p.m., at 14:30, at 9am", English), [v(&["t14:30"]), v(&["t14:30"]), v(&["t9:00"])]);
        assert_eq!(values("at 2:30", English), [v(&["t2:30", "t14:30"])]);
    }

    #[test]
    fn ordinals() {
        assert_eq!(values("le 3e jour du XXIe siècle, la troisième fois", French), [v(&["3"]), v(&["21"]), v(&["3"])]);
        assert_eq!(values("the 3rd day of the 21st century, the third time", English), [v(&["3"]), v(&["21"]), v(&["3"])]);
        let first = read("le 1er mars", French);
        assert_eq!(first[0].1, v(&["1"]));
    }

    #[test]
    fn qualifiers() {
        let q = |text: &str, language| mentions(text, language).into_iter().map(|m| m.qualifier).collect::<Vec<_>>();
        use Qualifier::*;
        assert_eq!(
            q("plus de 1 200 habitants, « plus de 8 000 », près de 300, jusqu'à 310 mm, 14 communes", French),
            [Some(Above), Some(Above), Some(About), Some(Below), None]
        );
        assert_eq!(q("une dizaine de cas", French), [Some(About)]);
        // The plain form the retry gives the model reads the same.
        let plain = plain_approximations("Une dizaine de cas suspects, une vingtaine d'élèves et une douzaine d'œufs.").unwrap();
        assert_eq!(plain, "Environ dix cas suspects, environ vingt élèves et une douzaine d'œufs.");
        assert_eq!(q(&plain, French)[..2], [Some(About), Some(About)]);
        assert_eq!(values(&plain, French)[..2], [v(&["10"]), v(&["20"])]);
        // Only before a noun ("la quarantaine" is also a quarantine); nothing else changes.
        assert_eq!(plain_approximations("Il est en quarantaine, une quarantaine stricte."), None);
        assert_eq!(plain_approximations("Aucune dizaine de cas."), None);
        assert_eq!(
            q("more than 1,200 residents, over 8,000, nearly 300, up to 310 mm, 14 towns", English),
            [Some(Above), Some(Above), Some(About), Some(Below), None]
        );
    }

    #[test]
    fn times_written_plainly_read_the_same() {
        let french = "grève de 48 h à partir de mercredi 20 h, trains de 6 h 30 à 9 h 30 puis de 16h30 à 19 h, 12 h de retard";
        let plain = plain_times(french).unwrap();
        assert_eq!(plain, "grève de 48 h à partir de mercredi 20:00, trains de 6:30 à 9:30 puis de 16:30 à 19:00, 12 h de retard");
        // A translation that copies the plain form keeps the French times.
        assert_eq!(values("mercredi 20 h, 16 h 30", French), [v(&["20", "t20:00"]), v(&["t16:30"])]);
        assert_eq!(values("Wednesday 20:00, 16:30", English), [v(&["t20:00"]), v(&["t16:30"])]);
        assert_eq!(plain_times("pendant 12 h, 3 h de route"), None);
    }

    #[test]
    fn scaling_keeps_canonical_form() {
        assert_eq!(scaled("1.2", 1e6), "1200000");
        assert_eq!(scaled("2.5", 1e9), "2500000000");
        assert_eq!(scaled("0.5", 1.0), "0.5");
    }

    #[test]
    fn digit_readings_of_separators() {
        let readings = |text: &str| digits_at(text, 0).1;
        assert_eq!(readings("8,000"), ["8000", "8"]);
        assert_eq!(readings("8.000"), ["8", "8000"]);
        assert_eq!(readings("1.200.000"), ["1200000"]);
        assert_eq!(readings("1,200.5"), ["1200.5"]);
        assert_eq!(readings("1 200,5"), ["1200.5"]);
        assert_eq!(readings("2,5"), ["2.5"]);
        assert_eq!(readings("007"), ["7"]);
        assert_eq!(readings("1.2.3"), ["1.2.3"]);
    }
}
