//! Greedy and beam search over a [`MarianModel`] with the semantics of HF transformers 5
//! `generate` (`_sample` without sampling, `_beam_search`), in f32 like HF:
//!
//! - logits processors: `bad_words_ids` (-inf), EOS forbidden before `min_new_tokens`, all but
//!   EOS forbidden at the last step when `forced_eos_token_id` is set;
//! - greedy: arg-max of the processed logits; `score` = mean over generated tokens (EOS
//!   included) of log-softmax(processed logits) at the chosen token;
//! - beam: log-softmax of the raw logits, then the processors, plus the beam's running score;
//!   the top `2 * num_beams` continuations of each input; those ending in EOS (or reaching the
//!   length limit) among the first `num_beams` become finished hypotheses scored
//!   `sum_logprobs / generated_len ^ length_penalty` (EOS counted); `early_stopping` as in HF;
//!   `score` = HF `sequences_scores`.
//!
//! An input whose result can no longer change is dropped from the batch, so later steps run on
//! fewer rows; HF keeps computing it but, as shown above, never lets it change either.

use super::config::{EarlyStopping, GenerationConfig};
use super::model::{Encoded, MarianModel};
use crate::Result;

/// HF's "minus infinity" for scores that must never win (`-1e9`).
const NEG: f32 = -1.0e9;

/// One translation: generated ids without the decoder start token, with EOS when produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<u32>,
    pub score: f32,
}

/// The logits processors of a generation config.
struct Processors<'a> {
    config: &'a GenerationConfig,
}

