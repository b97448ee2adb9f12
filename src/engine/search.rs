//! Decoding loops over a loaded [`Llm`]. No I/O.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::kv_cache::KvCache;
use super::llm::{argmax, Llm, Step, StepKind};
use crate::{simd_dispatch, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token (not included in `tokens`).
    Eog,
    /// `max_new_tokens` were generated without an end-of-generation token.
    MaxTokens,
    /// The [`LoopGuard`] saw the output repeat itself; `tokens` keeps the first copy.
    Repetition,
    /// The job's own rule ([`Job::enough`]) found the output complete.
    Enough,
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
    /// The model's log-probability of each of `tokens` (natural log, softmax of the logits).
    pub logprobs: Vec<f32>,
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
    let job = Job { prompt: prompt.to_vec(), cache: std::mem::replace(cache, model.new_cache()), max_new_tokens, guard, enough: None };
    let mut done = greedy_batch(model, vec![job], 1, is_eog, |_, _| {})?;
    let (generation, finished_cache) = done.pop().expect("one job, one generation");
    *cache = finished_cache;
    Ok(generation)
}

/// One sequence to decode greedily: `prompt` runs after what `cache` holds.
pub struct Job<'a> {
    pub prompt: Vec<u32>,
    pub cache: KvCache,
    pub max_new_tokens: usize,
    pub guard: Option<LoopGuard>,
    /// Ends the generation once it returns true for the tokens so far (all kept): for outputs
    /// whose caller knows when they are long enough.
    pub enough: Option<Enough<'a>>,
}

/// See [`Job::enough`].
pub type Enough<'a> = Box<dyn Fn(&[u32]) -> bool + 'a>;

struct Active<'a> {
    job: usize,
    cache: KvCache,
    input: Vec<u32>,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    max_new_tokens: usize,
    guard: Option<LoopGuard>,
    enough: Option<Enough<'a>>,
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
/// job's index and generation as soon as it is done.
pub fn greedy_batch<'a>(
    model: &Llm,
    jobs: Vec<Job<'a>>,
    max_batch: usize,
    is_eog: impl Fn(u32) -> bool,
    mut on_finish: impl FnMut(usize, &Generation),
) -> Result<Vec<(Generation, KvCache)>> {
    greedy_batch_growing(model, jobs, max_batch, is_eog, |i, generation| {
        on_finish(i, generation);
        Vec::new()
    })
}

