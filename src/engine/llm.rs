//! Decoder-only transformer over GGUF weights (architectures `qwen2`, `qwen3`, `llama` and
//! `gemma3`). The model is stateless: every call takes the sequences' [`KvCache`]s, so one loaded
//! model serves any number of sequences, and one forward pass can advance many of them at once.
//!
//! The numerics follow llama.cpp's CPU backend operation by operation (see [`super::quant`] for
//! the matrix products), so that greedy decoding picks the same tokens as llama.cpp.

use std::sync::OnceLock;

use half::f16;

use super::cpu::{f16_to_f32, hsum};
use super::gguf::GgufFile;
use super::kv_cache::KvCache;
use super::quant::{matmul_rows_many, QMatrix, RowMode};
use crate::{lanes_dispatch, simd_dispatch};
use crate::{Error, Result};

mod shapes;

/// Architectures this engine runs (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Qwen2 / Qwen2.5: biases on q/k/v, NeoX-style (split-half) rotary embedding.
    Qwen2,
    /// Qwen3 (dense): no biases, an RMS norm on every query and key head before the rotary
    /// embedding (NeoX-style), head size from `attention.key_length`.
    Qwen3,
    /// Llama 2/3, SmolLM2, ...: no biases, interleaved rotary embedding.
    Llama,
    /// Gemma 3: embeddings scaled by √n_embd, RMS norms before and after attention and
    /// feed-forward, query and key head norms, GELU-gated feed-forward, sliding-window attention
    /// on five layers of six (with their own rotary base), queries scaled before attention.
    Gemma3,
}

/// The architectures [`LlmConfig::from_gguf`] accepts, as named in GGUF.
pub const SUPPORTED_ARCHITECTURES: &str = "qwen2, qwen3, llama, gemma3";

impl Arch {
    /// The name of the architecture in GGUF (`general.architecture`, the `{arch}.` key prefix).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Llama => "llama",
            Arch::Gemma3 => "gemma3",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "llama" => Arch::Llama,
            "gemma3" => Arch::Gemma3,
            _ => return None,
        })
    }

    /// Whether the rotary embedding pairs dimension i with i + head_dim/2 (llama.cpp's
    /// `LLAMA_ROPE_TYPE_NEOX`) rather than 2i with 2i + 1 (`LLAMA_ROPE_TYPE_NORM`).
    fn neox_rope(self) -> bool {
        !matches!(self, Arch::Llama)
    }

    /// Whether every query and key head goes through its own RMS norm (`attn_q_norm`,
    /// `attn_k_norm`) before the rotary embedding.
    fn head_norms(self) -> bool {
        matches!(self, Arch::Qwen3 | Arch::Gemma3)
    }
}

/// Sliding-window attention on some layers (llama.cpp's `LLAMA_SWA_TYPE_STANDARD`): on those, a
/// token at position p attends to the positions p - window + 1 ..= p only (llama.cpp masks
/// position p0 when `p - p0 >= window`).
///
/// The cache keeps every position of these layers, as llama.cpp's full-size sliding-window
/// cache does (`swa_full`, the default of its C API and so of llama-cpp-python): there a
/// sequence's keys stay in the cell of their position, which decides the lanes of the attention
/// sums. (With `swa_full` off, llama.cpp reuses the cells of positions out of the window once
/// its smaller cache is full, and the lanes, so the last bits, change from then on.)
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    pub window: usize,
    /// Per layer: whether it is a sliding-window layer.
    pub layers: Vec<bool>,
    /// The rotary embedding's base on sliding-window layers (`rope.freq_base_swa`, else 10000).
    pub rope_freq_base: f32,
}

/// The most layers a model may have (llama.cpp's `LLAMA_MAX_LAYERS`).
const MAX_LAYERS: usize = 512;

/// The widest attention (heads × head size) a model may have; the largest models llama.cpp
/// runs are under 2^15.
const MAX_WIDTH: usize = 1 << 20;

/// Hyper-parameters read from `{arch}.*` GGUF metadata, with llama.cpp's defaults, each checked
/// to be in range and consistent with the others (heads divide the width, KV heads divide the
/// heads, a context of at least one position, ...); errors name the key.
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
    /// Linear rotary scaling of the layers without a sliding window: positions are multiplied by
    /// this (`1 / rope.scaling.factor`; 1 without scaling).
    pub rope_freq_scale: f32,
    pub sliding_window: Option<SlidingWindow>,
    /// Multiplies the attention scores in the softmax (llama.cpp's `kq_scale`).
    pub kq_scale: f32,
    /// Multiplies the queries before attention, when the architecture does so instead of
    /// scaling the scores (Gemma's `query_pre_attn_scalar`).
    pub query_scale: Option<f32>,
    /// Multiplies the token embeddings (Gemma: √n_embd).
    pub embedding_scale: Option<f32>,
    /// `logits = cap · tanh(logits / cap)` (`final_logit_softcapping`).
    pub final_logit_softcap: Option<f32>,
}

impl LlmConfig {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let name = gguf.architecture()?;
        let Some(arch) = Arch::from_name(&name) else {
            return Err(Error::model(
                gguf.path(),
                format!("architecture `{name}` (general.architecture) is not supported; supported: {SUPPORTED_ARCHITECTURES}"),
            ));
        };
        let unsupported = |what: String| Err(Error::model(gguf.path(), format!("{what} is not supported (architecture {name})")));
        let key = |k: &str| format!("{name}.{k}");
        let opt_u32 = |k: &str| -> Result<Option<u32>> {
            if gguf.has(&key(k)) {
                gguf.u32(&key(k)).map(Some)
            } else {
                Ok(None)
            }
        };
        let opt_f32 = |k: &str| -> Result<Option<f32>> {
            if gguf.has(&key(k)) {
                gguf.f32(&key(k)).map(Some)
            } else {
                Ok(None)
            }
        };
        let bad = |k: &str, what: String| Error::model(gguf.path(), format!("metadata key `{}` {what}", key(k)));
        let n_layer = gguf.u32(&key("block_count"))? as usize;
        if !(1..=MAX_LAYERS).contains(&n_layer) {
            return Err(bad("block_count", format!("is {n_layer}, expected 1 to {MAX_LAYERS} layers")));
        }
        let n_head = gguf.u32(&key("attention.head_count"))? as usize;
        if n_head == 0 {
            return Err(bad("attention.head_count", "is 0, expected at least one head".into()));
        }
        let n_embd = gguf.u32(&key("embedding_length"))? as usize;
        if n_embd == 0 {
            return Err(bad("embedding_length", "is 0, expected a width > 0".into()));
        }
        let n_kv_head = opt_u32("attention.head_count_kv")?.map_or(n_head, |v| v as usize);
        if n_kv_head == 0 || n_kv_head > n_head || !n_head.is_multiple_of(n_kv_head) {
            return Err(bad("attention.head_count_kv", format!("is {n_kv_head}, expected a divisor of the {n_head} heads")));
        }
        // Without an explicit head size, the heads split the width.
        let (key_length, value_length) = (opt_u32("attention.key_length")?, opt_u32("attention.value_length")?);
        if (key_length.is_none() || value_length.is_none()) && !n_embd.is_multiple_of(n_head) {
            return Err(bad("attention.head_count", format!("is {n_head}, which does not divide the width {n_embd} (embedding_length)")));
        }
        let head_dim = key_length.map_or(n_embd / n_head, |v| v as usize);
        let value_dim = value_length.map_or(n_embd / n_head, |v| v as usize);
        if value_dim != head_dim {
            return unsupported(format!("a value head size ({value_dim}) other than the key head size ({head_dim})"));
        }
        if let Some(n_rot) = opt_u32("rope.dimension_count")? {
            if n_rot as usize != head_dim {
                return unsupported(format!("a rotary embedding over {n_rot} of the {head_dim} head dimensions"));
            }
        }
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(bad("attention.key_length", format!("gives a head size of {head_dim}, expected an even size > 0")));
        }
        if n_head.checked_mul(head_dim).is_none_or(|width| width > MAX_WIDTH) {
            return Err(bad("attention.head_count", format!("is {n_head} heads of {head_dim}: wider than {MAX_WIDTH}")));
        }
        let context_length = gguf.u32(&key("context_length"))? as usize;
        if context_length == 0 {
            return Err(bad("context_length", "is 0, expected at least one position".into()));
        }
        let rms_norm_eps = gguf.f32(&key("attention.layer_norm_rms_epsilon"))?;
        if !(rms_norm_eps.is_finite() && (0.0..1.0).contains(&rms_norm_eps)) {
            return Err(bad("attention.layer_norm_rms_epsilon", format!("is {rms_norm_eps}, expected a number from 0 to 1")));
        }
        let positive = |k: &str, default: f32| -> Result<f32> {
            let value = opt_f32(k)?.unwrap_or(default);
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(bad(k, format!("is {value}, expected a finite number > 0")))
            }
        };
        let rope_freq_base = positive("rope.freq_base", 10_000.0)?;
        // Rotary scaling, as llama.cpp reads it: `rope.scaling.type` (default linear) and the
        // factor (`rope.scaling.factor`, else the older `rope.scale_linear`).
        let scaling =
            if gguf.has(&key("rope.scaling.type")) { gguf.string(&key("rope.scaling.type"))?.to_string() } else { "linear".into() };
        let factor = match opt_f32("rope.scaling.factor")? {
            Some(f) => f,
            None => opt_f32("rope.scale_linear")?.unwrap_or(0.0),
        };
        if !(factor.is_finite() && factor >= 0.0) {
            return Err(bad("rope.scaling.factor", format!("is {factor}, expected a finite number >= 0")));
        }
        let rope_freq_scale = match scaling.as_str() {
            "none" => 1.0,
            "linear" => {
                if factor == 0.0 {
                    1.0
                } else {
                    1.0 / factor
                }
            }
            other => return unsupported(format!("rotary scaling `{other}`")),
        };
        if opt_f32("rope.scaling.attn_factor")?.is_some_and(|f| f != 1.0) {
            return unsupported("a rotary attention factor".into());
        }
        let mut sliding_window = None;
        let (mut kq_scale, mut query_scale, mut embedding_scale, mut final_logit_softcap) =
            (1.0 / (head_dim as f32).sqrt(), None, None, None);
        if arch == Arch::Gemma3 {
            // llama.cpp's gemma3: sliding windows when `attention.sliding_window` > 0, on the
            // layers of `attention.sliding_window_pattern` (an array of flags, or n: every layer
            // but each n-th, default 6); their rotary base is `rope.freq_base_swa` (default 10000)
            // without scaling.
            if let Some(window) = opt_u32("attention.sliding_window")?.filter(|&w| w > 0) {
                let pattern_key = key("attention.sliding_window_pattern");
                let layers = match gguf.has(&pattern_key) {
                    true if gguf.is_array(&pattern_key) => {
                        let flags = gguf.bools(&pattern_key)?;
                        if flags.len() != n_layer {
                            return Err(Error::model(
                                gguf.path(),
                                format!("`{pattern_key}` has {} flags for {n_layer} layers", flags.len()),
                            ));
                        }
                        flags
                    }
                    has => {
                        let n = if has { gguf.u32(&pattern_key)? as usize } else { 6 };
                        (0..n_layer).map(|il| n == 0 || il % n < n - 1).collect()
                    }
                };
                let rope_freq_base = positive("rope.freq_base_swa", 10_000.0)?;
                sliding_window = Some(SlidingWindow { window: window as usize, layers, rope_freq_base });
            }
            // The queries are scaled by 1/√head_dim (27B: 1/√(n_embd/n_head)), the scores not.
            let scale_dim = if n_layer == 62 { (n_embd / n_head) as f32 } else { head_dim as f32 };
            query_scale = Some(1.0 / scale_dim.sqrt());
            kq_scale = 1.0;
            embedding_scale = Some((n_embd as f32).sqrt());
            final_logit_softcap = opt_f32("final_logit_softcapping")?.filter(|&c| c != 0.0);
            if let Some(cap) = final_logit_softcap.filter(|c| !(c.is_finite() && *c > 0.0)) {
                return Err(bad("final_logit_softcapping", format!("is {cap}, expected a finite number > 0")));
            }
        }
        Ok(Self {
            arch,
            n_layer,
            n_head,
            n_kv_head,
            n_embd,
            head_dim,
            context_length,
            rms_norm_eps: rms_norm_eps as f64,
            rope_freq_base,
            rope_freq_scale,
            sliding_window,
            kq_scale,
            query_scale,
            embedding_scale,
            final_logit_softcap,
        })
    }

    /// The positions a token at `pos` attends to on `layer`: its sliding window, or all before it.
    fn visible(&self, layer: usize, pos: usize) -> std::ops::Range<usize> {
        match &self.sliding_window {
            Some(swa) if swa.layers[layer] => (pos + 1).saturating_sub(swa.window)..pos + 1,
            _ => 0..pos + 1,
        }
    }
}

