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

use rayon::prelude::*;

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
    /// decoder start excluded) with `history.len()` tokens generated so far.
    fn apply(&self, row: &mut [f32], history: &[u32], decoder_start: u32) {
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
            }
        }
    }
}

/// In-place log-softmax of one row, computed as torch does: `x - max - log(sum(exp(x - max)))`.
fn log_softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
    let log_sum = sum.ln();
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
    let n = encoded.hidden.dim(0)?;
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

/// The top `keep_k` continuations (score, beam, token) of one input, best first: running score
/// plus the processed log-softmax of each beam's logits (`rows`, `beams * vocab`, overwritten).
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
        log_softmax(row);
        processors.apply(row, tokens, start);
        for (v, &lp) in row.iter().enumerate() {
            let score = lp + running;
            if top.len() < keep_k || score > top[top.len() - 1].0 {
                let at = top.partition_point(|&(s, _, _)| s >= score);
                top.insert(at, (score, b, v as u32));
                top.truncate(keep_k);
            }
        }
    }
    top
}

/// Beam search of a batch: the best hypothesis per input.
pub fn beam(model: &MarianModel, encoded: &Encoded, config: &GenerationConfig) -> Result<Vec<Hypothesis>> {
    let n = encoded.hidden.dim(0)?;
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
        let tops: Vec<Vec<(f32, usize, u32)>> = logits
            .par_chunks_mut(beams * vocab)
            .zip(live.par_iter())
            .map(|(item_rows, input)| top_candidates(item_rows, vocab, &input.running, keep_k, &processors, start))
            .collect();
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
