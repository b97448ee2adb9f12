//! The Marian encoder-decoder (HF `MarianMTModel`): post-norm transformer layers, sinusoidal
//! positions, scaled embeddings, `final_logits_bias`. The encoder is stateless and masks source
//! padding; the decoder keeps its state in a [`DecoderCache`] owned by the caller: self-attention
//! K/V grown one step at a time, cross-attention K/V computed once per batch and shared by the
//! beams of an input (the beams of one input are the query rows of one attention product).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::LayerNorm;

use super::config::{Activation, MarianConfig};
use super::gemm::PackedLinear;
use super::weights::Weights;
use crate::engine::quant::{QMatrix, QK8_0};
use crate::Result;

/// How the linear layers hold their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    /// Weights of every linear layer (and the output layer) quantized to Q8_0 (blocks of 32
    /// int8 with one f16 scale) where the input size is a multiple of 32; embeddings, biases
    /// and layer norms stay f32. Products with precis's own Q8_0 kernels (the GGUF engine's),
    /// activations quantized to Q8_0 row by row.
    Q8,
}

struct Linear {
    weight: LinearWeight,
    /// The bias of a Q8 layer (an f32 layer's is packed with its weights).
    bias: Option<Vec<f32>>,
}

enum LinearWeight {
    F32(PackedLinear),
    Q8(QMatrix),
}

impl Linear {
    fn new(weight: Tensor, bias: Option<Tensor>, precision: Precision) -> Result<Self> {
        // Q8_0 blocks run along the input dimension; a layer whose input is not a multiple of
        // the block (32) stays f32.
        let (out_dim, in_dim) = weight.dims2()?;
        let precision = if in_dim.is_multiple_of(QK8_0) { precision } else { Precision::F32 };
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        let bias = bias.map(|b| b.to_vec1::<f32>()).transpose()?;
        Ok(match precision {
            Precision::F32 => {
                Self { weight: LinearWeight::F32(PackedLinear::new(&values, bias.as_deref(), out_dim, in_dim)), bias: None }
            }
            Precision::Q8 => Self { weight: LinearWeight::Q8(QMatrix::quantize_q8_0(out_dim, in_dim, &values)), bias },
        })
    }

    fn load(w: &Weights, name: &str, out_dim: usize, in_dim: usize, precision: Precision) -> Result<Self> {
        let weight = w.get(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = w.get(&format!("{name}.bias"), &[out_dim])?;
        Self::new(weight, Some(bias), precision)
    }

    /// `xs` (..., in) -> (..., out).
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (ys, out_dim) = self.forward_flat(xs)?;
        let mut dims = xs.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = out_dim;
        }
        Ok(Tensor::from_vec(ys, dims, xs.device())?)
    }

    /// `xs` (..., in) -> its rows' outputs, row after row, and the output width.
    fn forward_flat(&self, xs: &Tensor) -> Result<(Vec<f32>, usize)> {
        let flat = xs.flatten_all()?.to_vec1::<f32>()?;
        Ok(match &self.weight {
            LinearWeight::F32(w) => (w.forward(&flat), w.rows()),
            LinearWeight::Q8(q) => {
                let mut ys = q.matmul(&flat);
                if let Some(bias) = &self.bias {
                    for row in ys.chunks_exact_mut(q.rows()) {
                        row.iter_mut().zip(bias).for_each(|(y, b)| *y += b);
                    }
                }
                (ys, q.rows())
            }
        })
    }
}

fn layer_norm(w: &Weights, name: &str, dim: usize) -> Result<LayerNorm> {
    let weight = w.get(&format!("{name}.weight"), &[dim])?;
    let bias = w.get(&format!("{name}.bias"), &[dim])?;
    Ok(LayerNorm::new(weight, bias, 1e-5))
}

