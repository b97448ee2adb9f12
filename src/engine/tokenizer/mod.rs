//! The tokenizer of a GGUF model, built from its metadata alone (no tokenizer.json), giving the
//! token ids llama.cpp gives. Special tokens are split out of the text first (user-defined ones
//! always, control ones only when asked), then each remaining fragment goes to the model's own
//! segmentation, `tokenizer.ggml.model`:
//!
//! - `gpt2`: byte-level BPE with the pre-tokenizer of `tokenizer.ggml.pre` (Qwen2, Llama 3);
//! - `llama`: SentencePiece score-ordered merges with byte fallback (Llama 2, Mistral, Gemma).
//!
//! llama.cpp also sets strip-whitespace attributes on the special tokens of a few models it
//! recognises by name (Phi-3, Jina, ModernBERT); those are not applied here.

mod bpe;
mod spm;
mod vocab;

pub use bpe::SUPPORTED_PRE_TOKENIZERS;

use self::bpe::ByteLevelBpe;
use self::spm::SentencePiece;
use self::vocab::{byte_of, Attr, Defaults, Fragment, Vocab};
use super::gguf::GgufFile;
use crate::{Error, Result};

/// The tokenizer models (`tokenizer.ggml.model`) this tokenizer reproduces, with what they are.
pub const SUPPORTED_MODELS: &[(&str, &str)] = &[("gpt2", "byte-level BPE"), ("llama", "SentencePiece")];

pub struct GgufTokenizer {
    vocab: Vocab,
    model: Model,
    pre: String,
}

/// How a text fragment becomes ids and a normal token becomes text.
enum Model {
    /// Boxed: the `tokenizers` pipeline is over a kilobyte.
    Bpe(Box<ByteLevelBpe>),
    Spm(SentencePiece),
}

