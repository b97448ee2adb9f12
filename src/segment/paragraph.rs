//! Articles into a title and body paragraphs.
//!
//! Input is plain text as it comes from a file: possibly with a byte-order mark, Windows or old
//! Mac line endings, hard-wrapped lines and stray spaces. Two layouts are recognised:
//!
//! - **blank-line separated**: as soon as the text contains one blank line (empty or only
//!   whitespace), paragraphs are separated by blank lines and the single newlines inside a
//!   paragraph are hard wraps, joined with one space;
//! - **line separated**: with no blank line at all, every non-empty line is a paragraph.
//!
//! Inside a paragraph, runs of ordinary whitespace become one space, but no-break spaces
//! (U+00A0, U+202F, U+2007) are kept as they are: French typography uses them in numbers
//! (`8 000`) and before `:` `;` `!` `?` `»`, and later stages read them.

/// A French news article: its title and its body paragraphs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The first paragraph of the text.
    pub title: String,
    /// Every paragraph after the title; never empty in an [`Article`] built by [`split_article`].
    pub paragraphs: Vec<String>,
}

/// Why a text cannot be read as an article.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArticleError {
    /// Nothing but whitespace (or nothing at all).
    #[error("the text is empty or only whitespace")]
    Empty,
    /// A single paragraph: a title with nothing under it.
    #[error("the article has a title but no body paragraphs")]
    NoBody,
}

/// Splits `text` into trimmed, non-empty paragraphs (see the module docs for the layouts).
///
/// A leading byte-order mark is dropped, CRLF and lone CR count as newlines, and no
/// non-whitespace character is ever dropped. Whitespace-only text gives an empty vector.
pub fn split_paragraphs(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    // Trimming first means a final newline (or leading blank lines) is not taken for a
    // paragraph separator.
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let has_blank_line = lines.iter().any(|line| is_blank(line));

    let raw_paragraphs: Vec<String> = if has_blank_line {
        lines.split(|line| is_blank(line)).filter(|group| !group.is_empty()).map(|group| group.join(" ")).collect()
    } else {
        lines.iter().map(ToString::to_string).collect()
    };

    raw_paragraphs.iter().map(|paragraph| normalize_spaces(paragraph)).filter(|paragraph| !paragraph.is_empty()).collect()
}

/// Splits `text` into an [`Article`]: the first paragraph is the title, the rest the body.
///
/// # Errors
/// [`ArticleError::Empty`] when the text has no paragraph at all, [`ArticleError::NoBody`] when
/// it has only one.
pub fn split_article(text: &str) -> Result<Article, ArticleError> {
    let mut paragraphs = split_paragraphs(text).into_iter();
    let title = paragraphs.next().ok_or(ArticleError::Empty)?;
    let paragraphs: Vec<String> = paragraphs.collect();
    if paragraphs.is_empty() {
        return Err(ArticleError::NoBody);
    }
    Ok(Article { title, paragraphs })
}

/// A line that is empty or holds only whitespace (no-break spaces included).
fn is_blank(line: &str) -> bool {
    line.chars().all(char::is_whitespace)
}

/// No-break spaces carry meaning in French text and are kept as they are.
fn is_no_break_space(c: char) -> bool {
    matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2007}')
}

