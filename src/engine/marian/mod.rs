//! Marian (opus-mt) encoder-decoder translation models from Hugging Face checkpoints:
//! SentencePiece tokenizer, the model, and greedy / beam search with HF `generate` semantics.

mod attention;
pub mod config;
mod gemm;
mod int8;
pub mod model;
pub mod search;
mod simd;
pub mod spm;
pub mod tokenizer;
pub mod weights;

use std::path::{Path, PathBuf};

use candle_core::Device;

pub use config::{EarlyStopping, GenerationConfig, GenerationOverrides, MarianConfig, MAX_BEAMS};
pub use model::{MarianModel, Precision};
pub use search::Hypothesis;
pub use tokenizer::MarianTokenizer;
use weights::Weights;

use crate::{Error, Result};

/// A loaded checkpoint: tokenizer, model and the decoding defaults of its
/// `generation_config.json`.
pub struct Marian {
    pub tokenizer: MarianTokenizer,
    pub model: MarianModel,
    pub generation: GenerationConfig,
    /// The weights file that was loaded.
    pub weights_path: PathBuf,
}

impl Marian {
    /// Loads a checkpoint directory: `config.json`, `generation_config.json` (optional),
    /// `model.safetensors` or `pytorch_model.bin`, `source.spm`, `target.spm`, `vocab.json`.
    /// Inconsistencies between the files are errors naming them.
    pub fn load(dir: &Path, precision: Precision) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = MarianConfig::from_file(&config_path)?;
        let generation = GenerationConfig::load(&dir.join("generation_config.json"), &config_path, &config)?;
        let tokenizer = MarianTokenizer::from_dir(dir)?;
        let vocab_path = dir.join("vocab.json");
        if tokenizer.max_id() as usize >= config.vocab_size.min(config.target_vocab_size()) {
            return Err(Error::model(
                &vocab_path,
                format!(
                    "has ids up to {}, but config.json has vocab_size {} (decoder {}): the vocabulary does not \
                     belong to this model",
                    tokenizer.max_id(),
                    config.vocab_size,
                    config.target_vocab_size()
                ),
            ));
        }
        for (what, in_config, in_vocab) in
            [("eos_token_id", config.eos_token_id, tokenizer.eos_id()), ("pad_token_id", config.pad_token_id, tokenizer.pad_id())]
        {
            if in_config != in_vocab {
                return Err(Error::model(
                    &vocab_path,
                    format!("config.json {what} is {in_config} but vocab.json gives {in_vocab}: mismatched vocabulary"),
                ));
            }
        }
        let weights = Weights::open(dir, &Device::Cpu)?;
        let model = MarianModel::load(&config, &weights, precision, &Device::Cpu)?;
        Ok(Self { tokenizer, model, generation, weights_path: weights.path().to_path_buf() })
    }

    /// Longest source (EOS included) the model accepts.
    pub fn max_source_tokens(&self) -> usize {
        self.model.config().max_position_embeddings
    }

    /// Translates source id sequences (each ending in EOS, each at most
    /// [`Self::max_source_tokens`] long): sorted by length, in padded batches of at most
    /// `batch_size`, results in input order.
    pub fn generate(&self, sources: &[Vec<u32>], config: &GenerationConfig, batch_size: usize) -> Result<Vec<Hypothesis>> {
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sources[i].len()));
        let mut results: Vec<Option<Hypothesis>> = vec![None; sources.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| sources[i].clone()).collect();
            let encoded = self.model.encode(&batch)?;
            for (&i, h) in chunk.iter().zip(search::generate(&self.model, &encoded, config)?) {
                results[i] = Some(h);
            }
        }
        Ok(results.into_iter().flatten().collect())
    }
}