/// [`greedy_batch`] where finishing a job can add jobs: the ones `on_finish` returns join the
/// queue (numbered after those before them) and take the places that come free, so that work
/// that depends on a finished sequence fills the batch instead of waiting for all to end.
pub fn greedy_batch_growing<'a>(
    model: &Llm,
    jobs: Vec<Job<'a>>,
    max_batch: usize,
    is_eog: impl Fn(u32) -> bool,
    mut on_finish: impl FnMut(usize, &Generation) -> Vec<Job<'a>>,
) -> Result<Vec<(Generation, KvCache)>> {
    let mut results: Vec<Option<(Generation, KvCache)>> = (0..jobs.len()).map(|_| None).collect();
    // Longest budgets first, so that the batch stays full until the end instead of finishing
    // with one long sequence decoding alone. (The order changes no output.)
    let mut order: Vec<(usize, Job<'a>)> = jobs.into_iter().enumerate().collect();
    order.sort_by_key(|(i, job)| (std::cmp::Reverse(job.max_new_tokens), *i));
    let mut pending: std::collections::VecDeque<(usize, Job<'a>)> = order.into();
    let mut active: Vec<Active<'a>> = Vec::new();
    loop {
        while active.len() < max_batch.max(1) {
            let Some((job, j)) = pending.pop_front() else { break };
            if j.prompt.is_empty() {
                return Err(crate::Error::Config("greedy decoding needs a prompt".into()));
            }
            active.push(Active {
                job,
                prompt_tokens: j.cache.len() + j.prompt.len(),
                cache: j.cache,
                input: j.prompt,
                tokens: Vec::new(),
                logprobs: Vec::new(),
                max_new_tokens: j.max_new_tokens,
                guard: j.guard,
                enough: j.enough,
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
        tracing::trace!(
            sequences = active.len(),
            rows = active.iter().map(|a| a.input.len()).sum::<usize>(),
            seconds = elapsed.as_secs_f64(),
            "forward pass"
        );
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
                        logprobs: std::mem::take(&mut a.logprobs),
                        stop,
                        prompt_tokens: a.prompt_tokens,
                        prefill: a.prefill,
                        decode: a.decode,
                    };
                    for job in on_finish(a.job, &generation) {
                        pending.push_back((results.len(), job));
                        results.push(None);
                    }
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
    let stop = take(&mut a.tokens, next, a.max_new_tokens, is_eog, a.guard);
    if !is_eog(next) {
        a.logprobs.push(log_probability(logits, next));
        a.logprobs.truncate(a.tokens.len());
    }
    let stop = stop.or_else(|| a.enough.as_ref().is_some_and(|enough| enough(&a.tokens)).then_some(StopReason::Enough));
    if stop.is_none() {
        a.input = vec![next];
    }
    stop
}

/// Takes greedy decoding's choice `token`: appends it to `tokens` (unless it ends the
/// generation) and says why decoding stops, if it does.
fn take(
    tokens: &mut Vec<u32>,
    token: u32,
    max_new_tokens: usize,
    is_eog: &impl Fn(u32) -> bool,
    guard: Option<LoopGuard>,
) -> Option<StopReason> {
    if is_eog(token) {
        return Some(StopReason::Eog);
    }
    tokens.push(token);
    if let Some((guard, period)) = guard.and_then(|g| g.period(tokens).map(|p| (g, p))) {
        // Keep the first copy of the repeated block, drop the rest of the loop.
        tokens.truncate(tokens.len() - (guard.span(period) - period));
        return Some(StopReason::Repetition);
    }
    (tokens.len() >= max_new_tokens).then_some(StopReason::MaxTokens)
}

/// What speculative decoding did: tokens the draft model proposed and how many the target
/// model accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Speculation {
    pub drafted: usize,
    pub accepted: usize,
}

impl Speculation {
    pub fn acceptance_rate(&self) -> f64 {
        if self.drafted == 0 {
            0.0
        } else {
            self.accepted as f64 / self.drafted as f64
        }
    }
}

/// Greedy decoding of `target` sped up by a smaller `draft` model with the same vocabulary: the
/// draft proposes up to `lookahead` tokens, the target checks them all in one forward pass and
/// keeps the longest prefix it agrees with, plus its own next token. The target computes every
/// position exactly as when fed one token at a time (see `llm::StepKind::Decode`), so the output
/// is identical to [`greedy`] on the target alone; only the speed depends on the draft.
///
/// `cache` may hold a prefix of `prompt` already (a shared system prompt); the draft starts from
/// an empty cache.
#[allow(clippy::too_many_arguments)]
pub fn greedy_speculative(
    target: &Llm,
    draft: &Llm,
    prompt: &[u32],
    cache: &mut KvCache,
    max_new_tokens: usize,
    is_eog: impl Fn(u32) -> bool,
    guard: Option<LoopGuard>,
    lookahead: usize,
) -> Result<(Generation, Speculation)> {
    if draft.vocab_size() != target.vocab_size() {
        return Err(crate::Error::Config(format!(
            "the draft model's vocabulary ({} tokens) differs from the model's ({})",
            draft.vocab_size(),
            target.vocab_size()
        )));
    }
    if prompt.is_empty() || cache.len() >= prompt.len() {
        return Err(crate::Error::Config("speculative decoding needs a prompt beyond the cached prefix".into()));
    }
    crate::interrupt::check()?;
    let start = Instant::now();
    let prompt_kind = StepKind::Prompt { len: prompt.len() };
    let mut logits = target.forward(&prompt[cache.len()..], cache, prompt_kind)?;
    let mut draft_cache = draft.new_cache();
    draft.forward(prompt, &mut draft_cache, prompt_kind)?;
    let prefill = start.elapsed();
    let start = Instant::now();
    let mut stats = Speculation::default();
    let mut tokens = Vec::new();
    let mut logprobs = Vec::new();
    // Takes `token`, chosen from `logits`; says why decoding stops, if it does.
    let mut done = |tokens: &mut Vec<u32>, token: u32, logits: &[f32]| {
        let stop = take(tokens, token, max_new_tokens, &is_eog, guard);
        if !is_eog(token) {
            logprobs.push(log_probability(logits, token));
            logprobs.truncate(tokens.len());
        }
        stop
    };
    if max_new_tokens == 0 {
        let generation =
            Generation { tokens, logprobs, stop: StopReason::MaxTokens, prompt_tokens: prompt.len(), prefill, decode: start.elapsed() };
        return Ok((generation, stats));
    }
    let stop = 'decode: loop {
        crate::interrupt::check()?;
        // The target's next token is certain; the draft guesses the ones after it.
        let next = argmax(&logits);
        if let Some(stop) = done(&mut tokens, next, &logits) {
            break stop;
        }
        let room = max_new_tokens - tokens.len();
        let mut proposal = vec![next];
        // Bring the draft's cache to the positions before `next` (it may hold rejected guesses,
        // or lack the last accepted one), then feed it `next` and its own guesses.
        let known = cache.len();
        if draft_cache.len() > known {
            draft_cache.truncate(known);
        } else if draft_cache.len() < known {
            let missing: Vec<u32> =
                (draft_cache.len()..known).map(|p| if p < prompt.len() { prompt[p] } else { tokens[p - prompt.len()] }).collect();
            draft.forward(&missing, &mut draft_cache, StepKind::Decode)?;
        }
        while proposal.len() <= lookahead.min(room) {
            let draft_logits = draft.forward(&proposal[proposal.len() - 1..], &mut draft_cache, StepKind::Decode)?;
            let guess = argmax(&draft_logits);
            proposal.push(guess);
            if is_eog(guess) {
                break;
            }
        }
        stats.drafted += proposal.len() - 1;
        // One pass of the target over `next` and the guesses: row i is its logits after
        // proposal[i], exactly as if fed alone.
        let base = cache.len();
        let vocab = target.vocab_size();
        let rows = target.forward_batch(&mut [Step { tokens: &proposal, cache, kind: StepKind::Decode, all_logits: true }])?;
        let rows = &rows[0];
        let mut fed = 1;
        for i in 1..proposal.len() {
            let row = &rows[(i - 1) * vocab..i * vocab];
            let choice = argmax(row);
            if choice != proposal[i] {
                break;
            }
            stats.accepted += 1;
            fed += 1;
            if let Some(stop) = done(&mut tokens, choice, row) {
                break 'decode stop;
            }
        }
        // Keep the cache to the positions actually taken; the last taken row's logits decide the
        // next token.
        cache.truncate(base + fed);
        logits = rows[(fed - 1) * vocab..fed * vocab].to_vec();
    };
    Ok((Generation { tokens, logprobs, stop, prompt_tokens: prompt.len(), prefill, decode: start.elapsed() }, stats))
}

/// The log-probability of `token` under `logits`: its log-softmax, `logit - max - ln Σ exp(x - max)`.
/// The exponentials are approximated (relative error about 2e-4), which is far below what a
/// confidence score needs and keeps the cost to a fraction of a millisecond per row.
pub fn log_probability(logits: &[f32], token: u32) -> f32 {
    let Some(&logit) = logits.get(token as usize) else { return f32::NEG_INFINITY };
    let max = logits[argmax(logits) as usize];
    logit - max - sum_exp_below(logits, max).ln()
}

simd_dispatch! {
    /// Σ exp(x - max) over `xs`, every x at most `max`.
    fn sum_exp_below(xs: &[f32], max: f32) -> f32 = sum_exp_lanes;
}

#[inline(always)]
fn sum_exp_lanes(xs: &[f32], max: f32) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += exp_nonpositive(x - max);
        }
    }
    let tail: f32 = rest.iter().map(|&x| exp_nonpositive(x - max)).sum();
    lanes.iter().sum::<f32>() + tail
}

