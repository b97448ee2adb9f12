//! The article text of an HTML page: its title and paragraphs, without scripts, styles,
//! navigation, page headers and footers, forms or asides. Parsing is html5ever's (through
//! `scraper`), so broken markup is handled the way browsers handle it.

use scraper::{ElementRef, Html, Node, Selector};

/// Elements whose content is never article text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "head", "nav", "aside", "form", "button", "select", "svg", "iframe", "canvas", "object",
    "embed", "audio", "video",
];

/// Skipped too, but only around the article (an `<article>` may have its own `<header>` with its title).
const PAGE_CHROME: &[&str] = &["header", "footer"];

/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "table",
    "tr",
    "td",
    "th",
    "figure",
    "figcaption",
    "address",
    "hr",
    "header",
    "footer",
];

/// Title, then paragraphs, separated by blank lines (the layout [`crate::segment::split_article`]
/// reads). The title is the article's first heading, else the page's `<title>`.
pub fn article_text(html: &str) -> String {
    let page = Html::parse_document(html);
    let root = ["article", "main", "body"]
        .iter()
        .filter_map(|tag| Selector::parse(tag).ok())
        .find_map(|selector| page.select(&selector).next())
        .unwrap_or_else(|| page.root_element());
    let inside_article = matches!(root.value().name(), "article" | "main");

    let mut paragraphs = Vec::new();
    let mut current = String::new();
    collect(root, inside_article, &mut paragraphs, &mut current);
    flush(&mut paragraphs, &mut current);

    let has_heading = Selector::parse("h1, h2").ok().is_some_and(|s| root.select(&s).next().is_some());
    if !has_heading {
        let title = Selector::parse("title")
            .ok()
            .and_then(|s| page.select(&s).next())
            .map(|t| normalize(&t.text().collect::<String>()))
            .filter(|t| !t.is_empty());
        if let Some(title) = title {
            paragraphs.insert(0, title);
        }
    }
    paragraphs.join("\n\n")
}

fn collect(element: ElementRef, inside_article: bool, paragraphs: &mut Vec<String>, current: &mut String) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) => current.push_str(text),
            Node::Element(e) => {
                let name = e.name();
                let hidden = e.attr("aria-hidden") == Some("true")
                    || e.attr("hidden").is_some()
                    || matches!(e.attr("role"), Some("navigation" | "banner" | "contentinfo" | "complementary"));
                if SKIPPED.contains(&name) || hidden || (!inside_article && PAGE_CHROME.contains(&name)) {
                    continue;
                }
                let Some(child) = ElementRef::wrap(child) else { continue };
                if name == "br" {
                    current.push('\n');
                } else if BLOCKS.contains(&name) {
                    flush(paragraphs, current);
                    let inside = inside_article || name == "article" || name == "main";
                    collect(child, inside, paragraphs, current);
                    flush(paragraphs, current);
                } else {
                    collect(child, inside_article, paragraphs, current);
                }
            }
            _ => {}
        }
    }
}

fn flush(paragraphs: &mut Vec<String>, current: &mut String) {
    let text = normalize(current);
    if !text.is_empty() {
        paragraphs.push(text);
    }
    current.clear();
}

/// One line, single spaces (no-break spaces are kept: they matter in French numbers).
fn normalize(text: &str) -> String {
    text.split(|c: char| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Whether decoded text is an HTML document rather than plain text.
pub fn looks_like_html(text: &str) -> bool {
    let start: String = text.trim_start().chars().take(256).collect::<String>().to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with("<?xml") && start.contains("<html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_article_and_drops_scripts_navigation_and_chrome() {
        let html = r#"<!DOCTYPE html><html><head><title>Site | Une page</title>
            <style>p { color: red }</style><script>var x = "pas du texte";</script></head>
            <body><header><a href="/">Accueil</a></header>
            <nav><ul><li>Politique</li><li>Sport</li></ul></nav>
            <article><header><h1>Le  titre</h1></header>
              <p>Premier paragraphe, avec <b>du gras</b> et un <a href="x">lien</a>.</p>
              <script>alert("non")</script>
              <p>Deuxième&nbsp;: 8&nbsp;000 personnes.</p>
              <aside>Lire aussi : autre chose</aside>
              <div class="share" role="navigation">Partager</div>
            </article><footer>© Journal</footer></body></html>"#;
        assert_eq!(article_text(html), "Le titre\n\nPremier paragraphe, avec du gras et un lien.\n\nDeuxième\u{a0}: 8\u{a0}000 personnes.");
    }

    #[test]
    fn falls_back_to_the_body_and_the_page_title() {
        let html = "<html><head><title> Titre de la page </title></head><body>\
            <nav>Menu</nav><div>Un texte<br>sur deux lignes.</div><p>Fin.</p><footer>Pied</footer></body></html>";
        assert_eq!(article_text(html), "Titre de la page\n\nUn texte sur deux lignes.\n\nFin.");
    }

    #[test]
    fn recognises_html_documents() {
        assert!(looks_like_html("\n  <!DOCTYPE html>\n<html>"));
        assert!(looks_like_html("<HTML lang=fr>"));
        assert!(!looks_like_html("Le titre\n\n<p> n'est pas une page"));
    }
}
