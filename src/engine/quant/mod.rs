//! Quantized weight matrices in their GGUF block layouts, and the matrix product over them.
//!
//! Every output element is one dot product of a weight row with an activation row, computed by
//! the same operations in the same order whatever the number of rows in the call. A token's
//! logits therefore do not depend on what else is in the batch: batched decoding, speculative
//! verification and prompt-prefix reuse reproduce one-token-at-a-time decoding bit for bit.
//!
//! The arithmetic is llama.cpp's on x86 CPUs (ggml-cpu, as shipped in llama-cpp-python 0.3.36),
//! so that greedy outputs can match it token for token:
//! - activations are quantized as ggml does: Q8_K (round half to even, `d = -max/127`) for the
//!   k-quants, Q8_0 (AVX2 variant: `d = amax/127` kept as f16, scale `127/amax`) for Q8_0,
//!   Q5_0 and Q4_0;
//! - Q4_K follows the repacked AVX2 kernels (`gemv/gemm_q4_K_8x8_q8_K`, which llama.cpp uses for
//!   every Q4_K matrix on AVX2): per 256-value block an exact integer dot product and an exact
//!   integer min correction, each folded into its own f32 accumulator with one fused multiply-add;
//! - Q5_K, Q6_K and Q8_0 follow `ggml_vec_dot_q5_K_q8_K` / `ggml_vec_dot_q6_K_q8_K` /
//!   `ggml_vec_dot_q8_0_q8_0`: eight 32-bit lanes of integer partial sums per block, accumulated
//!   lane-wise with fused multiply-adds, then summed in ggml's `hsum_float_8` order (Q5_K adds
//!   its min correction, accumulated apart in one scalar with fused multiply-adds, at the end);
//!   llama.cpp does not repack Q5_K or Q6_K on AVX2, and for a batch of 8 rows or more it
//!   multiplies them with its tiled K-quant matmul instead (see [`RowMode`]);
//! - Q4_0 follows the repacked AVX2 kernels (`gemv/gemm_q4_0_8x8_q8_0`, which llama.cpp uses for
//!   every Q4_0 matrix of a multiple of 8 rows; the GEMM and the GEMV round alike): per 32-value
//!   block the exact integer dot product, folded into one f32 accumulator with one fused
//!   multiply-add by the product of the two f16 scales. A Q4_0 matrix of other heights is not
//!   repacked; llama.cpp then multiplies it like Q8_0 (`ggml_vec_dot_q4_0_q8_0` and llamafile's
//!   tinyBLAS sum the same lanes as for Q8_0), and so does precis, unpacking its values to
//!   signed bytes; Q5_0 likewise ([`blocks::SignedBlock`]).
//!
//! The integer parts are exact, so only their grouping into lanes matters; the portable code
//! computes the same lane sums and the same fused multiply-adds as the AVX2 code and gives the
//! same bits.
//!
//! Weights are held once, in the file's block layout, except that Q4_K and Q4_0 matrices of a
//! multiple of 8 rows are interleaved by groups of 8 rows instead (the same bytes, lanes of a
//! vector being output rows): no second, repacked copy.

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod blocks;
mod kernels;
pub(crate) use kernels::reduce_lanes;
pub use kernels::tinyblas_dot_lanes;
mod portable;

use blocks::{
    block_at, blocks_from_bytes, dequantize_min, dequantize_q4_0, dequantize_q4k, dequantize_q5k, dequantize_q6k, dequantize_signed,
    quantize_q8_0, quantize_q8_1, quantize_q8k, weight_vec, BlockQ4K, BlockQ4Kx8, BlockQ4_0, BlockQ4_0x8, BlockQ4_1, BlockQ5K, BlockQ5_0,
    BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, MinBlock, SignedBlock, QK4_0, QK5_1, QK8_0, QK_K,
};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use super::cpu::round_to_f16;
use super::pool::SharedOut;

/// Most weight rows in one parallel task of a product of many activation rows, and in one run
/// of the kernels (a task of a few rows' product goes through its weight rows run by run).
const MAX_CHUNK_ROWS: usize = 64;

/// Activation rows below which a product is bound by reading the weights from memory (one
/// decoding step of one sequence, a few sequences, a speculative check of a few tokens): then
/// each thread takes two long runs of weight rows rather than many runs of 64. Measured on one
/// sequence's decoding (`bench-llm`, 1.5B Q4_K_M, 2 threads): 22.7-23.5 -> 24.9-26.0 tok/s.
const STREAMED_ROWS: usize = 8;

/// Least bytes of weights worth a parallel task of their own at load time.
const LOAD_TASK_BYTES: usize = 1 << 20;

/// Items (of `item_bytes` each) per parallel task when loading `n` of them: one task per thread,
/// none smaller than [`LOAD_TASK_BYTES`].
pub(super) fn load_task_len(n: usize, item_bytes: usize) -> usize {
    n.div_ceil(super::pool::threads()).max(LOAD_TASK_BYTES / item_bytes).max(1)
}

/// Most activation rows in one parallel task of a product.
const ACT_BLOCK_ROWS: usize = 128;

