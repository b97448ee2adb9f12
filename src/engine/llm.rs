//! Decoder-only transformer over GGUF weights (architectures `qwen2` and `llama`), run with
//! candle's quantized matmuls. The model is stateless: every call takes the sequence's
//! [`KvCache`], so one loaded model serves any number of sequences.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use super::gguf::GgufFile;
use super::kv_cache::KvCache;
use crate::{Error, Result};

/// Architectures this engine runs, with the rotary embedding layout each uses in GGUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Qwen2 / Qwen2.5: biases on q/k/v, NeoX-style (split-half) rotary embedding.
    Qwen2,
    /// Llama 2/3, SmolLM2, ...: no biases, interleaved rotary embedding.
    Llama,
}

/// Hyper-parameters read from `{arch}.*` GGUF metadata.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub arch: Arch,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub n_embd: usize,
    pub head_dim: usize,
    /// Longest sequence (prompt + generated tokens) the model was trained for.
    pub context_length: usize,
    pub rms_norm_eps: f64,
    pub rope_freq_base: f32,
}

impl LlmConfig {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let name = gguf.architecture()?;
        let arch = match name.as_str() {
            "qwen2" => Arch::Qwen2,
            "llama" => Arch::Llama,
            other => {
                return Err(Error::model(
                    gguf.path(),
                    format!("architecture `{other}` (general.architecture) is not supported; supported: qwen2, llama"),
                ))
            }
        };
        let key = |k: &str| format!("{name}.{k}");
        let n_head = gguf.u32(&key("attention.head_count"))? as usize;
        let n_embd = gguf.u32(&key("embedding_length"))? as usize;
        let head_dim = if gguf.has(&key("attention.key_length")) {
            gguf.u32(&key("attention.key_length"))? as usize
        } else {
            n_embd / n_head
        };
        Ok(Self {
            arch,
            n_layer: gguf.u32(&key("block_count"))? as usize,
            n_head,
            n_kv_head: gguf.u32(&key("attention.head_count_kv"))? as usize,
            n_embd,
            head_dim,
            context_length: gguf.u32(&key("context_length"))? as usize,
            rms_norm_eps: gguf.f32(&key("attention.layer_norm_rms_epsilon"))? as f64,
            rope_freq_base: if gguf.has(&key("rope.freq_base")) { gguf.f32(&key("rope.freq_base"))? } else { 10_000.0 },
        })
    }
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(gguf: &mut GgufFile, name: &str, eps: f64, device: &Device) -> Result<Self> {
        Ok(Self { weight: gguf.tensor(name, device)?.dequantize(device)?, eps })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(xs, &self.weight, self.eps as f32)
    }
}

struct Linear {
    weight: QMatMul,
    bias: Option<Tensor>,
}

impl Linear {
    fn load(gguf: &mut GgufFile, name: &str, device: &Device) -> Result<Self> {
        let weight = QMatMul::from_qtensor(gguf.tensor(&format!("{name}.weight"), device)?)?;
        let bias_name = format!("{name}.bias");
        let bias = if gguf.has_tensor(&bias_name) {
            Some(gguf.tensor(&bias_name, device)?.dequantize(device)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = self.weight.forward(xs)?;
        match &self.bias {
            Some(bias) => ys.broadcast_add(bias),
            None => Ok(ys),
        }
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    output: Linear,
}

struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(xs)?)?;
        self.down.forward(&(gate * self.up.forward(xs)?)?)
    }
}

struct Block {
    attn_norm: RmsNorm,
    attn: Attention,
    ffn_norm: RmsNorm,
    mlp: Mlp,
}

