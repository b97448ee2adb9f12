//! Pure text segmentation: articles into a title and paragraphs, paragraphs into sentences.
//! No model, no I/O.

pub mod paragraph;
pub mod sentence;

pub use paragraph::{split_article, split_paragraphs, Article};
pub use sentence::{split_long, split_sentences};