impl GgufTokenizer {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let name = gguf.string("tokenizer.ggml.model")?;
        match name {
            "gpt2" => {
                let pre = gguf.string("tokenizer.ggml.pre")?;
                let regexes = bpe::pre_tokenizer_regexes(gguf, pre)?;
                let defaults = Defaults { bos: None, eos: None, unk: None, add_bos: bpe::adds_bos_by_default(pre) };
                let vocab = Vocab::from_gguf(gguf, defaults)?;
                let model = Model::Bpe(Box::new(ByteLevelBpe::from_gguf(gguf, &vocab, pre, regexes)?));
                Ok(Self { vocab, model, pre: pre.to_string() })
            }
            "llama" => {
                // SentencePiece ignores the pre-tokenizer; llama.cpp's name for that is `default`.
                let pre = if gguf.has("tokenizer.ggml.pre") { gguf.string("tokenizer.ggml.pre")? } else { "default" };
                let defaults = Defaults { bos: Some(1), eos: Some(2), unk: Some(0), add_bos: true };
                let vocab = Vocab::from_gguf(gguf, defaults)?;
                let model = Model::Spm(SentencePiece::from_gguf(gguf, &vocab)?);
                Ok(Self { vocab, model, pre: pre.to_string() })
            }
            other => {
                let supported: Vec<String> = SUPPORTED_MODELS.iter().map(|(name, what)| format!("{name} ({what})")).collect();
                Err(Error::model(
                    gguf.path(),
                    format!("tokenizer.ggml.model `{other}` is not supported; supported: {}", supported.join(", ")),
                ))
            }
        }
    }

    /// The `tokenizer.ggml.pre` name this tokenizer was built for (`default` for SentencePiece).
    pub fn pre_tokenizer(&self) -> &str {
        &self.pre
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Token ids that end generation, as llama.cpp decides them: EOS, EOT and EOM, the
    /// end-of-turn tokens found by text (`<|im_end|>`, `<end_of_turn>`, ...) and the
    /// fill-in-the-middle pad, repository and file-separator tokens. Sorted.
    pub fn eog_ids(&self) -> &[u32] {
        self.vocab.eog()
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.eog().binary_search(&id).is_ok()
    }

    /// The id of a token given by its exact text, if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    /// Tokenizes `text` like llama.cpp's `llama_tokenize(text, add_special=false, parse_special)`:
    /// control tokens written in the text become their ids only when `parse_special` is true;
    /// user-defined tokens always do.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        self.tokenize(text, false, parse_special)
    }

    /// Tokenizes `text` like llama.cpp's `llama_tokenize(text, add_special, parse_special)`:
    /// with `add_special`, BOS first and EOS last where the model asks for them
    /// (`tokenizer.ggml.add_bos_token`, `add_eos_token`; SentencePiece adds BOS by default).
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        self.tokenize_fragments(self.vocab.partition(text, parse_special), add_special)
    }

    /// Tokenizes the concatenation of `parts` (`(text, parse_special)`) as one text, control
    /// tokens recognised only where they lie wholly inside flagged text (`true`); user-defined
    /// tokens are recognised anywhere, as always. The ids are those of `tokenize(whole,
    /// add_special, true)` wherever the unflagged parts write no control token: text on both sides
    /// of a part boundary is split and segmented together, as in the whole text. A chat prompt is
    /// its template's text (flagged) around the messages (not flagged), so that a message that
    /// writes `<|im_end|>` cannot close its turn.
    pub fn tokenize_parts(&self, parts: &[(&str, bool)], add_special: bool) -> Result<Vec<u32>> {
        let whole: String = parts.iter().map(|(text, _)| *text).collect();
        let mut flagged: Vec<std::ops::Range<usize>> = Vec::new();
        let mut at = 0;
        for (text, parse_special) in parts {
            if *parse_special {
                // Adjacent flagged parts are one stretch of flagged text.
                match flagged.last_mut() {
                    Some(last) if last.end == at => last.end += text.len(),
                    _ => flagged.push(at..at + text.len()),
                }
            }
            at += text.len();
        }
        let inside = |range: std::ops::Range<usize>| flagged.iter().any(|f| f.start <= range.start && range.end <= f.end);
        let fragments =
            self.vocab.partition_where(&whole, !flagged.is_empty(), |id, range| !self.vocab.attr(id).any(Attr::SPECIAL) || inside(range));
        self.tokenize_fragments(fragments, add_special)
    }

    fn tokenize_fragments(&self, fragments: Vec<Fragment>, add_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if add_special && self.vocab.add_bos {
            ids.extend(self.vocab.bos);
        }
        // SentencePiece prefixes a space to the text at the start and after a special token.
        let mut after_special = true;
        for fragment in fragments {
            match fragment {
                Fragment::Special(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(piece) => {
                    match &self.model {
                        Model::Bpe(bpe) => bpe.encode(piece, &mut ids)?,
                        Model::Spm(spm) => spm.encode(&self.vocab, piece, after_special, &mut ids)?,
                    }
                    after_special = false;
                }
            }
        }
        if add_special && self.vocab.add_eos {
            ids.extend(self.vocab.eos);
        }
        Ok(ids)
    }

    /// Turns ids back into text; invalid UTF-8 (a sequence cut mid-character) becomes U+FFFD.
    /// See [`GgufTokenizer::decode_bytes`].
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids, skip_special)).into_owned()
    }

    /// The bytes of `ids` as llama.cpp's `llama_detokenize(ids, remove_special=false,
    /// unparse_special=!skip_special)` writes them: control and unknown tokens are dropped when
    /// `skip_special` is true, user-defined tokens are written as they are, byte tokens as their
    /// byte; when the model prefixes a space to text (SentencePiece's `add_space_prefix`) the
    /// first token loses one leading space. Ids outside the vocabulary are skipped. llama.cpp's
    /// clean-up of spaces before punctuation (`clean_spaces`, on for byte-level BPE) is not
    /// applied: the text is the tokens' bytes.
    pub fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut strip_space = matches!(&self.model, Model::Spm(spm) if spm.add_space_prefix());
        for &id in ids {
            let Some(text) = self.vocab.text(id) else { continue };
            let start = bytes.len();
            let attr = self.vocab.attr(id);
            if attr.any(Attr::SPECIAL) && skip_special {
                // Written as nothing.
            } else if attr.any(Attr::SPECIAL) || attr.any(Attr::USER_DEFINED) {
                bytes.extend_from_slice(text.as_bytes());
            } else if attr.any(Attr::NORMAL) {
                match &self.model {
                    Model::Bpe(bpe) => bpe.piece(text, &mut bytes),
                    Model::Spm(spm) => spm.piece(text, &mut bytes),
                }
            } else if attr.any(Attr::BYTE) {
                bytes.extend(byte_of(text));
            }
            // Unused and undefined tokens are written as nothing.
            if strip_space && bytes.get(start) == Some(&b' ') {
                bytes.remove(start);
            }
            strip_space = false;
        }
        bytes
    }
}
