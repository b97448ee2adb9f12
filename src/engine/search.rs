//! Decoding loops over a loaded [`Llm`]. No I/O.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::kv_cache::KvCache;
use super::llm::{argmax, Llm, Step, StepKind};
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
    /// Positions before the first generated token: the prompt, with any cached prefix.
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
    let job = Job { prompt: prompt.to_vec(), cache: std::mem::replace(cache, model.new_cache()), max_new_tokens, guard };
    let mut done = greedy_batch(model, vec![job], 1, is_eog, |_| {})?;
    let (generation, finished_cache) = done.pop().expect("one job, one generation");
    *cache = finished_cache;
    Ok(generation)
}

/// One sequence to decode greedily: `prompt` runs after what `cache` holds.
pub struct Job {
    pub prompt: Vec<u32>,
    pub cache: KvCache,
    pub max_new_tokens: usize,
    pub guard: Option<LoopGuard>,
}

struct Active {
    job: usize,
    cache: KvCache,
    input: Vec<u32>,
    tokens: Vec<u32>,
    max_new_tokens: usize,
    guard: Option<LoopGuard>,
    prompt_tokens: usize,
    prefilled: bool,
    prefill: Duration,
    decode: Duration,
}

/// Greedy decoding of many sequences with continuous batching: up to `max_batch` sequences
/// advance together, one forward pass per step (a newcomer's whole prompt and the others' last
/// tokens in the same pass); a sequence that stops frees its place for the next job. Because the
/// model computes each position the same way whatever else is in the batch, every sequence's
/// output is identical to decoding it alone with [`greedy`].
///
/// Returns the generations (with their final caches) in job order; `on_finish` is called with a
/// job's index as soon as it is done.
pub fn greedy_batch(
    model: &Llm,
    jobs: Vec<Job>,
    max_batch: usize,
    is_eog: impl Fn(u32) -> bool,
    mut on_finish: impl FnMut(usize),
) -> Result<Vec<(Generation, KvCache)>> {
    let mut results: Vec<Option<(Generation, KvCache)>> = (0..jobs.len()).map(|_| None).collect();
    // Longest budgets first, so that the batch stays full until the end instead of finishing
    // with one long sequence decoding alone. (The order changes no output.)
    let mut order: Vec<(usize, Job)> = jobs.into_iter().enumerate().collect();
    order.sort_by_key(|(i, job)| (std::cmp::Reverse(job.max_new_tokens), *i));
    let mut pending = order.into_iter();
    let mut active: Vec<Active> = Vec::new();
    loop {
        while active.len() < max_batch.max(1) {
            let Some((job, j)) = pending.next() else { break };
            if j.prompt.is_empty() {
                return Err(crate::Error::Config("greedy decoding needs a prompt".into()));
            }
            active.push(Active {
                job,
                prompt_tokens: j.cache.len() + j.prompt.len(),
                cache: j.cache,
                input: j.prompt,
                tokens: Vec::new(),
                max_new_tokens: j.max_new_tokens,
                guard: j.guard,
                prefilled: false,
                prefill: Duration::ZERO,
                decode: Duration::ZERO,
            });
        }
        if active.is_empty() {
            break;
        }
        crate::interrupt::check()?;
        let start = Instant::now();
        let logits = {
            let mut steps: Vec<Step> = active
                .iter_mut()
                .map(|a| {
                    let kind = if a.prefilled { StepKind::Decode } else { StepKind::Prompt { len: a.prompt_tokens } };
                    Step { tokens: &a.input, cache: &mut a.cache, kind, all_logits: false }
                })
                .collect();
            model.forward_batch(&mut steps)?
        };
        let elapsed = start.elapsed();
        let mut still = Vec::with_capacity(active.len());
        for (mut a, logits) in active.drain(..).zip(logits) {
            if a.prefilled {
                a.decode += elapsed;
            } else {
                a.prefill = elapsed;
                a.prefilled = true;
            }
            match next_step(&mut a, &logits, &is_eog) {
                Some(stop) => {
                    let generation = Generation {
                        tokens: std::mem::take(&mut a.tokens),
                        stop,
                        prompt_tokens: a.prompt_tokens,
                        prefill: a.prefill,
                        decode: a.decode,
                    };
                    on_finish(a.job);
                    results[a.job] = Some((generation, a.cache));
                }
                None => still.push(a),
            }
        }
        active = still;
    }
    Ok(results.into_iter().map(|r| r.expect("every job finishes")).collect())
}

/// Takes the arg-max of `logits` for sequence `a`; returns why it stops, if it does, or sets
/// its next input.
fn next_step(a: &mut Active, logits: &[f32], is_eog: &impl Fn(u32) -> bool) -> Option<StopReason> {
    if a.tokens.len() >= a.max_new_tokens {
        return Some(StopReason::MaxTokens);
    }
    let next = argmax(logits);
    if is_eog(next) {
        return Some(StopReason::Eog);
    }
    a.tokens.push(next);
    if let Some((guard, period)) = a.guard.and_then(|g| g.period(&a.tokens).map(|p| (g, p))) {
        // Keep the first copy of the repeated block, drop the rest of the loop.
        a.tokens.truncate(a.tokens.len() - (guard.span(period) - period));
        return Some(StopReason::Repetition);
    }
    if a.tokens.len() == a.max_new_tokens {
        return Some(StopReason::MaxTokens);
    }
    a.input = vec![next];
    None
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