/// The weights of a matrix, row-major, each row a whole number of blocks.
pub enum Weights {
    Q4K(Vec<BlockQ4K>),
    /// Q4_K with a multiple of 8 rows, interleaved by 8 (`[row group][block]`).
    Q4Kx8(Vec<BlockQ4Kx8>),
    Q5K(Vec<BlockQ5K>),
    Q6K(Vec<BlockQ6K>),
    /// Q4_0 with a multiple of 8 rows, interleaved by 8 (`[row group][block]`), computed as
    /// llama.cpp's repacked `q4_0_8x8` kernels compute it (llama.cpp repacks no other Q4_0
    /// matrix and multiplies those like Q8_0: [`Weights::Q4_0`]).
    Q4_0x8(Vec<BlockQ4_0x8>),
    /// Q4_0 of other heights.
    Q4_0(Vec<BlockQ4_0>),
    Q5_0(Vec<BlockQ5_0>),
    Q8_0(Vec<BlockQ8_0>),
    Q5_1(Vec<BlockQ5_1>),
    /// Q4_1, multiplied as Q5_1 (llama.cpp's dot products of the two are the same arithmetic).
    Q4_1(Vec<BlockQ4_1>),
    /// F32 weights, or weights of other types expanded at load time.
    F32(Vec<f32>),
    /// F16 weights, multiplied as llama.cpp multiplies them (llamafile's tinyBLAS): activations
    /// rounded to f16, then the f32 products of tinyBLAS ([`kernels::tinyblas_dot`]).
    F16(Vec<f16>),
    /// BF16 weights, likewise with activations rounded to bf16.
    BF16(Vec<bf16>),
}

/// Activations quantized for one kind of weights: `m` rows.
pub enum Activations<'a> {
    Q8K(Vec<BlockQ8K>),
    Q8_0(Vec<BlockQ8_0>),
    Q8_1(Vec<BlockQ8_1>),
    F32(&'a [f32]),
    /// The activations rounded to the weights' 16-bit float type, as f32.
    Rounded(Vec<f32>),
}

/// A `(rows, cols)` weight matrix; `matmul` computes `x · Wᵀ`.
pub struct QMatrix {
    rows: usize,
    cols: usize,
    weights: Weights,
}

/// How llama.cpp would multiply one activation row, which decides a few roundings. It depends on
/// the size of the batch the row is in (see `llm::StepKind`):
/// - `gemm`: the row is in the first `n - n % 4` rows of a batch of `n`, which go through the
///   4-row Q4_K GEMM (integer sums folded into the f32 accumulators every 64 values rather than
///   every 256; activation quantizer breaking ±max ties towards +);
/// - `tiled`: the batch has 8 rows or more, so Q5_K and Q6_K go through the tiled K-quant matmul
///   (one exact integer per 256 values, scaled by the weight scale, with Q5_K's exact min
///   correction then subtracted in one fused multiply-add, then a fused multiply-add by the
///   activation scale, rather than eight lanes summed at the end).
///
/// - `sgemm`: the batch has 2 rows or more, so F32, F16 and BF16 matrices go through
///   llamafile's tinyBLAS (one 8-lane accumulator over the whole row; a lone row instead takes
///   ggml's `ggml_vec_dot_*` with four accumulators).
///
/// The default is a lone row (llama.cpp's GEMV and row dot products).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowMode {
    pub gemm: bool,
    pub tiled: bool,
    pub sgemm: bool,
}

/// The ggml types a matrix is kept in (see `GgufFile::matrix` for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4_0,
    Q5_0,
    Q4_1,
    Q5_1,
    Q4K,
    Q5K,
    Q6K,
    Q8_0,
    F32,
    F16,
    BF16,
}