/// A projection: quantized weights and an optional f32 bias.
struct Linear {
    weight: QMatrix,
    bias: Option<Vec<f32>>,
}

impl Linear {
    fn load(gguf: &mut GgufFile, name: &str) -> Result<Self> {
        let weight = gguf.matrix(&format!("{name}.weight"))?;
        let bias_name = format!("{name}.bias");
        let bias = if gguf.has_tensor(&bias_name) { Some(gguf.vector(&bias_name)?) } else { None };
        Ok(Self { weight, bias })
    }

    /// `xs · Wᵀ + b` for `xs` of any number of rows (`modes`: see [`QMatrix::matmul_rows`]).
    fn forward(&self, xs: &[f32], modes: &[RowMode]) -> Vec<f32> {
        let ys = self.weight.matmul_rows(xs, modes);
        self.add_bias(ys)
    }

    /// Several projections of the same input in one parallel pass.
    fn forward_many<const N: usize>(linears: [&Linear; N], xs: &[f32], modes: &[RowMode]) -> [Vec<f32>; N] {
        let weights: Vec<&QMatrix> = linears.iter().map(|l| &l.weight).collect();
        let mut ys = matmul_rows_many(&weights, xs, modes).into_iter();
        linears.map(|l| l.add_bias(ys.next().expect("one product per matrix")))
    }

    fn add_bias(&self, mut ys: Vec<f32>) -> Vec<f32> {
        if let Some(bias) = &self.bias {
            for row in ys.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(y, b)| *y += b);
            }
        }
        ys
    }
}

struct Block {
    attn_norm: Vec<f32>,
    q: Linear,
    k: Linear,
    v: Linear,
    /// Per-head RMS norm weights of the queries and keys (`head_dim` each), if the architecture
    /// has them.
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    output: Linear,
    /// RMS norm of the attention's output before the residual addition (Gemma).
    post_attn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// RMS norm of the feed-forward's output before the residual addition (Gemma).
    post_ffn_norm: Option<Vec<f32>>,
}

/// How llama.cpp would have computed a step's tokens, which decides a few roundings (see
/// [`QMatrix::matmul_rows`] and `attend_row`). llama.cpp evaluates a prompt in batches of up to
/// 512 tokens and generated tokens one at a time; in a batch of `n` tokens its first `n - n % 4`
/// rows go through its 4-row Q4_K GEMM, and a batch of two or more tokens multiplies attention
/// through its own f16 GEMM rather than row dot products.
///
/// A token's logits depend on its sequence, its position and this kind only: never on what
/// else is in the forward pass, nor on how a prompt was cut into steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Tokens of a prompt of `len` tokens evaluated from position 0.
    Prompt { len: usize },
    /// Generated tokens fed back one at a time (or draft tokens checked at once).
    Decode,
}

/// One sequence's part of a batched forward pass: its new tokens, its cache (which receives
/// their keys and values), and which logits it needs.
pub struct Step<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
    pub kind: StepKind,
    /// The logits of every new token (for speculative verification), not only the last.
    pub all_logits: bool,
}

/// Rows of a pass whose feed-forward runs at once (its two hidden activations, 8960 wide in the
/// 1.5B model, take 9 MB each).
const FFN_BLOCK_ROWS: usize = 256;

/// llama.cpp's prompt batch size (`n_batch` = `n_ubatch` = 512).
const LLAMA_UBATCH: usize = 512;

/// For a token at `pos`: how its matrix products are computed, and whether its attention goes
/// through llama.cpp's f16 GEMM.
fn row_style(kind: StepKind, pos: usize) -> (RowMode, bool) {
    match kind {
        StepKind::Decode => (RowMode::default(), false),
        StepKind::Prompt { len } => {
            let start = pos / LLAMA_UBATCH * LLAMA_UBATCH;
            let batch = LLAMA_UBATCH.min(len.saturating_sub(start)).max(1);
            (RowMode { gemm: pos - start < batch - batch % 4, tiled: batch >= 8, sgemm: batch >= 2 }, batch >= 2)
        }
    }
}

pub struct Llm {
    config: LlmConfig,
    tok_embeddings: QMatrix,
    /// `None` when the output projection is tied to the embeddings.
    output: Option<QMatrix>,
    output_norm: Vec<f32>,
    /// Divisors of the rotary angle per pair of head dimensions (Llama 3.1's `rope_freqs`).
    rope_factors: Option<Vec<f32>>,
    blocks: Vec<Block>,
    vocab: usize,
}

