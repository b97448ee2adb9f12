//! precis: French news articles in, English translation and a short factual briefing out,
//! fully offline, with local transformer models run by candle.
//!
//! Data flows one way:
//! `Document -> segments -> translations -> summary -> verified summary -> output record`.
//! Only [`job`] knows every stage; the stages neither call each other nor touch the filesystem.

pub mod check;
pub mod cli;
pub mod config;
pub mod conventions;
pub mod discover;
pub mod doc;
pub mod engine;
pub mod error;
pub mod facts;
pub mod glossary;
pub mod input;
pub mod interrupt;
pub mod job;
pub mod models;
pub mod outdir;
pub mod output;
pub mod report;
pub mod segment;
pub mod summarize;
pub mod translate;
pub mod verify;

pub use error::{Error, Result};