impl QMatrix {
    /// A matrix from raw GGUF block bytes of a kept type.
    pub fn from_blocks(kind: Kind, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, String> {
        let block = match kind {
            Kind::Q4K | Kind::Q5K | Kind::Q6K => QK_K,
            Kind::Q4_0 | Kind::Q5_0 => QK4_0,
            Kind::Q4_1 | Kind::Q5_1 => QK5_1,
            Kind::Q8_0 => QK8_0,
            Kind::F32 | Kind::F16 | Kind::BF16 => 1,
        };
        if !cols.is_multiple_of(block) {
            return Err(format!("{cols} columns is not a multiple of the {kind:?} block size {block}"));
        }
        let weights = match kind {
            Kind::Q4K if rows.is_multiple_of(8) && bytes.len() == rows * cols / QK_K * 144 => {
                // Repacked straight from the file's bytes (no row-by-row copy first), groups of
                // eight rows in parallel.
                let (kb, groups) = (cols / QK_K, rows / 8);
                let group_bytes = 8 * kb * std::mem::size_of::<BlockQ4K>();
                let per_task = load_task_len(groups, group_bytes);
                let mut x8 = weight_vec(groups * kb);
                let tasks: Vec<_> =
                    x8.spare_capacity_mut()[..groups * kb].chunks_mut(per_task * kb).zip(bytes.chunks(per_task * group_bytes)).collect();
                super::pool::for_each(tasks, |(dst, src)| {
                    for (dst, group) in dst.chunks_mut(kb).zip(src.chunks_exact(group_bytes)) {
                        for (b, slot) in dst.iter_mut().enumerate() {
                            let blocks: [BlockQ4K; 8] = std::array::from_fn(|r| block_at(group, r * kb + b));
                            slot.write(BlockQ4Kx8::new(std::array::from_fn(|r| &blocks[r])));
                        }
                    }
                });
                // SAFETY: the tasks wrote every block of every group.
                unsafe { x8.set_len(groups * kb) };
                Weights::Q4Kx8(x8)
            }
            Kind::Q4K => Weights::Q4K(blocks_from_bytes(bytes)),
            Kind::Q5K => Weights::Q5K(blocks_from_bytes(bytes)),
            Kind::Q6K => Weights::Q6K(blocks_from_bytes(bytes)),
            Kind::Q4_0 if rows.is_multiple_of(8) && bytes.len() == rows * cols / QK4_0 * 18 => {
                let (kb, groups) = (cols / QK4_0, rows / 8);
                let group_bytes = 8 * kb * std::mem::size_of::<BlockQ4_0>();
                let per_task = load_task_len(groups, group_bytes);
                let mut x8 = weight_vec(groups * kb);
                let tasks: Vec<_> =
                    x8.spare_capacity_mut()[..groups * kb].chunks_mut(per_task * kb).zip(bytes.chunks(per_task * group_bytes)).collect();
                super::pool::for_each(tasks, |(dst, src)| {
                    for (dst, group) in dst.chunks_mut(kb).zip(src.chunks_exact(group_bytes)) {
                        for (b, slot) in dst.iter_mut().enumerate() {
                            let blocks: [BlockQ4_0; 8] = std::array::from_fn(|r| block_at(group, r * kb + b));
                            slot.write(BlockQ4_0x8::new(std::array::from_fn(|r| &blocks[r])));
                        }
                    }
                });
                // SAFETY: the tasks wrote every block of every group.
                unsafe { x8.set_len(groups * kb) };
                Weights::Q4_0x8(x8)
            }
            Kind::Q4_0 => {
                // llama.cpp repacks only whole groups of eight rows; otherwise its Q4_0 dot
                // products are Q8_0's (`ggml_vec_dot_q4_0_q8_0` and llamafile's tinyBLAS sum
                // the same eight lanes of exact integers with the same fused multiply-adds).
                Weights::Q4_0(blocks_from_bytes(bytes))
            }
            Kind::Q5_0 => Weights::Q5_0(blocks_from_bytes(bytes)),
            Kind::Q8_0 => Weights::Q8_0(blocks_from_bytes(bytes)),
            Kind::Q5_1 => Weights::Q5_1(blocks_from_bytes(bytes)),
            Kind::Q4_1 => Weights::Q4_1(blocks_from_bytes(bytes)),
            Kind::F32 => Weights::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
            Kind::F16 => Weights::F16(bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect()),
            Kind::BF16 => Weights::BF16(bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]])).collect()),
        };
        let matrix = Self { rows, cols, weights };
        if matrix.len() != rows * cols / block {
            return Err(format!("{} bytes do not hold a {rows}x{cols} {kind:?} matrix", bytes.len()));
        }
        Ok(matrix)
    }

    pub fn from_f32(rows: usize, cols: usize, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), rows * cols);
        Self { rows, cols, weights: Weights::F32(values) }
    }

    fn len(&self) -> usize {
        match &self.weights {
            Weights::Q4K(b) => b.len(),
            Weights::Q4Kx8(b) => 8 * b.len(),
            Weights::Q5K(b) => b.len(),
            Weights::Q6K(b) => b.len(),
            Weights::Q4_0x8(b) => 8 * b.len(),
            Weights::Q4_0(b) => b.len(),
            Weights::Q5_0(b) => b.len(),
            Weights::Q8_0(b) => b.len(),
            Weights::Q5_1(b) => b.len(),
            Weights::Q4_1(b) => b.len(),
            Weights::F32(v) => v.len(),
            Weights::F16(v) => v.len(),
            Weights::BF16(v) => v.len(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `row` of the matrix as f32 (an embedding lookup), with ggml's dequantization.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols);
        match &self.weights {
            Weights::Q4K(blocks) => {
                let per_row = self.cols / QK_K;
                for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK_K)) {
                    dequantize_q4k(block, out);
                }
            }
            Weights::Q4Kx8(blocks) => {
                let per_row = self.cols / QK_K;
                let (group, r) = (row / 8, row % 8);
                for (x, out) in blocks[group * per_row..(group + 1) * per_row].iter().zip(out.chunks_exact_mut(QK_K)) {
                    let (d, min) = (x.d[r].to_f32(), x.dmin[r].to_f32());
                    for (i, o) in out.iter_mut().enumerate() {
                        let (sc, m) = x.scale_min(r, i / 32);
                        *o = (d * sc as f32) * x.value(r, i) as f32 - min * m as f32;
                    }
                }
            }
            Weights::Q5K(blocks) => {
                let per_row = self.cols / QK_K;
                for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK_K)) {
                    dequantize_q5k(block, out);
                }
            }
            Weights::Q6K(blocks) => {
                let per_row = self.cols / QK_K;
                for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK_K)) {
                    dequantize_q6k(block, out);
                }
            }
            Weights::Q4_0x8(blocks) => {
                let per_row = self.cols / QK4_0;
                let (group, r) = (row / 8, row % 8);
                for (x, out) in blocks[group * per_row..(group + 1) * per_row].iter().zip(out.chunks_exact_mut(QK4_0)) {
                    dequantize_q4_0(&x.row(r), out);
                }
            }
            Weights::Q4_0(blocks) => signed_row(blocks, row, out),
            Weights::Q5_0(blocks) => signed_row(blocks, row, out),
            Weights::Q8_0(blocks) => signed_row(blocks, row, out),
            Weights::Q5_1(blocks) => min_row(blocks, row, out),
            Weights::Q4_1(blocks) => min_row(blocks, row, out),
            Weights::F32(values) => out.copy_from_slice(&values[row * self.cols..(row + 1) * self.cols]),
            Weights::F16(values) => values[row * self.cols..(row + 1) * self.cols].convert_to_f32_slice(out),
            Weights::BF16(values) => out.iter_mut().zip(&values[row * self.cols..(row + 1) * self.cols]).for_each(|(o, v)| *o = v.to_f32()),
        }
    }

    /// `xs` (`m` rows of `cols`) quantized the way this matrix's dot products expect, row `r`
    /// as for `modes[r]` (a lone row when `modes` is shorter).
    pub fn quantize<'a>(&self, xs: &'a [f32], modes: &[RowMode]) -> Activations<'a> {
        assert_eq!(xs.len() % self.cols, 0);
        match self.weights {
            Weights::Q4K(_) | Weights::Q4Kx8(_) | Weights::Q5K(_) | Weights::Q6K(_) => {
                let n = xs.len() / QK_K;
                let mut blocks = Vec::with_capacity(n);
                // The GEMM's quantizer differs from the reference one only in breaking a tie
                // between +max and -max, and only Q4_K goes through the GEMM.
                let repacked = matches!(self.weights, Weights::Q4Kx8(_));
                let per_row = self.cols / QK_K;
                // Rows in parallel, eight per task (a prompt's rows are otherwise quantized on one
                // thread while the other waits).
                let tasks: Vec<_> =
                    blocks.spare_capacity_mut()[..n].chunks_mut(8 * per_row).zip(xs.chunks(8 * self.cols)).enumerate().collect();
                super::pool::for_each(tasks, |(t, (rows, xs))| {
                    for (i, (row, x)) in rows.chunks_exact_mut(per_row).zip(xs.chunks_exact(self.cols)).enumerate() {
                        let positive_ties = repacked && modes.get(8 * t + i).is_some_and(|m| m.gemm);
                        for (slot, x) in row.iter_mut().zip(x.chunks_exact(QK_K)) {
                            let mut b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
                            quantize_q8k(x, &mut b, positive_ties);
                            slot.write(b);
                        }
                    }
                });
                // SAFETY: the tasks' chunks cover all `n` blocks, and each task wrote all of its own.
                unsafe { blocks.set_len(n) };
                Activations::Q8K(blocks)
            }
            Weights::Q4_0x8(_) | Weights::Q4_0(_) | Weights::Q5_0(_) | Weights::Q8_0(_) => {
                // ggml_quantize_mat_q8_0_4x8 (the Q4_0 GEMM's quantizer) computes the same
                // scales and values as quantize_row_q8_0, only interleaved.
                let mut blocks = vec![BlockQ8_0 { d: f16::ZERO, qs: [0; QK8_0] }; xs.len() / QK8_0];
                blocks.iter_mut().zip(xs.chunks_exact(QK8_0)).for_each(|(b, x)| quantize_q8_0(x, b));
                Activations::Q8_0(blocks)
            }
            Weights::Q5_1(_) | Weights::Q4_1(_) => {
                let mut blocks = vec![BlockQ8_1 { d: f16::ZERO, s: f16::ZERO, qs: [0; QK5_1] }; xs.len() / QK5_1];
                blocks.iter_mut().zip(xs.chunks_exact(QK5_1)).for_each(|(b, x)| quantize_q8_1(x, b));
                Activations::Q8_1(blocks)
            }
            Weights::F32(_) => Activations::F32(xs),
            // ggml converts the activations to the weights' type (vec_dot_type), rounding to
            // nearest even, before tinyBLAS multiplies them.
            Weights::F16(_) => Activations::Rounded(round_to_f16(xs)),
            Weights::BF16(_) => Activations::Rounded(xs.iter().map(|&x| bf16::from_f32(x).to_f32()).collect()),
        }
    }

    /// `xs · Wᵀ` for `xs` of `m` rows: `(m, rows)`, row-major, every row computed as llama.cpp
    /// computes a lone row (its GEMV).
    pub fn matmul(&self, xs: &[f32]) -> Vec<f32> {
        self.matmul_rows(xs, &[])
    }

    /// Like [`QMatrix::matmul`], row `r` computed as llama.cpp computes a row in `modes[r]`
    /// (see [`RowMode`]; which mode applies is the caller's to say).
    pub fn matmul_rows(&self, xs: &[f32], modes: &[RowMode]) -> Vec<f32> {
        let m = xs.len() / self.cols;
        let acts = self.quantize(xs, modes);
        self.matmul_quantized(&acts, m, modes)
    }

    /// Like [`QMatrix::matmul_rows`] on activations already quantized by
    /// [`QMatrix::quantize`] (of this matrix or another of the same kind and width).
    pub fn matmul_quantized(&self, acts: &Activations, m: usize, modes: &[RowMode]) -> Vec<f32> {
        let mut out = matmul_many(&[(self, acts)], m, modes);
        out.pop().expect("one matrix, one product")
    }

    /// Weight rows per parallel task for `m` activation rows: enough tasks to balance the
    /// threads, each a run of weight rows read once for all activation rows (whole groups of
    /// eight for interleaved weights).
    fn chunk_rows(&self, m: usize) -> usize {
        let threads = super::pool::threads();
        let rows = if m < STREAMED_ROWS {
            // Few activation rows: the product streams the weights from memory, and a long
            // unbroken stream per thread goes faster than many short ones (and many tasks).
            self.rows.div_ceil(2 * threads)
        } else {
            self.rows.div_ceil(threads * 8).clamp(1, MAX_CHUNK_ROWS)
        };
        if let Weights::Q4Kx8(_) | Weights::Q4_0x8(_) = self.weights {
            rows.div_ceil(8) * 8
        } else {
            rows
        }
    }

    /// Weight rows `first..first + count` against the activation rows `act_rows`, into `out`:
    /// the `(m, rows)` row-major product, of which this task owns those columns of those rows.
    fn compute_chunk(
        &self,
        first: usize,
        count: usize,
        act_rows: std::ops::Range<usize>,
        out: SharedOut,
        acts: &Activations,
        modes: &[RowMode],
    ) {
        // Runs of at most MAX_CHUNK_ROWS weight rows (the size of the kernels' output tile),
        // each against the activation rows in tiles that stay in the core's cache while the
        // run's weight rows pass over them. The kernels write a tile's outputs here, each
        // activation row's values together, and they go to the output's rows from here.
        const TILE: usize = 16;
        let mut tile_out = [0f32; TILE * MAX_CHUNK_ROWS];
        let end = first + count;
        for first in (first..end).step_by(MAX_CHUNK_ROWS) {
            let count = MAX_CHUNK_ROWS.min(end - first);
            for tile in act_rows.clone().step_by(TILE) {
                let tile = tile..(tile + TILE).min(act_rows.end);
                let mut flags = [false; TILE];
                for (i, r) in tile.clone().enumerate() {
                    let mode = modes.get(r).copied().unwrap_or_default();
                    // Q4_K rows take llama.cpp's GEMM flag, Q5_K and Q6_K rows its tiled flag,
                    // float matrices its tinyBLAS flag (Q4_0's GEMM and GEMV round alike, and
                    // Q8_0 and Q5_1 take one path: they take none).
                    flags[i] = match self.weights {
                        Weights::Q4Kx8(_) => mode.gemm,
                        Weights::F32(_) | Weights::F16(_) | Weights::BF16(_) => mode.sgemm,
                        _ => mode.tiled,
                    };
                }
                let row_flags = &flags[..tile.len()];
                self.dot_rows(first..first + count, acts, tile.clone(), row_flags, &mut tile_out, count);
                for (r, values) in tile.zip(tile_out.chunks_exact(count)) {
                    // SAFETY: row r < m, columns first..first + count ≤ self.rows of the
                    // (m, rows) output: only this task writes them (see `matmul_many`).
                    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), out.at(r * self.rows + first), count) };
                }
            }
        }
    }

    /// Whether llama.cpp multiplies batches of rows by this float matrix with llamafile's
    /// tinyBLAS, which needs a width that is a multiple of its vectors' lanes (8, or 16 in
    /// llama.cpp's AVX-512 build) and a height that is a multiple of 4 (else every row takes
    /// `ggml_vec_dot_*`).
    fn tinyblas(&self) -> bool {
        self.cols.is_multiple_of(super::cpu::float_lanes()) && self.rows.is_multiple_of(4)
    }

    /// Which activation quantization this matrix needs (matrices with the same key can share
    /// one; see [`matmul_rows_many`]).
    fn activation_key(&self) -> u8 {
        match self.weights {
            Weights::Q4Kx8(_) => 0,
            Weights::Q4K(_) | Weights::Q5K(_) | Weights::Q6K(_) => 1,
            Weights::Q4_0x8(_) | Weights::Q4_0(_) | Weights::Q5_0(_) | Weights::Q8_0(_) => 2,
            Weights::F32(_) => 3,
            Weights::Q5_1(_) | Weights::Q4_1(_) => 4,
            Weights::F16(_) => 5,
            Weights::BF16(_) => 6,
        }
    }

    /// Weight rows `rows` (whole groups of eight for interleaved weights) against the
    /// activation rows `acts_rows` (`flags`: their [`RowMode`]s' `gemm` flag for Q4_K, `tiled`
    /// for Q5_K and Q6_K):
    /// weight row i (counted from `rows.start`) and activation row j (from `acts_rows.start`)
    /// into `out[j * stride + i]`.
    fn dot_rows(
        &self,
        rows: std::ops::Range<usize>,
        acts: &Activations,
        acts_rows: std::ops::Range<usize>,
        flags: &[bool],
        out: &mut [f32],
        stride: usize,
    ) {
        match (&self.weights, acts) {
            (Weights::Q4Kx8(w), Activations::Q8K(a)) => {
                let kb = self.cols / QK_K;
                let (w, a) = (&w[rows.start / 8 * kb..rows.end / 8 * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, gemm, out| kernels::q4kx8_rows(w, a, kb, stride, gemm, out));
            }
            (Weights::Q4K(w), Activations::Q8K(a)) => {
                let kb = self.cols / QK_K;
                let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, _: [bool; 4], out| kernels::q4k_rows(w, a, kb, stride, out));
            }
            (Weights::Q6K(w), Activations::Q8K(a)) => {
                let kb = self.cols / QK_K;
                let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, tiled, out| kernels::q6k_rows(w, a, kb, stride, tiled, out));
            }
            (Weights::Q5K(w), Activations::Q8K(a)) => {
                let kb = self.cols / QK_K;
                let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, tiled, out| kernels::q5k_rows(w, a, kb, stride, tiled, out));
            }
            (Weights::Q4_0x8(w), Activations::Q8_0(a)) => {
                let kb = self.cols / QK4_0;
                let (w, a) = (&w[rows.start / 8 * kb..rows.end / 8 * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, _: [bool; 4], out| kernels::q4_0x8_rows(w, a, kb, stride, out));
            }
            (Weights::Q4_0(w), Activations::Q8_0(a)) => signed_rows(w, self.cols, rows, a, acts_rows, flags, out, stride),
            (Weights::Q5_0(w), Activations::Q8_0(a)) => signed_rows(w, self.cols, rows, a, acts_rows, flags, out, stride),
            (Weights::Q8_0(w), Activations::Q8_0(a)) => signed_rows(w, self.cols, rows, a, acts_rows, flags, out, stride),
            (Weights::Q5_1(w), Activations::Q8_1(a)) => min_rows(w, self.cols, rows, a, acts_rows, flags, out, stride),
            (Weights::Q4_1(w), Activations::Q8_1(a)) => min_rows(w, self.cols, rows, a, acts_rows, flags, out, stride),
            (Weights::F32(w), Activations::F32(a)) => {
                let a = &a[acts_rows.start * self.cols..acts_rows.end * self.cols];
                let tinyblas = self.tinyblas();
                for (i, row) in rows.enumerate() {
                    let w = &w[row * self.cols..(row + 1) * self.cols];
                    for (j, x) in a.chunks_exact(self.cols).enumerate() {
                        out[j * stride + i] = if tinyblas && flags[j] { kernels::tinyblas_dot(w, x) } else { kernels::vec_dot_f32(w, x) };
                    }
                }
            }
            (Weights::F16(_) | Weights::BF16(_), Activations::Rounded(a)) => {
                // A weight row at a time in f32 (exact), then the products of F32 (tinyBLAS) or
                // ggml's 16-bit dot product for a lone row.
                let lone = if let Weights::F16(_) = self.weights { kernels::vec_dot_f16 } else { kernels::vec_dot_bf16 };
                let a = &a[acts_rows.start * self.cols..acts_rows.end * self.cols];
                let tinyblas = self.tinyblas();
                let mut row_f32 = vec![0f32; self.cols];
                for (i, row) in rows.enumerate() {
                    self.dequantize_row(row, &mut row_f32);
                    for (j, x) in a.chunks_exact(self.cols).enumerate() {
                        out[j * stride + i] = if tinyblas && flags[j] { kernels::tinyblas_dot(&row_f32, x) } else { lone(&row_f32, x) };
                    }
                }
            }
            _ => panic!("activations quantized for another kind of matrix"),
        }
    }
}