impl Llm {
    pub fn load(gguf: &mut GgufFile) -> Result<Self> {
        let config = LlmConfig::from_gguf(gguf)?;
        // Every tensor's presence and shape, before any is read: the forward pass trusts them.
        let vocab = shapes::check(gguf, &config)?;
        let tok_embeddings = gguf.matrix("token_embd.weight")?;
        let output = if gguf.has_tensor("output.weight") { Some(gguf.matrix("output.weight")?) } else { None };
        let output_norm = gguf.vector("output_norm.weight")?;
        let rope_factors = if gguf.has_tensor(shapes::ROPE_FREQS) {
            let factors = gguf.vector(shapes::ROPE_FREQS)?;
            if let Some((i, f)) = factors.iter().enumerate().find(|(_, f)| !(f.is_finite() && **f > 0.0)) {
                let message = format!("tensor `{}` holds {f} at {i}, expected finite factors > 0", shapes::ROPE_FREQS);
                return Err(Error::model(gguf.path(), message));
            }
            Some(factors)
        } else {
            None
        };
        let (head_norms, post_norms) = (config.arch.head_norms(), config.arch == Arch::Gemma3);
        let optional = |gguf: &mut GgufFile, wanted: bool, name: String| if wanted { gguf.vector(&name).map(Some) } else { Ok(None) };
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: gguf.vector(&format!("{p}.attn_norm.weight"))?,
                q: Linear::load(gguf, &format!("{p}.attn_q"))?,
                k: Linear::load(gguf, &format!("{p}.attn_k"))?,
                v: Linear::load(gguf, &format!("{p}.attn_v"))?,
                q_norm: optional(gguf, head_norms, format!("{p}.attn_q_norm.weight"))?,
                k_norm: optional(gguf, head_norms, format!("{p}.attn_k_norm.weight"))?,
                output: Linear::load(gguf, &format!("{p}.attn_output"))?,
                post_attn_norm: optional(gguf, post_norms, format!("{p}.post_attention_norm.weight"))?,
                ffn_norm: gguf.vector(&format!("{p}.ffn_norm.weight"))?,
                gate: Linear::load(gguf, &format!("{p}.ffn_gate"))?,
                up: Linear::load(gguf, &format!("{p}.ffn_up"))?,
                down: Linear::load(gguf, &format!("{p}.ffn_down"))?,
                post_ffn_norm: optional(gguf, post_norms, format!("{p}.post_ffw_norm.weight"))?,
            });
        }
        Ok(Self { config, tok_embeddings, output, output_norm, rope_factors, blocks, vocab })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.n_layer, self.config.n_kv_head * self.config.head_dim)
    }

    /// Runs `tokens` at positions `cache.len()..` and returns the logits of the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, kind: StepKind) -> Result<Vec<f32>> {
        let mut logits = self.forward_batch(&mut [Step { tokens, cache, kind, all_logits: false }])?;
        Ok(logits.pop().expect("one step, one row of logits"))
    }

    /// One forward pass over several sequences at once: every step's tokens run at positions
    /// `cache.len()..` of its own cache. Returns, step after step, the logits of its last token
    /// (or of all its tokens with `all_logits`), each `vocab_size()` long.
    ///
    /// Every operation works row by row and every dot product is computed the same way whatever
    /// the number of rows, so a token's logits are bit-identical however the tokens were
    /// batched: alone, with other sequences, or several positions of one sequence at once.
    pub fn forward_batch(&self, steps: &mut [Step]) -> Result<Vec<Vec<f32>>> {
        let c = &self.config;
        // Row r of the batch: (step, position), and how llama.cpp would have computed it.
        let mut rows = Vec::new();
        let mut modes = Vec::new();
        let mut gemm_attention = Vec::new();
        for (s, step) in steps.iter().enumerate() {
            if step.tokens.is_empty() {
                return Err(Error::Config("forward called with no tokens".into()));
            }
            let start = step.cache.len();
            if start + step.tokens.len() > c.context_length {
                return Err(Error::Config(format!(
                    "sequence of {} tokens exceeds the model's context length of {}",
                    start + step.tokens.len(),
                    c.context_length
                )));
            }
            for pos in start..start + step.tokens.len() {
                rows.push((s, pos));
                let (mode, attention) = row_style(step.kind, pos);
                modes.push(mode);
                gemm_attention.push(attention);
            }
        }
        let n = rows.len();
        let mut xs = vec![0f32; n * c.n_embd];
        for (x, &token) in xs.chunks_exact_mut(c.n_embd).zip(steps.iter().flat_map(|s| s.tokens)) {
            if token as usize >= self.tok_embeddings.rows() {
                return Err(Error::Config(format!("token id {token} is outside the vocabulary")));
            }
            self.tok_embeddings.dequantize_row(token as usize, x);
        }
        if let Some(scale) = c.embedding_scale {
            // ggml_scale: one f32 product per value.
            xs.iter_mut().for_each(|x| *x *= scale);
        }
        let positions = || rows.iter().map(|&(_, pos)| pos);
        let rope = Rope::new(c.rope_freq_base, c.rope_freq_scale, self.rope_factors.as_deref(), c.head_dim, positions());
        // Sliding-window layers have their own base, without scaling.
        let rope_swa = c.sliding_window.as_ref().map(|swa| Rope::new(swa.rope_freq_base, 1.0, None, c.head_dim, positions()));
        let neox = c.arch.neox_rope();
        let eps = c.rms_norm_eps as f32;
        let kv_width = c.n_kv_head * c.head_dim;
        // The rows whose logits are wanted: a step's last, or all its rows with `all_logits`.
        // Like llama.cpp, the last layer's feed-forward runs on those rows only; when a step
        // wants one row, that row is a batch of one (llama.cpp's GEMV) there.
        let mut wanted = Vec::new();
        let mut wanted_modes = Vec::new();
        let mut first = 0;
        for step in steps.iter() {
            let len = step.tokens.len();
            let from = if step.all_logits { first } else { first + len - 1 };
            wanted.extend(from..first + len);
            wanted_modes.extend((from..first + len).map(|r| if step.all_logits { modes[r] } else { RowMode::default() }));
            first += len;
        }
        let last_layer = self.blocks.len() - 1;
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = rms_norm(&xs, &block.attn_norm, eps);
            let [mut q, mut k, v] = Linear::forward_many([&block.q, &block.k, &block.v], &h, &modes);
            // Head norms: ggml_rms_norm over each head's `head_dim` values, times the weight.
            if let Some(norm) = &block.q_norm {
                q = rms_norm(&q, norm, eps);
            }
            if let Some(norm) = &block.k_norm {
                k = rms_norm(&k, norm, eps);
            }
            let swa = c.sliding_window.as_ref().is_some_and(|swa| swa.layers[layer]);
            let rope = if swa { rope_swa.as_ref().expect("built with the sliding window") } else { &rope };
            rope.apply(&mut q, c.n_head, c.head_dim, neox);
            rope.apply(&mut k, c.n_kv_head, c.head_dim, neox);
            if let Some(scale) = c.query_scale {
                // ggml_scale of the rotated queries, in f32, before their rounding to f16 for
                // the product with the keys.
                q.iter_mut().for_each(|x| *x *= scale);
            }
            let mut first = 0;
            for step in steps.iter_mut() {
                let len = step.tokens.len();
                let span = first * kv_width..(first + len) * kv_width;
                step.cache.append(layer, &k[span.clone()], &v[span]);
                first += len;
            }
            let caches: Vec<&KvCache> = steps.iter().map(|s| &*s.cache).collect();
            let attended = self.attention(&q, &rows, &gemm_attention, &caches, layer);
            let mut o = block.output.forward(&attended, &modes);
            if let Some(norm) = &block.post_attn_norm {
                o = rms_norm(&o, norm, eps);
            }
            xs.iter_mut().zip(&o).for_each(|(x, o)| *x += o);
            let ffn_modes = if layer == last_layer {
                xs = wanted.iter().flat_map(|&r| xs[r * c.n_embd..(r + 1) * c.n_embd].iter().copied()).collect();
                &wanted_modes
            } else {
                &modes
            };
            // In blocks of rows, so that a long prompt's hidden activations (36 KB a row) stay
            // below malloc's mmap threshold and are reused from one block and layer to the
            // next instead of being mapped, faulted in and unmapped each time.
            for (xs, modes) in xs.chunks_mut(FFN_BLOCK_ROWS * c.n_embd).zip(ffn_modes.chunks(FFN_BLOCK_ROWS)) {
                let h = rms_norm(xs, &block.ffn_norm, eps);
                let [mut gate, up] = Linear::forward_many([&block.gate, &block.up], &h, modes);
                match c.arch {
                    Arch::Gemma3 => geglu(&mut gate, &up),
                    Arch::Qwen2 | Arch::Qwen3 | Arch::Llama => swiglu(&mut gate, &up),
                }
                let mut d = block.down.forward(&gate, modes);
                if let Some(norm) = &block.post_ffn_norm {
                    d = rms_norm(&d, norm, eps);
                }
                xs.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
            }
        }
        // `xs` now holds the wanted rows only, as does llama.cpp's output projection.
        let normed = rms_norm(&xs, &self.output_norm, eps);
        let mut logits = self.output.as_ref().unwrap_or(&self.tok_embeddings).matmul_rows(&normed, &wanted_modes);
        if let Some(cap) = c.final_logit_softcap {
            // ggml_scale by 1/cap, ggml_tanh (tanhf), ggml_scale by cap.
            let inv = 1.0 / cap;
            logits.iter_mut().for_each(|l| *l = (*l * inv).tanh() * cap);
        }
        let mut first = 0;
        Ok(steps
            .iter()
            .map(|step| {
                let count = if step.all_logits { step.tokens.len() } else { 1 };
                let rows = logits[first * self.vocab..(first + count) * self.vocab].to_vec();
                first += count;
                rows
            })
            .collect())
    }

    /// Causal attention of every row's query heads over its own sequence's cache, which already
    /// holds this call's keys and values (on a sliding-window layer, over the window's positions
    /// only). Rows are independent; they run in parallel.
    fn attention(&self, q: &[f32], rows: &[(usize, usize)], gemm: &[bool], caches: &[&KvCache], layer: usize) -> Vec<f32> {
        let c = &self.config;
        let hd = c.head_dim;
        let mut out = vec![0f32; rows.len() * c.n_head * hd];
        // One task per (row, head): a single generated token still uses every core.
        let tasks: Vec<_> = out.chunks_mut(hd).zip(q.chunks(hd)).enumerate().collect();
        super::pool::for_each(tasks, |(i, (out, q))| {
            let (row, head) = (i / c.n_head, i % c.n_head);
            let (s, pos) = rows[row];
            let (keys, values) = caches[s].layer(layer);
            attend_head(c, q, head, keys, values, c.visible(layer, pos), gemm[row], out);
        });
        out
    }
}

