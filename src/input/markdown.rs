//! The plain text of a Markdown article: heading markers, emphasis, links, images, block
//! quote markers, rules and front matter go; the words and the paragraph layout stay.

use std::sync::LazyLock;

use regex::Regex;

static HEADING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^ {0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$").unwrap());
static RULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^ {0,3}(?:[-*_][ \t]*){3,}$").unwrap());
static QUOTE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^ {0,3}>[ \t]?").unwrap());
static IMAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"!\[[^\]]*\]\([^)]*\)").unwrap());
static LINK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[([^\]]+)\]\([^)]*\)").unwrap());
static STRONG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\*\*([^*\n]+)\*\*|__([^_\n]+)__").unwrap());
static EMPHASIS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\*([^*\s][^*\n]*)\*").unwrap());
static FRONT_MATTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\A---[ \t]*\r?\n(?s:.*?)\r?\n---[ \t]*\r?\n").unwrap());

/// Markdown to the plain-text layout the segmenter reads (the first heading is the title).
pub fn plain_text(markdown: &str) -> String {
    let text = FRONT_MATTER.replace(markdown, "");
    let text = RULE.replace_all(&text, "");
    let text = HEADING.replace_all(&text, "$1");
    let text = QUOTE.replace_all(&text, "");
    let text = IMAGE.replace_all(&text, "");
    let text = LINK.replace_all(&text, "$1");
    let text = STRONG.replace_all(&text, "$1$2");
    EMPHASIS.replace_all(&text, "$1").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup_and_keeps_paragraphs() {
        let md = "---\nauteur: X\n---\n# Le titre #\n\nUn **fait** et un *détail*, voir [la source](http://x.fr).\n\n\
                  ![photo](a.jpg)\n\n---\n\n> Une citation\n> sur deux lignes.\n";
        assert_eq!(plain_text(md), "Le titre\n\nUn fait et un détail, voir la source.\n\n\n\n\n\nUne citation\nsur deux lignes.\n");
    }

    #[test]
    fn leaves_plain_text_alone() {
        let text = "Titre\n\nLe prix est passé de 3 * 4 à 2,5 euros.\n";
        assert_eq!(plain_text(text), text);
    }
}
