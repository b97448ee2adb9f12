//! `config.json` and `generation_config.json` of a HF Marian checkpoint. Field names mirror the
//! files; defaults are those of transformers' `MarianConfig` / `GenerationConfig`.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The feed-forward activation (`activation_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    #[serde(rename = "relu")]
    Relu,
    #[serde(alias = "silu", rename = "swish")]
    Swish,
    /// Exact (erf) GELU.
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh-approximated GELU.
    #[serde(alias = "gelu_pytorch_tanh", rename = "gelu_new")]
    GeluTanh,
}

/// `config.json` (transformers `MarianConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct MarianConfig {
    /// Source (and shared) vocabulary size, default 58101.
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Target vocabulary size when the decoder has its own embeddings; default `vocab_size`.
    pub decoder_vocab_size: Option<usize>,
    /// Hidden size, default 1024.
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn")]
    pub decoder_ffn_dim: usize,
    /// Default `gelu`.
    #[serde(default = "defaults::activation")]
    pub activation_function: Activation,
    /// Longest source or target sequence in tokens (sinusoidal table size), default 1024.
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by `sqrt(d_model)`, default false.
    #[serde(default)]
    pub scale_embedding: bool,
    /// Encoder and decoder share `model.shared`, default true.
    #[serde(default = "defaults::yes")]
    pub share_encoder_decoder_embeddings: bool,
    /// The output layer reuses the decoder embeddings, default true.
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "defaults::pad")]
    pub pad_token_id: u32,
    #[serde(default)]
    pub eos_token_id: u32,
    #[serde(default = "defaults::pad")]
    pub decoder_start_token_id: u32,
}

impl MarianConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_json::from_str(&text).map_err(|e| Error::model(path, e.to_string()))?;
        let model_type: Option<String> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("model_type").and_then(|t| t.as_str()).map(str::to_string));
        if let Some(t) = model_type.filter(|t| t != "marian") {
            return Err(Error::model(path, format!("model_type is `{t}`, expected `marian`")));
        }
        config.check().map_err(|message| Error::model(path, message))?;
        Ok(config)
    }

    /// Every size in range and every id inside its vocabulary; the message names the field.
    fn check(&self) -> std::result::Result<(), String> {
        let c = self;
        for (name, value) in [
            ("d_model", c.d_model),
            ("vocab_size", c.vocab_size),
            ("decoder_vocab_size", c.target_vocab_size()),
            ("encoder_ffn_dim", c.encoder_ffn_dim),
            ("decoder_ffn_dim", c.decoder_ffn_dim),
            ("max_position_embeddings", c.max_position_embeddings),
        ] {
            if value == 0 {
                return Err(format!("{name} is 0, expected at least 1"));
            }
        }
        for (name, dim, heads) in [
            ("encoder_attention_heads", c.d_model, c.encoder_attention_heads),
            ("decoder_attention_heads", c.d_model, c.decoder_attention_heads),
        ] {
            if heads == 0 || dim % heads != 0 {
                return Err(format!("d_model {dim} is not a multiple of {name} {heads}"));
            }
        }
        for (name, layers) in [("encoder_layers", c.encoder_layers), ("decoder_layers", c.decoder_layers)] {
            if layers > MAX_LAYERS {
                return Err(format!("{name} is {layers}, at most {MAX_LAYERS} supported"));
            }
        }
        // The sinusoidal position table (max_position_embeddings × d_model values) is computed,
        // not read from the checkpoint: its size is bounded here.
        if c.max_position_embeddings.checked_mul(c.d_model).is_none_or(|n| n > MAX_POSITION_VALUES) {
            return Err(format!(
                "max_position_embeddings {} × d_model {} is more than {MAX_POSITION_VALUES} position values",
                c.max_position_embeddings, c.d_model
            ));
        }
        let target = c.target_vocab_size();
        for (name, id, vocab) in [
            ("pad_token_id", c.pad_token_id, c.vocab_size),
            ("eos_token_id", c.eos_token_id, target),
            ("decoder_start_token_id", c.decoder_start_token_id, target),
        ] {
            if id as usize >= vocab {
                return Err(format!("{name} {id} is outside the vocabulary of {vocab} tokens"));
            }
        }
        Ok(())
    }

    /// Target vocabulary size (rows of the output layer).
    pub fn target_vocab_size(&self) -> usize {
        if self.share_encoder_decoder_embeddings {
            self.vocab_size
        } else {
            self.decoder_vocab_size.unwrap_or(self.vocab_size)
        }
    }
}

/// The most encoder or decoder layers a checkpoint may declare (opus-mt models have 6 to 12).
const MAX_LAYERS: usize = 256;