lanes_dispatch! {
    /// Attention of one query head over the cached positions `visible`, with llama.cpp's
    /// numerics: the query rounded to f16 like the f16 keys it is multiplied with, scores
    /// scaled, softmax with ggml's vectorized exp and its grouping of the sum, probabilities
    /// rounded to f16 for the product with the f16 values; every sum in the lanes of
    /// llama.cpp's float vectors on this CPU ([`super::cpu::float_lanes`]).
    ///
    /// llama.cpp computes every cached position and masks the others to -inf, whose
    /// probabilities are zeros: they add nothing to the sums, but the visible positions keep
    /// the lanes of their index in the cache (for one sequence from an empty cache, its
    /// position). Positions outside `visible` are skipped with the lanes of the others kept.
    #[allow(clippy::too_many_arguments)]
    fn attend_head(c: &LlmConfig, q: &[f32], head: usize, keys: &[f16], values: &[f16], visible: std::ops::Range<usize>, gemm: bool, out: &mut [f32]) = attend_head_impl;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_head_impl<const L: usize>(
    c: &LlmConfig,
    q: &[f32],
    head: usize,
    keys: &[f16],
    values: &[f16],
    visible: std::ops::Range<usize>,
    gemm: bool,
    out: &mut [f32],
) {
    let hd = c.head_dim;
    let kv_width = c.n_kv_head * hd;
    let group = c.n_head / c.n_kv_head;
    let scale = c.kq_scale;
    let qh = &super::cpu::round_to_f16(q)[..];
    // Scores from the first visible position's group of L to the end of the last one, the
    // positions outside `visible` with zero probabilities.
    let base = visible.start / L * L;
    let padded = visible.end.div_ceil(L) * L - base;
    let mut scores = vec![0f32; padded];
    let kv = head / group;
    for j in visible.clone() {
        let k = &keys[j * kv_width + kv * hd..j * kv_width + (kv + 1) * hd];
        scores[j - base] = if gemm { tinyblas_dot::<L>(qh, k) } else { dot_f16_style::<L>(qh, k) } * scale;
    }
    let max = scores[visible.start - base..visible.end - base].iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut sum = 0f64;
    for (chunk, group_scores) in scores.chunks_exact_mut(L).enumerate() {
        let mut lanes = [0f32; L];
        for (l, s) in group_scores.iter_mut().enumerate() {
            let e = if visible.contains(&(base + chunk * L + l)) { expf::<L>(*s - max) } else { 0.0 };
            *s = e;
            lanes[l] = e;
        }
        sum += hsum::<L>(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    scores.iter_mut().for_each(|e| *e *= inv);
    let probs = super::cpu::round_to_f16(&scores);
    // out[d] = Σ_j p_j v_j[d]. llama.cpp's f16 GEMM (tinyBLAS) sums in L lanes by j mod L;
    // its row dot product (ggml_vec_dot_f16) in four accumulators of L lanes over steps of
    // 4L positions.
    // Position j goes to slot j mod `slots` (for the row dot product, ((j / L) % 4)·L + j % L
    // is j mod 4L), each slot a chain of fused multiply-adds in increasing j.
    let slots = if gemm { L } else { 4 * L };
    let mut acc = vec![0f32; slots * hd];
    #[cfg(target_arch = "x86_64")]
    if L == 16 && super::cpu::level() >= super::cpu::Level::Avx512 {
        // SAFETY: `x86::slot_sums16` needs only AVX-512 F, AVX2, FMA and F16C, which `Level::Avx512`
        // implies were detected (see `cpu::level`); it asserts its slices' lengths itself.
        let done = unsafe { x86::slot_sums16(&probs, base, values, kv_width, kv * hd, visible.clone(), slots, &mut acc) };
        if done {
            return reduce_slots::<L>(&acc, gemm, &mut out[..hd]);
        }
    }
    for j in visible.clone() {
        let p = probs[j - base];
        let v = &values[j * kv_width + kv * hd..j * kv_width + (kv + 1) * hd];
        let slot = j % slots;
        axpy(&mut acc[slot * hd..(slot + 1) * hd], p, v);
    }
    reduce_slots::<L>(&acc, gemm, &mut out[..hd]);
}

/// ggml's vectorized exp at the width `L` of its float vectors: the AVX2 (and SSE, NEON)
/// [`ggml_expf`] for 8, the AVX-512 [`ggml_expf_avx512`] for 16.
#[inline(always)]
fn expf<const L: usize>(x: f32) -> f32 {
    if L == 16 {
        ggml_expf_avx512(x)
    } else {
        ggml_expf(x)
    }
}

/// tinyBLAS's dot product of one output in `L` lanes ([`super::quant::tinyblas_dot_lanes`]),
/// of f32 values and f16 ones.
#[inline(always)]
fn tinyblas_dot<const L: usize>(a: &[f32], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if L == 16 && super::cpu::level() >= super::cpu::Level::Avx512 {
        // SAFETY: `x86::tinyblas_dot16` needs only AVX-512 F, AVX2, FMA and F16C, which
        // `Level::Avx512` implies were detected.
        return unsafe { x86::tinyblas_dot16(a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if L == 8 && super::cpu::simd_available() {
        // SAFETY: `x86::tinyblas_dot8` needs only AVX2, FMA and F16C, which `simd_available`
        // says were detected.
        return unsafe { x86::tinyblas_dot8(a, b) };
    }
    tinyblas_dot_portable::<L>(a, b)
}

/// `a * b + c` for `a` and `b` of f16 values: their product has at most 22 significant bits
/// and lies within f32's normal range, so it is exact in f32, and the sum rounded once is the
/// fused multiply-add's result. In plain f32 operations, which vectorize on any target (the
/// portable fused multiply-add of an x86-64 build without FMA goes through f64).
#[inline(always)]
fn f16_mul_add(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

/// The portable [`tinyblas_dot`] (`a` of f16 values, as the attention's are): element i in lane
/// i % L, the elements past the last whole L added to the lanes' sum.
#[inline(always)]
fn tinyblas_dot_portable<const L: usize>(a: &[f32], b: &[f16]) -> f32 {
    let mut lanes = [0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            lanes[l] = f16_mul_add(x[l], f16_to_f32(y[l]), lanes[l]);
        }
    }
    let mut sum = hsum::<L>(&lanes);
    for (x, y) in ar.iter().zip(br) {
        sum = f16_mul_add(*x, f16_to_f32(*y), sum);
    }
    sum
}

/// `out[d]` = the sum of the slots' values `acc[slot * hd + d]` (`hd` = `out.len()`), `L`
/// slots summed like [`hsum`] (`gemm`) or `4L` like [`reduce_f16_style`].
#[inline(always)]
fn reduce_slots<const L: usize>(acc: &[f32], gemm: bool, out: &mut [f32]) {
    let hd = out.len();
    #[cfg(target_arch = "x86_64")]
    if L == 8 && hd.is_multiple_of(8) && super::cpu::simd_available() {
        // SAFETY: `x86::reduce_slots` needs only AVX2 and FMA, which `simd_available` says
        // were detected; it asserts its slices' lengths itself.
        return unsafe { x86::reduce_slots(acc, gemm, out) };
    }
    if hd.is_multiple_of(16) {
        // Sixteen outputs at a time, each through the same additions as the scalar sums
        // below: whole arrays, which the compiler turns into vector additions.
        for d in (0..hd).step_by(16) {
            let x = |slot: usize| -> [f32; 16] { acc[slot * hd + d..][..16].try_into().unwrap() };
            let sums: [[f32; 16]; L] = if gemm {
                std::array::from_fn(x)
            } else {
                std::array::from_fn(|l| add16(add16(x(l), x(2 * L + l)), add16(x(L + l), x(3 * L + l))))
            };
            let sum = if gemm { hsum_rows::<L>(&sums) } else { reduce_lanes_rows::<L>(&sums) };
            out[d..d + 16].copy_from_slice(&sum);
        }
        return;
    }
    for (d, o) in out.iter_mut().enumerate() {
        *o = if gemm {
            hsum::<L>(&std::array::from_fn(|l| acc[l * hd + d]))
        } else {
            reduce_f16_style::<L>(&(0..4 * L).map(|i| acc[i * hd + d]).collect::<Vec<_>>())
        };
    }
}

#[inline(always)]
fn add16(a: [f32; 16], b: [f32; 16]) -> [f32; 16] {
    std::array::from_fn(|i| a[i] + b[i])
}

/// [`hsum`] of `L` lanes, for sixteen outputs at once (lane `l` of output `i` in `x[l][i]`).
#[inline(always)]
fn hsum_rows<const L: usize>(x: &[[f32; 16]; L]) -> [f32; 16] {
    let t: [[f32; 16]; 8] = if L == 16 { std::array::from_fn(|k| add16(x[k], x[k + 8])) } else { std::array::from_fn(|k| x[k]) };
    let a: [[f32; 16]; 4] = std::array::from_fn(|k| add16(t[k], t[k + 4]));
    add16(add16(a[0], a[2]), add16(a[1], a[3]))
}

/// The last step of [`reduce_f16_style`] (after the four accumulators are added), for sixteen
/// outputs at once.
#[inline(always)]
fn reduce_lanes_rows<const L: usize>(x0: &[[f32; 16]; L]) -> [f32; 16] {
    if L == 16 {
        return hsum_rows::<L>(x0);
    }
    let t0: [[f32; 16]; 4] = std::array::from_fn(|l| add16(x0[l], x0[l + 4]));
    add16(add16(t0[0], t0[1]), add16(t0[2], t0[3]))
}

/// ggml_vec_dot_f16's sum: `x` is four accumulators of `L` lanes; (0+2, 1+3), then 0+1, then
/// the lanes: eight as `GGML_F32x8_REDUCE` (lanes (l, l+4), then pairwise, in `hadd`'s
/// order), sixteen as `_mm512_reduce_add_ps` ([`hsum`]).
#[inline(always)]
fn reduce_f16_style<const L: usize>(x: &[f32]) -> f32 {
    let x0: [f32; L] = std::array::from_fn(|l| (x[l] + x[2 * L + l]) + (x[L + l] + x[3 * L + l]));
    super::quant::reduce_lanes::<L>(&x0)
}

/// ggml_vec_dot_f16 on values already f16-exact: element i goes to accumulator (i / L) % 4,
/// lane i % L.
#[inline(always)]
fn dot_f16_style<const L: usize>(a: &[f32], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if L == 8 && a.len().is_multiple_of(32) && super::cpu::simd_available() {
        // SAFETY: `x86::dot_f16_style` needs only AVX2, FMA and F16C, which `simd_available` says
        // were detected; it asserts its slices' lengths itself.
        return unsafe { x86::dot_f16_style(a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if L == 16 && a.len().is_multiple_of(64) && super::cpu::level() >= super::cpu::Level::Avx512 {
        // SAFETY: `x86::dot_f16_style16` needs only AVX-512 F, AVX2, FMA and F16C, which
        // `Level::Avx512` implies were detected; it asserts its slices' lengths itself.
        return unsafe { x86::dot_f16_style16(a, b) };
    }
    dot_f16_style_portable::<L>(a, b)
}

/// The portable [`dot_f16_style`] (`a` of f16 values).
#[inline(always)]
fn dot_f16_style_portable<const L: usize>(a: &[f32], b: &[f16]) -> f32 {
    let mut x = [[0f32; L]; 4];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let whole = a.len() / L;
    for (i, (a, b)) in ac.zip(bc).enumerate() {
        let x = &mut x[i % 4];
        for l in 0..L {
            x[l] = f16_mul_add(a[l], f16_to_f32(b[l]), x[l]);
        }
    }
    for (l, (a, b)) in ar.iter().zip(br).enumerate() {
        x[whole % 4][l] = f16_mul_add(*a, f16_to_f32(*b), x[whole % 4][l]);
    }
    reduce_f16_style::<L>(x.as_flattened())
}

/// `acc[d] += p * v[d]`, fused.
#[inline(always)]
fn axpy(acc: &mut [f32], p: f32, v: &[f16]) {
    #[cfg(target_arch = "x86_64")]
    if acc.len().is_multiple_of(8) && super::cpu::simd_available() {
        // SAFETY: `x86::axpy` needs only AVX2, FMA and F16C, which `simd_available` says were
        // detected; it asserts its slices' lengths itself.
        return unsafe { x86::axpy(acc, p, v) };
    }
    axpy_portable(acc, p, v)
}

/// The portable [`axpy`] (`p` an f16 value, as the attention's probabilities are).
#[inline(always)]
fn axpy_portable(acc: &mut [f32], p: f32, v: &[f16]) {
    for (a, &v) in acc.iter_mut().zip(v) {
        *a = f16_mul_add(p, f16_to_f32(v), *a);
    }
}

/// The same loops in AVX2 and AVX-512 (the compiler leaves them scalar): the same fused
/// operations in the same lanes, so the same bits. Each is a safe function compiled for its CPU
/// features: calling it from code compiled without them is `unsafe`, and sound where the level
/// says the CPU has them. Each asserts the lengths its loads and stores rely on.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use half::f16;

    /// Eight f16 values widened to f32. Panics unless `b` holds eight values from `at`.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    fn load8(b: &[f16], at: usize) -> __m256 {
        let b = &b[at..at + 8];
        // SAFETY: the eight f16 (16 bytes) of `b`.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
    }

    /// Sixteen f16 values widened to f32. Panics unless `b` holds sixteen values from `at`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    fn load16(b: &[f16], at: usize) -> __m512 {
        let b = &b[at..at + 16];
        // SAFETY: the sixteen f16 (32 bytes) of `b`.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(b.as_ptr().cast()) })
    }

    /// Panics unless `a` and `b` have the same length, a multiple of 32.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn dot_f16_style(a: &[f32], b: &[f16]) -> f32 {
        assert!(a.len() == b.len() && a.len().is_multiple_of(32));
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..a.len()).step_by(32) {
            for (s, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8s + 8 <= i + 32 <= a.len() = b.len() (a multiple of 32, asserted).
                let x = unsafe { _mm256_loadu_ps(a.as_ptr().add(i + 8 * s)) };
                let y = load8(b, i + 8 * s);
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
        }
        reduce_f16_style8(acc)
    }

    /// [`super::reduce_f16_style`] of four accumulators of eight lanes, in registers: (0+2) +
    /// (1+3), then `hadd(hadd(lo + hi))`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce_f16_style8(acc: [__m256; 4]) -> f32 {
        let x0 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        let t = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps::<1>(x0));
        let h = _mm_hadd_ps(t, t);
        _mm_cvtss_f32(_mm_hadd_ps(h, h))
    }

    /// ggml's `hsum_float_8` ([`crate::engine::cpu::hsum8`]) in registers: (l + l+4), then
    /// (0+2) + (1+3).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum8(x: __m256) -> f32 {
        let a = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
        let b = _mm_add_ps(a, _mm_movehl_ps(a, a));
        _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps::<1>(b, b)))
    }

    /// [`crate::engine::cpu::hsum`] of sixteen lanes (`_mm512_reduce_add_ps`) in registers:
    /// (l + l+8), then [`hsum8`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    fn hsum16(x: __m512) -> f32 {
        let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
        hsum8(_mm256_add_ps(_mm512_castps512_ps256(x), high))
    }

    /// Eight outputs at a time, each lane through the same additions as the scalar sums.
    /// Panics unless `out.len()` is a multiple of 8 and `acc` holds 8 (`gemm`) or 32 slots of
    /// `out.len()` values.
    #[target_feature(enable = "avx2,fma")]
    pub fn reduce_slots(acc: &[f32], gemm: bool, out: &mut [f32]) {
        let hd = out.len();
        let slots = if gemm { 8 } else { 32 };
        assert!(hd.is_multiple_of(8) && acc.len() >= slots * hd);
        let add = |a, b| _mm256_add_ps(a, b);
        for d in (0..hd).step_by(8) {
            // SAFETY: acc[slot·hd + d..+8] for the slots < `slots` below, d + 8 <= hd:
            // below slots·hd <= acc.len() (asserted).
            let x = |slot: usize| unsafe { _mm256_loadu_ps(acc.as_ptr().add(slot * hd + d)) };
            let sum = if gemm {
                // hsum8: (0+4, 1+5, 2+6, 3+7), then (a0+a2) + (a1+a3).
                add(add(add(x(0), x(4)), add(x(2), x(6))), add(add(x(1), x(5)), add(x(3), x(7))))
            } else {
                // reduce_f16_style: x0[l] = (l + 16+l) + (8+l + 24+l) over the 8 lanes l, then
                // t0[l] = x0[l] + x0[l+4], then (t0[0] + t0[1]) + (t0[2] + t0[3]).
                let x0 = |l: usize| add(add(x(l), x(16 + l)), add(x(8 + l), x(24 + l)));
                let t0 = |l: usize| add(x0(l), x0(l + 4));
                add(add(t0(0), t0(1)), add(t0(2), t0(3)))
            };
            // SAFETY: out[d..d + 8], d + 8 <= hd = out.len() (a multiple of 8, asserted).
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(d), sum) };
        }
    }

    /// [`super::dot_f16_style`] in sixteen lanes. Panics unless `a` and `b` have the same
    /// length, a multiple of 64.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub fn dot_f16_style16(a: &[f32], b: &[f16]) -> f32 {
        assert!(a.len() == b.len() && a.len().is_multiple_of(64));
        let mut acc = [_mm512_setzero_ps(); 4];
        for i in (0..a.len()).step_by(64) {
            for (s, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16s + 16 <= i + 64 <= a.len() = b.len() (a multiple of 64, asserted).
                let x = unsafe { _mm512_loadu_ps(a.as_ptr().add(i + 16 * s)) };
                let y = load16(b, i + 16 * s);
                *acc = _mm512_fmadd_ps(x, y, *acc);
            }
        }
        // reduce_f16_style: (0+2) + (1+3), then the sixteen lanes.
        hsum16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3])))
    }

    /// The attention's slot sums (`acc[slot · hd + d]` = Σ over visible j ≡ slot (mod `slots`)
    /// of `probs[j - base] · values[j · kv_width + offset + d]`, fused, in increasing j) one
    /// slot at a time with the whole head in registers, instead of a load and a store of the
    /// slot per position. False (nothing written) for a head size other than 64, 128 or 256.
    /// Panics unless `acc` holds `slots` slots of the head size, `probs` the visible positions
    /// from `base` on, and `values` the head's values at every visible position.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub fn slot_sums16(
        probs: &[f32],
        base: usize,
        values: &[f16],
        kv_width: usize,
        offset: usize,
        visible: std::ops::Range<usize>,
        slots: usize,
        acc: &mut [f32],
    ) -> bool {
        let hd = acc.len() / slots;
        match hd {
            64 => slot_sums16_chunks::<4>(probs, base, values, kv_width, offset, visible, slots, acc),
            128 => slot_sums16_chunks::<8>(probs, base, values, kv_width, offset, visible, slots, acc),
            256 => slot_sums16_chunks::<16>(probs, base, values, kv_width, offset, visible, slots, acc),
            _ => return false,
        }
        true
    }

    /// [`slot_sums16`] for a head of `16 · C` values (inlined there: the same features).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    fn slot_sums16_chunks<const C: usize>(
        probs: &[f32],
        base: usize,
        values: &[f16],
        kv_width: usize,
        offset: usize,
        visible: std::ops::Range<usize>,
        slots: usize,
        acc: &mut [f32],
    ) {
        let hd = 16 * C;
        if visible.is_empty() {
            return;
        }
        assert!(acc.len() == slots * hd && visible.start >= base && visible.end - base <= probs.len());
        // The last visible position's values end inside `values` (checked arithmetic: an
        // overflow fails the assert rather than wrapping past it).
        let end = (visible.end - 1).checked_mul(kv_width).and_then(|at| at.checked_add(offset + hd));
        assert!(end.is_some_and(|end| end <= values.len()));
        for slot in 0..slots {
            let mut j = visible.start + (slot + slots - visible.start % slots) % slots;
            let mut sums = [_mm512_setzero_ps(); C];
            while j < visible.end {
                let p = _mm512_set1_ps(probs[j - base]);
                // SAFETY: values[j·kv_width + offset..+hd], base <= visible.start <= j <
                // visible.end: inside `values` (asserted for the last visible position).
                let v = unsafe { values.as_ptr().add(j * kv_width + offset) };
                for (c, sum) in sums.iter_mut().enumerate() {
                    // SAFETY: the 16 values (32 bytes) from 16c, c < C, of the hd = 16·C at `v`
                    // (above).
                    let x = _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(v.add(16 * c).cast()) });
                    *sum = _mm512_fmadd_ps(p, x, *sum);
                }
                j += slots;
            }
            for (c, sum) in sums.iter().enumerate() {
                // SAFETY: acc[slot·hd + 16c..+16], slot < slots and c < C: below slots·hd =
                // acc.len() (asserted).
                unsafe { _mm512_storeu_ps(acc.as_mut_ptr().add(slot * hd + 16 * c), *sum) };
            }
        }
    }

    /// tinyBLAS's dot product in sixteen lanes ([`crate::engine::quant::tinyblas_dot_lanes`]).
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub fn tinyblas_dot16(a: &[f32], b: &[f16]) -> f32 {
        let n = a.len().min(b.len());
        let n16 = n / 16 * 16;
        let mut acc = _mm512_setzero_ps();
        for i in (0..n16).step_by(16) {
            // SAFETY: i + 16 <= n16 <= a.len(), by the loop bound.
            let x = unsafe { _mm512_loadu_ps(a.as_ptr().add(i)) };
            acc = _mm512_fmadd_ps(x, load16(b, i), acc);
        }
        let mut sum = hsum16(acc);
        for (x, y) in a[n16..n].iter().zip(&b[n16..n]) {
            sum = x.mul_add(y.to_f32(), sum);
        }
        sum
    }

    /// tinyBLAS's dot product in eight lanes (`cpu::dot_f32`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn tinyblas_dot8(a: &[f32], b: &[f16]) -> f32 {
        let n = a.len().min(b.len());
        let n8 = n / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        for i in (0..n8).step_by(8) {
            // SAFETY: i + 8 <= n8 <= a.len(), by the loop bound.
            let x = unsafe { _mm256_loadu_ps(a.as_ptr().add(i)) };
            acc = _mm256_fmadd_ps(x, load8(b, i), acc);
        }
        let mut sum = hsum8(acc);
        for (x, y) in a[n8..n].iter().zip(&b[n8..n]) {
            sum = x.mul_add(y.to_f32(), sum);
        }
        sum
    }

    /// Panics unless `acc.len()` is a multiple of 8 and `v` at least as long.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn axpy(acc: &mut [f32], p: f32, v: &[f16]) {
        assert!(v.len() >= acc.len() && acc.len().is_multiple_of(8));
        let p = _mm256_set1_ps(p);
        for i in (0..acc.len()).step_by(8) {
            let v = load8(v, i);
            // SAFETY: i + 8 <= acc.len() (a multiple of 8, asserted).
            unsafe {
                let a = acc.as_mut_ptr().add(i);
                _mm256_storeu_ps(a, _mm256_fmadd_ps(p, v, _mm256_loadu_ps(a)));
            }
        }
    }
}

