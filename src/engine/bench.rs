//! Single-stream speed measurement: prefill of a whole prompt from an empty cache, then
//! greedy decoding of a fixed number of tokens (end-of-generation ignored).

use std::time::Instant;

use serde::Serialize;

use super::llm::{argmax, Llm, StepKind};
use crate::Result;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub engine: &'static str,
    pub threads: usize,
    pub prompt_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tokens: usize,
    pub decode_tok_s: f64,
    /// Generated ids of the best run, to check both engines decode the same thing.
    pub tokens: Vec<u32>,
}

/// Runs `repeat` times and keeps the best prefill and the best decode speed.
pub fn run(model: &Llm, prompt: &[u32], n_predict: usize, repeat: usize, threads: usize) -> Result<BenchReport> {
    let mut best = BenchReport {
        engine: "precis",
        threads,
        prompt_tokens: prompt.len(),
        prefill_tok_s: 0.0,
        decode_tokens: n_predict,
        decode_tok_s: 0.0,
        tokens: Vec::new(),
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