/// The largest sinusoidal position table (`max_position_embeddings × d_model` f32 values, 1 GiB).
const MAX_POSITION_VALUES: usize = 1 << 28;

/// The most beams `generation_config.json` or `--beams` may ask for (opus-mt checkpoints use 4
/// to 6).
pub const MAX_BEAMS: usize = 256;

mod defaults {
    use super::Activation;
    pub fn vocab_size() -> usize {
        58101
    }
    pub fn d_model() -> usize {
        1024
    }
    pub fn layers() -> usize {
        12
    }
    pub fn heads() -> usize {
        16
    }
    pub fn ffn() -> usize {
        4096
    }
    pub fn activation() -> Activation {
        Activation::Gelu
    }
    pub fn max_position_embeddings() -> usize {
        1024
    }
    pub fn yes() -> bool {
        true
    }
    pub fn pad() -> u32 {
        58100
    }
}

/// `early_stopping` of beam search: `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// Stop an input once `num_beams` hypotheses are finished.
    Yes,
    /// Stop when no running beam can beat the worst finished one at the current length (HF default).
    #[default]
    Heuristic,
    /// Stop when no running beam can beat it at any length (canonical beam search).
    Never,
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(EarlyStopping::Yes),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok(EarlyStopping::Heuristic),
            serde_json::Value::String(s) if s == "never" => Ok(EarlyStopping::Never),
            other => Err(serde::de::Error::custom(format!("early_stopping must be true, false or \"never\", got {other}"))),
        }
    }
}

/// An id or a list of ids (`eos_token_id` may be either).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// `generation_config.json` as read (HF `GenerationConfig`); every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
struct GenerationFile {
    num_beams: Option<usize>,
    length_penalty: Option<f32>,
    early_stopping: Option<EarlyStopping>,
    max_length: Option<usize>,
    max_new_tokens: Option<usize>,
    min_length: Option<usize>,
    min_new_tokens: Option<usize>,
    bad_words_ids: Option<Vec<Vec<u32>>>,
    forced_eos_token_id: Option<OneOrMany>,
    eos_token_id: Option<OneOrMany>,
    decoder_start_token_id: Option<u32>,
    do_sample: Option<bool>,
    num_return_sequences: Option<usize>,
}

/// Decoding settings with HF `generate` semantics. Lengths count generated tokens (EOS
/// included), never the decoder start token.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// 1 = greedy (`num_beams`, HF default 1).
    pub num_beams: usize,
    /// Finished beams are ranked by `sum of log-probs / generated_len ^ length_penalty`
    /// (default 1.0).
    pub length_penalty: f32,
    pub early_stopping: EarlyStopping,
    /// At most this many generated tokens; the last one is forced to EOS when
    /// `forced_eos_token_id` is set (`max_new_tokens`, else `max_length - 1`; HF default 19).
    pub max_new_tokens: usize,
    /// EOS is forbidden before this many tokens were generated (`min_new_tokens`, or
    /// `min_length - 1`; default 0).
    pub min_new_tokens: usize,
    /// Token sequences that may never be generated (Marian: `[[pad]]`).
    pub bad_words_ids: Vec<Vec<u32>>,
    pub forced_eos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub decoder_start_token_id: u32,
}

/// Decoding settings given on the command line (or by a test), over a checkpoint's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationOverrides {
    pub num_beams: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub min_new_tokens: Option<usize>,
    pub length_penalty: Option<f32>,
    pub early_stopping: Option<EarlyStopping>,
}

impl GenerationConfig {
    /// These settings with `overrides` applied; `max_new_tokens` is capped at `position_limit`
    /// (the decoder cannot see further) and is at least 1.
    pub fn with(&self, overrides: &GenerationOverrides, position_limit: usize) -> Self {
        let mut c = self.clone();
        c.num_beams = overrides.num_beams.unwrap_or(c.num_beams).max(1);
        c.max_new_tokens = overrides.max_new_tokens.unwrap_or(c.max_new_tokens).min(position_limit).max(1);
        c.min_new_tokens = overrides.min_new_tokens.unwrap_or(c.min_new_tokens);
        c.length_penalty = overrides.length_penalty.unwrap_or(c.length_penalty);
        c.early_stopping = overrides.early_stopping.unwrap_or(c.early_stopping);
        c
    }