/// ggml's RMS norm (the sum of squares in f64) followed by the multiplication by the weight;
/// a long prompt's rows in parallel.
fn rms_norm(xs: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    const TASK_ROWS: usize = 32;
    let n = weight.len();
    // Whole rows only: otherwise a last partial row would be left unwritten below, and the
    // `set_len` at the end would expose uninitialised values (the model's validation at load
    // guarantees it; this keeps the function sound on its own).
    assert!(n > 0 && xs.len().is_multiple_of(n), "rms_norm: {} values are not whole rows of {n}", xs.len());
    let mut out = Vec::with_capacity(xs.len());
    let tasks: Vec<_> = out.spare_capacity_mut()[..xs.len()].chunks_mut(TASK_ROWS * n).zip(xs.chunks(TASK_ROWS * n)).collect();
    super::pool::for_each(tasks, |(out, xs)| {
        // Four rows at a time: each row's sum is one chain of f64 additions in ggml's order,
        // and four independent chains hide the additions' latency.
        for (out, rows) in out.chunks_mut(4 * n).zip(xs.chunks(4 * n)) {
            let mut sums = [0f64; 4];
            for i in 0..n {
                for (sum, row) in sums.iter_mut().zip(rows.chunks_exact(n)) {
                    *sum += (row[i] * row[i]) as f64;
                }
            }
            for ((y, x), sum) in out.chunks_mut(n).zip(rows.chunks_exact(n)).zip(sums) {
                let mean = (sum / n as f64) as f32;
                let scale = 1.0 / (mean + eps).sqrt();
                for ((y, &x), &w) in y.iter_mut().zip(x).zip(weight) {
                    y.write((x * scale) * w);
                }
            }
        }
    });
    // SAFETY: the tasks' chunks cover all `xs.len()` values, and each task wrote all of its own.
    unsafe { out.set_len(xs.len()) };
    out
}