impl Processors<'_> {
    /// Applies the processors to one row of scores, after `history` (the row's generated ids,
    /// decoder start excluded) with `history.len()` tokens generated so far. Returns whether
    /// EOS was forced (every score then -inf but EOS's, 0).
    fn apply(&self, row: &mut [f32], history: &[u32], decoder_start: u32) -> bool {
        let c = self.config;
        let generated = history.len();
        for bad in &c.bad_words_ids {
            let Some((&last, prefix)) = bad.split_last() else { continue };
            // HF compares the prefix with the end of the whole decoder input (start token included).
            let ends_with_prefix = prefix.is_empty()
                || (prefix.len() <= generated + 1 && {
                    let full_len = generated + 1;
                    (0..prefix.len()).all(|i| {
                        let pos = full_len - prefix.len() + i;
                        let id = if pos == 0 { decoder_start } else { history[pos - 1] };
                        id == prefix[i]
                    })
                });
            if ends_with_prefix {
                if let Some(x) = row.get_mut(last as usize) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        if generated < c.min_new_tokens {
            for &eos in &c.eos_token_ids {
                if let Some(x) = row.get_mut(eos as usize) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        if let Some(eos) = c.forced_eos_token_id {
            if generated + 1 == c.max_new_tokens && (eos as usize) < row.len() {
                row.fill(f32::NEG_INFINITY);
                row[eos as usize] = 0.0;
                return true;
            }
        }
        false
    }
}

/// `max` and `log(sum(exp(x - max)))` of a row: log-softmax is `x - max - log_sum`.
fn log_sum_exp(row: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if crate::engine::cpu::simd_available() {
        // SAFETY: `x86::log_sum_exp` needs only AVX2 and FMA, which `simd_available` says were
        // detected.
        return unsafe { x86::log_sum_exp(row) };
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // In f64: one f32 sum over a vocabulary-sized row drifts by more than the 1e-5 the test
    // allows.
    let sum: f64 = row.iter().map(|&x| (x - max).exp() as f64).sum();
    (max, (sum as f32).ln())
}

/// In-place log-softmax of one row, computed as torch does: `x - max - log(sum(exp(x - max)))`.
fn log_softmax(row: &mut [f32]) {
    let (max, log_sum) = log_sum_exp(row);
    for x in row.iter_mut() {
        *x = *x - max - log_sum;
    }
}

/// First index of the largest value (torch.argmax).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Greedy decoding of a batch: one hypothesis per input.
pub fn greedy(model: &MarianModel, encoded: &Encoded, config: &GenerationConfig) -> Result<Vec<Hypothesis>> {
    let n = encoded.items();
    let processors = Processors { config };
    let start = config.decoder_start_token_id;
    let mut cache = model.start_decoding(encoded, 1)?;
    let mut results: Vec<Option<Hypothesis>> = vec![None; n];
    // Inputs still running: their original index, tokens and sum of log-probs.
    let mut live: Vec<(usize, Vec<u32>, f64)> = (0..n).map(|i| (i, Vec::new(), 0.0)).collect();
    let mut inputs: Vec<u32> = vec![start; n];
    while !live.is_empty() {
        // Ctrl-C / SIGTERM in a batch run: stop between decoding steps.
        crate::interrupt::check()?;
        let mut logits = model.decode_last(&inputs, &mut cache)?;
        let vocab = logits.len() / live.len();
        let mut keep = Vec::with_capacity(live.len());
        for (row, (index, tokens, sum)) in logits.chunks_mut(vocab).zip(live.iter_mut()) {
            processors.apply(row, tokens, start);
            let next = argmax(row);
            log_softmax(row);
            *sum += row[next] as f64;
            tokens.push(next as u32);
            let done = config.eos_token_ids.contains(&(next as u32)) || tokens.len() >= config.max_new_tokens;
            if done {
                let score = (*sum / tokens.len() as f64) as f32;
                results[*index] = Some(Hypothesis { tokens: std::mem::take(tokens), score });
            }
            keep.push(!done);
        }
        let kept: Vec<u32> = (0..live.len() as u32).filter(|&i| keep[i as usize]).collect();
        let mut i = 0;
        live.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        if live.is_empty() {
            break;
        }
        if kept.len() < keep.len() {
            cache.select(&kept, Some(&kept))?;
        }
        inputs = live.iter().map(|(_, t, _)| *t.last().unwrap_or(&start)).collect();
    }
    Ok(results.into_iter().map(|h| h.unwrap_or(Hypothesis { tokens: vec![], score: 0.0 })).collect())
}

/// The beam state of one input.
struct BeamInput {
    index: usize,
    /// Running hypotheses (tokens, score), best first.
    running: Vec<(Vec<u32>, f32)>,
    /// Finished slots (tokens, score, finished), best first; `num_beams` of them.
    finished: Vec<(Vec<u32>, f32, bool)>,
    improvable: bool,
}

/// The top `keep_k` continuations (score, beam, token) of one input, best first (ties: lower
/// beam, then lower token, as torch.topk over the flattened scores): running score plus the
/// processed log-softmax of each beam's logits (`rows`, `beams * vocab`, used as scratch).
///
/// The same values as log-softmax, processors, then a scan of the row, with one pass fewer:
/// `lp = x - max - log_sum` is computed in the scan, and the processors' -inf are applied to
/// the logits once `max` and `log_sum` are taken (-inf minus anything stays -inf).
fn top_candidates(
    rows: &mut [f32],
    vocab: usize,
    running: &[(Vec<u32>, f32)],
    keep_k: usize,
    processors: &Processors,
    start: u32,
) -> Vec<(f32, usize, u32)> {
    let mut top: Vec<(f32, usize, u32)> = Vec::with_capacity(keep_k + 1);
    for (b, (row, (tokens, running))) in rows.chunks_mut(vocab).zip(running).enumerate() {
        let (max, log_sum) = log_sum_exp(row);
        if processors.apply(row, tokens, start) {
            // Forced EOS: the row now holds the final scores.
            for (v, &lp) in row.iter().enumerate() {
                consider(&mut top, keep_k, lp + running, b, v);
            }
        } else {
            let mut v = 0;
            while v < row.len() && top.len() < keep_k {
                consider(&mut top, keep_k, (row[v] - max - log_sum) + running, b, v);
                v += 1;
            }
            #[cfg(target_arch = "x86_64")]
            if crate::engine::cpu::simd_available() {
                // SAFETY: `x86::scan` needs only AVX2 and FMA, which `simd_available` says were
                // detected.
                v = unsafe { x86::scan(row, v, [max, log_sum, *running], b, &mut top, keep_k) };
            }
            for (v, &x) in row.iter().enumerate().skip(v) {
                consider(&mut top, keep_k, (x - max - log_sum) + running, b, v);
            }
        }
    }
    top
}

/// Inserts candidate (score, beam, token) into `top` (best first, at most `keep_k`) if it beats
/// the last one (or `top` is not full yet); equal scores keep the earlier candidate first.
#[inline]
fn consider(top: &mut Vec<(f32, usize, u32)>, keep_k: usize, score: f32, b: usize, v: usize) {
    if top.len() < keep_k || score > top[top.len() - 1].0 {
        let at = top.partition_point(|&(s, _, _)| s >= score);
        top.insert(at, (score, b, v as u32));
        top.truncate(keep_k);
    }
}

/// The two passes over a vocabulary-sized row in AVX2 (the portable build is SSE2 only): they
/// were a quarter of the beam search's time outside the matrix products.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `log_sum_exp` with exp as ggml's `ggml_v_expf` (about 1.5 ulp) and the sum in eight
    /// lanes. Arguments below -87 count as exp(-87) ≈ 1.6e-38 instead of less: nothing next to
    /// the sum, which is at least 1 (the maximum's own term).
    #[target_feature(enable = "avx2,fma")]
    pub fn log_sum_exp(row: &[f32]) -> (f32, f32) {
        let n8 = row.len() / 8 * 8;
        let p = row.as_ptr();
        let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..n8).step_by(8) {
            // SAFETY: i + 8 <= n8 <= row.len(), by the loop bound.
            m = _mm256_max_ps(m, unsafe { _mm256_loadu_ps(p.add(i)) });
        }
        let mut lanes = [0f32; 8];
        // SAFETY: eight f32 into the eight of `lanes`.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), m) };
        let max = lanes.iter().chain(&row[n8..]).copied().fold(f32::NEG_INFINITY, f32::max);
        let (vmax, floor) = (_mm256_set1_ps(max), _mm256_set1_ps(-87.0));
        let mut sum = _mm256_setzero_ps();
        for i in (0..n8).step_by(8) {
            // SAFETY: as above.
            let x = _mm256_max_ps(_mm256_sub_ps(unsafe { _mm256_loadu_ps(p.add(i)) }, vmax), floor);
            sum = _mm256_add_ps(sum, super::super::simd::x86::expf(x));
        }
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        let tail: f32 = row[n8..].iter().map(|&x| (x - max).exp()).sum();
        let [l0, l1, l2, l3, l4, l5, l6, l7] = lanes;
        (max, (((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) + tail).ln())
    }

    /// The candidate scan from `from` on, eight tokens at a time: a group with no score above
    /// the current last of `top` (full) is skipped, the others go through `consider` token by
    /// token, so the result is the scalar scan's. `stats` = (max, log_sum, running); returns
    /// where the scalar scan takes over (the last partial group).
    #[target_feature(enable = "avx2,fma")]
    pub fn scan(row: &[f32], from: usize, stats: [f32; 3], b: usize, top: &mut Vec<(f32, usize, u32)>, keep_k: usize) -> usize {
        let [max, log_sum, running] = stats;
        let (vmax, vlog, vrun) = (_mm256_set1_ps(max), _mm256_set1_ps(log_sum), _mm256_set1_ps(running));
        let mut v = from;
        while v + 8 <= row.len() {
            // SAFETY: v + 8 <= row.len(), by the loop condition.
            let x = unsafe { _mm256_loadu_ps(row.as_ptr().add(v)) };
            let score = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(x, vmax), vlog), vrun);
            let last = _mm256_set1_ps(top[top.len() - 1].0);
            if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(score, last)) != 0 {
                for (i, &x) in row[v..v + 8].iter().enumerate() {
                    super::consider(top, keep_k, (x - max - log_sum) + running, b, v + i);
                }
            }
            v += 8;
        }
        v
    }
}

