//! English output conventions, applied to what a model wrote in translation.
//!
//! Translation models often carry French typography over into English: `8 000` for 8,000,
//! `2,5` for 2.5, `15 %`, guillemets, a space before `:` or `?`, no-break spaces. Chat models
//! also leak special tokens such as `<|im_end|>`. [`english_conventions`] rewrites all of that to
//! plain English conventions and leaves everything else alone.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Spaces French typography puts inside numbers, before punctuation and inside guillemets:
/// space, no-break space, narrow no-break space, thin space.
const FRENCH_SPACES: &str = r"[ \u{00A0}\u{202F}\u{2009}]";

/// Chat-template tokens such as `<|im_end|>` or `<|endoftext|>`.
static CHAT_TOKEN: LazyLock<Regex> = LazyLock::new(|| compiled(r"<\|[A-Za-z0-9_]+\|>"));

/// `«` or `»` with the spaces just inside the quotes.
static OPENING_GUILLEMET: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"«{FRENCH_SPACES}*")));
static CLOSING_GUILLEMET: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"{FRENCH_SPACES}*»")));
static OPENING_SINGLE_GUILLEMET: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"‹{FRENCH_SPACES}*")));
static CLOSING_SINGLE_GUILLEMET: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"{FRENCH_SPACES}*›")));

/// Digits, a comma, digits: a decimal comma unless the part after it is a 3-digit group.
static DECIMAL_COMMA: LazyLock<Regex> = LazyLock::new(|| compiled(r"([0-9]+),([0-9]+)"));

/// A 1–3 digit group followed by 3-digit groups separated by French spaces.
static SPACE_GROUPED_NUMBER: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"\b[0-9]{{1,3}}(?:{FRENCH_SPACES}[0-9]{{3}})+\b")));

/// A space between a number and `%`.
static SPACED_PERCENT: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"([0-9]){FRENCH_SPACES}+%")));

/// A space before `:` `;` `!` `?`.
static SPACED_PUNCTUATION: LazyLock<Regex> = LazyLock::new(|| compiled(&format!(r"{FRENCH_SPACES}+([:;!?])")));

/// Runs of spaces and tabs (newlines are kept).
static SPACE_RUN: LazyLock<Regex> = LazyLock::new(|| compiled(r"[ \t]+"));

/// Spaces at the end of a line.
static TRAILING_SPACE: LazyLock<Regex> = LazyLock::new(|| compiled(r"(?m) +$"));

/// Compiles one of the constant patterns above; they are covered by the tests.
fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|err| panic!("invalid built-in regex {pattern:?}: {err}"))
}

/// Rewrites a model translation to English conventions:
///
/// - `8 000`, `1 200 000`, `8\u{202F}000` (space, no-break, narrow no-break or thin space
///   between 3-digit groups) become `8,000`, `1,200,000`, `8,000`; `2023 100` and `12 3456`
///   are two numbers and stay apart;
/// - a decimal comma becomes a point (`2,5` → `2.5`) unless exactly 3 digits follow it
///   (`8,000` stays);
/// - `15 %` → `15%`;
/// - `« x »` → `"x"` and `‹ x ›` → `'x'`;
/// - no space before `:` `;` `!` `?`;
/// - chat tokens (`<|im_end|>`, any `<|…|>` of letters, digits and underscores) are removed;
/// - remaining no-break spaces become spaces, runs of spaces become one, lines lose their
///   trailing spaces and the whole text is trimmed. Newlines are kept.
///
/// Applying it twice gives the same text as applying it once.
pub fn english_conventions(text: &str) -> String {
    let mut text = remove_chat_tokens(text);
    for (pattern, replacement) in
        [(&OPENING_GUILLEMET, "\""), (&CLOSING_GUILLEMET, "\""), (&OPENING_SINGLE_GUILLEMET, "'"), (&CLOSING_SINGLE_GUILLEMET, "'")]
    {
        text = replace_all(&text, pattern, replacement);
    }
    // Decimal commas first, so the integer part of `1 200,5` is still space-grouped after.
    text = DECIMAL_COMMA
        .replace_all(&text, |caps: &Captures| {
            let (int, frac) = (&caps[1], &caps[2]);
            let separator = if frac.len() == 3 { ',' } else { '.' };
            format!("{int}{separator}{frac}")
        })
        .into_owned();
    text = SPACE_GROUPED_NUMBER
        .replace_all(&text, |caps: &Captures| caps[0].chars().map(|c| if c.is_ascii_digit() { c } else { ',' }).collect::<String>())
        .into_owned();
    text = replace_all(&text, &SPACED_PERCENT, "$1%");
    text = replace_all(&text, &SPACED_PUNCTUATION, "$1");
    text = text.replace(['\u{00A0}', '\u{202F}', '\u{2009}'], " ");
    text = replace_all(&text, &SPACE_RUN, " ");
    text = replace_all(&text, &TRAILING_SPACE, "");
    text.trim().to_string()
}