/// `gate = silu(gate) * up` with ggml's vectorized SiLU, `x / (1 + exp(-x))`, in parallel over
/// chunks of 16k values (a 113-token prompt has a million per layer).
fn swiglu(gate: &mut [f32], up: &[f32]) {
    const CHUNK: usize = 16 * 1024;
    let tasks: Vec<_> = gate.chunks_mut(CHUNK).zip(up.chunks(CHUNK)).collect();
    super::pool::for_each(tasks, |(gate, up)| swiglu_in_place(gate, up));
}

lanes_dispatch! {
    fn swiglu_in_place(gate: &mut [f32], up: &[f32]) = swiglu_values;
}

/// With the exp of ggml's vectors of `L` lanes (its rows' widths are multiples of 16 in the
/// models here, so no value takes ggml's scalar tail, which calls the C library's `expf`).
#[inline(always)]
fn swiglu_values<const L: usize>(gate: &mut [f32], up: &[f32]) {
    // A plain loop, so that the exp's fused multiply-adds are compiled with the caller's FMA.
    for i in 0..gate.len() {
        let x = gate[i];
        gate[i] = (x / (1.0 + expf::<L>(0.0 - x))) * up[i];
    }
}

/// `gate = gelu(gate) * up` as ggml's CPU backend computes GEGLU (`ggml_vec_geglu_f32` with
/// `GGML_GELU_FP16`): 0 at or below -10, `gate * up` at or above 10, else the GELU of `gate`
/// rounded to f16 looked up in a table of f16 values, times `up`. In parallel like [`swiglu`].
fn geglu(gate: &mut [f32], up: &[f32]) {
    const CHUNK: usize = 16 * 1024;
    let table = gelu_table();
    let tasks: Vec<_> = gate.chunks_mut(CHUNK).zip(up.chunks(CHUNK)).collect();
    super::pool::for_each(tasks, |(gate, up)| {
        for (g, &u) in gate.iter_mut().zip(up) {
            let x = *g;
            *g = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x * u
            } else {
                table[f16::from_f32(x).to_bits() as usize] * u
            };
        }
    });
}

