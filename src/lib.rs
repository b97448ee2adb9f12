//! precis: French news articles in, English translation and a short factual briefing out,
//! fully offline, with local models run by precis's own inference code.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! input -> segment -> translate -> check -> summarize -> verify -> output
//! ```
//!
//! [`input`] reads and decodes an article into a [`doc::Document`]; [`segment`] splits it into
//! title, paragraphs and sentences; [`translate`] asks the model for each paragraph's English
//! ([`glossary`] gives the terms, [`conventions`] the English number and quote forms), and
//! [`check`] compares each translation with its French ([`facts`] finds numbers, names and
//! dates in either language); [`summarize`] writes the summary candidates and [`verify`]
//! grounds them in the article; [`output`] writes the records. [`pipeline`] is the only module
//! that drives every stage, for one loaded model; [`commands`] runs one command with it, and
//! [`batch`] runs `precis run` over many articles. [`engine`] holds the models (GGUF LLMs and
//! Marian) and their CPU kernels, [`models`] finds or fetches their files.
//! [`progress`] draws progress on stderr (steps, articles, bytes), [`exit`] names exit codes.

// Unsafe code: every unsafe operation in its own `unsafe` block, even inside an `unsafe fn`, and
// every block with a `// SAFETY:` comment saying why it holds (see `engine::cpu::level` for the
// kernels' CPU features).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// The stages, in the order an article goes through them.
pub mod check;
pub mod input;
pub mod output;
pub mod segment;
pub mod summarize;
pub mod translate;
pub mod verify;

// What the stages share.
pub mod conventions;
pub mod doc;
pub mod facts;
pub mod glossary;

// Running them.
pub mod batch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod interrupt;
pub mod pipeline;
pub mod progress;

// Models and inference.
pub mod engine;
pub mod models;

pub mod error;
pub mod exit;

pub use error::{Error, Result};
