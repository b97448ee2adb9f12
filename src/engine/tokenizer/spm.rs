//! SentencePiece tokenization as llama.cpp does it for `tokenizer.ggml.model = llama` (Llama 2,
//! Mistral, Gemma): spaces become U+2581 (with one prepended to a text that starts the input or
//! follows a special token when `tokenizer.ggml.add_space_prefix` is set, the default), then the
//! characters are merged pairwise, highest-scoring resulting token first, and what is left
//! outside the vocabulary is written as byte tokens `<0xXX>`.
//!
//! The merge is written out here rather than taken from the `tokenizers` crate: its Unigram
//! model segments by Viterbi over the scores, a different algorithm, and its BPE model merges
//! only listed pairs by rank, where llama.cpp merges any two adjacent pieces whose concatenation
//! is a token (of any type) by that token's score, the leftmost pair first among equal scores.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::super::gguf::GgufFile;
use super::vocab::Vocab;
use crate::{Error, Result};

/// The whitespace symbol of SentencePiece (U+2581).
pub(super) const SPACE: char = '\u{2581}';

pub(super) struct SentencePiece {
    scores: Vec<f32>,
    add_space_prefix: bool,
    /// The token written for each byte of a piece outside the vocabulary.
    byte_ids: Vec<Option<u32>>,
}

impl SentencePiece {
    pub fn from_gguf(gguf: &GgufFile, vocab: &Vocab) -> Result<Self> {
        let path = gguf.path();
        let scores = if gguf.has("tokenizer.ggml.scores") {
            let mut scores = gguf.f32s("tokenizer.ggml.scores")?;
            if scores.len() < vocab.len() {
                return Err(Error::model(
                    path,
                    format!("tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {}", scores.len(), vocab.len()),
                ));
            }
            scores.truncate(vocab.len());
            if let Some(id) = scores.iter().position(|s| s.is_nan()) {
                return Err(Error::model(path, format!("tokenizer.ggml.scores[{id}] is NaN; merges cannot be ordered")));
            }
            scores
        } else {
            vec![0.0; vocab.len()]
        };
        let add_space_prefix =
            if gguf.has("tokenizer.ggml.add_space_prefix") { gguf.bool("tokenizer.ggml.add_space_prefix")? } else { true };
        // llama.cpp's `byte_to_token`: the byte token, else a token whose text is that byte;
        // the unknown token stands in where it would fail.
        let byte_ids = (0..=255u8)
            .map(|b| {
                let single = b.is_ascii().then(|| char::from(b).to_string());
                vocab.id(&format!("<0x{b:02X}>")).or_else(|| single.and_then(|s| vocab.id(&s))).or(vocab.unk)
            })
            .collect();
        Ok(Self { scores, add_space_prefix, byte_ids })
    }

    /// Whether a space is prepended to text at the start or after a special token (and so
    /// dropped again from the first decoded piece).
    pub fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// Appends the ids of one text fragment (no special tokens in it) to `out`.
    pub fn encode(&self, vocab: &Vocab, text: &str, after_special: bool, out: &mut Vec<u32>) -> Result<()> {
        let mut escaped = String::with_capacity(text.len() + 3);
        if self.add_space_prefix && after_special {
            escaped.push(SPACE);
        }
        escaped.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
        let score = |piece: &str| vocab.id(piece).map(|id| self.scores[id as usize]);
        for range in merge(&escaped, score) {
            let piece = &escaped[range];
            if let Some(id) = vocab.id(piece) {
                out.push(id);
                continue;
            }
            for &byte in piece.as_bytes() {
                let id = self.byte_ids[byte as usize]
                    .ok_or_else(|| Error::Tokenizer(format!("byte 0x{byte:02X} has no token (no <0x{byte:02X}> and no unknown token)")))?;
                out.push(id);
            }
        }
        Ok(())
    }

    /// A normal token's text as it reads: U+2581 back to spaces.
    pub fn piece(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            let c = if c == SPACE { ' ' } else { c };
            out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
        }
    }
}

/// A piece of the text being merged: `text[start..start + len]` (`len` 0 once merged into its
/// left neighbour), linked to its neighbours.
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Two adjacent symbols whose concatenation is a token of this score and byte length.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

/// Highest score first; among equal scores the leftmost pair (llama.cpp's `llm_bigram_spm`
/// comparator). Scores are never NaN (refused at load).
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.partial_cmp(&other.score).unwrap_or(Ordering::Equal).then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

