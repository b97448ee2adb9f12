//! The lead summary: the article's lead, then the sentences that state the key facts the lead
//! misses, verbatim from the translation.
//!
//! News put who, what, where and how many in the first sentences, and a small model's summary
//! tends to retell them and stop, leaving out what the article develops later (the reaction
//! of another government, the figure given in the fourth paragraph). This summary keeps the lead
//! and adds, one at a time, the sentence that states the most key facts not yet stated, each
//! fact weighing as many sentences as state it in the article (on a tie, the shorter sentence),
//! while the limits allow. Only sentences the grounding check passes are used, so a number the
//! translation invented stays out. It competes with the model's summaries on the same terms
//! (see [`super::Summarizer::summarize`]).

use super::key_facts::KeyFact;
use crate::segment::split_sentences;

/// The lead of `body` (paragraphs, without the title): its first sentences up to `lead_words`
/// (at least one), and then the sentences that add the most of `facts` (each weighing its
/// [`KeyFact::count`]), in article order, within `max_sentences` and `max_words`; only sentences for which `grounded` holds. Empty when no
/// sentence is grounded.
pub fn lead_summary(
    body: &[String],
    facts: &[KeyFact],
    grounded: impl Fn(&str) -> bool,
    lead_words: usize,
    max_sentences: usize,
    max_words: usize,
) -> String {
    let sentences: Vec<&str> = body.iter().flat_map(|p| split_sentences(p)).filter(|s| grounded(s)).collect();
    let words = |i: usize| sentences[i].split_whitespace().count();
    let mut chosen: Vec<usize> = Vec::new();
    let mut total = 0;
    for i in 0..sentences.len() {
        if !chosen.is_empty() && (total + words(i) > lead_words.min(max_words) || chosen.len() >= max_sentences) {
            break;
        }
        chosen.push(i);
        total += words(i);
    }
    let text = |chosen: &[usize]| chosen.iter().map(|&i| sentences[i]).collect::<Vec<_>>().join(" ");
    let lead = text(&chosen);
    let mut missing: Vec<usize> = (0..facts.len()).filter(|&f| !facts[f].in_text(&lead)).collect();
    // The missing facts each sentence states, found once.
    let states: Vec<Vec<usize>> = if missing.is_empty() {
        Vec::new()
    } else {
        sentences.iter().map(|s| missing.iter().copied().filter(|&f| facts[f].in_text(s)).collect()).collect()
    };
    while chosen.len() < max_sentences && !missing.is_empty() {
        // The sentence adding the most missing facts, a fact the article repeats weighing more
        // than one it states once (of two sentences adding one fact each, the one with the
        // article's main figure wins over a detail); on a tie, the shorter (leaving room for
        // more), then the earlier.
        let best = (0..sentences.len())
            .filter(|i| !chosen.contains(i) && total + words(*i) <= max_words)
            .map(|i| (states[i].iter().filter(|f| missing.contains(f)).map(|&f| facts[f].count).sum::<usize>(), i))
            .filter(|&(gain, _)| gain > 0)
            .max_by_key(|&(gain, i)| (gain, usize::MAX - words(i), usize::MAX - i));
        let Some((_, i)) = best else { break };
        chosen.push(i);
        total += words(i);
        missing.retain(|f| !states[i].contains(f));
    }
    chosen.sort_unstable();
    text(&chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glossary::Glossary;
    use crate::summarize::key_facts;

    fn paragraphs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A French article written for this test and its English translation, paragraph by
    /// paragraph: the lead states the flood and the evacuations; the prefect's name and the
    /// number of schools closed come later, each repeated, so they are key facts.
    fn article() -> (String, Vec<String>, Vec<String>) {
        let title = "Crue du Gard : 1 200 habitants évacués".to_string();
        let french = paragraphs(&[
            "Plus de 1 200 habitants ont été évacués dimanche dans le Gard après des pluies torrentielles.",
            "La météo annonce encore de fortes pluies pour lundi sur tout le département.",
            "Le préfet Jean Morel a décidé de fermer les écoles de 14 communes. Jean Morel a demandé aux habitants de rester chez eux.",
            "Les écoles de ces 14 communes resteront fermées jusqu'à jeudi, a précisé la préfecture.",
            "Un habitant a raconté avoir vu l'eau monter très vite dans sa rue.",
        ]);
        let english = paragraphs(&[
            "More than 1,200 residents were evacuated on Sunday in the Gard after torrential rain.",
            "The forecast still announces heavy rain for Monday across the whole department.",
            "The prefect Jean Morel decided to close the schools of 14 towns. Jean Morel asked residents to stay at home.",
            "The schools of these 14 towns will remain closed until Thursday, the prefecture said.",
            "One resident said he saw the water rise very fast in his street.",
        ]);
        (title, french, english)
    }

    #[test]
    fn keeps_the_lead_and_adds_the_sentences_with_missing_key_facts() {
        let (title, french, english) = article();
        let facts = key_facts(&title, &french, &Glossary::builtin().unwrap());
        let texts: Vec<&str> = facts.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["Gard", "1,200", "flood", "Jean Morel", "14", "prefect", "prefecture"]);
        // The lead (the first sentence), then the sentence with Jean Morel, 14 and the prefect,
        // then the one with the prefecture; the forecast and the resident state no key fact, and
        // no sentence says "flood" (the title's crue).
        let summary = lead_summary(&english, &facts, |_| true, 15, 5, 40);
        assert_eq!(
            summary,
            "More than 1,200 residents were evacuated on Sunday in the Gard after torrential rain. \
             The prefect Jean Morel decided to close the schools of 14 towns. \
             The schools of these 14 towns will remain closed until Thursday, the prefecture said."
        );
    }

    #[test]
    fn a_repeated_fact_outweighs_a_detail_stated_once() {
        // Written for this test: the lead (the title and every paragraph, under the key facts'
        // lead length) names Paul Girard once and the 120 employees three times, so both are key
        // facts, 120 counting three sentences.
        let title = "Incendie dans une usine de Tarnos";
        let french = paragraphs(&[
            "Un incendie a détruit dimanche une usine de Tarnos, dans les Landes.",
            "Le maire Paul Girard est venu.",
            "Les 120 salariés de l'usine seront reçus par la direction.",
            "Une cellule d'écoute accueillera les 120 salariés.",
            "La direction promet de reclasser les 120 salariés dans la région.",
        ]);
        let english = paragraphs(&[
            "A fire destroyed a factory in Tarnos, in the Landes, on Sunday.",
            "Mayor Paul Girard came.",
            "The factory's 120 employees will be received by the management.",
            "A listening unit will welcome the 120 employees.",
            "The management promises to redeploy the 120 employees in the region.",
        ]);
        let facts = key_facts(title, &french, &Glossary::default());
        let counts: Vec<(&str, usize)> = facts.iter().map(|f| (f.text.as_str(), f.count)).collect();
        assert_eq!(counts, [("Tarnos", 2), ("120", 3), ("Landes", 1), ("Paul Girard", 1)]);
        // Room for one sentence after the lead: each candidate adds one missing fact, and the
        // mayor's is the shortest, but 120 weighs three sentences to his one; of the three
        // sentences stating it, the shortest.
        let one = lead_summary(&english, &facts, |_| true, 5, 2, 40);
        assert_eq!(one, "A fire destroyed a factory in Tarnos, in the Landes, on Sunday. A listening unit will welcome the 120 employees.");
        // Room for two: the mayor comes next, in article order.
        let two = lead_summary(&english, &facts, |_| true, 5, 3, 40);
        assert_eq!(
            two,
            "A fire destroyed a factory in Tarnos, in the Landes, on Sunday. Mayor Paul Girard came. A listening unit will \
             welcome the 120 employees."
        );
    }

    #[test]
    fn without_key_facts_it_is_the_lead() {
        let (_, _, english) = article();
        let summary = lead_summary(&english, &[], |_| true, 30, 5, 40);
        assert_eq!(
            summary,
            "More than 1,200 residents were evacuated on Sunday in the Gard after torrential rain. \
             The forecast still announces heavy rain for Monday across the whole department."
        );
    }

    #[test]
    fn leaves_out_ungrounded_sentences_and_respects_the_limits() {
        let (title, french, english) = article();
        let facts = key_facts(&title, &french, &Glossary::builtin().unwrap());
        let summary = lead_summary(&english, &facts, |s| !s.contains("Jean Morel decided"), 15, 5, 40);
        assert!(!summary.contains("decided"), "{summary}");
        assert!(summary.contains("14 towns"), "another sentence states the 14 towns: {summary}");
        let one = lead_summary(&english, &facts, |_| true, 15, 1, 40);
        assert_eq!(one, english[0]);
        assert_eq!(lead_summary(&english, &facts, |_| false, 15, 5, 40), "");
    }
}