fn activate(xs: &Tensor, activation: Activation) -> Result<Tensor> {
    Ok(match activation {
        Activation::Relu => xs.relu()?,
        Activation::Swish => xs.silu()?,
        Activation::Gelu => xs.gelu_erf()?,
        Activation::GeluTanh => xs.gelu()?,
    })
}

/// HF `MarianSinusoidalPositionalEmbedding`: sines in the first half of each vector, cosines in
/// the second, computed in f64 and rounded to f32.
fn sinusoidal_positions(n_pos: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let sentinel = dim.div_ceil(2);
    let mut table = vec![0f32; n_pos * dim];
    for pos in 0..n_pos {
        for j in 0..dim {
            let angle = |j: usize| pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
            table[pos * dim + j] = if j < sentinel { angle(2 * j).sin() } else { angle(2 * (j - sentinel) + 1).cos() } as f32;
        }
    }
    Ok(Tensor::from_vec(table, (n_pos, dim), device)?)
}

struct Attention {
    /// Pre-multiplied by `head_dim^-0.5`, so scores need no scaling.
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(w: &Weights, name: &str, dim: usize, num_heads: usize, precision: Precision) -> Result<Self> {
        let head_dim = dim / num_heads;
        let scaling = (head_dim as f64).powf(-0.5);
        let q_weight = (w.get(&format!("{name}.q_proj.weight"), &[dim, dim])? * scaling)?;
        let q_bias = (w.get(&format!("{name}.q_proj.bias"), &[dim])? * scaling)?;
        Ok(Self {
            q_proj: Linear::new(q_weight, Some(q_bias), precision)?,
            k_proj: Linear::load(w, &format!("{name}.k_proj"), dim, dim, precision)?,
            v_proj: Linear::load(w, &format!("{name}.v_proj"), dim, dim, precision)?,
            out_proj: Linear::load(w, &format!("{name}.out_proj"), dim, dim, precision)?,
            num_heads,
            head_dim,
        })
    }

    /// (b, t, d) -> (b, heads, t, head_dim)
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        Ok(xs.reshape((b, t, self.num_heads, self.head_dim))?.transpose(1, 2)?.contiguous()?)
    }

    /// (b, heads, t, head_dim) -> (b, t, d)
    fn merge_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, _, t, _) = xs.dims4()?;
        Ok(xs.transpose(1, 2)?.reshape((b, t, self.num_heads * self.head_dim))?)
    }

    /// K and V of `xs` (b, t, d), each (b, heads, t, head_dim).
    fn key_value(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.split_heads(&self.k_proj.forward(xs)?)?, self.split_heads(&self.v_proj.forward(xs)?)?))
    }

    /// softmax(q k^T + mask) v for q (b, heads, tq, hd), k and v (b, heads, tk, hd), mask
    /// broadcastable to (b, heads, tq, tk).
    fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        Ok(candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)?)
    }
}

struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: LayerNorm,
}

struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: LayerNorm,
}

/// The encoder's output for a padded batch of sources.
pub struct Encoded {
    /// (b, s, d)
    pub hidden: Tensor,
    /// (b, 1, 1, s): 0 on tokens, -inf on padding.
    pub mask: Tensor,
}

/// Decoder state for `items` inputs with `beams` rows each (rows are item-major).
pub struct DecoderCache {
    /// Per layer: self-attention K and V, (rows, heads, len, head_dim).
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    /// Per layer: cross-attention K and V, (items, heads, s, head_dim).
    cross_kv: Vec<(Tensor, Tensor)>,
    /// (items, 1, 1, s)
    mask: Tensor,
    beams: usize,
    len: usize,
}