/// Several matrices of the same width applied to the same rows in one parallel pass (one
/// wake-up of the worker threads instead of one per matrix), each quantizing `xs` only when the
/// previous one needed another quantization. Same results as [`QMatrix::matmul_rows`] for each.
pub fn matmul_rows_many(mats: &[&QMatrix], xs: &[f32], modes: &[RowMode]) -> Vec<Vec<f32>> {
    let Some(first) = mats.first() else { return Vec::new() };
    assert!(mats.iter().all(|w| w.cols == first.cols), "matrices of different widths");
    let m = xs.len() / first.cols;
    let mut acts: Vec<(u8, Activations)> = Vec::new();
    for w in mats {
        if !acts.iter().any(|(key, _)| *key == w.activation_key()) {
            acts.push((w.activation_key(), w.quantize(xs, modes)));
        }
    }
    let pairs: Vec<(&QMatrix, &Activations)> =
        mats.iter().map(|w| (*w, &acts.iter().find(|(key, _)| *key == w.activation_key()).expect("quantized above").1)).collect();
    matmul_many(&pairs, m, modes)
}

/// The products of several matrices with their activations (all `m` rows), in one parallel pass.
fn matmul_many(pairs: &[(&QMatrix, &Activations)], m: usize, modes: &[RowMode]) -> Vec<Vec<f32>> {
    // Not zeroed first: the tasks write every element.
    let mut outs: Vec<Vec<f32>> = pairs.iter().map(|(w, _)| Vec::with_capacity(m * w.rows)).collect();
    let ptrs: Vec<SharedOut> = outs.iter_mut().map(|out| SharedOut(out.as_mut_ptr())).collect();
    // Each task owns a run of one matrix's weight rows for a block of activation rows: those
    // columns of those rows of its output. The threads go through the activation blocks one
    // after the other, so that a long prompt's block stays in the caches while all the weights
    // pass over it.
    let mut tasks: Vec<(usize, usize, usize, std::ops::Range<usize>)> = Vec::new();
    for block in (0..m).step_by(ACT_BLOCK_ROWS) {
        let block = block..(block + ACT_BLOCK_ROWS).min(m);
        for (i, (w, _)) in pairs.iter().enumerate() {
            let chunk_rows = w.chunk_rows(m);
            tasks.extend((0..w.rows).step_by(chunk_rows).map(|first| (i, first, chunk_rows.min(w.rows - first), block.clone())));
        }
    }
    super::pool::for_each(tasks, |(i, first, count, block)| {
        let (w, acts) = pairs[i];
        w.compute_chunk(first, count, block, ptrs[i], acts, modes);
    });
    for (out, (w, _)) in outs.iter_mut().zip(pairs) {
        // SAFETY: the tasks wrote all m rows of every column (their runs cover 0..rows).
        unsafe { out.set_len(m * w.rows) };
    }
    outs
}

