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
    /// The [`LoopGuard`] saw the output repeat itself; `tokens` keeps the first copy.
    Repetition,
}

/// Stops greedy decoding that has fallen into a loop (small models do, on list-like input):
/// once more than `after` tokens were generated, a block of at most `max_period` tokens
/// repeated at least `min_repeats` times in a row, over at least `min_span` tokens, ends the
/// generation. Outputs that do not loop are unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoopGuard {
    pub after: usize,
    pub max_period: usize,
    pub min_repeats: usize,
    pub min_span: usize,
}

impl LoopGuard {
    /// For a translation of `source_tokens` tokens: a translation longer than its source that
    /// repeats a block three times over 48 tokens or more has stopped translating.
    pub fn for_translation(source_tokens: usize) -> Self {
        Self { after: source_tokens, max_period: 64, min_repeats: 3, min_span: 48 }
    }

    /// How many tokens a loop of this period must cover: whole blocks, at least `min_repeats`
    /// of them and at least `min_span` tokens.
    pub fn span(&self, period: usize) -> usize {
        period * self.min_repeats.max(self.min_span.div_ceil(period))
    }

    /// The period of the loop at the end of `tokens`, if there is one.
    pub fn period(&self, tokens: &[u32]) -> Option<usize> {
        if tokens.len() <= self.after {
            return None;
        }
        (1..=self.max_period).find(|&period| {
            let span = self.span(period);
            span <= tokens.len() && {
                let tail = &tokens[tokens.len() - span..];
                tail.chunks(period).all(|chunk| chunk == &tail[..period])
            }
        })
    }
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
    guard: Option<LoopGuard>,
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
        if let Some((guard, period)) = guard.and_then(|g| g.period(&tokens).map(|p| (g, p))) {
            // Keep the first copy of the repeated block, drop the rest of the loop.
            tokens.truncate(tokens.len() - (guard.span(period) - period));
            stop = StopReason::Repetition;
            break;
        }
        if tokens.len() == max_new_tokens {
            break;
        }
        crate::interrupt::check()?;
        logits = model.forward(&[next], cache)?;
    }
    Ok(Generation { tokens, stop, prompt_tokens: prompt.len(), prefill, decode: start.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_guard_sees_repeated_blocks_only_past_its_start() {
        let guard = LoopGuard { after: 4, max_period: 8, min_repeats: 3, min_span: 12 };
        let block = [7, 8, 9, 10];
        let looping: Vec<u32> = [1, 2].iter().chain(block.iter().cycle().take(12)).copied().collect();
        assert_eq!(guard.period(&looping), Some(4));
        // Two copies are not a loop; nor is the same text before `after`.
        let twice: Vec<u32> = [1, 2].iter().chain(block.iter().cycle().take(8)).copied().collect();
        assert_eq!(guard.period(&twice), None);
        assert_eq!(LoopGuard { after: 14, ..guard }.period(&looping), None);
        // A run of one token must be min_span long: digits like "10000" are not a loop.
        assert_eq!(guard.period(&[1, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(guard.period(&[5; 12]), Some(1));
    }
}