/// Restores the grouping of numbers the source writes with French digit groups when the
/// model split them apart: with `1 200` in the French source, a translation saying `1, 200`,
/// `1 200` or `1. 200` gets `1,200`. Only numbers of the source are touched, so English text
/// such as "May 3, 200 people" is left alone unless the source itself has `3 200`.
pub fn restore_source_numbers(english: &str, french: &str) -> String {
    let mut text = english.to_string();
    for number in SPACE_GROUPED_NUMBER.find_iter(french) {
        let groups: Vec<&str> = number.as_str().split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).collect();
        let split = groups.join(r"(?:, ?|\. |[ \u{00A0}\u{202F}\u{2009}])");
        let pattern = compiled(&format!(r"\b{split}\b"));
        text = replace_all(&text, &pattern, &groups.join(","));
    }
    text
}

/// Removes chat tokens until none is left (removing one may join the pieces of another).
pub(crate) fn remove_chat_tokens(text: &str) -> String {
    let mut text = text.to_string();
    while let Cow::Owned(cleaned) = CHAT_TOKEN.replace_all(&text, "") {
        text = cleaned;
    }
    text
}

fn replace_all(text: &str, pattern: &Regex, replacement: &str) -> String {
    pattern.replace_all(text, replacement).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_the_source_are_regrouped_when_the_model_split_them() {
        let french = "Plus de 1 200 habitants et 8\u{202F}000 djihadistes, 3 sites.";
        assert_eq!(
            restore_source_numbers("More than 1, 200 residents and 8 000 jihadists, 3 sites.", french),
            "More than 1,200 residents and 8,000 jihadists, 3 sites."
        );
        assert_eq!(restore_source_numbers("1,200 and 8,000", french), "1,200 and 8,000");
        // Not a number of the source: left alone.
        assert_eq!(restore_source_numbers("On May 3, 200 people came.", french), "On May 3, 200 people came.");
        // Part of a longer number: left alone.
        assert_eq!(restore_source_numbers("21, 2005", french), "21, 2005");
    }

    #[test]
    fn french_digit_groups_become_comma_groups() {
        assert_eq!(english_conventions("8 000 fighters"), "8,000 fighters");
        assert_eq!(english_conventions("1 200 000 people"), "1,200,000 people");
        assert_eq!(english_conventions("8\u{202F}000"), "8,000");
        assert_eq!(english_conventions("8\u{00A0}000"), "8,000");
        assert_eq!(english_conventions("8\u{2009}000"), "8,000");
        assert_eq!(english_conventions("about 25 000."), "about 25,000.");
        assert_eq!(english_conventions("999 999 999 999"), "999,999,999,999");
    }

    #[test]
    fn numbers_that_are_not_digit_groups_stay_apart() {
        assert_eq!(english_conventions("in 2023 100 people"), "in 2023 100 people");
        assert_eq!(english_conventions("12 3456"), "12 3456");
        assert_eq!(english_conventions("on 5 March"), "on 5 March");
        assert_eq!(english_conventions("A320 000"), "A320 000");
        assert_eq!(english_conventions("٨ ٠٠٠"), "٨ ٠٠٠", "only ASCII digits are regrouped");
    }

    #[test]
    fn decimal_comma_becomes_a_point() {
        assert_eq!(english_conventions("2,5 million"), "2.5 million");
        assert_eq!(english_conventions("0,75"), "0.75");
        assert_eq!(english_conventions("12,3456"), "12.3456");
        assert_eq!(english_conventions("1 200,5 km"), "1,200.5 km");
    }

    #[test]
    fn comma_before_three_digits_is_a_thousands_separator() {
        assert_eq!(english_conventions("8,000"), "8,000");
        assert_eq!(english_conventions("1,200,000"), "1,200,000");
        assert_eq!(english_conventions("2.5 and 3, 4"), "2.5 and 3, 4");
    }

    #[test]
    fn percent_sign_sticks_to_its_number() {
        assert_eq!(english_conventions("15 %"), "15%");
        assert_eq!(english_conventions("15\u{00A0}%"), "15%");
        assert_eq!(english_conventions("15\u{202F}%"), "15%");
        assert_eq!(english_conventions("2,5 % of 8 000 %"), "2.5% of 8,000%");
    }

    #[test]
    fn guillemets_become_straight_quotes() {
        assert_eq!(english_conventions("called it « more than 8 000 » fighters"), "called it \"more than 8,000\" fighters");
        assert_eq!(english_conventions("«\u{00A0}x\u{00A0}»"), "\"x\"");
        assert_eq!(english_conventions("«\u{202F}x\u{202F}»"), "\"x\"");
        assert_eq!(english_conventions("«x»"), "\"x\"");
        assert_eq!(english_conventions("‹ y ›"), "'y'");
    }

    #[test]
    fn no_space_before_high_punctuation() {
        assert_eq!(english_conventions("he said : x"), "he said: x");
        assert_eq!(english_conventions("a ; b"), "a; b");
        assert_eq!(english_conventions("Really ?\u{00A0}Yes !"), "Really? Yes!");
        assert_eq!(english_conventions("why\u{202F}?"), "why?");
        assert_eq!(english_conventions("« Bonjour ! »"), "\"Bonjour!\"", "guillemets and punctuation together");
    }

    #[test]
    fn chat_tokens_are_removed() {
        assert_eq!(english_conventions("Hello.<|im_end|>"), "Hello.");
        assert_eq!(english_conventions("<|im_start|>assistant\nHello.<|endoftext|>"), "assistant\nHello.");
        assert_eq!(english_conventions("a <|eot_id|> b"), "a b");
        assert_eq!(english_conventions("a <|<|x|>y|> b"), "a b");
        assert_eq!(english_conventions("a <| not a token |> b"), "a <| not a token |> b");
    }

    #[test]
    fn no_break_spaces_become_spaces_and_runs_collapse() {
        assert_eq!(english_conventions("  a\u{00A0}\u{00A0}b \t c  "), "a b c");
        assert_eq!(english_conventions("a\u{202F}b"), "a b");
    }

    #[test]
    fn newlines_are_kept() {
        assert_eq!(english_conventions("First line.  \n\nSecond  line.\n"), "First line.\n\nSecond line.");
    }

    #[test]
    fn plain_english_is_unchanged() {
        let text = "The U.S. said 8,000 fighters, or 2.5% of 1,200,000, were held in 2023.";
        assert_eq!(english_conventions(text), text);
    }

    #[test]
    fn applying_twice_equals_applying_once() {
        for text in [
            "« Plus de 8 000 » djihadistes, soit 2,5 % : rien <|im_end|>",
            "1 200 000,25 et 8,000 ; 0,5\u{202F}%\n\n  ‹ ok › ?",
            "in 2023 100 people <|<|x|>y|>",
            "   ",
            "Mixed\u{00A0}\u{00A0}spaces \u{2009}: done",
        ] {
            let once = english_conventions(text);
            assert_eq!(english_conventions(&once), once, "not idempotent on {text:?}");
        }
    }
}