/// Row `row` of a matrix of [`SignedBlock`]s as f32.
fn signed_row(blocks: &[impl SignedBlock], row: usize, out: &mut [f32]) {
    let per_row = out.len() / QK8_0;
    for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK8_0)) {
        dequantize_signed(block, out);
    }
}

/// [`QMatrix::dot_rows`] for a matrix of [`SignedBlock`]s, `cols` wide.
#[allow(clippy::too_many_arguments)]
fn signed_rows(
    w: &[impl SignedBlock],
    cols: usize,
    rows: std::ops::Range<usize>,
    a: &[BlockQ8_0],
    acts_rows: std::ops::Range<usize>,
    flags: &[bool],
    out: &mut [f32],
    stride: usize,
) {
    let kb = cols / QK8_0;
    let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
    in_groups(a, kb, stride, flags, out, |a, _: [bool; 4], out| kernels::q8_0_rows(w, a, kb, stride, out));
}

/// Row `row` of a matrix of [`MinBlock`]s as f32.
fn min_row(blocks: &[impl MinBlock], row: usize, out: &mut [f32]) {
    let per_row = out.len() / QK5_1;
    for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK5_1)) {
        dequantize_min(block, out);
    }
}

/// [`QMatrix::dot_rows`] for a matrix of [`MinBlock`]s, `cols` wide.
#[allow(clippy::too_many_arguments)]
fn min_rows(
    w: &[impl MinBlock],
    cols: usize,
    rows: std::ops::Range<usize>,
    a: &[BlockQ8_1],
    acts_rows: std::ops::Range<usize>,
    flags: &[bool],
    out: &mut [f32],
    stride: usize,
) {
    let kb = cols / QK5_1;
    let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
    in_groups(a, kb, stride, flags, out, |a, _: [bool; 4], out| kernels::q5_1_rows(w, a, kb, stride, out));
}

