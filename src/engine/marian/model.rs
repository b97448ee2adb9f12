//! The Marian encoder-decoder (HF `MarianMTModel`): post-norm transformer layers, sinusoidal
//! positions, scaled embeddings, `final_logits_bias`. Activations are plain row-major f32
//! buffers (rows × width); the weights are packed once at load time.
//!
//! The encoder is stateless and leaves source padding out of attention. The decoder keeps its
//! state in a [`DecoderCache`] owned by the caller: self-attention K/V appended one step at a
//! time and never moved (beam search reorders a lineage of row indices, not the K/V), and
//! cross-attention K/V computed once per batch and shared by the beams of an input.

use candle_core::Device;

use super::attention::{self, Keys};
use super::config::{Activation, MarianConfig};
use super::gemm::PackedLinear;
use super::int8::Int8Linear;
use super::weights::Weights;
use crate::engine::pool;
use crate::{Error, Result};

/// How the linear layers hold their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    /// Weights of every linear layer (and the output layer) quantized to int8 with one scale
    /// per output row, inputs likewise per row at every product, sums in i32 (CTranslate2's
    /// int8 scheme); embeddings, biases and layer norms stay f32.
    Int8,
}

enum Linear {
    F32(PackedLinear),
    Int8(Int8Linear),
}

impl Linear {
    /// `weight` row-major `(out_dim, in_dim)`, `bias` of `out_dim` values.
    fn new(weight: &[f32], bias: &[f32], out_dim: usize, in_dim: usize, precision: Precision) -> Self {
        match precision {
            Precision::F32 => Self::F32(PackedLinear::new(weight, Some(bias), out_dim, in_dim)),
            Precision::Int8 => Self::Int8(Int8Linear::new(weight, bias, out_dim, in_dim)),
        }
    }

    /// The layers `names` (each `(dim, in_dim)` with a bias), stacked into one whose outputs are
    /// theirs side by side (q, k and v of the same input in one product); the first one's
    /// weights and bias multiplied by `first_scale`.
    fn stacked(w: &Weights, names: &[String], dim: usize, in_dim: usize, first_scale: f32, precision: Precision) -> Result<Self> {
        let (mut weight, mut bias) = (Vec::with_capacity(names.len() * dim * in_dim), Vec::with_capacity(names.len() * dim));
        for (i, name) in names.iter().enumerate() {
            let scale = if i == 0 { first_scale } else { 1.0 };
            weight.extend(w.values(&format!("{name}.weight"), &[dim, in_dim])?.into_iter().map(|x| x * scale));
            bias.extend(w.values(&format!("{name}.bias"), &[dim])?.into_iter().map(|x| x * scale));
        }
        Ok(Self::new(&weight, &bias, names.len() * dim, in_dim, precision))
    }

    fn load(w: &Weights, name: &str, out_dim: usize, in_dim: usize, precision: Precision) -> Result<Self> {
        Self::stacked(w, &[name.to_string()], out_dim, in_dim, 1.0, precision)
    }

    /// `xs` (rows × in) → rows × out.
    fn forward(&self, xs: &[f32]) -> Vec<f32> {
        match self {
            Self::F32(w) => w.forward(xs),
            Self::Int8(w) => w.forward(xs),
        }
    }
}

/// A layer norm (eps 1e-5) applied after a residual sum.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Norm {
    fn load(w: &Weights, name: &str, dim: usize) -> Result<Self> {
        Ok(Self { weight: w.values(&format!("{name}.weight"), &[dim])?, bias: w.values(&format!("{name}.bias"), &[dim])? })
    }

    /// `xs = layer_norm(xs + ys)`, row by row (mean and variance summed in f64).
    fn add_and_normalize(&self, xs: &mut [f32], ys: &[f32]) {
        let d = self.weight.len();
        for (x, y) in xs.chunks_exact_mut(d).zip(ys.chunks_exact(d)) {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            let mean = (x.iter().map(|&v| v as f64).sum::<f64>() / d as f64) as f32;
            let var = x.iter().map(|&v| ((v - mean) as f64).powi(2)).sum::<f64>() / d as f64;
            let rstd = (1.0 / (var + 1e-5).sqrt()) as f32;
            for ((v, w), b) in x.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * rstd * w + b;
            }
        }
    }
}

