//! Summaries without a model, and the shaping of summaries a model wrote.
//!
//! [`extractive_summary`] is the fallback when no model summary passes the grounding check: it
//! picks the most central sentences of the text, verbatim, so every number and name in it is in
//! the source by construction. [`shape_summary`] cleans what a chat model wrote (special tokens,
//! labels, markdown) and cuts it to whole sentences within the length limits.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::conventions::remove_chat_tokens;
use crate::segment::split_sentences;

/// Score multiplier of the first sentence is `1 + LEAD_BONUS`, of the n-th `1 + LEAD_BONUS / n`:
/// news put the essentials first.
const LEAD_BONUS: f64 = 0.5;

/// Sentences shorter than this many words lose score in proportion (quote fragments, datelines).
const FULL_SCORE_WORDS: usize = 10;

/// A candidate this similar (cosine) to a sentence already picked repeats it and is skipped.
const MAX_SIMILARITY: f64 = 0.8;

/// Sentences scoring below this fraction of the best one are never picked to fill the word
/// budget: a short off-topic sentence is worse than one over-long central sentence.
const MIN_RELATIVE_SCORE: f64 = 0.3;

/// Words too common to say what a sentence is about: English, and a few French ones for a
/// summary of an untranslated text.
const STOPWORDS: &[&str] = &[
    // French.
    "au", "aux", "avec", "ce", "ces", "cette", "dans", "de", "des", "du", "elle", "elles", "en", "est", "et", "été", "il", "ils", "la",
    "le", "les", "leur", "leurs", "mais", "ne", "nous", "ont", "ou", "par", "pas", "plus", "pour", "qu", "que", "qui", "sa", "se", "ses",
    "son", "sont", "sur", "un", "une", "vous", // English.
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "being", "but", "by", "can", "could", "did",
    "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is", "it", "its", "more", "most",
    "no", "not", "of", "on", "one", "or", "other", "our", "out", "over", "said", "says", "she", "so", "some", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "up", "us", "was", "we", "were", "what", "when",
    "which", "while", "who", "will", "with", "would", "you",
];

/// Picks the most central sentences of `paragraphs` as a summary.
///
/// Sentences are scored by the sum of their TF-IDF cosine similarities to all other sentences,
/// with a mild bonus for the lead and a penalty for fragments. The best are taken greedily while
/// they fit in `max_words` (near-duplicates and sentences far below the best skipped), up to
/// `max_sentences`, and returned in article order joined by single spaces. At least one
/// sentence is returned (the best, when none fits), even when it is longer than `max_words`,
/// unless there is no sentence at all. Deterministic: ties go to the
/// earlier sentence.
pub fn extractive_summary(paragraphs: &[String], max_sentences: usize, max_words: usize) -> String {
    let sentences: Vec<&str> = paragraphs.iter().flat_map(|paragraph| split_sentences(paragraph)).collect();
    if sentences.is_empty() {
        return String::new();
    }
    let vectors = tfidf_vectors(&sentences);
    let scores: Vec<f64> = (0..sentences.len())
        .map(|i| {
            let centrality: f64 = (0..sentences.len()).filter(|&j| j != i).map(|j| cosine(&vectors[i], &vectors[j])).sum();
            let lead = 1.0 + LEAD_BONUS / (i + 1) as f64;
            let length = (word_count(sentences[i]) as f64 / FULL_SCORE_WORDS as f64).min(1.0);
            centrality * lead * length
        })
        .collect();

    let mut ranking: Vec<usize> = (0..sentences.len()).collect();
    ranking.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));

    let floor = MIN_RELATIVE_SCORE * scores[ranking[0]];
    let mut chosen: Vec<usize> = Vec::new();
    let mut words = 0;
    for &candidate in ranking.iter().take_while(|&&i| scores[i] >= floor) {
        if chosen.len() >= max_sentences.max(1) {
            break;
        }
        let candidate_words = word_count(sentences[candidate]);
        let repeats = chosen.iter().any(|&picked| cosine(&vectors[picked], &vectors[candidate]) > MAX_SIMILARITY);
        if words + candidate_words <= max_words && !repeats {
            chosen.push(candidate);
            words += candidate_words;
        }
    }
    if chosen.is_empty() {
        chosen.push(ranking[0]);
    }
    chosen.sort_unstable();
    let picked: Vec<&str> = chosen.iter().map(|&i| sentences[i]).collect();
    picked.join(" ")
}