/// Runs `kernel` over the activation rows (`kb` blocks each) in groups of up to `N` (the size of
/// the kernel's flags; a weight block is decoded once per group), group g writing its outputs
/// from `out[N * g * stride]` on; every row's result is the same whatever group it is in.
fn in_groups<A, const N: usize>(
    acts: &[A],
    kb: usize,
    stride: usize,
    flags: &[bool],
    out: &mut [f32],
    kernel: impl Fn(&[&[A]], [bool; N], &mut [f32]),
) {
    for (g, (group, flags)) in acts.chunks(N * kb).zip(flags.chunks(N)).enumerate() {
        let mut rows: [&[A]; N] = [&[]; N];
        let n = group.len() / kb;
        for (row, blocks) in rows.iter_mut().zip(group.chunks_exact(kb)) {
            *row = blocks;
        }
        let mut f = [false; N];
        f[..flags.len()].copy_from_slice(flags);
        kernel(&rows[..n], f, &mut out[N * g * stride..]);
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A deterministic spread of magnitudes and signs (xorshift).
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 4.0
            })
            .collect()
    }

    #[test]
    fn interleaved_q4k_rows_give_the_bits_of_the_row_by_row_kernel() {
        let cols = 512;
        let (x8, qtensor) = quantized(GgmlDType::Q4K, Kind::Q4K, 16, cols);
        assert!(matches!(x8.weights, Weights::Q4Kx8(_)));
        // The same weights, 13 rows: not a multiple of 8, so kept row by row.
        let bytes = qtensor.data().unwrap();
        let rows13 = QMatrix::from_blocks(Kind::Q4K, 13, cols, &bytes[..13 * 2 * 144]).unwrap();
        assert!(matches!(rows13.weights, Weights::Q4K(_)));
        let xs = values(5 * cols, 3);
        let (a, b) = (x8.matmul(&xs), rows13.matmul(&xs));
        for r in 0..5 {
            assert_eq!(a[r * 16..r * 16 + 13], b[r * 13..(r + 1) * 13], "activation row {r}");
        }
    }

    fn quantized(dtype: GgmlDType, kind: Kind, rows: usize, cols: usize) -> (QMatrix, QTensor) {
        let w = Tensor::from_vec(values(rows * cols, 7), (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        (QMatrix::from_blocks(kind, rows, cols, &q.data().unwrap()).unwrap(), q)
    }

    /// [`portable`]'s weight row `row` of [`SignedBlock`]s against all activation rows.
    fn signed(w: &[impl SignedBlock], cols: usize, a: &[BlockQ8_0], row: usize, out: &mut [f32]) {
        let kb = cols / QK8_0;
        let rows: Vec<_> = a.chunks_exact(kb).collect();
        for (rows, out) in rows.chunks(4).zip(out.chunks_mut(4)) {
            portable::q8_0(&w[row * kb..(row + 1) * kb], rows, out)
        }
    }

    /// [`portable`]'s weight row `row` of [`MinBlock`]s against all activation rows.
    fn with_min(w: &[impl MinBlock], cols: usize, a: &[BlockQ8_1], row: usize, out: &mut [f32]) {
        let kb = cols / QK5_1;
        let rows: Vec<_> = a.chunks_exact(kb).collect();
        for (rows, out) in rows.chunks(4).zip(out.chunks_mut(4)) {
            portable::q5_1(&w[row * kb..(row + 1) * kb], rows, out)
        }
    }

    fn portable(matrix: &QMatrix, xs: &[f32], modes: &[RowMode]) -> Vec<f32> {
        let acts = matrix.quantize(xs, modes);
        let m = xs.len() / matrix.cols;
        let mut out = vec![0f32; m];
        let mut all = Vec::new();
        for row in 0..matrix.rows {
            match (&matrix.weights, &acts) {
                (Weights::Q4K(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    for (rows, out) in rows.chunks(4).zip(out.chunks_mut(4)) {
                        portable::q4k(&w[row * kb..(row + 1) * kb], rows, out)
                    }
                }
                (Weights::Q4Kx8(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    let mut eight = vec![[0f32; 8]; m];
                    for (r, (rows, eight)) in rows.chunks(4).zip(eight.chunks_mut(4)).enumerate() {
                        let gemm = std::array::from_fn(|i| modes.get(4 * r + i).is_some_and(|m| m.gemm));
                        portable::q4kx8(&w[(row / 8) * kb..(row / 8 + 1) * kb], rows, gemm, eight);
                    }
                    out.iter_mut().zip(&eight).for_each(|(o, e)| *o = e[row % 8]);
                }
                (Weights::Q6K(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    for (r, (rows, out)) in rows.chunks(8).zip(out.chunks_mut(8)).enumerate() {
                        let tiled = std::array::from_fn(|i| modes.get(8 * r + i).is_some_and(|m| m.tiled));
                        portable::q6k(&w[row * kb..(row + 1) * kb], rows, tiled, out)
                    }
                }
                (Weights::Q8_0(w), Activations::Q8_0(a)) => signed(w, matrix.cols, a, row, &mut out),
                (Weights::Q5_0(w), Activations::Q8_0(a)) => signed(w, matrix.cols, a, row, &mut out),
                (Weights::Q4_0(w), Activations::Q8_0(a)) => signed(w, matrix.cols, a, row, &mut out),
                (Weights::Q5K(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    for (r, (rows, out)) in rows.chunks(8).zip(out.chunks_mut(8)).enumerate() {
                        let tiled = std::array::from_fn(|i| modes.get(8 * r + i).is_some_and(|m| m.tiled));
                        portable::q5k(&w[row * kb..(row + 1) * kb], rows, tiled, out)
                    }
                }
                (Weights::Q4_0x8(w), Activations::Q8_0(a)) => {
                    let kb = matrix.cols / QK4_0;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    let mut eight = vec![[0f32; 8]; m];
                    for (rows, eight) in rows.chunks(4).zip(eight.chunks_mut(4)) {
                        portable::q4_0x8(&w[(row / 8) * kb..(row / 8 + 1) * kb], rows, eight);
                    }
                    out.iter_mut().zip(&eight).for_each(|(o, e)| *o = e[row % 8]);
                }
                (Weights::Q5_1(w), Activations::Q8_1(a)) => with_min(w, matrix.cols, a, row, &mut out),
                (Weights::Q4_1(w), Activations::Q8_1(a)) => with_min(w, matrix.cols, a, row, &mut out),
                _ => unreachable!(),
            }
            all.push(out.clone());
        }
        // (rows, m) -> (m, rows)
        (0..m).flat_map(|r| all.iter().map(move |col| col[r])).collect()
    }

    /// Q8_0 weights of every byte value, -128 included (which llama.cpp's quantizer never
    /// writes, but a file may hold), against activations at the ends of their range: the tiled
    /// batch kernels (VNNI's unsigned weights, AVX2's 16-bit pairs) give the portable sums, and
    /// each row the bits it has alone; 7 weight rows, so tiles of four or two and a remainder.
    #[test]
    fn q8_0_tiles_agree_with_the_portable_sums_on_every_byte_value() {
        let (rows, cols) = (7, 256);
        let mut bytes = Vec::new();
        for r in 0..rows {
            for b in 0..cols / QK8_0 {
                bytes.extend(half::f16::from_f32(0.01 * (1 + r + b) as f32).to_le_bytes());
                bytes.extend((0..QK8_0).map(|k| ((r * 97 + b * 31 + k * 11) % 256) as u8));
            }
        }
        let matrix = QMatrix::from_blocks(Kind::Q8_0, rows, cols, &bytes).unwrap();
        // Rows of ±1 with one larger value per block: quantized to ±127 and small values.
        let xs: Vec<f32> = (0..5 * cols)
            .map(|k| {
                if k % 37 == 0 {
                    40.0
                } else if k % 3 == 0 {
                    -1.0
                } else {
                    1.0
                }
            })
            .collect();
        let batch = matrix.matmul(&xs);
        assert_eq!(portable(&matrix, &xs, &[]), batch);
        for (r, x) in xs.chunks_exact(cols).enumerate() {
            assert_eq!(matrix.matmul(x), batch[r * rows..(r + 1) * rows], "row {r}");
        }
    }

    #[test]
    fn q4_0_with_rows_not_in_groups_of_eight_is_held_as_it_is() {
        // llama.cpp repacks Q4_0 by groups of eight rows only; 13 rows are multiplied like Q8_0.
        let cols = 256;
        let (matrix, qtensor) = quantized(GgmlDType::Q4_0, Kind::Q4_0, 13, cols);
        assert!(matches!(matrix.weights, Weights::Q4_0(_)));
        let wd = qtensor.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        let mut row = vec![0f32; cols];
        for (j, expected) in wd.iter().enumerate() {
            matrix.dequantize_row(j, &mut row);
            assert_eq!(&row, expected, "row {j}");
        }
    }

    #[test]
    fn rows_are_independent_of_the_batch_and_the_kernels_agree_bit_for_bit() {
        let kinds = [
            (GgmlDType::Q4K, Kind::Q4K),
            (GgmlDType::Q5K, Kind::Q5K),
            (GgmlDType::Q6K, Kind::Q6K),
            (GgmlDType::Q4_0, Kind::Q4_0),
            (GgmlDType::Q8_0, Kind::Q8_0),
            (GgmlDType::Q5_0, Kind::Q5_0),
            (GgmlDType::Q5_1, Kind::Q5_1),
            (GgmlDType::Q4_1, Kind::Q4_1),
        ];
        // 296 rows: a lone row's product takes runs of more than 64 weight rows per task. Under
        // Miri (scripts/miri.sh), too slow there otherwise: one group of eight rows of one block
        // (every path but the long runs), of the kinds loaded through different unsafe code
        // (Q4_K and Q4_0 interleaved in parallel, Q6_K copied as it is; the portable kernels'
        // own tests cover the other kinds' arithmetic).
        let sizes: &[(usize, usize)] = if cfg!(miri) { &[(8, 256)] } else { &[(40, 512), (296, 256)] };
        let kinds = kinds.into_iter().filter(|(_, kind)| !cfg!(miri) || matches!(kind, Kind::Q4K | Kind::Q4_0 | Kind::Q6K));
        for ((dtype, kind), (rows, cols)) in kinds.flat_map(|k| sizes.iter().map(move |&size| (k, size))) {
            let (matrix, qtensor) = quantized(dtype, kind, rows, cols);
            // Eleven rows: a full group of eight (Q5_K, Q6_K) or two of four, and a partial one.
            let xs = values(11 * cols, 11);
            let batch = matrix.matmul(&xs);
            // One row at a time gives the same bits as eleven at once.
            for (r, x) in xs.chunks_exact(cols).enumerate() {
                assert_eq!(matrix.matmul(x), batch[r * rows..(r + 1) * rows], "{kind:?} row {r}");
            }
            // The portable code computes the same lanes as the SIMD code, for lone rows and for
            // rows of llama.cpp's GEMM and tiled matmul (a mix, since each row has its own).
            assert_eq!(portable(&matrix, &xs, &[]), batch, "{kind:?} portable");
            let modes: Vec<RowMode> = (0..11).map(|r| RowMode { gemm: r % 3 != 1, tiled: r % 2 == 0, sgemm: r % 4 != 0 }).collect();
            let batched = matrix.matmul_rows(&xs, &modes);
            assert_eq!(portable(&matrix, &xs, &modes), batched, "{kind:?} portable, GEMM and tiled rows");
            for (r, x) in xs.chunks_exact(cols).enumerate() {
                assert_eq!(matrix.matmul_rows(x, &modes[r..r + 1]), batched[r * rows..(r + 1) * rows], "{kind:?} row {r} alone");
            }
            // And both are the product of the dequantized matrix, up to the activations'
            // 8-bit rounding.
            let wd = qtensor.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let mut row = vec![0f32; cols];
            for (j, expected_row) in wd.iter().enumerate() {
                matrix.dequantize_row(j, &mut row);
                assert_eq!(&row, expected_row, "{kind:?} dequantized row {j}");
            }
            for (r, x) in xs.chunks_exact(cols).enumerate() {
                for (j, w) in wd.iter().enumerate() {
                    let exact: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                    let got = batch[r * rows + j];
                    assert!((got - exact).abs() < 0.02 * (1.0 + exact.abs()) + 0.5, "{kind:?} ({r},{j}): {got} vs {exact}");
                }
            }
        }
    }
}
