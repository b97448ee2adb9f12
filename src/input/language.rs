//! Is the article French? Detection is whatlang's trigram model, restricted to the languages
//! news articles here plausibly come in, and only a reliable detection counts.

use whatlang::{Detector, Lang};

/// Languages the detector chooses among.
const CANDIDATES: &[Lang] = &[Lang::Fra, Lang::Eng, Lang::Deu, Lang::Spa, Lang::Ita, Lang::Por, Lang::Nld];

/// Characters of the text looked at (enough for a reliable guess, cheap on a long article).
const SAMPLE_CHARS: usize = 4000;

/// A language other than French, detected reliably.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherLanguage {
    /// English name, e.g. "English".
    pub name: &'static str,
    /// ISO 639-3 code, e.g. "eng".
    pub code: &'static str,
    pub confidence: f64,
}

/// `Some` when `text` is reliably detected as a language other than French; `None` when it is
/// French or too short or mixed to tell.
pub fn other_than_french(text: &str) -> Option<OtherLanguage> {
    let sample: String = text.chars().take(SAMPLE_CHARS).collect();
    let info = Detector::with_allowlist(CANDIDATES.to_vec()).detect(&sample)?;
    if info.lang() == Lang::Fra || !info.is_reliable() {
        return None;
    }
    Some(OtherLanguage { name: info.lang().eng_name(), code: info.lang().code(), confidence: info.confidence() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_french_from_english_and_german() {
        let french = "Le conseil municipal a voté mardi soir le budget de l'année prochaine, \
                      qui prévoit la rénovation de trois écoles et la construction d'une piscine.";
        let english = "The city council voted on Tuesday evening for next year's budget, which \
                       provides for the renovation of three schools and the construction of a pool.";
        let german = "Der Stadtrat hat am Dienstagabend den Haushalt für das nächste Jahr \
                      beschlossen, der die Renovierung von drei Schulen vorsieht.";
        assert_eq!(other_than_french(french), None);
        assert_eq!(other_than_french(english).map(|l| l.code), Some("eng"));
        assert_eq!(other_than_french(german).map(|l| l.code), Some("deu"));
    }

    #[test]
    fn does_not_judge_what_it_cannot_tell() {
        assert_eq!(other_than_french(""), None);
        assert_eq!(other_than_french("12 345"), None);
    }
}