/// e^x for x <= 0 without branches (so that loops over it vectorize): 2^n · 2^f with the Taylor
/// polynomial of 2^f on [0, 1); values below e^-87 flush to about 1e-38.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    let t = x.max(-87.0) * std::f32::consts::LOG2_E;
    let n = t.floor();
    let f = t - n;
    let p = 1.0 + f * (std::f32::consts::LN_2 + f * (0.240_226_5 + f * (0.055_504_11 + f * (0.009_618_129 + f * 0.001_333_355_8))));
    f32::from_bits(((n as i32 + 127) as u32) << 23) * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_probabilities_match_a_plain_log_softmax() {
        let mut state = 11u32;
        let logits: Vec<f32> = (0..1003)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 8) as f32 / (1 << 24) as f32 * 30.0 - 15.0
            })
            .collect();
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
        for token in [0u32, 17, 500, 1002] {
            let exact = logits[token as usize] as f64 - max - sum.ln();
            let got = log_probability(&logits, token) as f64;
            assert!((got - exact).abs() < 1e-3, "token {token}: {got} vs {exact}");
        }
        assert!(log_probability(&logits, argmax(&logits)) <= 0.0);
        assert_eq!(log_probability(&logits, 5000), f32::NEG_INFINITY);
        for x in [0.0f32, -0.5, -1.0, -10.0, -80.0] {
            let (got, exact) = (exp_nonpositive(x) as f64, (x as f64).exp());
            assert!((got - exact).abs() <= 3e-4 * exact, "exp({x}) = {got}, not {exact}");
        }
    }

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
