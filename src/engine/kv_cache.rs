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