/// Cleans a summary written by a chat model and cuts it to length.
///
/// Removes chat tokens (`<|im_end|>`), labels (`Summary:`, `**Summary**`, `Here is a summary:`),
/// markdown header lines, bullets, block-quote marks and bold markers, and joins the remaining
/// lines with spaces.
/// Then keeps whole sentences from the start while there are at most `max_sentences` of them and
/// at most `max_words` words; the first sentence is always kept.
pub fn shape_summary(text: &str, max_sentences: usize, max_words: usize) -> String {
    let text = remove_chat_tokens(text);
    let lines: Vec<String> = text.lines().filter_map(clean_line).collect();
    let joined = lines.join(" ");
    let joined = joined.split_whitespace().collect::<Vec<_>>().join(" ");

    let mut kept: Vec<&str> = Vec::new();
    let mut words = 0;
    for sentence in split_sentences(&joined) {
        let sentence_words = word_count(sentence);
        if !kept.is_empty() && (kept.len() >= max_sentences || words + sentence_words > max_words) {
            break;
        }
        kept.push(sentence);
        words += sentence_words;
    }
    kept.join(" ")
}

/// Markdown that opens a line: block quotes, bullets, numbered items.
static LINE_MARKUP: LazyLock<Regex> = LazyLock::new(|| compiled(r"^(?:>\s*|[-*•+]\s+|\d{1,2}[.)]\s+)+"));

/// A label before the summary itself, alone or followed by the text on the same line.
static LABEL: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"(?i)^(?:english\s+)?(?:summary|brief|briefing|résumé|resume|tl;?dr)\s*(?::\s*|$)"));

/// An announcement line such as `Here is a summary of the article:`.
static ANNOUNCEMENT: LazyLock<Regex> = LazyLock::new(|| compiled(r"(?i)^here(?:'s|’s| is| are)\b.*:$"));

/// Compiles one of the constant patterns above; they are covered by the tests.
fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|err| panic!("invalid built-in regex {pattern:?}: {err}"))
}

/// One line of a model summary without markup or label, or `None` when nothing is left.
fn clean_line(line: &str) -> Option<String> {
    let line = line.replace("**", "").replace("__", "");
    let line = line.trim();
    if line.starts_with('#') {
        // A markdown header names a section; it is not part of the summary.
        return None;
    }
    let line = LINE_MARKUP.replace(line, "");
    let line = LABEL.replace(line.trim(), "");
    let line = line.trim();
    if line.is_empty() || ANNOUNCEMENT.is_match(line) {
        None
    } else {
        Some(line.to_string())
    }
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Lowercase content words of a sentence: alphanumeric runs of 2+ chars, stopwords removed.
fn terms(sentence: &str) -> Vec<String> {
    sentence
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|word| !STOPWORDS.contains(&word.as_str()))
        .collect()
}

/// A sparse vector: (term id, weight) sorted by term id, with unit length (or empty).
type SparseVector = Vec<(usize, f64)>;

/// Unit-length TF-IDF vectors, one per sentence. Term ids follow first appearance, so the result
/// does not depend on hashing.
fn tfidf_vectors(sentences: &[&str]) -> Vec<SparseVector> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let counts: Vec<Vec<(usize, f64)>> = sentences
        .iter()
        .map(|sentence| {
            let mut counts: Vec<(usize, f64)> = Vec::new();
            for term in terms(sentence) {
                let next_id = ids.len();
                let id = *ids.entry(term).or_insert(next_id);
                match counts.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, count)) => *count += 1.0,
                    None => counts.push((id, 1.0)),
                }
            }
            counts.sort_by_key(|&(id, _)| id);
            counts
        })
        .collect();

    let mut document_frequency = vec![0usize; ids.len()];
    for sentence_counts in &counts {
        for &(id, _) in sentence_counts {
            document_frequency[id] += 1;
        }
    }
    let n = sentences.len() as f64;
    counts
        .into_iter()
        .map(|sentence_counts| {
            let mut vector: SparseVector = sentence_counts
                .into_iter()
                .map(|(id, tf)| {
                    let idf = ((1.0 + n) / (1.0 + document_frequency[id] as f64)).ln() + 1.0;
                    (id, tf * idf)
                })
                .collect();
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                for (_, weight) in &mut vector {
                    *weight /= norm;
                }
            }
            vector
        })
        .collect()
}

