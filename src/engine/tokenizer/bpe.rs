//! Byte-level BPE (`tokenizer.ggml.model = gpt2`: Qwen2, Llama 3, SmolLM) built with the
//! `tokenizers` crate from the GGUF merges: each text fragment is pre-tokenized with the regexes
//! llama.cpp uses for the model's `tokenizer.ggml.pre`, then merged by rank.

use std::collections::HashMap;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::super::gguf::GgufFile;
use super::vocab::Vocab;
use crate::{Error, Result};

// Pre-tokenizer regexes, as llama.cpp applies them (each splits the fragments of the previous).
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const SMOLLM_REGEXES: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];

/// The pre-tokenizer names (`tokenizer.ggml.pre`) this tokenizer reproduces exactly.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = &["qwen2", "llama-bpe", "llama3", "smollm"];

/// The pre-tokenizer regexes of `pre`, or an error naming it and the supported ones.
pub(super) fn pre_tokenizer_regexes(gguf: &GgufFile, pre: &str) -> Result<&'static [&'static str]> {
    match pre {
        "qwen2" => Ok(&[QWEN2_REGEX]),
        "llama-bpe" | "llama3" => Ok(&[LLAMA3_REGEX]),
        "smollm" => Ok(SMOLLM_REGEXES),
        other => Err(Error::model(
            gguf.path(),
            format!("pre-tokenizer `{other}` (tokenizer.ggml.pre) is not supported; supported: {}", SUPPORTED_PRE_TOKENIZERS.join(", ")),
        )),
    }
}

/// Whether llama.cpp starts `add_special` tokenization with BOS when the GGUF does not say
/// (`tokenizer.ggml.add_bos_token`): for Llama 3's pre-tokenizer only.
pub(super) fn adds_bos_by_default(pre: &str) -> bool {
    matches!(pre, "llama-bpe" | "llama3")
}

pub(super) struct ByteLevelBpe {
    bpe: tokenizers::Tokenizer,
    byte_decoder: HashMap<char, u8>,
}

impl ByteLevelBpe {
    pub fn from_gguf(gguf: &GgufFile, vocab: &Vocab, pre: &str, regexes: &[&str]) -> Result<Self> {
        let path = gguf.path();
        // llama.cpp keeps a whole pre-token when it is itself in the vocabulary for Llama 3.
        let ignore_merges = matches!(pre, "llama-bpe" | "llama3");
        let merges = gguf
            .strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => Err(Error::model(path, format!("tokenizer.ggml.merges entry `{m}` has no space"))),
            })
            .collect::<Result<Vec<_>>>()?;

        let ids: tokenizers::models::bpe::Vocab = vocab.tokens().iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(ids, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building BPE from {}: {e}", path.display())))?;

        let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
        for regex in regexes {
            let split = Split::new(SplitPattern::Regex(regex.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| Error::Tokenizer(format!("pre-tokenizer regex for `{pre}`: {e}")))?;
            steps.push(split.into());
        }
        steps.push(ByteLevel::new(false, false, false).into());
        let mut bpe_tokenizer = tokenizers::Tokenizer::new(bpe);
        bpe_tokenizer.with_pre_tokenizer(Some(Sequence::new(steps)));
        Ok(Self { bpe: bpe_tokenizer, byte_decoder: byte_decoder() })
    }

    /// Appends the ids of one text fragment (no special tokens in it) to `out`.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let encoding = self.bpe.encode(text, false).map_err(|e| Error::Tokenizer(format!("encoding text: {e}")))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }

    /// A normal token's bytes: each character of its text stands for one byte.
    pub fn piece(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            match self.byte_decoder.get(&c) {
                Some(b) => out.push(*b),
                None => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
            }
        }
    }
}

/// The inverse of GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the others to
/// code points from U+0100 upwards, in byte order.
fn byte_decoder() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut next = 0u32;
    for b in 0u8..=255 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + next).unwrap_or(char::REPLACEMENT_CHARACTER);
            next += 1;
            c
        };
        map.insert(c, b);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_decoder_is_a_bijection_over_bytes() {
        let map = byte_decoder();
        assert_eq!(map.len(), 256);
        let mut bytes: Vec<u8> = map.values().copied().collect();
        bytes.sort_unstable();
        assert_eq!(bytes, (0u8..=255).collect::<Vec<_>>());
        // GPT-2's mapping: space is U+0120, newline U+010A.
        assert_eq!(map[&'\u{120}'], b' ');
        assert_eq!(map[&'\u{10A}'], b'\n');
        assert_eq!(map[&'A'], b'A');
    }
}
