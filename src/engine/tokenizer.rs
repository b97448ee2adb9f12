//! A byte-level BPE tokenizer built from GGUF metadata alone (no tokenizer.json), matching
//! llama.cpp's tokenization: special tokens are split out first (control tokens only when
//! asked, user-defined ones always), then each remaining fragment is pre-tokenized with the
//! regexes llama.cpp uses for the model's `tokenizer.ggml.pre` and merged with BPE.

use std::collections::HashMap;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::gguf::GgufFile;
use crate::{Error, Result};

/// GGUF `tokenizer.ggml.token_type` values.
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Texts llama.cpp also treats as end-of-generation when they are control tokens.
const EOG_TEXTS: &[&str] = &["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"];

// Pre-tokenizer regexes, as llama.cpp applies them (each splits the fragments of the previous).
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const SMOLLM_REGEXES: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];

/// The pre-tokenizer names (`tokenizer.ggml.pre`) this tokenizer reproduces exactly.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = &["qwen2", "llama-bpe", "llama3", "smollm"];

pub struct GgufTokenizer {
    bpe: tokenizers::Tokenizer,
    tokens: Vec<String>,
    token_types: Vec<i32>,
    /// Control and user-defined tokens, longest text first (the order llama.cpp splits them in).
    specials: Vec<(String, u32, bool)>,
    byte_decoder: HashMap<char, u8>,
    eog_ids: Vec<u32>,
    pre: String,
}

impl GgufTokenizer {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let path = gguf.path();
        let model = gguf.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::model(path, format!("tokenizer.ggml.model `{model}` is not supported (only byte-level BPE, `gpt2`)")));
        }
        let pre = gguf.string("tokenizer.ggml.pre")?.to_string();
        let regexes: Vec<&str> = match pre.as_str() {
            "qwen2" => vec![QWEN2_REGEX],
            "llama-bpe" | "llama3" => vec![LLAMA3_REGEX],
            "smollm" => SMOLLM_REGEXES.to_vec(),
            other => {
                return Err(Error::model(
                    path,
                    format!(
                        "pre-tokenizer `{other}` (tokenizer.ggml.pre) is not supported; supported: {}",
                        SUPPORTED_PRE_TOKENIZERS.join(", ")
                    ),
                ))
            }
        };
        // llama.cpp keeps a whole pre-token when it is itself in the vocabulary for Llama 3.
        let ignore_merges = matches!(pre.as_str(), "llama-bpe" | "llama3");

        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let token_types =
            if gguf.has("tokenizer.ggml.token_type") { gguf.i32s("tokenizer.ggml.token_type")? } else { vec![1; tokens.len()] };
        if token_types.len() != tokens.len() {
            return Err(Error::model(
                path,
                format!("tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}", token_types.len(), tokens.len()),
            ));
        }
        let merges = gguf
            .strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => Err(Error::model(path, format!("tokenizer.ggml.merges entry `{m}` has no space"))),
            })
            .collect::<Result<Vec<_>>>()?;

        let vocab: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab.into_iter().collect::<tokenizers::models::bpe::Vocab>(), merges)
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

        let mut specials: Vec<(String, u32, bool)> = tokens
            .iter()
            .zip(&token_types)
            .enumerate()
            .filter(|(_, (text, ty))| !text.is_empty() && (**ty == TOKEN_TYPE_CONTROL || **ty == TOKEN_TYPE_USER_DEFINED))
            .map(|(id, (text, ty))| (text.clone(), id as u32, *ty == TOKEN_TYPE_CONTROL))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let mut eog_ids = Vec::new();
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if gguf.has(key) {
                eog_ids.push(gguf.u32(key)?);
            }
        }
        for (text, id, control) in &specials {
            if *control && EOG_TEXTS.contains(&text.as_str()) {
                eog_ids.push(*id);
            }
        }
        eog_ids.sort_unstable();
        eog_ids.dedup();

        Ok(Self { bpe: bpe_tokenizer, tokens, token_types, specials, byte_decoder: byte_decoder(), eog_ids, pre })
    }

    /// The `tokenizer.ggml.pre` name this tokenizer was built for.
    pub fn pre_tokenizer(&self) -> &str {
        &self.pre
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Token ids that end generation (EOS, EOT and the end-of-turn control tokens).
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog_ids
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids.binary_search(&id).is_ok()
    }

    /// The id of a token given by its exact text, if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.tokens.iter().position(|t| t == text).map(|i| i as u32)
    }

    /// Tokenizes `text` like llama.cpp's `llama_tokenize(text, add_special=false, parse_special)`:
    /// control tokens written in the text become their ids only when `parse_special` is true;
    /// user-defined tokens always do.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for fragment in self.partition(text, parse_special) {
            match fragment {
                Fragment::Special(id) => ids.push(id),
                Fragment::Text(piece) => {
                    let encoding = self.bpe.encode(piece, false).map_err(|e| Error::Tokenizer(format!("encoding text: {e}")))?;
                    ids.extend_from_slice(encoding.get_ids());
                }
            }
        }
        Ok(ids)
    }

    /// Splits text on special-token texts, longest token first, as llama.cpp does.
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut fragments = vec![Fragment::Text(text)];
        for (special, id, control) in &self.specials {
            if *control && !parse_special {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len());
            for fragment in fragments {
                let Fragment::Text(mut rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                while let Some(at) = rest.find(special.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Special(*id));
                    rest = &rest[at + special.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }

    /// Turns ids back into text. Control tokens are dropped when `skip_special` is true;
    /// invalid UTF-8 (a sequence cut mid-character) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(text) = self.tokens.get(id as usize) else { continue };
            match self.token_types[id as usize] {
                TOKEN_TYPE_CONTROL if skip_special => {}
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED => bytes.extend_from_slice(text.as_bytes()),
                _ => {
                    for c in text.chars() {
                        match self.byte_decoder.get(&c) {
                            Some(b) => bytes.push(*b),
                            None => {
                                let mut buf = [0u8; 4];
                                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

enum Fragment<'a> {
    Text(&'a str),
    Special(u32),
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