/// Cosine similarity of two unit-length sparse vectors.
fn cosine(a: &SparseVector, b: &SparseVector) -> f64 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn news() -> Vec<String> {
        paragraphs(&[
            "Islamic State wants to free thousands of jihadists from prison camps in Syria, \
             military chiefs said. The group hopes to rebuild its forces in the region.",
            "A general said the jihadists held in the camps in Syria are a threat to the region. \
             The weather was mild on Tuesday.",
            "Officials fear the prison camps in Syria could fall and free the jihadists. \
             Lunch was served at noon.",
        ])
    }

    #[test]
    fn picks_central_sentences_in_article_order() {
        let summary = extractive_summary(&news(), 2, 100);
        assert_eq!(
            summary,
            "Islamic State wants to free thousands of jihadists from prison camps in Syria, \
             military chiefs said. Officials fear the prison camps in Syria could fall and free \
             the jihadists."
        );
    }

    #[test]
    fn off_topic_sentences_are_not_picked() {
        let summary = extractive_summary(&news(), 3, 100);
        assert!(!summary.contains("weather"), "{summary}");
        assert!(!summary.contains("Lunch"), "{summary}");
    }

    #[test]
    fn respects_sentence_and_word_limits() {
        for (max_sentences, max_words) in [(1, 100), (2, 100), (3, 30), (5, 40)] {
            let summary = extractive_summary(&news(), max_sentences, max_words);
            let sentences = split_sentences(&summary);
            assert!(!sentences.is_empty());
            assert!(sentences.len() <= max_sentences, "{summary}");
            assert!(word_count(&summary) <= max_words, "{summary}");
        }
    }

    #[test]
    fn keeps_one_sentence_even_when_it_is_too_long() {
        let summary = extractive_summary(&news(), 3, 5);
        assert_eq!(split_sentences(&summary).len(), 1);
        assert!(word_count(&summary) > 5);
        assert!(!extractive_summary(&news(), 0, 0).is_empty());
    }

    #[test]
    fn near_duplicates_are_not_picked_twice() {
        let text = paragraphs(&[
            "The army said the camps in Syria hold eight thousand fighters.",
            "The army said the camps in Syria hold eight thousand fighters.",
            "Officials in Syria warned the fighters could escape the camps soon.",
        ]);
        let summary = extractive_summary(&text, 2, 100);
        assert_eq!(
            summary,
            "The army said the camps in Syria hold eight thousand fighters. Officials in Syria \
             warned the fighters could escape the camps soon."
        );
    }

    #[test]
    fn unrelated_sentences_fall_back_to_the_lead() {
        let text = paragraphs(&[
            "Alpha beta gamma delta epsilon zeta eta theta iota kappa.",
            "Lambda mu nu xi omicron pi rho sigma tau upsilon.",
            "Phi chi psi omega one two three four five six.",
        ]);
        assert_eq!(extractive_summary(&text, 1, 100), "Alpha beta gamma delta epsilon zeta eta theta iota kappa.");
    }

    #[test]
    fn empty_input_gives_empty_summary() {
        assert_eq!(extractive_summary(&[], 3, 100), "");
        assert_eq!(extractive_summary(&paragraphs(&["  ", ""]), 3, 100), "");
    }

    #[test]
    fn is_deterministic() {
        let first = extractive_summary(&news(), 2, 60);
        for _ in 0..5 {
            assert_eq!(extractive_summary(&news(), 2, 60), first);
        }
    }

    #[test]
    fn shape_removes_chat_tokens_and_labels() {
        assert_eq!(shape_summary("Summary: The camps hold 8,000 fighters.<|im_end|>", 3, 100), "The camps hold 8,000 fighters.");
        assert_eq!(shape_summary("**Summary**\n\nThe camps hold fighters.\n<|endoftext|>", 3, 100), "The camps hold fighters.");
        assert_eq!(shape_summary("## Summary\nThe camps hold fighters.", 3, 100), "The camps hold fighters.");
        assert_eq!(shape_summary("Here is a summary of the article:\n\nThe camps hold fighters.", 3, 100), "The camps hold fighters.");
    }

    #[test]
    fn shape_joins_bullets_and_lines() {
        let text = "# Key points\n- The camps hold fighters.\n* Officials fear an escape.\n\
                    1. Talks\ncontinue in Damascus.";
        assert_eq!(
            shape_summary(text, 5, 100),
            "The camps hold fighters. Officials fear an escape. Talks continue in \
             Damascus."
        );
    }

    #[test]
    fn shape_keeps_the_words_summary_inside_a_sentence() {
        assert_eq!(shape_summary("Summary executions were reported.", 3, 100), "Summary executions were reported.");
    }

    #[test]
    fn shape_cuts_to_whole_sentences() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven twelve.";
        assert_eq!(shape_summary(text, 2, 100), "One two three. Four five six.");
        assert_eq!(shape_summary(text, 10, 7), "One two three. Four five six.");
        assert_eq!(shape_summary(text, 10, 2), "One two three.");
        assert_eq!(shape_summary(text, 0, 0), "One two three.");
    }

    #[test]
    fn shape_of_nothing_is_empty() {
        assert_eq!(shape_summary("", 3, 100), "");
        assert_eq!(shape_summary("<|im_end|>\n**Summary:**\n", 3, 100), "");
    }
}