/// Beam search of a batch: the best hypothesis per input.
pub fn beam(model: &MarianModel, encoded: &Encoded, config: &GenerationConfig) -> Result<Vec<Hypothesis>> {
    let n = encoded.items();
    let beams = config.num_beams;
    let keep_k = beams * 2.max(1 + config.eos_token_ids.len());
    let processors = Processors { config };
    let start = config.decoder_start_token_id;
    let mut cache = model.start_decoding(encoded, beams)?;
    let mut live: Vec<BeamInput> = (0..n)
        .map(|index| BeamInput {
            index,
            running: (0..beams).map(|b| (Vec::new(), if b == 0 { 0.0 } else { NEG })).collect(),
            finished: vec![(Vec::new(), NEG, false); beams],
            improvable: true,
        })
        .collect();
    let mut results: Vec<Option<Hypothesis>> = vec![None; n];
    let mut inputs: Vec<u32> = vec![start; n * beams];
    let mut step = 0;
    loop {
        crate::interrupt::check()?;
        step += 1;
        let mut logits = model.decode_last(&inputs, &mut cache)?;
        let vocab = logits.len() / (live.len() * beams);
        let at_limit = step >= config.max_new_tokens;
        let mut rows = Vec::with_capacity(live.len() * beams);
        let mut kept_items = Vec::with_capacity(live.len());
        // Inputs are independent: their candidates are found in parallel.
        let mut tops: Vec<Vec<(f32, usize, u32)>> = vec![Vec::new(); live.len()];
        let tasks: Vec<_> = logits.chunks_mut(beams * vocab).zip(&live).zip(&mut tops).collect();
        crate::engine::pool::for_each(tasks, |((item_rows, input), top)| {
            *top = top_candidates(item_rows, vocab, &input.running, keep_k, &processors, start);
        });
        for ((item, input), top) in live.iter_mut().enumerate().zip(tops) {
            let hits = |&(_, _, v): &(f32, usize, u32)| config.eos_token_ids.contains(&v) || at_limit;
            // Finished candidates among the first `beams`, merged into the finished slots.
            let full = input.finished.iter().all(|f| f.2) && config.early_stopping == EarlyStopping::Yes;
            let penalty = (step as f32).powf(config.length_penalty);
            let mut merged = std::mem::take(&mut input.finished);
            for (j, cand) in top.iter().enumerate() {
                let finished = j < beams && hits(cand);
                let mut score = cand.0 / penalty;
                score += if full { NEG } else { 0.0 };
                score += if input.improvable { 0.0 } else { NEG };
                score += if finished { 0.0 } else { NEG };
                let mut tokens = input.running[cand.1].0.clone();
                tokens.push(cand.2);
                merged.push((tokens, score, finished));
            }
            merged.sort_by(|a, b| b.1.total_cmp(&a.1));
            merged.truncate(beams);
            input.finished = merged;
            // Next running beams: the best candidates that did not finish.
            let mut next: Vec<(f32, usize, u32)> = top.iter().map(|c| (c.0 + if hits(c) { NEG } else { 0.0 }, c.1, c.2)).collect();
            next.sort_by(|a, b| b.0.total_cmp(&a.0));
            next.truncate(beams);
            let base = (item * beams) as u32;
            let old = std::mem::take(&mut input.running);
            input.running = next
                .iter()
                .map(|&(score, b, v)| {
                    let mut tokens = old[b].0.clone();
                    tokens.push(v);
                    (tokens, score)
                })
                .collect();
            let parents: Vec<u32> = next.iter().map(|&(_, b, _)| base + b as u32).collect();
            // HF's early-stopping heuristic, at the new length.
            let best_len = match config.early_stopping {
                EarlyStopping::Never if config.length_penalty > 0.0 => config.max_new_tokens,
                _ => step,
            };
            let best_possible = input.running[0].1 / (best_len as f32).powf(config.length_penalty);
            let worst = input.finished.iter().map(|f| f.1).fold(f32::INFINITY, f32::min);
            input.improvable &= input.finished.iter().any(|f| best_possible > if f.2 { worst } else { NEG });
            let all_finished = input.finished.iter().all(|f| f.2);
            let frozen = !input.improvable || (all_finished && config.early_stopping == EarlyStopping::Yes);
            if frozen || at_limit {
                let (tokens, score, _) = input.finished[0].clone();
                results[input.index] = Some(Hypothesis { tokens, score });
            } else {
                kept_items.push(item as u32);
                rows.extend(parents);
            }
        }
        if kept_items.is_empty() {
            break;
        }
        let dropped = kept_items.len() < live.len();
        let mut i = 0;
        live.retain(|_| {
            let keep = kept_items.contains(&(i as u32));
            i += 1;
            keep
        });
        cache.select(&rows, dropped.then_some(kept_items.as_slice()))?;
        inputs = live.iter().flat_map(|input| input.running.iter().map(|(t, _)| *t.last().unwrap_or(&start))).collect();
    }
    Ok(results.into_iter().map(|h| h.unwrap_or(Hypothesis { tokens: vec![], score: 0.0 })).collect())
}