    /// `generation_config.json` if `path` exists, else the generation fields of `config.json`
    /// (as HF `GenerationConfig.from_model_config` does), with `config.json` ids as fallbacks.
    pub fn load(path: &Path, config_json: &Path, model: &MarianConfig) -> Result<Self> {
        let read = |p: &Path| -> Result<GenerationFile> {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            serde_json::from_str(&text).map_err(|e| Error::model(p, e.to_string()))
        };
        let (file, origin) = if path.is_file() { (read(path)?, path) } else { (read(config_json)?, config_json) };
        if file.do_sample == Some(true) || file.num_return_sequences.is_some_and(|n| n > 1) {
            return Err(Error::model(origin, "sampling and num_return_sequences > 1 are not supported"));
        }
        let ids = |v: Option<OneOrMany>| match v {
            Some(OneOrMany::One(id)) => Some(vec![id]),
            Some(OneOrMany::Many(ids)) => Some(ids),
            None => None,
        };
        let max_new_tokens = match (file.max_new_tokens, file.max_length) {
            (Some(n), _) => n,
            (None, Some(n)) => n.saturating_sub(1),
            (None, None) => 19,
        };
        let min_new_tokens = file.min_new_tokens.unwrap_or(0).max(file.min_length.unwrap_or(0).saturating_sub(1));
        let forced = ids(file.forced_eos_token_id);
        let target = model.target_vocab_size();
        let fail = |message: String| Err(Error::model(origin, message));
        if let Some(beams) = file.num_beams.filter(|&b| b > MAX_BEAMS) {
            return fail(format!("num_beams is {beams}, at most {MAX_BEAMS} supported"));
        }
        if let Some(penalty) = file.length_penalty.filter(|p| !p.is_finite()) {
            return fail(format!("length_penalty is {penalty}, expected a finite number"));
        }
        let id_lists = [
            ("eos_token_id", ids(file.eos_token_id.clone()).unwrap_or_default()),
            ("forced_eos_token_id", forced.clone().unwrap_or_default()),
            ("decoder_start_token_id", file.decoder_start_token_id.into_iter().collect()),
            ("bad_words_ids", file.bad_words_ids.iter().flatten().flatten().copied().collect()),
        ];
        for (name, list) in id_lists {
            if let Some(id) = list.iter().find(|&&id| id as usize >= target) {
                return fail(format!("{name} holds {id}, outside the target vocabulary of {target} tokens"));
            }
        }
        Ok(Self {
            num_beams: file.num_beams.unwrap_or(1).max(1),
            length_penalty: file.length_penalty.unwrap_or(1.0),
            early_stopping: file.early_stopping.unwrap_or_default(),
            max_new_tokens,
            min_new_tokens,
            bad_words_ids: file.bad_words_ids.unwrap_or_default(),
            forced_eos_token_id: forced.and_then(|v| v.first().copied()),
            eos_token_ids: ids(file.eos_token_id).unwrap_or_else(|| vec![model.eos_token_id]),
            decoder_start_token_id: file.decoder_start_token_id.unwrap_or(model.decoder_start_token_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_reads_bools_and_never() {
        let parse = |s: &str| serde_json::from_str::<EarlyStopping>(s);
        assert_eq!(parse("true").unwrap(), EarlyStopping::Yes);
        assert_eq!(parse("false").unwrap(), EarlyStopping::Heuristic);
        assert_eq!(parse("\"never\"").unwrap(), EarlyStopping::Never);
        assert!(parse("\"always\"").is_err());
    }

    #[test]
    fn lengths_follow_hf_conventions() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.json");
        std::fs::write(
            &config_path,
            r#"{"model_type": "marian", "d_model": 8, "encoder_attention_heads": 2,
            "decoder_attention_heads": 2, "eos_token_id": 0, "decoder_start_token_id": 5, "num_beams": 6}"#,
        )
        .unwrap();
        let model = MarianConfig::from_file(&config_path).unwrap();
        let gen_path = dir.path().join("generation_config.json");
        // No generation_config.json: config.json's fields.
        let g = GenerationConfig::load(&gen_path, &config_path, &model).unwrap();
        assert_eq!((g.num_beams, g.max_new_tokens, g.eos_token_ids.clone(), g.decoder_start_token_id), (6, 19, vec![0], 5));
        std::fs::write(
            &gen_path,
            r#"{"max_length": 512, "min_length": 3, "eos_token_id": [0, 7], "forced_eos_token_id": 0,
            "bad_words_ids": [[5]], "early_stopping": "never"}"#,
        )
        .unwrap();
        let g = GenerationConfig::load(&gen_path, &config_path, &model).unwrap();
        assert_eq!((g.num_beams, g.max_new_tokens, g.min_new_tokens), (1, 511, 2));
        assert_eq!((g.eos_token_ids, g.forced_eos_token_id, g.bad_words_ids), (vec![0, 7], Some(0), vec![vec![5]]));
        assert_eq!(g.early_stopping, EarlyStopping::Never);
    }
}
