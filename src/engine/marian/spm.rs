//! A SentencePiece unigram model (`source.spm`, `target.spm`) read from its protobuf file, with
//! the encoding and decoding that `sentencepiece.SentencePieceProcessor` does:
//!
//! - encode: the normalizer's precompiled character map (`nmt_nfkc` in opus-mt), then its
//!   whitespace rules (drop leading, trailing and repeated spaces, a dummy `▁` prefix, spaces
//!   escaped as `▁`), then the Viterbi segmentation over the piece scores, with a run of unknown
//!   characters fused into one piece whose text is the surface (so that `vocab.json` can still
//!   know it);
//! - decode: pieces joined, control pieces invisible, `▁` back to spaces, the leading `▁` of the
//!   first visible piece dropped.
//!
//! The character map and the Viterbi search are those of the `tokenizers` crate (which HF
//! validated against sentencepiece); the whitespace rules follow sentencepiece's `normalizer.cc`.

use std::path::Path;

use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::precompiled::Precompiled;

use crate::{Error, Result};

/// The whitespace symbol of SentencePiece (U+2581).
pub const SPACE: char = '\u{2581}';

/// The subset of sentencepiece's `ModelProto` this engine reads (field numbers of
/// `sentencepiece_model.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<PieceProto>,
    #[prost(message, optional, tag = "2")]
    trainer_spec: Option<TrainerSpec>,
    #[prost(message, optional, tag = "3")]
    normalizer_spec: Option<NormalizerSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PieceProto {
    #[prost(string, optional, tag = "1")]
    piece: Option<String>,
    #[prost(float, optional, tag = "2")]
    score: Option<f32>,
    /// 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte (default 1).
    #[prost(int32, optional, tag = "3")]
    r#type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TrainerSpec {
    /// 1 unigram, 2 bpe, 3 word, 4 char (default 1).
    #[prost(int32, optional, tag = "3")]
    model_type: Option<i32>,
    #[prost(bool, optional, tag = "24")]
    treat_whitespace_as_suffix: Option<bool>,
    #[prost(bool, optional, tag = "35")]
    byte_fallback: Option<bool>,
    /// Default " ⁇ ".
    #[prost(string, optional, tag = "44")]
    unk_surface: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NormalizerSpec {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    precompiled_charsmap: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    add_dummy_prefix: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    remove_extra_whitespaces: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    escape_whitespaces: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_proto(value: Option<i32>) -> Option<Self> {
        Some(match value.unwrap_or(1) {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

pub struct SentencePiece {
    pieces: Vec<(String, PieceType)>,
    index: std::collections::HashMap<String, usize>,
    unigram: Unigram,
    charsmap: Option<Precompiled>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    unk_id: usize,
    unk_surface: String,
}

impl std::fmt::Debug for SentencePiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentencePiece").field("pieces", &self.pieces.len()).finish_non_exhaustive()
    }
}

impl SentencePiece {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |message: String| Error::model(path, message);
        let proto = <ModelProto as prost::Message>::decode(bytes.as_slice()).map_err(|e| bad(format!("not a SentencePiece model: {e}")))?;
        let trainer = proto.trainer_spec.unwrap_or_default();
        if trainer.model_type.unwrap_or(1) != 1 {
            return Err(bad(format!(
                "SentencePiece model type {} is not supported (only unigram, type 1)",
                trainer.model_type.unwrap_or(1)
            )));
        }
        if trainer.byte_fallback.unwrap_or(false) || trainer.treat_whitespace_as_suffix.unwrap_or(false) {
            return Err(bad("byte_fallback and treat_whitespace_as_suffix are not supported".into()));
        }
        let mut pieces = Vec::with_capacity(proto.pieces.len());
        let mut scored = Vec::with_capacity(proto.pieces.len());
        let mut unk_id = None;
        for (i, p) in proto.pieces.iter().enumerate() {
            let piece = p.piece.clone().unwrap_or_default();
            let kind =
                PieceType::from_proto(p.r#type).ok_or_else(|| bad(format!("piece {i} ({piece:?}) has unknown type {:?}", p.r#type)))?;
            if kind == PieceType::Unknown {
                unk_id = Some(i);
            }
            // Only normal and user-defined pieces can match text; the others keep their slot
            // (ids stay aligned) under a string no text can contain after normalisation.
            let matchable = matches!(kind, PieceType::Normal | PieceType::UserDefined) || kind == PieceType::Unknown;
            let key = if matchable { piece.clone() } else { format!("\u{0}{i}") };
            scored.push((key, p.score.unwrap_or(0.0) as f64));
            pieces.push((piece, kind));
        }
        let unk_id = unk_id.ok_or_else(|| bad("no unknown piece (type 2)".into()))?;
        let unigram = Unigram::from(scored, Some(unk_id), false).map_err(|e| bad(format!("unigram model: {e}")))?;
        let spec = proto.normalizer_spec.unwrap_or_default();
        let charsmap = match spec.precompiled_charsmap.as_deref() {
            None | Some([]) => None,
            Some(map) => {
                Some(Precompiled::from(map).map_err(|e| bad(format!("normalizer {:?}: bad precompiled_charsmap: {e}", spec.name)))?)
            }
        };
        let index = pieces.iter().enumerate().map(|(i, (p, _))| (p.clone(), i)).collect();
        Ok(Self {
            pieces,
            index,
            unigram,
            charsmap,
            add_dummy_prefix: spec.add_dummy_prefix.unwrap_or(true),
            remove_extra_whitespaces: spec.remove_extra_whitespaces.unwrap_or(true),
            escape_whitespaces: spec.escape_whitespaces.unwrap_or(true),
            unk_id,
            unk_surface: trainer.unk_surface.unwrap_or_else(|| " \u{2047} ".into()),
        })
    }

    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The piece with this id, as `IdToPiece` gives it.
    pub fn piece(&self, id: usize) -> Option<&str> {
        self.pieces.get(id).map(|(p, _)| p.as_str())
    }

    /// `sentencepiece`'s normalisation: character map, then whitespace rules.
    pub fn normalize(&self, text: &str) -> String {
        let mapped = match &self.charsmap {
            Some(map) => {
                let mut normalized = tokenizers::NormalizedString::from(text);
                match tokenizers::Normalizer::normalize(map, &mut normalized) {
                    Ok(()) => normalized.get().to_string(),
                    Err(_) => text.to_string(),
                }
            }
            None => text.to_string(),
        };
        let mut out = String::with_capacity(mapped.len() + 3);
        let mut chars = mapped.chars().peekable();
        if self.remove_extra_whitespaces {
            while chars.next_if_eq(&' ').is_some() {}
            if chars.peek().is_none() {
                return out;
            }
        }
        let space = if self.escape_whitespaces { SPACE } else { ' ' };
        if self.add_dummy_prefix {
            out.push(space);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        for c in chars {
            if c == ' ' {
                if prev_space && self.remove_extra_whitespaces {
                    continue;
                }
                out.push(space);
                prev_space = true;
            } else {
                out.push(c);
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.pop();
            }
        }
        out
    }

    /// `EncodeAsPieces`: the pieces of `text`; a run of unknown characters is one piece holding
    /// their text.
    pub fn encode(&self, text: &str) -> Result<Vec<String>> {
        let normalized = self.normalize(text);
        self.unigram.encode(&normalized).map_err(|e| Error::Tokenizer(format!("unigram encode: {e}")))
    }

    /// `DecodePieces`: pieces (known to this model or not) back to text.
    pub fn decode(&self, pieces: &[&str]) -> String {
        let mut out = String::new();
        let mut at_start = true;
        for &piece in pieces {
            let surface = match self.index.get(piece).map(|&i| self.pieces[i].1) {
                Some(PieceType::Control) => String::new(),
                Some(PieceType::Unknown) if piece == self.pieces[self.unk_id].0 => self.unk_surface.clone(),
                None => piece.to_string(),
                Some(_) => {
                    let piece = match piece.strip_prefix(SPACE) {
                        Some(rest) if at_start && (self.add_dummy_prefix || self.remove_extra_whitespaces) => rest,
                        _ => piece,
                    };
                    piece.replace(SPACE, " ")
                }
            };
            at_start &= surface.is_empty();
            out.push_str(&surface);
        }
        out
    }
}
