//! The tensors a decoder-only model must hold, with the exact shape its hyper-parameters imply
//! (llama.cpp's `create_tensor` calls in `llama-model.cpp`), checked against a GGUF file's
//! tensor index before any weight is read. After this, the forward pass can trust every length.

use std::collections::HashSet;

use super::{Arch, LlmConfig};
use crate::engine::gguf::GgufFile;
use crate::{Error, Result};

/// The rotary frequency factors of Llama 3.1 and later (`rope_freqs.weight`).
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// One tensor the model reads: its name, its shape (outermost dimension first: `[rows, cols]`
/// for a matrix) and whether it may be absent.
struct Expected {
    name: String,
    shape: Vec<usize>,
    optional: bool,
}

/// The model's vocabulary size (`tokenizer.ggml.tokens`), after checking every tensor of
/// `config`'s architecture: present exactly once with its exact shape, no tensor the model
/// does not know, the feed-forward width (`{arch}.feed_forward_length`, a number or one per
/// layer) the same as the matrices'.
pub fn check(gguf: &GgufFile, config: &LlmConfig) -> Result<usize> {
    let fail = |message: String| Error::model(gguf.path(), message);
    let n_vocab = gguf.array_len("tokenizer.ggml.tokens")?;
    if n_vocab == 0 {
        return Err(fail("the vocabulary (tokenizer.ggml.tokens) is empty".into()));
    }
    let c = config;
    let n_ff = feed_forward_lengths(gguf, config)?;
    let q_width = c.n_head * c.head_dim;
    let kv_width = c.n_kv_head * c.head_dim;
    let mut expected = vec![
        Expected { name: "token_embd.weight".into(), shape: vec![n_vocab, c.n_embd], optional: false },
        Expected { name: "output.weight".into(), shape: vec![n_vocab, c.n_embd], optional: true },
        Expected { name: "output_norm.weight".into(), shape: vec![c.n_embd], optional: false },
    ];
    let arch = c.arch;
    for (il, &ff) in n_ff.iter().enumerate() {
        let mut add = |suffix: &str, shape: Vec<usize>, optional: bool| {
            expected.push(Expected { name: format!("blk.{il}.{suffix}"), shape, optional })
        };
        add("attn_norm.weight", vec![c.n_embd], false);
        add("attn_q.weight", vec![q_width, c.n_embd], false);
        add("attn_k.weight", vec![kv_width, c.n_embd], false);
        add("attn_v.weight", vec![kv_width, c.n_embd], false);
        // Biases: Qwen2 has them on q, k and v; llama.cpp accepts them optionally elsewhere.
        add("attn_q.bias", vec![q_width], arch != Arch::Qwen2);
        add("attn_k.bias", vec![kv_width], arch != Arch::Qwen2);
        add("attn_v.bias", vec![kv_width], arch != Arch::Qwen2);
        add("attn_output.weight", vec![c.n_embd, q_width], false);
        add("attn_output.bias", vec![c.n_embd], true);
        if arch.head_norms() {
            add("attn_q_norm.weight", vec![c.head_dim], false);
            add("attn_k_norm.weight", vec![c.head_dim], false);
        }
        add("ffn_norm.weight", vec![c.n_embd], false);
        add("ffn_gate.weight", vec![ff, c.n_embd], false);
        add("ffn_up.weight", vec![ff, c.n_embd], false);
        add("ffn_down.weight", vec![c.n_embd, ff], false);
        for bias in ["ffn_gate.bias", "ffn_up.bias"] {
            add(bias, vec![ff], true);
        }
        add("ffn_down.bias", vec![c.n_embd], true);
        if arch == Arch::Gemma3 {
            add("post_attention_norm.weight", vec![c.n_embd], false);
            add("post_ffw_norm.weight", vec![c.n_embd], false);
        }
    }
    if arch == Arch::Llama {
        // Llama 3.1 and later: one divisor of the rotary angle per pair of head dimensions
        // (`rope_freqs.weight`, f32, which ggml's rope requires).
        expected.push(Expected { name: ROPE_FREQS.into(), shape: vec![c.head_dim / 2], optional: true });
        if let Some(dtype) = gguf.tensor_dtype(ROPE_FREQS).filter(|&t| t != candle_core::quantized::GgmlDType::F32) {
            return Err(fail(format!("tensor `{ROPE_FREQS}` is stored as {dtype:?}, expected F32")));
        }
    }
    let known: HashSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    if let Some(extra) = gguf.tensor_names().find(|name| !known.contains(name)) {
        return Err(fail(format!("unexpected tensor `{extra}` for architecture {}", c.arch.name())));
    }
    for e in &expected {
        match gguf.tensor_shape(&e.name) {
            None if e.optional => {}
            None => return Err(fail(format!("missing tensor `{}` (expected shape {})", e.name, gguf_dims(&e.shape)))),
            Some(shape) if shape != e.shape.as_slice() => {
                return Err(fail(format!(
                    "tensor `{}` has shape {}, expected {} from the hyper-parameters",
                    e.name,
                    gguf_dims(shape),
                    gguf_dims(&e.shape)
                )))
            }
            Some(_) => {}
        }
    }
    Ok(n_vocab)
}

/// The feed-forward width of every layer: `{arch}.feed_forward_length` (one number, or an array
/// of one per layer), else the width of each layer's `ffn_up.weight`.
fn feed_forward_lengths(gguf: &GgufFile, c: &LlmConfig) -> Result<Vec<usize>> {
    let key = format!("{}.feed_forward_length", c.arch.name());
    let fail = |message: String| Error::model(gguf.path(), message);
    let widths: Vec<usize> = if !gguf.has(&key) {
        let mut widths = Vec::with_capacity(c.n_layer);
        for il in 0..c.n_layer {
            let name = format!("blk.{il}.ffn_up.weight");
            match gguf.tensor_shape(&name) {
                Some(&[rows, _]) => widths.push(rows),
                _ => return Err(fail(format!("missing key `{key}` and no matrix `{name}` to take it from"))),
            }
        }
        widths
    } else if gguf.is_array(&key) {
        let values = gguf.i32s(&key)?;
        if values.len() != c.n_layer {
            return Err(fail(format!("`{key}` has {} values for {} layers", values.len(), c.n_layer)));
        }
        values
            .iter()
            .map(|&v| usize::try_from(v).map_err(|_| fail(format!("`{key}` holds {v}, expected a width > 0"))))
            .collect::<Result<_>>()?
    } else {
        vec![gguf.u32(&key)? as usize; c.n_layer]
    };
    if let Some(il) = widths.iter().position(|&w| w == 0) {
        return Err(fail(format!("`{key}` is 0 for layer {il}, expected a width > 0")));
    }
    Ok(widths)
}

/// A shape as GGUF writes it, innermost dimension first (`[n_embd, n_vocab]`), as llama.cpp's
/// messages and `gguf-dump` show it.
fn gguf_dims(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().rev().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}
