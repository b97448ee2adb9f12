//! Per-sequence key/value cache for a decoder-only model, owned by the caller so that the
//! model itself stays stateless and one loaded model can serve many sequences.

use candle_core::{Result, Tensor};

#[derive(Clone, Debug)]
pub struct KvCache {
    /// Per layer: keys and values, each `(b, n_kv_head, t, head_dim)`.
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        Self { layers: vec![None; n_layer], len: 0 }
    }

    /// Number of positions already in the cache (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends this step's keys and values for `layer` and returns the whole history.
    /// The position counter advances when the last layer has been appended.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &self.layers[layer] {
            None => (k.clone(), v.clone()),
            Some((k_past, v_past)) => (Tensor::cat(&[k_past, k], 2)?, Tensor::cat(&[v_past, v], 2)?),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        if layer + 1 == self.layers.len() {
            self.len = k.dim(2)?;
        }
        Ok((k, v))
    }

    /// Keeps only the first `len` positions (for reusing a shared prompt prefix).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        if len == 0 {
            self.layers.iter_mut().for_each(|layer| *layer = None);
            self.len = 0;
            return Ok(());
        }
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.narrow(2, 0, len)?;
            *v = v.narrow(2, 0, len)?;
        }
        self.len = len;
        Ok(())
    }
}

/// The KV cache of a prompt prefix shared by many prompts (system prompt and instructions),
/// computed once. A prompt that starts with `ids` continues from a copy of `cache`.
#[derive(Clone, Debug)]
pub struct PrefixCache {
    pub ids: Vec<u32>,
    pub cache: KvCache,
}

impl PrefixCache {
    /// A copy of the prefix cache and the part of `prompt` still to run, if `prompt` extends
    /// the prefix by at least two tokens. (Two, because candle's single-row kernels round
    /// differently from its multi-row ones: running the rest as a multi-row call keeps the
    /// logits bit-identical to running the whole prompt at once.)
    pub fn fork<'p>(&self, prompt: &'p [u32]) -> Option<(KvCache, &'p [u32])> {
        if self.ids.is_empty() || prompt.len() < self.ids.len() + 2 || !prompt.starts_with(&self.ids) {
            return None;
        }
        Some((self.cache.clone(), &prompt[self.ids.len()..]))
    }
}

/// The longest common prefix of two token sequences.
pub fn common_prefix(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter().zip(b).take_while(|(x, y)| x == y).map(|(x, _)| *x).collect()
}
