//! Per-sequence key/value cache for a decoder-only model, owned by the caller so that the
//! model itself stays stateless and one loaded model serves many sequences at once.
//!
//! Keys and values are held in f16, as llama.cpp keeps them by default (the rounding is part of
//! the numerics greedy outputs are compared on, and a long prompt's attention reads half the
//! bytes of f32); attention widens them to f32, which is exact.

use half::f16;
use half::slice::HalfFloatSliceExt;

#[derive(Clone, Debug)]
pub struct KvCache {
    /// Per layer: keys and values, `(position, n_kv_head * head_dim)` row-major.
    layers: Vec<(Vec<f16>, Vec<f16>)>,
    /// `n_kv_head * head_dim`.
    width: usize,
    len: usize,
}

impl KvCache {
    pub fn new(n_layer: usize, width: usize) -> Self {
        Self { layers: vec![(Vec::new(), Vec::new()); n_layer], width, len: 0 }
    }

    /// Number of positions in the cache (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends rows of keys and values (`n * width` each) to `layer`. The position count
    /// advances when the last layer has been appended.
    pub(crate) fn append(&mut self, layer: usize, keys: &[f32], values: &[f32]) {
        let last = layer + 1 == self.layers.len();
        let (k, v) = &mut self.layers[layer];
        for (cache, xs) in [(k, keys), (v, values)] {
            let start = cache.len();
            cache.resize(start + xs.len(), f16::ZERO);
            cache[start..].convert_from_f32_slice(xs);
        }
        if last {
            self.len = self.layers[layer].0.len() / self.width;
        }
    }

    /// Keys and values of `layer`, `(len, width)` each.
    pub(crate) fn layer(&self, layer: usize) -> (&[f16], &[f16]) {
        let (k, v) = &self.layers[layer];
        (k, v)
    }

    /// Keeps only the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for (k, v) in &mut self.layers {
            k.truncate(len * self.width);
            v.truncate(len * self.width);
        }
        self.len = len;
    }
}

/// The KV cache of a prompt prefix shared by many prompts (system prompt and instructions),
/// computed once. A prompt that starts with `ids` continues from a copy of `cache`; the model
/// computes a prompt position the same way whatever the calls it is split into, so the result is
/// identical to computing the whole prompt.
#[derive(Clone, Debug)]
pub struct PrefixCache {
    pub ids: Vec<u32>,
    pub cache: KvCache,
}

impl PrefixCache {
    /// A copy of the cache of the longest part of the prefix that `prompt` starts with, and the
    /// part of `prompt` still to run, if that part is at least two tokens and `prompt` extends it
    /// by at least three. (The prefix is computed as llama.cpp computes it inside a longer prompt:
    /// with at least three more tokens, all of its rows fall in the prompt's 4-row GEMM part; see
    /// `llm::StepKind`. Keys and values of a position depend only on the positions before it, so
    /// the first rows of the prefix serve a prompt that shares only them.)
    pub fn fork<'p>(&self, prompt: &'p [u32]) -> Option<(KvCache, &'p [u32])> {
        let shared = self.ids.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        if shared < 2 || prompt.len() < shared + 3 || self.cache.len() < shared {
            return None;
        }
        let mut cache = self.cache.clone();
        cache.truncate(shared);
        Some((cache, &prompt[shared..]))
    }
}

/// The longest common prefix of two token sequences.
pub fn common_prefix(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter().zip(b).take_while(|(x, y)| x == y).map(|(x, _)| *x).collect()
}
