//! Marian's tokenizer, as HF `MarianTokenizer` (transformers 5) does it: SentencePiece pieces
//! from `source.spm`, looked up by text in `vocab.json` (a piece the vocabulary lacks is
//! `<unk>`), `</s>` appended. Special-token strings in the text are split out first and map to
//! their ids; a leading language code `>>xx<<` is one token. Decoding skips the special tokens
//! and joins the pieces through the SentencePiece model like `skip_special_tokens=True`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::spm::{SentencePiece, SPACE};
use crate::{Error, Result};

/// `tokenizer_config.json` fields that change behaviour (all optional, HF defaults).
#[derive(Debug, Deserialize)]
struct TokenizerConfig {
    #[serde(default = "default_unk")]
    unk_token: String,
    #[serde(default = "default_eos")]
    eos_token: String,
    #[serde(default = "default_pad")]
    pad_token: String,
    /// Separate target `vocab` file (multilingual targets); not supported.
    #[serde(default)]
    separate_vocabs: bool,
    /// Collapse spaces before punctuation after decoding (HF default false).
    #[serde(default)]
    clean_up_tokenization_spaces: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            unk_token: default_unk(),
            eos_token: default_eos(),
            pad_token: default_pad(),
            separate_vocabs: false,
            clean_up_tokenization_spaces: false,
        }
    }
}

fn default_unk() -> String {
    "<unk>".into()
}
fn default_eos() -> String {
    "</s>".into()
}
fn default_pad() -> String {
    "<pad>".into()
}

#[derive(Debug)]
pub struct MarianTokenizer {
    source: SentencePiece,
    /// The model that decodes: HF uses the source one unless the vocabularies are separate.
    decoder_spm: SentencePiece,
    vocab: HashMap<String, u32>,
    pieces: HashMap<u32, String>,
    /// `</s>`, `<unk>`, `<pad>` with their ids, longest first (for splitting text on them).
    specials: Vec<(String, u32)>,
    eos_id: u32,
    unk_id: u32,
    pad_id: u32,
    clean_up: bool,
}

impl MarianTokenizer {
    /// Reads `source.spm`, `target.spm`, `vocab.json` and (if present) `tokenizer_config.json`
    /// from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let config_path = dir.join("tokenizer_config.json");
        let config: TokenizerConfig = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::model(&config_path, e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenizerConfig::default(),
            Err(e) => return Err(Error::io(&config_path, e)),
        };
        if config.separate_vocabs {
            return Err(Error::model(&config_path, "separate_vocabs (a target vocabulary file) is not supported"));
        }
        let source = SentencePiece::load(&dir.join("source.spm"))?;
        // With one shared vocabulary HF decodes through the source model (`use_source_tokenizer`
        // defaults to `not separate_vocabs`); target.spm must still be there and valid.
        SentencePiece::load(&dir.join("target.spm"))?;
        let decoder_spm = SentencePiece::load(&dir.join("source.spm"))?;
        let vocab_path = dir.join("vocab.json");
        let text = std::fs::read_to_string(&vocab_path).map_err(|e| Error::io(&vocab_path, e))?;
        let vocab: HashMap<String, u32> =
            serde_json::from_str(&text).map_err(|e| Error::model(&vocab_path, format!("not a piece -> id map: {e}")))?;
        let id = |token: &str| vocab.get(token).copied().ok_or_else(|| Error::model(&vocab_path, format!("has no {token:?} entry")));
        let (eos_id, unk_id, pad_id) = (id(&config.eos_token)?, id(&config.unk_token)?, id(&config.pad_token)?);
        let mut specials = vec![(config.eos_token, eos_id), (config.unk_token, unk_id), (config.pad_token, pad_id)];
        specials.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let pieces = vocab.iter().map(|(p, &i)| (i, p.clone())).collect();
        Ok(Self { source, decoder_spm, vocab, pieces, specials, eos_id, unk_id, pad_id, clean_up: config.clean_up_tokenization_spaces })
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Number of entries of `vocab.json` (ids are expected below this).
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// The largest id in `vocab.json`.
    pub fn max_id(&self) -> u32 {
        self.vocab.values().copied().max().unwrap_or(0)
    }

    /// Source ids of `text`, `</s>` appended (`tokenizer(text).input_ids`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode_pieces(text)?;
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// Source ids of `text` without `</s>`.
    pub fn encode_pieces(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|&(at, len, _)| (at, std::cmp::Reverse(len)));
            let (chunk, special) = match next {
                Some((at, len, id)) => {
                    let chunk = &rest[..at];
                    rest = &rest[at + len..];
                    (chunk, Some(id))
                }
                None => (std::mem::take(&mut rest), None),
            };
            if !chunk.is_empty() {
                self.encode_chunk(chunk, &mut ids)?;
            }
            ids.extend(special);
        }
        Ok(ids)
    }

    fn encode_chunk(&self, mut chunk: &str, ids: &mut Vec<u32>) -> Result<()> {
        let lookup = |piece: &str| self.vocab.get(piece).copied().unwrap_or(self.unk_id);
        if let Some(end) = chunk.strip_prefix(">>").and_then(|rest| rest.find("<<")) {
            ids.push(lookup(&chunk[..end + 4]));
            chunk = &chunk[end + 4..];
        }
        ids.extend(self.source.encode(chunk)?.iter().map(|p| lookup(p)));
        Ok(())
    }

    /// Text of target ids, as `decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let special = [self.eos_id, self.unk_id, self.pad_id];
        let tokens: Vec<&str> = ids
            .iter()
            .filter(|id| !special.contains(id))
            .map(|&id| match self.pieces.get(&id) {
                Some(p) => p.as_str(),
                None => self.decoder_spm.piece(id as usize).unwrap_or(self.specials_text(self.unk_id)),
            })
            .collect();
        // Special-token strings that still appear (from the fallback above) are kept verbatim
        // and followed by a space, as `convert_tokens_to_string` does.
        let mut out = String::new();
        let mut run: Vec<&str> = Vec::new();
        for token in tokens {
            if self.specials.iter().any(|(s, _)| s == token) {
                out.push_str(&self.decoder_spm.decode(&run));
                out.push_str(token);
                out.push(' ');
                run.clear();
            } else {
                run.push(token);
            }
        }
        out.push_str(&self.decoder_spm.decode(&run));
        let out = out.replace(SPACE, " ");
        let out = python_strip(&out);
        if self.clean_up {
            clean_up_tokenization(out)
        } else {
            out.to_string()
        }
    }

    fn specials_text(&self, id: u32) -> &str {
        self.specials.iter().find(|(_, i)| *i == id).map(|(s, _)| s.as_str()).unwrap_or("<unk>")
    }
}

/// Python's `str.strip()`: Unicode whitespace plus the ASCII separators U+001C..U+001F.
fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// HF `clean_up_tokenization`: no space before `. ? ! ,` and English clitics.
fn clean_up_tokenization(text: &str) -> String {
    [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ]
    .iter()
    .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_strip_matches_str_strip() {
        assert_eq!(python_strip("\u{1f} a b\u{a0}\n"), "a b");
        assert_eq!(python_strip("\u{2581}"), "\u{2581}");
    }

    #[test]
    fn clean_up_removes_spaces_before_punctuation() {
        assert_eq!(clean_up_tokenization("It is n't here , is it ?"), "It isn't here, is it?");
    }
}