/// ggml's `ggml_table_gelu_f16`, as f32: for every f16 value x, the f16 rounding of
/// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))` computed in f32 as ggml-cpu computes it
/// (`ggml_gelu_f32`, with the C library's `tanhf`; `1 + 0.044715·x·x` is one fused multiply-add,
/// as GCC contracts it when it compiles ggml-cpu for FMA).
fn gelu_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const GELU_COEF_A: f32 = 0.044715;
        // ggml's 0.79788456080286535587989211986876f, √(2/π) rounded to f32.
        const SQRT_2_OVER_PI: f32 = f32::from_bits(0x3f4c_422a);
        (0..=u16::MAX)
            .map(|bits| {
                let x = f16::from_bits(bits).to_f32();
                let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
                let gelu = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh());
                f16::from_f32(gelu).to_f32()
            })
            .collect()
    })
}

/// The f32 constant `0x1.XXXXXXpE` of ggml's exp: `mantissa` is 0x1XXXXXX (24 fraction bits,
/// the last one zero), `exp` is E.
const fn ggml_hex(mantissa: u32, exp: i32) -> f32 {
    f32::from_bits((((exp + 127) as u32) << 23) | ((mantissa & 0xFF_FFFF) >> 1))
}

/// ggml's AVX2 `ggml_v_expf`, lane by lane: a range reduction by powers of two and a degree-5
/// polynomial, accurate to about 1.5 ulp. Used wherever llama.cpp uses it, so that results
/// match it to the bit.
#[inline(always)]
pub fn ggml_expf(x: f32) -> f32 {
    let hex = ggml_hex;
    let r = hex(0x1800000, 23);
    let z = x.mul_add(hex(0x1715476, 0), r);
    let n = z - r;
    let b = (-n).mul_add(hex(0x17f7d1c, -20), (-n).mul_add(hex(0x162e400, -1), x));
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let j = hex(0x10e4020, -7)
        .mul_add(b, hex(0x1573e2e, -5))
        .mul_add(u, hex(0x1555e66, -3).mul_add(b, hex(0x1fffdb6, -2)))
        .mul_add(u, hex(0x1ffffec, -1) * b);
    if n.abs() <= 126.0 {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

/// ggml's AVX-512 `ggml_v_expf`, lane by lane: [`ggml_expf`]'s range reduction and polynomial,
/// with the constant 1 inside the polynomial and the power of two applied by `vscalefps`
/// (`j · 2^n`, rounded once; exact in f64 here before the one rounding to f32); beyond
/// |n| > 192, 0 or infinity.
#[inline(always)]
pub fn ggml_expf_avx512(x: f32) -> f32 {
    let hex = ggml_hex;
    let r = hex(0x1800000, 23);
    let z = x.mul_add(hex(0x1715476, 0), r);
    let n = z - r;
    let b = (-n).mul_add(hex(0x17f7d1c, -20), (-n).mul_add(hex(0x162e400, -1), x));
    let u = b * b;
    let j = hex(0x10e4020, -7)
        .mul_add(b, hex(0x1573e2e, -5))
        .mul_add(u, hex(0x1555e66, -3).mul_add(b, hex(0x1fffdb6, -2)))
        .mul_add(u, hex(0x1ffffec, -1).mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    // |n| <= 192 (or NaN, which the product keeps: `as` takes it to 0): 2^n is an f64 made
    // from its exponent bits, and j · 2^n is exact in f64.
    let pow2 = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    (j as f64 * pow2) as f32
}

/// Rotary embedding angles for a batch's positions, computed as ggml does: `theta` starts at
/// the position and is multiplied by `base^(-2/head_dim)` from one pair of dimensions to the
/// next; the angle is `freq_scale · (theta / factor)` (linear scaling and the pair's frequency
/// factor; the product and the quotient are exact when they are 1).
struct Rope {
    /// Per row: (cos, sin) of each dimension pair.
    tables: Vec<Vec<(f32, f32)>>,
}

impl Rope {
    fn new(freq_base: f32, freq_scale: f32, factors: Option<&[f32]>, head_dim: usize, positions: impl Iterator<Item = usize>) -> Self {
        let half = head_dim / 2;
        let theta_scale = freq_base.powf(-2.0 / head_dim as f32);
        let factor = |i: usize| factors.map_or(1.0, |f| f[i]);
        let tables = positions
            .map(|pos| {
                let mut theta = pos as f32;
                (0..half)
                    .map(|i| {
                        let angle = freq_scale * (theta / factor(i));
                        let cs = (angle.cos(), angle.sin());
                        theta *= theta_scale;
                        cs
                    })
                    .collect()
            })
            .collect();
        Self { tables }
    }

    /// Rotates every head of every row of `xs` (`rows × n_head × head_dim`), pairing dimension
    /// i with i + head_dim/2 (`neox`) or 2i with 2i + 1. The products are fused the way GCC
    /// contracts ggml's `x0*cos - x1*sin` (the first product fused).
    fn apply(&self, xs: &mut [f32], n_head: usize, head_dim: usize, neox: bool) {
        rotate(&self.tables, xs, n_head, head_dim, neox)
    }
}

simd_dispatch! {
    fn rotate(tables: &[Vec<(f32, f32)>], xs: &mut [f32], n_head: usize, head_dim: usize, neox: bool) = rotate_rows;
}

#[inline(always)]
fn rotate_rows(tables: &[Vec<(f32, f32)>], xs: &mut [f32], n_head: usize, head_dim: usize, neox: bool) {
    let half = head_dim / 2;
    for (row, table) in xs.chunks_exact_mut(n_head * head_dim).zip(tables) {
        for head in row.chunks_exact_mut(head_dim) {
            for (i, &(cos, sin)) in table.iter().enumerate() {
                let (a, b) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0.mul_add(cos, -(x1 * sin));
                head[b] = x0.mul_add(sin, x1 * cos);
            }
        }
    }
}

/// Index of the largest logit; the first one on ties, as llama.cpp's greedy sampler.
pub fn argmax(logits: &[f32]) -> u32 {
    // The scan `if v > best` in two vectorizable passes: the largest value (in sixteen lanes),
    // then where it first is. NaNs are never taken; the scan keeps index 0 if it is one.
    let Some(&first) = logits.first() else { return 0 };
    if first.is_nan() {
        return 0;
    }
    let larger = |a: f32, b: f32| if b > a { b } else { a };
    let mut lanes = [first; 16];
    let chunks = logits.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = larger(*lane, v);
        }
    }
    let max = rest.iter().chain(&lanes).fold(first, |m, &v| larger(m, v));
    logits.iter().position(|&v| v == max).unwrap_or(0) as u32
}

/// The largest and second-largest logit's gap (how close greedy decoding was to a tie).
pub fn top2_margin(logits: &[f32]) -> f32 {
    let (mut first, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &v in logits {
        if v > first {
            second = first;
            first = v;
        } else if v > second {
            second = v;
        }
    }
    first - second
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_largest_value_like_a_scan() {
        let scan = |xs: &[f32]| {
            let mut best = 0;
            for (i, &v) in xs.iter().enumerate() {
                if v > xs[best] {
                    best = i;
                }
            }
            best as u32
        };
        let mut state = 7u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 64) as f32 - 32.0
        };
        // Many ties (64 distinct values), lengths around the 16 lanes, and the special values.
        for len in [1, 2, 15, 16, 17, 33, 1000, 151936] {
            let mut xs: Vec<f32> = (0..len).map(|_| next()).collect();
            assert_eq!(argmax(&xs), scan(&xs), "len {len}");
            xs[len / 2] = f32::NAN;
            assert_eq!(argmax(&xs), scan(&xs), "len {len} with a NaN");
            xs[0] = f32::NAN;
            assert_eq!(argmax(&xs), scan(&xs), "len {len} starting with a NaN");
        }
        for xs in [&[-0.0, 0.0][..], &[0.0, -0.0], &[-1.0, -0.0, 0.0], &[f32::NEG_INFINITY; 20], &[f32::NEG_INFINITY, f32::NAN, 2.0, 2.0]] {
            assert_eq!(argmax(xs), scan(xs), "{xs:?}");
        }
        assert_eq!(argmax(&[]), 0);
    }

    fn slot_sums_give_the_bits_of_the_scalar_sums<const L: usize>() {
        let hd = 128;
        // Magnitudes far apart, so that another order of the additions rounds differently.
        let acc: Vec<f32> = (0..4 * L * hd).map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 10f32.powi((i % 7) as i32 - 3)).collect();
        for gemm in [true, false] {
            let mut fast = vec![0f32; hd];
            reduce_slots::<L>(&acc, gemm, &mut fast);
            for (d, &got) in fast.iter().enumerate() {
                let expected = if gemm {
                    hsum::<L>(&std::array::from_fn(|l| acc[l * hd + d]))
                } else {
                    reduce_f16_style::<L>(&(0..4 * L).map(|i| acc[i * hd + d]).collect::<Vec<_>>())
                };
                assert_eq!(got.to_bits(), expected.to_bits(), "{L} lanes, gemm {gemm}, d {d}");
            }
        }
        // A sum in another order differs somewhere, so the comparison above can fail.
        let reordered: Vec<f32> = (0..hd).map(|d| (0..L).map(|l| acc[l * hd + d]).sum()).collect();
        let in_order: Vec<f32> = (0..hd).map(|d| hsum::<L>(&std::array::from_fn(|l| acc[l * hd + d]))).collect();
        assert_ne!(reordered, in_order);
    }

    /// The portable attention products, eight or sixteen lanes at a time, against the same
    /// fused multiply-adds one element at a time, on lengths with and without a partial chunk.
    #[test]
    fn portable_attention_products_give_the_bits_of_the_element_by_element_ones() {
        let fma = super::super::cpu::fused_mul_add;
        for n in (0..80).chain([127, 128, 129]) {
            // Both factors f16 values, as the attention's are (queries and probabilities rounded
            // to f16, keys and values from the f16 cache); magnitudes far apart, subnormal f16
            // among them.
            let a: Vec<f32> = (0..n)
                .map(|i: usize| f16::from_f32(((i * 7919 % 1013) as f32 - 506.0) * 10f32.powi((i % 9) as i32 - 6)).to_f32())
                .collect();
            let b16: Vec<f16> =
                (0..n).map(|i: usize| f16::from_f32(((i * 104729 % 997) as f32 - 498.0) * 10f32.powi((i % 5) as i32 - 2))).collect();
            let b: Vec<f32> = b16.iter().map(|x| x.to_f32()).collect();
            fn check<const L: usize>(a: &[f32], b: &[f32], b16: &[f16], fma: fn(f32, f32, f32) -> f32) {
                let n = a.len();
                let mut slots = vec![0f32; 4 * L];
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    slots[((i / L) % 4) * L + i % L] = fma(*x, *y, slots[((i / L) % 4) * L + i % L]);
                }
                assert_eq!(dot_f16_style_portable::<L>(a, b16).to_bits(), reduce_f16_style::<L>(&slots).to_bits(), "{L} lanes, {n}");
                let (mut lanes, whole) = ([0f32; L], n / L * L);
                for (i, (x, y)) in a[..whole].iter().zip(b).enumerate() {
                    lanes[i % L] = fma(*x, *y, lanes[i % L]);
                }
                let want = a[whole..].iter().zip(&b[whole..]).fold(hsum::<L>(&lanes), |sum, (x, y)| fma(*x, *y, sum));
                assert_eq!(tinyblas_dot_portable::<L>(a, b16).to_bits(), want.to_bits(), "{L} lanes, {n}");
            }
            check::<8>(&a, &b, &b16, fma);
            check::<16>(&a, &b, &b16, fma);
            let p = f16::from_f32(0.37).to_f32();
            let mut got = a.clone();
            axpy_portable(&mut got, p, &b16);
            let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| fma(p, *y, *x)).collect();
            assert_eq!(got, want, "axpy, {n}");
        }
    }

    #[test]
    fn slot_sums_in_rows_give_the_bits_of_the_scalar_sums() {
        slot_sums_give_the_bits_of_the_scalar_sums::<8>();
        slot_sums_give_the_bits_of_the_scalar_sums::<16>();
    }

    /// The AVX-512 dot products of the attention against the same sums written lane by lane
    /// (runs where the CPU has AVX-512).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_attention_dot_products_give_the_bits_of_the_lane_sums() {
        if !is_x86_feature_detected!("avx512f")
            || !is_x86_feature_detected!("avx2")
            || !is_x86_feature_detected!("fma")
            || !is_x86_feature_detected!("f16c")
        {
            return;
        }
        let fma = super::super::cpu::fused_mul_add;
        let mut differs = false;
        for n in [64, 128, 256] {
            let a: Vec<f32> = (0..n).map(|i: usize| ((i * 7919 % 1013) as f32 - 506.0) * 10f32.powi((i % 7) as i32 - 3)).collect();
            // The keys and values of the cache are f16.
            let b16: Vec<f16> =
                (0..n).map(|i: usize| f16::from_f32(((i * 104729 % 997) as f32 - 498.0) * 10f32.powi((i % 5) as i32 - 2))).collect();
            let b: Vec<f32> = b16.iter().map(|x| x.to_f32()).collect();
            let mut slots = vec![0f32; 64];
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                slots[((i / 16) % 4) * 16 + i % 16] = fma(*x, *y, slots[((i / 16) % 4) * 16 + i % 16]);
            }
            // SAFETY: the features were detected above.
            let got = unsafe { x86::dot_f16_style16(&a, &b16) };
            assert_eq!(got.to_bits(), reduce_f16_style::<16>(&slots).to_bits(), "ggml_vec_dot_f16, {n}");
            let mut lanes = [0f32; 16];
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                lanes[i % 16] = fma(*x, *y, lanes[i % 16]);
            }
            // SAFETY: as above.
            let got = unsafe { x86::tinyblas_dot16(&a, &b16) };
            assert_eq!(got.to_bits(), hsum::<16>(&lanes).to_bits(), "tinyBLAS, {n}");
            differs |= hsum::<16>(&lanes) != super::super::cpu::dot_f32(&a, &b);
            // The AVX2 versions, in eight lanes.
            let mut slots = vec![0f32; 32];
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                slots[((i / 8) % 4) * 8 + i % 8] = fma(*x, *y, slots[((i / 8) % 4) * 8 + i % 8]);
            }
            // SAFETY: as above.
            let got = unsafe { x86::dot_f16_style(&a, &b16) };
            assert_eq!(got.to_bits(), reduce_f16_style::<8>(&slots).to_bits(), "ggml_vec_dot_f16, 8 lanes, {n}");
            let mut lanes = [0f32; 8];
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                lanes[i % 8] = fma(*x, *y, lanes[i % 8]);
            }
            // SAFETY: as above.
            let got = unsafe { x86::tinyblas_dot8(&a, &b16) };
            assert_eq!(got.to_bits(), hsum::<8>(&lanes).to_bits(), "tinyBLAS, 8 lanes, {n}");
        }
        // Eight lanes sum in another order, and the result differs: the test can fail.
        assert!(differs);
    }

    /// ggml's AVX-512 exp, written with the intrinsics ggml uses, against the scalar
    /// [`ggml_expf_avx512`] on every f32 in the range the softmax and SiLU use and around the
    /// limits (runs where the CPU has AVX-512).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_exp_gives_the_bits_of_ggml_v_expf() {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")) {
            return;
        }
        use std::arch::x86_64::*;
        #[target_feature(enable = "avx512f,avx512dq")]
        fn v_expf(x: &[f32; 16]) -> [f32; 16] {
            // SAFETY: the sixteen f32 of `x`.
            let x = unsafe { _mm512_loadu_ps(x.as_ptr()) };
            let c = |v: f32| _mm512_set1_ps(v);
            let r = c(ggml_hex(0x1800000, 23));
            let z = _mm512_fmadd_ps(x, c(ggml_hex(0x1715476, 0)), r);
            let n = _mm512_sub_ps(z, r);
            let b = _mm512_fnmadd_ps(n, c(ggml_hex(0x17f7d1c, -20)), _mm512_fnmadd_ps(n, c(ggml_hex(0x162e400, -1)), x));
            let d = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_abs_ps(n), c(192.0));
            let u = _mm512_mul_ps(b, b);
            let j = _mm512_fmadd_ps(
                _mm512_fmadd_ps(
                    _mm512_fmadd_ps(c(ggml_hex(0x10e4020, -7)), b, c(ggml_hex(0x1573e2e, -5))),
                    u,
                    _mm512_fmadd_ps(c(ggml_hex(0x1555e66, -3)), b, c(ggml_hex(0x1fffdb6, -2))),
                ),
                u,
                _mm512_fmadd_ps(c(ggml_hex(0x1ffffec, -1)), b, c(1.0)),
            );
            let res = _mm512_scalef_ps(j, n);
            let alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, _mm512_setzero_ps()), c(f32::INFINITY), _mm512_setzero_ps());
            let mut out = [0f32; 16];
            // SAFETY: sixteen f32 into the sixteen of `out`.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_mask_blend_ps(d, res, alt)) };
            out
        }
        let mut values: Vec<f32> = Vec::new();
        // Every f32 from -0 down to -200 (softmax inputs are x - max <= 0) in steps of 7 ulps,
        // and both signs near 0 and near the limits of the range.
        let mut bits = (-0.0f32).to_bits();
        while f32::from_bits(bits) >= -200.0 {
            values.push(f32::from_bits(bits));
            bits += 7;
        }
        for base in [0.0f32, 80.0, 88.0, 89.0, 103.0, 104.0, 126.0, 150.0] {
            for k in 0..4000 {
                let v = base + k as f32 * 1e-3;
                values.extend([v, -v]);
            }
        }
        values.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 1e-40, -1e-40]);
        values.resize(values.len().div_ceil(16) * 16, 1.0);
        for chunk in values.chunks_exact(16) {
            let chunk: &[f32; 16] = chunk.try_into().unwrap();
            // SAFETY: the features were detected above.
            let want = unsafe { v_expf(chunk) };
            for (x, want) in chunk.iter().zip(want) {
                let got = ggml_expf_avx512(*x);
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "exp({x:e}): {got:e} vs {want:e}");
            }
        }
        // The AVX2 formula rounds differently somewhere, so the comparison can fail.
        assert!(values.iter().any(|&x| ggml_expf(x).to_bits() != ggml_expf_avx512(x).to_bits()));
    }
}
