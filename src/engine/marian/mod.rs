//! Marian (opus-mt) encoder-decoder translation models from Hugging Face checkpoints:
//! SentencePiece tokenizer, the model, and greedy / beam search with HF `generate` semantics.

pub mod spm;
pub mod tokenizer;

pub use tokenizer::MarianTokenizer;