/// Trims the paragraph (all Unicode whitespace) and turns every run of ordinary whitespace
/// inside it into one space, leaving no-break spaces untouched.
fn normalize_spaces(paragraph: &str) -> String {
    let mut out = String::with_capacity(paragraph.len());
    let mut pending_space = false;
    for c in paragraph.trim().chars() {
        if c.is_whitespace() && !is_no_break_space(c) {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn non_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn blank_line_separated_paragraphs() {
        let text = "Title\n\nFirst paragraph.\n\nSecond paragraph.\n";
        assert_eq!(split_paragraphs(text), strings(&["Title", "First paragraph.", "Second paragraph."]));
    }

    #[test]
    fn several_blank_lines_and_whitespace_only_lines_separate_once() {
        let text = "A\n\n\n   \n\t\nB\n \u{A0}\nC";
        assert_eq!(split_paragraphs(text), strings(&["A", "B", "C"]));
    }

    #[test]
    fn single_newline_separated_lines_are_paragraphs() {
        let text = "Title\nFirst paragraph.\nSecond paragraph.\n";
        assert_eq!(split_paragraphs(text), strings(&["Title", "First paragraph.", "Second paragraph."]));
    }

    #[test]
    fn wrapped_lines_inside_blank_line_paragraphs_are_joined() {
        let text = "A title line\n\nThe first paragraph is\nwrapped over   two lines.\n\n\
                    The second one\n  is wrapped\ttoo.\n";
        assert_eq!(
            split_paragraphs(text),
            strings(&["A title line", "The first paragraph is wrapped over two lines.", "The second one is wrapped too.",])
        );
    }

    #[test]
    fn crlf_and_lone_cr_are_newlines() {
        let crlf = "Title\r\n\r\nOne\r\nwrapped.\r\n\r\nTwo.\r\n";
        assert_eq!(split_paragraphs(crlf), strings(&["Title", "One wrapped.", "Two."]));
        let cr = "Title\rOne.\rTwo.";
        assert_eq!(split_paragraphs(cr), strings(&["Title", "One.", "Two."]));
    }

    #[test]
    fn leading_bom_is_dropped() {
        let text = "\u{FEFF}Titre\n\nCorps.";
        assert_eq!(split_paragraphs(text), strings(&["Titre", "Corps."]));
    }

    #[test]
    fn paragraph_ends_are_trimmed_including_no_break_spaces() {
        let text = "\u{A0} Title \u{202F}\n\n\t Body.\u{A0}\n";
        assert_eq!(split_paragraphs(text), strings(&["Title", "Body."]));
    }

    #[test]
    fn inner_no_break_spaces_are_kept() {
        let text = "Titre\n\nPlus de 8\u{A0}000 personnes, soit 15\u{202F}% : «\u{A0}non\u{A0}».";
        let paragraphs = split_paragraphs(text);
        assert_eq!(paragraphs[1], "Plus de 8\u{A0}000 personnes, soit 15\u{202F}% : «\u{A0}non\u{A0}».");
    }

    #[test]
    fn whitespace_only_text_has_no_paragraphs() {
        assert!(split_paragraphs("").is_empty());
        assert!(split_paragraphs(" \n\r\n\t\u{A0}\n").is_empty());
    }

    #[test]
    fn non_whitespace_text_is_never_dropped() {
        let text = "\u{FEFF}  Un  titre\r\n\r\nUn\tparagraphe\nsur deux lignes.\r\n \n«\u{A0}Fin\u{A0}»";
        let joined: String = split_paragraphs(text).concat();
        assert_eq!(non_whitespace(&joined), non_whitespace(text.trim_start_matches('\u{FEFF}')));
    }

    #[test]
    fn article_takes_first_paragraph_as_title() {
        let article = split_article("Le titre\n\nUn.\n\nDeux.").unwrap();
        assert_eq!(article, Article { title: "Le titre".to_string(), paragraphs: strings(&["Un.", "Deux."]) });
    }

    #[test]
    fn whitespace_only_article_is_empty() {
        assert_eq!(split_article("  \n\n \t"), Err(ArticleError::Empty));
        assert_eq!(split_article("\u{FEFF}"), Err(ArticleError::Empty));
    }

    #[test]
    fn title_only_article_has_no_body() {
        assert_eq!(split_article("Just a title\n"), Err(ArticleError::NoBody));
        assert_eq!(split_article("\n\nJust a title\n\n\n"), Err(ArticleError::NoBody));
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(ArticleError::Empty.to_string(), "the text is empty or only whitespace");
        assert_eq!(ArticleError::NoBody.to_string(), "the article has a title but no body paragraphs");
    }
}