impl DecoderCache {
    /// Tokens already fed to the decoder.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn items(&self) -> Result<usize> {
        Ok(self.mask.dim(0)?)
    }

    /// Keeps `rows` (old row indices, item-major, `beams` per kept item) in this order, and the
    /// cross-attention state of `items` (old item indices, `None` = all, same order).
    pub fn select(&mut self, rows: &[u32], items: Option<&[u32]>) -> Result<()> {
        let device = self.mask.device().clone();
        let rows = Tensor::new(rows, &device)?;
        for (k, v) in self.self_kv.iter_mut().flatten() {
            *k = k.index_select(&rows, 0)?;
            *v = v.index_select(&rows, 0)?;
        }
        if let Some(items) = items {
            let items = Tensor::new(items, &device)?;
            for (k, v) in self.cross_kv.iter_mut() {
                *k = k.index_select(&items, 0)?;
                *v = v.index_select(&items, 0)?;
            }
            self.mask = self.mask.index_select(&items, 0)?;
        }
        Ok(())
    }
}

pub struct MarianModel {
    config: MarianConfig,
    encoder_embed: Tensor,
    decoder_embed: Tensor,
    positions: Tensor,
    embed_scale: f64,
    encoder_layers: Vec<EncoderLayer>,
    decoder_layers: Vec<DecoderLayer>,
    lm_head: Linear,
    device: Device,
}