/// The feed-forward activation in place, with candle's f32 formulas (swish with a vector exp).
fn activate(xs: &mut [f32], activation: Activation) {
    let f: fn(f32) -> f32 = match activation {
        Activation::Relu => |v| v.max(0.0),
        Activation::Swish => {
            pool::for_each(xs.chunks_mut(4096).collect(), super::simd::silu_in_place);
            return;
        }
        Activation::Gelu => |v| (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * v,
        Activation::GeluTanh => |v| 0.5 * v * (1.0 + (0.797_884_6 * v * (1.0 + 0.044715 * v * v)).tanh()),
    };
    pool::for_each(xs.chunks_mut(4096).collect(), |chunk: &mut [f32]| chunk.iter_mut().for_each(|v| *v = f(*v)));
}

/// HF `MarianSinusoidalPositionalEmbedding`: sines in the first half of each vector, cosines in
/// the second, computed in f64 and rounded to f32; `n_pos × dim`.
fn sinusoidal_positions(n_pos: usize, dim: usize) -> Vec<f32> {
    let sentinel = dim.div_ceil(2);
    let mut table = vec![0f32; n_pos * dim];
    for pos in 0..n_pos {
        for j in 0..dim {
            let angle = |j: usize| pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
            table[pos * dim + j] = if j < sentinel { angle(2 * j).sin() } else { angle(2 * (j - sentinel) + 1).cos() } as f32;
        }
    }
    table
}

/// Self-attention with q, k and v in one product (q pre-multiplied by `head_dim^-0.5`, so
/// scores need no scaling): each row of its output is `q | k | v`.
struct SelfAttention {
    qkv: Linear,
    out_proj: Linear,
    heads: usize,
}

/// What queries are multiplied by (HF's `scaling`, `head_dim^-0.5`), folded into their weights.
fn query_scale(dim: usize, heads: usize) -> f32 {
    ((dim / heads) as f64).powf(-0.5) as f32
}

impl SelfAttention {
    fn load(w: &Weights, name: &str, dim: usize, heads: usize, precision: Precision) -> Result<Self> {
        let scaling = query_scale(dim, heads);
        let names = ["q_proj", "k_proj", "v_proj"].map(|p| format!("{name}.{p}"));
        Ok(Self {
            qkv: Linear::stacked(w, &names, dim, dim, scaling, precision)?,
            out_proj: Linear::load(w, &format!("{name}.out_proj"), dim, dim, precision)?,
            heads,
        })
    }
}

/// Attention over the encoder's states: q of the decoder rows, k and v (one product, `k | v`
/// per row) of the encoder's output, computed once per batch.
struct CrossAttention {
    q_proj: Linear,
    kv: Linear,
    out_proj: Linear,
    heads: usize,
}

struct EncoderLayer {
    self_attn: SelfAttention,
    self_attn_layer_norm: Norm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: Norm,
}

struct DecoderLayer {
    self_attn: SelfAttention,
    self_attn_layer_norm: Norm,
    encoder_attn: CrossAttention,
    encoder_attn_layer_norm: Norm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: Norm,
}

/// The encoder's output for a batch of sources, each padded on the right to `len` tokens.
pub struct Encoded {
    /// (items × len) × d
    hidden: Vec<f32>,
    /// Tokens of each source.
    lens: Vec<usize>,
    len: usize,
}

impl Encoded {
    /// Sources in the batch.
    pub fn items(&self) -> usize {
        self.lens.len()
    }
}

/// Decoder state for `items` inputs with `beams` rows each (rows are item-major).
pub struct DecoderCache {
    /// Per layer: `k | v` (2·d) of every row fed so far, step after step.
    self_kv: Vec<Vec<f32>>,
    /// Where each step's rows start in `self_kv`, in rows.
    step_start: Vec<usize>,
    /// Per live row, per step: the row of that step that holds the K/V of this row's history
    /// (its ancestor's, after beam reordering).
    lineage: Vec<Vec<u32>>,
    /// Per layer: `k | v` of the encoder states, (encoded items × source len) rows.
    cross_kv: Vec<Vec<f32>>,
    /// Per live item: its index in the encoded batch.
    items: Vec<u32>,
    src_lens: Vec<usize>,
    src_len: usize,
    beams: usize,
}

impl DecoderCache {
    /// Tokens already fed to the decoder.
    pub fn len(&self) -> usize {
        self.step_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.step_start.is_empty()
    }

    /// Inputs still decoded.
    pub fn items(&self) -> usize {
        self.items.len()
    }

    /// Keeps `rows` (old row indices, item-major, `beams` per kept item) in this order, and the
    /// cross-attention state of `items` (old item indices, `None` = all, same order). Nothing
    /// is copied but row indices.
    pub fn select(&mut self, rows: &[u32], items: Option<&[u32]>) -> Result<()> {
        let pick = |what: &str, i: u32, n: usize| {
            if (i as usize) < n {
                Ok(i as usize)
            } else {
                Err(Error::invalid_input("marian decoder cache", format!("{what} {i} of {n} selected")))
            }
        };
        let lineage = rows.iter().map(|&r| Ok(self.lineage[pick("row", r, self.lineage.len())?].clone())).collect::<Result<Vec<_>>>()?;
        if let Some(items) = items {
            self.items = items.iter().map(|&i| Ok(self.items[pick("item", i, self.items.len())?])).collect::<Result<_>>()?;
        }
        self.lineage = lineage;
        Ok(())
    }
}

pub struct MarianModel {
    config: MarianConfig,
    /// vocab × d
    encoder_embed: Vec<f32>,
    /// None: the encoder's table.
    decoder_embed: Option<Vec<f32>>,
    /// max_position_embeddings × d
    positions: Vec<f32>,
    embed_scale: f32,
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
        let encoder_embed = w.first_values(&["model.encoder.embed_tokens.weight", "model.shared.weight"], &[c.vocab_size, d])?;
        let decoder_embed = if c.share_encoder_decoder_embeddings {
            // Stored once, or twice with the same values: kept once (checked to be there with its
            // shape, not converted).
            w.first(&["model.decoder.embed_tokens.weight", "model.shared.weight"], &[c.vocab_size, d])?;
            None
        } else {
            Some(w.values("model.decoder.embed_tokens.weight", &[target_vocab, d])?)
        };
        let head_weight = if c.tie_word_embeddings {
            decoder_embed.clone().unwrap_or_else(|| encoder_embed.clone())
        } else {
            w.values("lm_head.weight", &[target_vocab, d])?
        };
        let final_logits_bias = match w.find("final_logits_bias")? {
            Some(_) => w.values("final_logits_bias", &[1, target_vocab])?,
            None => vec![0.0; target_vocab],
        };
        let ffn = |name: &str, hidden: usize| -> Result<(Linear, Linear)> {
            Ok((
                Linear::load(w, &format!("{name}.fc1"), hidden, d, precision)?,
                Linear::load(w, &format!("{name}.fc2"), d, hidden, precision)?,
            ))
        };
        let norm = |name: String| Norm::load(w, &name, d);
        let encoder_layers = (0..c.encoder_layers)
            .map(|i| {
                let name = format!("model.encoder.layers.{i}");
                let (fc1, fc2) = ffn(&name, c.encoder_ffn_dim)?;
                Ok(EncoderLayer {
                    self_attn: SelfAttention::load(w, &format!("{name}.self_attn"), d, c.encoder_attention_heads, precision)?,
                    self_attn_layer_norm: norm(format!("{name}.self_attn_layer_norm"))?,
                    fc1,
                    fc2,
                    final_layer_norm: norm(format!("{name}.final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder_layers = (0..c.decoder_layers)
            .map(|i| {
                let name = format!("model.decoder.layers.{i}");
                let (fc1, fc2) = ffn(&name, c.decoder_ffn_dim)?;
                let heads = c.decoder_attention_heads;
                let cross = format!("{name}.encoder_attn");
                let kv = ["k_proj", "v_proj"].map(|p| format!("{cross}.{p}"));
                Ok(DecoderLayer {
                    self_attn: SelfAttention::load(w, &format!("{name}.self_attn"), d, heads, precision)?,
                    self_attn_layer_norm: norm(format!("{name}.self_attn_layer_norm"))?,
                    encoder_attn: CrossAttention {
                        q_proj: Linear::stacked(w, &[format!("{cross}.q_proj")], d, d, query_scale(d, heads), precision)?,
                        kv: Linear::stacked(w, &kv, d, d, 1.0, precision)?,
                        out_proj: Linear::load(w, &format!("{cross}.out_proj"), d, d, precision)?,
                        heads,
                    },
                    encoder_attn_layer_norm: norm(format!("{name}.encoder_attn_layer_norm"))?,
                    fc1,
                    fc2,
                    final_layer_norm: norm(format!("{name}.final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            lm_head: Linear::new(&head_weight, &final_logits_bias, target_vocab, d, precision),
            encoder_embed,
            decoder_embed,
            positions: sinusoidal_positions(c.max_position_embeddings, d),
            embed_scale: if c.scale_embedding { (d as f64).sqrt() as f32 } else { 1.0 },
            encoder_layers,
            decoder_layers,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &MarianConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Rows `table[id] * scale + positions[position]` for each `(id, position)`.
    fn embed(&self, table: &[f32], tokens: impl Iterator<Item = (u32, usize)>) -> Result<Vec<f32>> {
        let d = self.config.d_model;
        let mut xs = Vec::new();
        for (id, pos) in tokens {
            let row = table
                .get(id as usize * d..(id as usize + 1) * d)
                .ok_or_else(|| Error::invalid_input("marian", format!("token id {id} is outside the model's vocabulary")))?;
            let position = self.positions.get(pos * d..(pos + 1) * d).ok_or_else(|| {
                Error::invalid_input(
                    "marian",
                    format!("position {pos} is past max_position_embeddings {}", self.config.max_position_embeddings),
                )
            })?;
            xs.extend(row.iter().zip(position).map(|(e, p)| e * self.embed_scale + p));
        }
        Ok(xs)
    }

    fn decoder_table(&self) -> &[f32] {
        self.decoder_embed.as_deref().unwrap_or(&self.encoder_embed)
    }

    /// Encodes a batch of sources (each already ending in EOS, each at most
    /// `max_position_embeddings` long), padded on the right.
    pub fn encode(&self, sources: &[Vec<u32>]) -> Result<Encoded> {
        let s = sources.iter().map(Vec::len).max().unwrap_or(0);
        if s > self.config.max_position_embeddings {
            return Err(Error::invalid_input(
                "marian",
                format!("a source of {s} tokens exceeds max_position_embeddings {}", self.config.max_position_embeddings),
            ));
        }
        let (d, pad) = (self.config.d_model, self.config.pad_token_id);
        let lens: Vec<usize> = sources.iter().map(Vec::len).collect();
        let padded = sources.iter().flat_map(|src| src.iter().copied().chain(std::iter::repeat(pad)).take(s).zip(0..s));
        let mut xs = self.embed(&self.encoder_embed, padded)?;
        let act = self.config.activation_function;
        for layer in &self.encoder_layers {
            let a = &layer.self_attn;
            let qkv = a.qkv.forward(&xs);
            let keys = Keys { data: &qkv[d..], count: |r: usize| lens[r / s], at: |r: usize, j: usize| ((r / s) * s + j) * 3 * d };
            let mut attn = vec![0f32; xs.len()];
            attention::attend(&qkv, 3 * d, d, a.heads, &keys, &mut attn);
            layer.self_attn_layer_norm.add_and_normalize(&mut xs, &a.out_proj.forward(&attn));
            self.feed_forward(&mut xs, &layer.fc1, &layer.fc2, &layer.final_layer_norm, act);
        }
        Ok(Encoded { hidden: xs, lens, len: s })
    }

    /// `xs = norm(xs + fc2(act(fc1(xs))))`
    fn feed_forward(&self, xs: &mut [f32], fc1: &Linear, fc2: &Linear, norm: &Norm, act: Activation) {
        let mut h = fc1.forward(xs);
        activate(&mut h, act);
        norm.add_and_normalize(xs, &fc2.forward(&h));
    }

    /// A fresh decoder state for `encoded` with `beams` rows per input: cross-attention K/V of
    /// every layer, computed once.
    pub fn start_decoding(&self, encoded: &Encoded, beams: usize) -> Result<DecoderCache> {
        let cross_kv = self.decoder_layers.iter().map(|l| l.encoder_attn.kv.forward(&encoded.hidden)).collect();
        Ok(DecoderCache {
            self_kv: vec![Vec::new(); self.decoder_layers.len()],
            step_start: Vec::new(),
            lineage: vec![Vec::new(); encoded.items() * beams],
            cross_kv,
            items: (0..encoded.items() as u32).collect(),
            src_lens: encoded.lens.clone(),
            src_len: encoded.len,
            beams,
        })
    }

    /// Feeds one token per live row (`ids`, item-major) after what `cache` holds; returns the
    /// logits, rows × vocab.
    pub fn decode_last(&self, ids: &[u32], cache: &mut DecoderCache) -> Result<Vec<f32>> {
        let rows = cache.lineage.len();
        if ids.len() != rows {
            return Err(Error::invalid_input("marian", format!("{} decoder inputs for {rows} cached rows", ids.len())));
        }
        let (d, past) = (self.config.d_model, cache.len());
        let mut xs = self.embed(self.decoder_table(), ids.iter().map(|&id| (id, past)))?;
        let start = cache.self_kv.first().map_or(0, |kv| kv.len() / (2 * d));
        cache.step_start.push(start);
        for (r, lineage) in cache.lineage.iter_mut().enumerate() {
            lineage.push(r as u32);
        }
        let (step_start, lineage) = (&cache.step_start, &cache.lineage);
        let items: Vec<usize> = (0..rows).map(|r| cache.items[r / cache.beams] as usize).collect();
        for ((layer, self_kv), cross_kv) in self.decoder_layers.iter().zip(&mut cache.self_kv).zip(&cache.cross_kv) {
            self.decoder_layer(layer, &mut xs, cross_kv, &items, (cache.src_len, &cache.src_lens), |qkv, attn| {
                for row in qkv.chunks_exact(3 * d) {
                    self_kv.extend_from_slice(&row[d..]);
                }
                let at = |r: usize, j: usize| (step_start[j] + lineage[r][j] as usize) * 2 * d;
                let keys = Keys { data: self_kv, count: |_| past + 1, at };
                attention::attend(qkv, 3 * d, d, layer.self_attn.heads, &keys, attn);
            });
        }
        Ok(self.lm_head.forward(&xs))
    }

    /// One decoder layer on `xs` (rows × d), row `r` belonging to encoded item `items[r]`;
    /// `self_attend(qkv, out)` fills the self-attention output from the rows' `q | k | v`.
    fn decoder_layer(
        &self,
        layer: &DecoderLayer,
        xs: &mut [f32],
        cross_kv: &[f32],
        items: &[usize],
        (src_len, src_lens): (usize, &[usize]),
        self_attend: impl FnOnce(&[f32], &mut [f32]),
    ) {
        let d = self.config.d_model;
        let mut attn = vec![0f32; xs.len()];
        self_attend(&layer.self_attn.qkv.forward(xs), &mut attn);
        layer.self_attn_layer_norm.add_and_normalize(xs, &layer.self_attn.out_proj.forward(&attn));

        let c = &layer.encoder_attn;
        let q = c.q_proj.forward(xs);
        let keys = Keys { data: cross_kv, count: |r: usize| src_lens[items[r]], at: |r: usize, j: usize| (items[r] * src_len + j) * 2 * d };
        attention::attend(&q, d, d, c.heads, &keys, &mut attn);
        layer.encoder_attn_layer_norm.add_and_normalize(xs, &c.out_proj.forward(&attn));

        self.feed_forward(xs, &layer.fc1, &layer.fc2, &layer.final_layer_norm, self.config.activation_function);
    }

    /// Logits of every position, rows × t × vocab, when the `t` tokens of each row of `targets`
    /// (`beams` rows per input of `encoded`) are fed at once with a causal mask and no cache:
    /// the reference the cached path is tested against.
    pub fn decode_all(&self, encoded: &Encoded, beams: usize, targets: &[Vec<u32>]) -> Result<Vec<f32>> {
        let d = self.config.d_model;
        let t = targets.first().map_or(0, Vec::len);
        if targets.iter().any(|row| row.len() != t) || targets.len() != encoded.items() * beams {
            return Err(Error::invalid_input("marian", "decode_all needs `beams` rows per input, all of one length"));
        }
        let mut xs = self.embed(self.decoder_table(), targets.iter().flat_map(|row| row.iter().copied().zip(0..t)))?;
        let items: Vec<usize> = (0..targets.len() * t).map(|q| q / t / beams).collect();
        let cross = self.start_decoding(encoded, beams)?;
        for (layer, cross_kv) in self.decoder_layers.iter().zip(&cross.cross_kv) {
            self.decoder_layer(layer, &mut xs, cross_kv, &items, (encoded.len, &encoded.lens), |qkv, attn| {
                let keys = Keys { data: &qkv[d..], count: |q: usize| q % t + 1, at: |q: usize, j: usize| (q / t * t + j) * 3 * d };
                attention::attend(qkv, 3 * d, d, layer.self_attn.heads, &keys, attn);
            });
        }
        Ok(self.lm_head.forward(&xs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_positions_put_cosines_in_the_second_half() {
        let table = sinusoidal_positions(3, 4);
        // dim 4: j=0,1 -> sin(pos / 10000^(0, 2/4)); j=2,3 -> cos(pos / 10000^(0, 2/4)).
        assert_eq!(table[..4], [0.0, 0.0, 1.0, 1.0]);
        let p = 2f64;
        let want = [p.sin(), (p / 100.0).sin(), p.cos(), (p / 100.0).cos()].map(|x| x as f32);
        assert_eq!(table[8..], want);
    }

    #[test]
    fn a_stacked_layer_has_each_layers_outputs_side_by_side() {
        let weight: Vec<f32> = (0..5 * 4).map(|i| i as f32 / 7.0).collect();
        let bias: Vec<f32> = (0..5).map(|i| i as f32).collect();
        let xs: Vec<f32> = (0..3 * 4).map(|i| 1.0 - i as f32 / 5.0).collect();
        let one = Linear::new(&weight, &bias, 5, 4, Precision::F32).forward(&xs);
        let two = Linear::new(&[&weight[..], &weight].concat(), &[&bias[..], &bias].concat(), 10, 4, Precision::F32).forward(&xs);
        for (r, row) in two.chunks_exact(10).enumerate() {
            assert_eq!(row[..5], one[r * 5..(r + 1) * 5]);
            assert_eq!(row[5..], one[r * 5..(r + 1) * 5]);
        }
    }
}
