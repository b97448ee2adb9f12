//! Decoding loops over a loaded [`Llm`]. No I/O.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::kv_cache::KvCache;
use super::llm::{argmax, Llm};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token (not included in `tokens`).
    Eog,
    /// `max_new_tokens` were generated without an end-of-generation token.
    MaxTokens,
}

#[derive(Debug, Clone)]
pub struct Generation {
    /// Generated ids, without the end-of-generation token.
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub prefill: Duration,
    pub decode: Duration,
}

/// Greedy decoding: feeds `prompt` after whatever `cache` already holds, then appends the
/// arg-max token until an end-of-generation token or `max_new_tokens`. Stops with
/// [`crate::Error::Interrupted`] between tokens when [`crate::interrupt`] was requested.
pub fn greedy(
    model: &Llm,
    prompt: &[u32],
    cache: &mut KvCache,
    max_new_tokens: usize,
    is_eog: impl Fn(u32) -> bool,
) -> Result<Generation> {
    crate::interrupt::check()?;
    let start = Instant::now();
    let mut logits = model.forward(prompt, cache)?;
    let prefill = start.elapsed();
    let start = Instant::now();
    let mut tokens = Vec::new();
    let mut stop = StopReason::MaxTokens;
    while tokens.len() < max_new_tokens {
        let next = argmax(&logits)?;
        if is_eog(next) {
            stop = StopReason::Eog;
            break;
        }
        tokens.push(next);
        if tokens.len() == max_new_tokens {
            break;
        }
        crate::interrupt::check()?;
        logits = model.forward(&[next], cache)?;
    }
    Ok(Generation { tokens, stop, prompt_tokens: prompt.len(), prefill, decode: start.elapsed() })
}