impl MarianModel {
    pub fn load(config: &MarianConfig, w: &Weights, precision: Precision, device: &Device) -> Result<Self> {
        let c = config;
        let d = c.d_model;
        let target_vocab = c.target_vocab_size();
        let encoder_embed = w.first(&["model.encoder.embed_tokens.weight", "model.shared.weight"], &[c.vocab_size, d])?;
        let decoder_embed = if c.share_encoder_decoder_embeddings {
            w.first(&["model.decoder.embed_tokens.weight", "model.shared.weight"], &[c.vocab_size, d])?
        } else {
            w.get("model.decoder.embed_tokens.weight", &[target_vocab, d])?
        };
        let head_weight =
            if c.tie_word_embeddings { decoder_embed.clone() } else { w.get("lm_head.weight", &[target_vocab, d])? };
        let final_logits_bias = match w.find("final_logits_bias")? {
            Some(_) => w.get("final_logits_bias", &[1, target_vocab])?.squeeze(0)?,
            None => Tensor::zeros(target_vocab, DType::F32, device)?,
        };
        let ffn = |name: &str, hidden: usize| -> Result<(Linear, Linear)> {
            Ok((
                Linear::load(w, &format!("{name}.fc1"), hidden, d, precision)?,
                Linear::load(w, &format!("{name}.fc2"), d, hidden, precision)?,
            ))
        };
        let encoder_layers = (0..c.encoder_layers)
            .map(|i| {
                let name = format!("model.encoder.layers.{i}");
                let (fc1, fc2) = ffn(&name, c.encoder_ffn_dim)?;
                Ok(EncoderLayer {
                    self_attn: Attention::load(w, &format!("{name}.self_attn"), d, c.encoder_attention_heads, precision)?,
                    self_attn_layer_norm: layer_norm(w, &format!("{name}.self_attn_layer_norm"), d)?,
                    fc1,
                    fc2,
                    final_layer_norm: layer_norm(w, &format!("{name}.final_layer_norm"), d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder_layers = (0..c.decoder_layers)
            .map(|i| {
                let name = format!("model.decoder.layers.{i}");
                let (fc1, fc2) = ffn(&name, c.decoder_ffn_dim)?;
                let heads = c.decoder_attention_heads;
                Ok(DecoderLayer {
                    self_attn: Attention::load(w, &format!("{name}.self_attn"), d, heads, precision)?,
                    self_attn_layer_norm: layer_norm(w, &format!("{name}.self_attn_layer_norm"), d)?,
                    encoder_attn: Attention::load(w, &format!("{name}.encoder_attn"), d, heads, precision)?,
                    encoder_attn_layer_norm: layer_norm(w, &format!("{name}.encoder_attn_layer_norm"), d)?,
                    fc1,
                    fc2,
                    final_layer_norm: layer_norm(w, &format!("{name}.final_layer_norm"), d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            encoder_embed,
            decoder_embed,
            positions: sinusoidal_positions(c.max_position_embeddings, d, device)?,
            embed_scale: if c.scale_embedding { (d as f64).sqrt() } else { 1.0 },
            encoder_layers,
            decoder_layers,
            lm_head: Linear::new(head_weight, Some(final_logits_bias), precision)?,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &MarianConfig {
        &self.config
    }

    /// Token embeddings * scale + positions `start..start + t`, for ids (b, t).
    fn embed(&self, table: &Tensor, ids: &Tensor, start: usize) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let tokens = (table.index_select(&ids.flatten_all()?, 0)? * self.embed_scale)?;
        let positions = self.positions.narrow(0, start, t)?;
        Ok(tokens.reshape((b, t, self.config.d_model))?.broadcast_add(&positions)?)
    }

    /// Encodes a batch of sources (each already ending in EOS, each at most
    /// `max_position_embeddings` long), padded on the right.
    pub fn encode(&self, sources: &[Vec<u32>]) -> Result<Encoded> {
        let s = sources.iter().map(Vec::len).max().unwrap_or(0);
        if s > self.config.max_position_embeddings {
            return Err(crate::Error::invalid_input(
                "marian",
                format!("a source of {s} tokens exceeds max_position_embeddings {}", self.config.max_position_embeddings),
            ));
        }
        let pad = self.config.pad_token_id;
        let mut ids = Vec::with_capacity(sources.len() * s);
        let mut mask = Vec::with_capacity(sources.len() * s);
        for src in sources {
            ids.extend(src.iter().copied().chain(std::iter::repeat(pad)).take(s));
            mask.extend((0..s).map(|i| if i < src.len() { 0f32 } else { f32::NEG_INFINITY }));
        }
        let b = sources.len();
        let ids = Tensor::from_vec(ids, (b, s), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, 1, 1, s), &self.device)?;
        let mut xs = self.embed(&self.encoder_embed, &ids, 0)?;
        let act = self.config.activation_function;
        for layer in &self.encoder_layers {
            let a = &layer.self_attn;
            let q = a.split_heads(&a.q_proj.forward(&xs)?)?;
            let (k, v) = a.key_value(&xs)?;
            let attn = a.out_proj.forward(&a.merge_heads(&Attention::attend(&q, &k, &v, Some(&mask))?)?)?;
            xs = layer.self_attn_layer_norm.forward(&(xs + attn)?)?;
            let ff = layer.fc2.forward(&activate(&layer.fc1.forward(&xs)?, act)?)?;
            xs = layer.final_layer_norm.forward(&(xs + ff)?)?;
        }
        Ok(Encoded { hidden: xs, mask })
    }

    /// A fresh decoder state for `encoded` with `beams` rows per input: cross-attention K/V of
    /// every layer, computed once.
    pub fn start_decoding(&self, encoded: &Encoded, beams: usize) -> Result<DecoderCache> {
        let cross_kv =
            self.decoder_layers.iter().map(|l| l.encoder_attn.key_value(&encoded.hidden)).collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache {
            self_kv: vec![None; self.decoder_layers.len()],
            cross_kv,
            mask: encoded.mask.clone(),
            beams,
            len: 0,
        })
    }

    /// Feeds `ids` (rows, t) after what `cache` holds; returns the logits (rows, t, vocab).
    pub fn decode(&self, ids: &Tensor, cache: &mut DecoderCache) -> Result<Tensor> {
        let hidden = self.decode_hidden(ids, cache)?;
        self.lm_head.forward(&hidden)
    }

    /// The decoder's output states (rows, t, d) for `ids` fed after what `cache` holds.
    fn decode_hidden(&self, ids: &Tensor, cache: &mut DecoderCache) -> Result<Tensor> {
        let (rows, t) = ids.dims2()?;
        let items = cache.items()?;
        let beams = cache.beams;
        let past = cache.len;
        let mut xs = self.embed(&self.decoder_embed, ids, past)?;
        let causal = if t > 1 {
            let mask: Vec<f32> = (0..t)
                .flat_map(|i| (0..past + t).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(mask, (1, 1, t, past + t), &self.device)?)
        } else {
            None
        };
        let act = self.config.activation_function;
        for (layer, (self_kv, (cross_k, cross_v))) in
            self.decoder_layers.iter().zip(cache.self_kv.iter_mut().zip(cache.cross_kv.iter()))
        {
            let a = &layer.self_attn;
            let q = a.split_heads(&a.q_proj.forward(&xs)?)?;
            let (k, v) = a.key_value(&xs)?;
            let (k, v) = match self_kv.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            // One new token per row: the loop kernel; several (a full recompute): matmuls + causal mask.
            let attn = match &causal {
                None => super::attention::attend(&q, &k, &v, None)?,
                Some(mask) => Attention::attend(&q, &k, &v, Some(mask))?,
            };
            let attn = a.out_proj.forward(&a.merge_heads(&attn)?)?;
            *self_kv = Some((k, v));
            xs = layer.self_attn_layer_norm.forward(&(xs + attn)?)?;

            // The beams of an input are query rows against that input's encoder states:
            // q (rows, t, d) -> (items, heads, beams * t, head_dim).
            let c = &layer.encoder_attn;
            let q = c.split_heads(&c.q_proj.forward(&xs)?.reshape((items, beams * t, self.config.d_model))?)?;
            let attn = if t == 1 {
                super::attention::attend(&q, cross_k, cross_v, Some(&cache.mask))?
            } else {
                Attention::attend(&q, cross_k, cross_v, Some(&cache.mask))?
            };
            let attn = c.out_proj.forward(&c.merge_heads(&attn)?.reshape((rows, t, self.config.d_model))?)?;
            xs = layer.encoder_attn_layer_norm.forward(&(xs + attn)?)?;

            let ff = layer.fc2.forward(&activate(&layer.fc1.forward(&xs)?, act)?)?;
            xs = layer.final_layer_norm.forward(&(xs + ff)?)?;
        }
        cache.len += t;
        Ok(xs)
    }

    /// Logits of the last position only: (rows, vocab) as one f32 vector per row.
    pub fn decode_last(&self, ids: &[u32], cache: &mut DecoderCache) -> Result<Vec<f32>> {
        let ids = Tensor::from_vec(ids.to_vec(), (ids.len(), 1), &self.device)?;
        let hidden = self.decode_hidden(&ids, cache)?;
        Ok(self.lm_head.forward_flat(&hidden)?.0)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits of every position when `ids` (rows, t) is fed at once into an empty cache
    /// (the reference the cached path is tested against).
    pub fn decode_all(&self, encoded: &Encoded, beams: usize, ids: &Tensor) -> Result<Tensor> {
        let mut cache = self.start_decoding(encoded, beams)?;
        self.decode(ids, &mut cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_positions_put_cosines_in_the_second_half() {
        let table = sinusoidal_positions(3, 4, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        // dim 4: j=0,1 -> sin(pos / 10000^(0, 2/4)); j=2,3 -> cos(pos / 10000^(0, 2/4)).
        assert_eq!(table[0], vec![0.0, 0.0, 1.0, 1.0]);
        let p = 2f64;
        let want = [p.sin(), (p / 100.0).sin(), p.cos(), (p / 100.0).cos()].map(|x| x as f32);
        assert_eq!(table[2], want.to_vec());
    }

    #[test]
    fn dims_used_by_reshapes_are_consistent() {
        let xs = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu).unwrap();
        let lin = Linear::new(Tensor::ones((5, 4), DType::F32, &Device::Cpu).unwrap(), None, Precision::F32).unwrap();
        assert_eq!(lin.forward(&xs).unwrap().dims(), &[2, 3, 5]);
    }
}