/// Decodes every input of `encoded` with `config` (greedy when `num_beams` is 1).
pub fn generate(model: &MarianModel, encoded: &Encoded, config: &GenerationConfig) -> Result<Vec<Hypothesis>> {
    if config.num_beams <= 1 {
        greedy(model, encoded, config)
    } else {
        beam(model, encoded, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic vocabulary-sized row of logits with a spread like a model's.
    fn row(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 30.0
            })
            .collect()
    }

    #[test]
    fn log_sum_exp_agrees_with_the_scalar_definition() {
        for (n, seed) in [(53_017, 1), (9, 2), (1, 3), (64, 4)] {
            let row = row(n, seed);
            let (max, log_sum) = log_sum_exp(&row);
            let want_max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let want: f64 = row.iter().map(|&x| ((x - want_max) as f64).exp()).sum::<f64>().ln();
            assert_eq!(max, want_max);
            assert!((log_sum as f64 - want).abs() < 1e-5, "n={n}: {log_sum} vs {want}");
        }
    }

    #[test]
    fn the_candidate_scan_keeps_the_scalar_scans_top_and_order() {
        let vocab = 1003;
        let mut rows: Vec<f32> = (0..4).flat_map(|b| row(vocab, 10 + b)).collect();
        // Ties across and within beams: torch.topk order (lower beam, then lower token) must hold.
        rows[17] = 20.0;
        rows[400] = 20.0;
        rows[vocab + 17] = 20.0;
        let running: Vec<(Vec<u32>, f32)> = vec![(vec![], 0.0), (vec![], 0.0), (vec![], -1.5), (vec![], -0.25)];
        let config = GenerationConfig {
            num_beams: 4,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Yes,
            max_new_tokens: 40,
            min_new_tokens: 0,
            bad_words_ids: vec![],
            forced_eos_token_id: None,
            eos_token_ids: vec![0],
            decoder_start_token_id: 1,
        };
        let processors = Processors { config: &config };
        let fast = top_candidates(&mut rows.clone(), vocab, &running, 8, &processors, 0);
        let mut want: Vec<(f32, usize, u32)> = Vec::new();
        for (b, (row, (_, running))) in rows.chunks(vocab).zip(&running).enumerate() {
            let (max, log_sum) = log_sum_exp(row);
            for (v, &x) in row.iter().enumerate() {
                want.push(((x - max - log_sum) + running, b, v as u32));
            }
        }
        // Stable sort: equal scores stay in (beam, token) order.
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        want.truncate(8);
        assert_eq!(fast, want);
    }
}
