//! Single-stream speed measurement: prefill of a whole prompt from an empty cache, then
//! greedy decoding of a fixed number of tokens (end-of-generation ignored).

use std::time::Instant;

use serde::Serialize;

use super::chat_model::ChatModel;
use super::llm::{argmax, Llm, StepKind};
use super::search::greedy_speculative;
use crate::Result;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub engine: &'static str,
    pub threads: usize,
    /// Instruction-set level of the kernels (`portable`, `avx2`).
    pub cpu: &'static str,
    pub prompt_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tokens: usize,
    pub decode_tok_s: f64,
    /// Generated ids of the best run, to check both engines decode the same thing.
    pub tokens: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpeculativeReport>,
}

/// Plain greedy against speculative decoding of the same prompt, both stopping at the end of
/// generation (or `n_predict`).
#[derive(Debug, Serialize)]
pub struct SpeculativeReport {
    pub lookahead: usize,
    pub tokens: usize,
    pub identical: bool,
    pub plain_tok_s: f64,
    pub speculative_tok_s: f64,
    pub drafted: usize,
    pub accepted: usize,
    pub acceptance_rate: f64,
}

/// Times plain and speculative greedy decoding (after the prompt) of `model` with `draft`.
pub fn speculative(model: &ChatModel, draft: &Llm, prompt: &[u32], n_predict: usize, lookahead: usize) -> Result<SpeculativeReport> {
    let plain = model.complete(prompt, n_predict, None)?;
    let mut cache = model.llm.new_cache();
    let is_eog = |id| model.tokenizer.is_eog(id);
    let (fast, stats) = greedy_speculative(&model.llm, draft, prompt, &mut cache, n_predict, is_eog, None, lookahead)?;
    let rate = |g: &super::search::Generation| g.tokens.len() as f64 / g.decode.as_secs_f64().max(1e-9);
    Ok(SpeculativeReport {
        lookahead,
        tokens: plain.tokens.len(),
        identical: fast.tokens == plain.tokens,
        plain_tok_s: rate(&plain),
        speculative_tok_s: rate(&fast),
        drafted: stats.drafted,
        accepted: stats.accepted,
        acceptance_rate: stats.acceptance_rate(),
    })
}

/// Runs `repeat` times and keeps the best prefill and the best decode speed.
pub fn run(model: &Llm, prompt: &[u32], n_predict: usize, repeat: usize, threads: usize) -> Result<BenchReport> {
    let mut best = BenchReport {
        engine: "precis",
        threads,
        cpu: super::cpu::level().name(),
        prompt_tokens: prompt.len(),
        prefill_tok_s: 0.0,
        decode_tokens: n_predict,
        decode_tok_s: 0.0,
        tokens: Vec::new(),
        speculative: None,
    };
    for _ in 0..repeat {
        let mut cache = model.new_cache();
        let start = Instant::now();
        let mut logits = model.forward(prompt, &mut cache, StepKind::Prompt { len: prompt.len() })?;
        let prefill = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut tokens = Vec::with_capacity(n_predict);
        for _ in 0..n_predict {
            let next = argmax(&logits);
            tokens.push(next);
            logits = model.forward(&[next], &mut cache, StepKind::Decode)?;
        }
        let decode = start.elapsed().as_secs_f64();
        best.prefill_tok_s = best.prefill_tok_s.max(prompt.len() as f64 / prefill);
        best.decode_tok_s = best.decode_tok_s.max(n_predict as f64 / decode);
        best.tokens = tokens;
    }
    Ok(best)
}