/// Segments `text` into the byte ranges llama.cpp's `llm_tokenizer_spm_session` ends with:
/// starting from single characters, the adjacent pair whose concatenation is a token with the
/// highest score (by `score`, `None` for non-tokens) merges, the leftmost among equals, until no
/// adjacent pair forms a token.
///
/// A merged piece is always a token; a range that is not one is a single character outside
/// the vocabulary (llama.cpp's `resegment` falls back to bytes exactly there).
fn merge(text: &str, score: impl Fn(&str) -> Option<f32>) -> Vec<Range<usize>> {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (start, c) in text.char_indices() {
        let i = symbols.len();
        symbols.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: Some(i + 1) });
    }
    let Some(last) = symbols.last_mut() else { return Vec::new() };
    last.next = None;

    let mut queue = BinaryHeap::new();
    let try_add = |symbols: &[Symbol], queue: &mut BinaryHeap<Bigram>, left: Option<usize>, right: Option<usize>| {
        let (Some(left), Some(right)) = (left, right) else { return };
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        if let Some(score) = score(&text[start..start + len]) {
            queue.push(Bigram { score, left, right, len });
        }
    };
    for i in 1..symbols.len() {
        try_add(&symbols, &mut queue, Some(i - 1), Some(i));
    }
    while let Some(bigram) = queue.pop() {
        let (left, right) = (&symbols[bigram.left], &symbols[bigram.right]);
        // Stale: one side has merged since (sizes only grow, so any change shows).
        if left.len == 0 || right.len == 0 || left.len + right.len != bigram.len {
            continue;
        }
        let next = right.next;
        symbols[bigram.left].len = bigram.len;
        symbols[bigram.left].next = next;
        symbols[bigram.right].len = 0;
        if let Some(next) = next {
            symbols[next].prev = Some(bigram.left);
        }
        try_add(&symbols, &mut queue, symbols[bigram.left].prev, Some(bigram.left));
        try_add(&symbols, &mut queue, Some(bigram.left), next);
    }

    // The first symbol only ever absorbs its right neighbours, so it starts the chain.
    let mut ranges = Vec::new();
    let mut at = Some(0);
    while let Some(i) = at {
        ranges.push(symbols[i].start..symbols[i].start + symbols[i].len);
        at = symbols[i].next;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn pieces<'a>(text: &'a str, vocab: &[(&str, f32)]) -> Vec<&'a str> {
        let scores: HashMap<&str, f32> = vocab.iter().copied().collect();
        merge(text, |piece| scores.get(piece).copied()).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn the_highest_scoring_pair_merges_first() {
        // "bc" outscores "ab", so "b" goes right and "ab" never forms.
        let vocab = [("a", -1.0), ("b", -1.0), ("c", -1.0), ("ab", -3.0), ("bc", -2.0)];
        assert_eq!(pieces("abc", &vocab), ["a", "bc"]);
        // With "ab" ahead, "c" is left alone.
        let vocab = [("ab", -1.0), ("bc", -2.0)];
        assert_eq!(pieces("abc", &vocab), ["ab", "c"]);
    }

    #[test]
    fn equal_scores_merge_the_leftmost_pair_first() {
        let vocab = [("aa", -1.0)];
        assert_eq!(pieces("aaa", &vocab), ["aa", "a"]);
        assert_eq!(pieces("aaaaa", &vocab), ["aa", "aa", "a"]);
        let vocab = [("ab", -1.0), ("bc", -1.0)];
        assert_eq!(pieces("abc", &vocab), ["ab", "c"]);
    }

    #[test]
    fn a_token_forms_only_through_tokens() {
        // "abcd" is reachable as "ab" + "cd", even with the lowest-scoring pairs on the way;
        // "xyz" has no two-character prefix or suffix in the vocabulary.
        let vocab = [("ab", -5.0), ("cd", -6.0), ("abcd", 10.0), ("xyz", 10.0)];
        assert_eq!(pieces("abcd", &vocab), ["abcd"]);
        assert_eq!(pieces("xyz", &vocab), ["x", "y", "z"]);
        // Once "bc" has taken "b", "ab" can no longer form, so "abcd" is out of reach.
        let vocab = [("ab", -5.0), ("bc", -1.0), ("cd", -6.0), ("abcd", 10.0)];
        assert_eq!(pieces("abcd", &vocab), ["a", "bc", "d"]);
    }

    #[test]
    fn merged_pieces_keep_merging_with_their_new_neighbours() {
        let vocab = [("▁", -1.0), ("▁a", -2.0), ("▁ab", -0.5), ("ab", -3.0)];
        assert_eq!(pieces("▁ab▁ab", &vocab), ["▁ab", "▁ab"]);
    }

    #[test]
    fn characters_are_the_smallest_pieces_whatever_their_byte_length() {
        assert_eq!(pieces("é€😀", &[]), ["é", "€", "😀"]);
        assert_eq!(pieces("é€", &[("é€", -1.0)]), ["é€"]);
        assert!(pieces("", &[]).is_empty());
        assert_eq!(pieces("x", &[]), ["x"]);
    }

    #[test]
    fn bigrams_order_by_score_then_leftmost() {
        let at = |score, left| Bigram { score, left, right: left + 1, len: 2 };
        let mut queue: BinaryHeap<Bigram> = [at(-1.0, 3), at(-1.0, 1), at(-2.0, 0), at(0.0, 5)].into_iter().collect();
        let order: Vec<usize> = std::iter::from_fn(|| queue.pop().map(|b| b.left)).collect();
        assert_eq!(order, [5, 1, 3, 0]);
        // -0.0 and 0.0 are equal scores, as for llama.cpp's `<`.
        assert_eq!(at(-0.0, 1).cmp(&at(0.0, 2)), Ordering::Greater);
    }
}
