//! Inference: GGUF decoder-only language models, their tokenizer and chat template, and the
//! decoding loops. Nothing here reads articles or writes outputs.

pub mod bench;
pub mod chat;
pub mod chat_model;
pub mod cpu;
pub mod gguf;
pub mod kv_cache;
pub mod llm;
pub mod marian;
mod pool;
pub mod quant;
pub mod search;
pub mod tokenizer;

pub use chat::{strip_thinking, ChatMessage, ChatTemplate, Languages};
pub use chat_model::ChatModel;
pub use gguf::GgufFile;
pub use kv_cache::KvCache;
pub use llm::{Llm, LlmConfig};
pub use search::{greedy, Generation, StopReason};
pub use tokenizer::GgufTokenizer;