pub struct Llm {
    config: LlmConfig,
    tok_embeddings: QTensor,
    blocks: Vec<Block>,
    output_norm: RmsNorm,
    output: QMatMul,
    /// Rotary tables, `(context_length, head_dim / 2)`.
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

impl Llm {
    pub fn load(gguf: &mut GgufFile, device: &Device) -> Result<Self> {
        let config = LlmConfig::from_gguf(gguf)?;
        let eps = config.rms_norm_eps;
        let tok_embeddings = gguf.tensor("token_embd.weight", device)?;
        let output = if gguf.has_tensor("output.weight") {
            QMatMul::from_qtensor(gguf.tensor("output.weight", device)?)?
        } else {
            // Tied embeddings.
            QMatMul::from_qtensor(gguf.tensor("token_embd.weight", device)?)?
        };
        let output_norm = RmsNorm::load(gguf, "output_norm.weight", eps, device)?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: RmsNorm::load(gguf, &format!("{p}.attn_norm.weight"), eps, device)?,
                attn: Attention {
                    q: Linear::load(gguf, &format!("{p}.attn_q"), device)?,
                    k: Linear::load(gguf, &format!("{p}.attn_k"), device)?,
                    v: Linear::load(gguf, &format!("{p}.attn_v"), device)?,
                    output: Linear::load(gguf, &format!("{p}.attn_output"), device)?,
                },
                ffn_norm: RmsNorm::load(gguf, &format!("{p}.ffn_norm.weight"), eps, device)?,
                mlp: Mlp {
                    gate: Linear::load(gguf, &format!("{p}.ffn_gate"), device)?,
                    up: Linear::load(gguf, &format!("{p}.ffn_up"), device)?,
                    down: Linear::load(gguf, &format!("{p}.ffn_down"), device)?,
                },
            });
        }
        let freq_factors = if gguf.has_tensor("rope_freqs.weight") {
            Some(gguf.tensor("rope_freqs.weight", device)?.dequantize(device)?.to_vec1::<f32>()?)
        } else {
            None
        };
        let (cos, sin) = rope_tables(&config, freq_factors.as_deref(), device)?;
        Ok(Self { config, tok_embeddings, blocks, output_norm, output, cos, sin, device: device.clone() })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.n_layer)
    }

    /// Runs `tokens` at positions `cache.len()..` and returns the logits of the last one,
    /// `(vocab,)`, as f32.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let seq_len = tokens.len();
        let pos = cache.len();
        if seq_len == 0 {
            return Err(Error::Config("forward called with no tokens".into()));
        }
        if pos + seq_len > self.config.context_length {
            return Err(Error::Config(format!(
                "sequence of {} tokens exceeds the model's context length of {}",
                pos + seq_len,
                self.config.context_length
            )));
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let mut xs = self.tok_embeddings.embedding(&ids)?.unsqueeze(0)?; // (1, t, n_embd)
        let mask = causal_mask(seq_len, pos, &self.device)?;
        let cos = self.cos.narrow(0, pos, seq_len)?;
        let sin = self.sin.narrow(0, pos, seq_len)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            let residual = &xs;
            let h = block.attn_norm.forward(&xs)?;
            let h = self.attention(&block.attn, &h, mask.as_ref(), &cos, &sin, layer, cache)?;
            let xs_mid = (h + residual)?;
            let h = block.mlp.forward(&block.ffn_norm.forward(&xs_mid)?)?;
            xs = (h + xs_mid)?;
        }
        let last = xs.narrow(1, seq_len - 1, 1)?;
        let logits = self.output.forward(&self.output_norm.forward(&last)?)?;
        Ok(logits.flatten_all()?.to_dtype(DType::F32)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        attn: &Attention,
        xs: &Tensor,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
        layer: usize,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b_sz, seq_len, _) = xs.dims3()?;
        let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
            t.reshape((b_sz, seq_len, n, c.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let q = heads(attn.q.forward(xs)?, c.n_head)?;
        let k = heads(attn.k.forward(xs)?, c.n_kv_head)?;
        let v = heads(attn.v.forward(xs)?, c.n_kv_head)?;
        let (q, k) = match c.arch {
            Arch::Qwen2 => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
            Arch::Llama => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
        };
        let (k, v) = cache.append(layer, &k, &v)?; // (b, n_kv_head, kv_len, d)
        let kv_len = k.dim(2)?;

        // Grouped-query attention without copying K/V: the query heads that share a KV head
        // are stacked along the row axis. (b, n_kv_head, group * t, d)
        let group = c.n_head / c.n_kv_head;
        let q = q.reshape((b_sz, c.n_kv_head, group * seq_len, c.head_dim))?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?; // (b, n_kv_head, group * t, kv_len)
        let att = match mask {
            Some(mask) => att
                .reshape((b_sz, c.n_kv_head, group, seq_len, kv_len))?
                .broadcast_add(mask)?
                .reshape((b_sz, c.n_kv_head, group * seq_len, kv_len))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let ys = att.matmul(&v)?; // (b, n_kv_head, group * t, d)
        let ys = ys
            .reshape((b_sz, c.n_head, seq_len, c.head_dim))?
            .transpose(1, 2)?
            .reshape((b_sz, seq_len, c.n_head * c.head_dim))?;
        Ok(attn.output.forward(&ys)?)
    }
}

/// Additive causal mask `(t, past + t)` for `t` new tokens after `past` cached ones; `None`
/// for a single token, which may attend to everything.
fn causal_mask(seq_len: usize, past: usize, device: &Device) -> Result<Option<Tensor>> {
    if seq_len == 1 {
        return Ok(None);
    }
    let kv_len = past + seq_len;
    let mask: Vec<f32> = (0..seq_len)
        .flat_map(|i| (0..kv_len).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Some(Tensor::from_vec(mask, (seq_len, kv_len), device)?))
}

fn rope_tables(config: &LlmConfig, freq_factors: Option<&[f32]>, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = config.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| {
            let f = 1.0 / config.rope_freq_base.powf(2.0 * i as f32 / config.head_dim as f32);
            match freq_factors {
                Some(factors) => f / factors.get(i).copied().unwrap_or(1.0),
                None => f,
            }
        })
        .collect();
    let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
    let positions = Tensor::arange(0u32, config.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((config.context_length, 1))?;
    let angles = positions.matmul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Index of the largest logit; the first one on ties, as llama.cpp's greedy sampler.
pub fn argmax(logits: &Tensor) -> Result<u32> {
    let values = logits.to_vec1::<f32>()?;
    let mut best = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    Ok(best as u32)
}
