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
//!   k-quants, Q8_0 (AVX2 variant: `d = amax/127` kept as f16, scale `127/amax`) for Q8_0;
//! - Q4_K follows the repacked AVX2 kernels (`gemv/gemm_q4_K_8x8_q8_K`, which llama.cpp uses for
//!   every Q4_K matrix on AVX2): per 256-value block an exact integer dot product and an exact
//!   integer min correction, each folded into its own f32 accumulator with one fused multiply-add;
//! - Q6_K and Q8_0 follow `ggml_vec_dot_q6_K_q8_K` / `ggml_vec_dot_q8_0_q8_0`: eight 32-bit lanes
//!   of integer partial sums per block, accumulated lane-wise with fused multiply-adds, then summed
//!   in ggml's `hsum_float_8` order.
//!
//! The integer parts are exact, so only their grouping into lanes matters; the portable code
//! computes the same lane sums and the same fused multiply-adds as the AVX2 code and gives the
//! same bits.
//!
//! Weights stay in the file's layout: the matrix is the only copy (no repacked second one).

use super::pool::SharedOut;
use half::f16;

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

/// Defines a function that runs an `#[inline(always)]` one compiled with AVX2, FMA and F16C when
/// the CPU has them, so that `mul_add` is one instruction instead of a call into libm and loops
/// vectorize with 256-bit registers. The results are the same either way.
#[macro_export]
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $inner:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,f16c")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                if $crate::engine::quant::simd_available() {
                    // SAFETY: the features were detected on this CPU.
                    return unsafe { fast($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}

pub const QK_K: usize = 256;
pub const QK8_0: usize = 32;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4K {
    d: f16,
    dmin: f16,
    scales: [u8; 12],
    qs: [u8; QK_K / 2],
}

/// One Q4_K block (256 columns) of eight consecutive rows, interleaved so that a 256-bit vector
/// holds four consecutive weights of each of the eight rows: SIMD lanes are output rows, as in
/// llama.cpp's `block_q4_Kx8`. Same values as the eight blocks it comes from; 32 bytes more
/// (the 6-bit scales and mins unpacked to bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4Kx8 {
    d: [f16; 8],
    dmin: [f16; 8],
    /// `[sub-block][row]`.
    scales: [u8; 64],
    /// `[pair of sub-blocks][row][2]`.
    mins: [u8; 64],
    /// `[64-value chunk j][group of 4 t][row][4]`: low nibbles are values `64j + 4t + u` (sub-block
    /// 2j), high nibbles `64j + 32 + 4t + u` (sub-block 2j + 1).
    qs: [u8; 1024],
}

impl BlockQ4Kx8 {
    fn new(rows: [&BlockQ4K; 8]) -> Self {
        let mut x = Self { d: [f16::ZERO; 8], dmin: [f16::ZERO; 8], scales: [0; 64], mins: [0; 64], qs: [0; 1024] };
        for (r, block) in rows.iter().enumerate() {
            x.d[r] = block.d;
            x.dmin[r] = block.dmin;
            let sm = q4k_scales_mins(&block.scales);
            for sub in 0..8 {
                x.scales[sub * 8 + r] = sm[sub];
                x.mins[(sub / 2) * 16 + r * 2 + sub % 2] = sm[8 + sub];
            }
            for j in 0..4 {
                for t in 0..8 {
                    for u in 0..4 {
                        x.qs[j * 256 + t * 32 + r * 4 + u] = block.qs[32 * j + 4 * t + u];
                    }
                }
            }
        }
        x
    }

    /// Row `r`'s scale, min and 4-bit value `i` (0..256).
    #[inline]
    fn scale_min(&self, r: usize, sub: usize) -> (u8, u8) {
        (self.scales[sub * 8 + r], self.mins[(sub / 2) * 16 + r * 2 + sub % 2])
    }

    #[inline]
    fn value(&self, r: usize, i: usize) -> u8 {
        let (j, high, t, u) = (i / 64, (i % 64) / 32, (i % 32) / 4, i % 4);
        let q = self.qs[j * 256 + t * 32 + r * 4 + u];
        if high == 1 {
            q >> 4
        } else {
            q & 0xF
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ6K {
    ql: [u8; QK_K / 2],
    qh: [u8; QK_K / 4],
    scales: [i8; QK_K / 16],
    d: f16,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ8_0 {
    d: f16,
    qs: [i8; QK8_0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ8K {
    d: f32,
    qs: [i8; QK_K],
    bsums: [i16; QK_K / 16],
}

const _: () = assert!(
    std::mem::size_of::<BlockQ4K>() == 144
        && std::mem::size_of::<BlockQ6K>() == 210
        && std::mem::size_of::<BlockQ8_0>() == 34
        && std::mem::size_of::<BlockQ8K>() == 292
        && std::mem::size_of::<BlockQ4Kx8>() == 1184
);

/// Block `i` of `bytes` (a copy; the bytes need not be aligned). Only for the plain-old-data
/// block types, like [`blocks_from_bytes`].
fn block_at<B: Copy>(bytes: &[u8], i: usize) -> B {
    let size = std::mem::size_of::<B>();
    let bytes = &bytes[i * size..(i + 1) * size];
    // SAFETY: `bytes` holds exactly one `B`, read unaligned; any bit pattern is a valid `B`.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const B) }
}

/// An empty vector with room for `n` weight blocks, its memory already paged in: `madvise`
/// calls (one per thread) instead of a page fault per 4 KB as the weights are copied in (the
/// model's gigabyte is ~270,000 pages). Where the kernel lacks the call (before Linux 5.14), the
/// pages come by faults as before.
fn weight_vec<B>(n: usize) -> Vec<B> {
    let mut v = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = v.as_mut_ptr() as usize;
        let (first, last) = (start.next_multiple_of(PAGE), (start + n * std::mem::size_of::<B>()) / PAGE * PAGE);
        if last > first {
            let pages = (last - first) / PAGE;
            let per_task = load_task_len(pages, PAGE);
            let ranges: Vec<(usize, usize)> =
                (0..pages).step_by(per_task).map(|p| (first + p * PAGE, per_task.min(pages - p) * PAGE)).collect();
            super::pool::for_each(ranges, |(at, len)| {
                // SAFETY: whole pages inside this vector's own allocation; populating them
                // changes no content the program can see (fresh anonymous memory reads as zero
                // either way), and a failure leaves them to be faulted in.
                unsafe { libc::madvise(at as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
            });
        }
    }
    v
}

/// Blocks copied out of their on-disk bytes, in parallel.
///
/// Only for the `repr(C)` block types above: every field is an integer, an integer array or an
/// f16, so any bit pattern is a valid value and there is no padding.
fn blocks_from_bytes<B: Copy + Send>(bytes: &[u8]) -> Vec<B> {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "{} bytes is not a whole number of {size}-byte blocks", bytes.len());
    let n = bytes.len() / size;
    let mut blocks = weight_vec::<B>(n);
    let per_task = load_task_len(n, size);
    let tasks: Vec<_> = blocks.spare_capacity_mut()[..n].chunks_mut(per_task).zip(bytes.chunks(per_task * size)).collect();
    super::pool::for_each(tasks, |(dst, src)| {
        // SAFETY: `dst` has room for exactly `src.len()` bytes; `B` is plain old data (see above).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr() as *mut u8, src.len()) };
    });
    // SAFETY: the tasks copied all `n` blocks, and any bit pattern is a valid `B`.
    unsafe { blocks.set_len(n) };
    blocks
}

/// The weights of a matrix, row-major, each row a whole number of blocks.
pub enum Weights {
    Q4K(Vec<BlockQ4K>),
    /// Q4_K with a multiple of 8 rows, interleaved by 8 (`[row group][block]`).
    Q4Kx8(Vec<BlockQ4Kx8>),
    Q6K(Vec<BlockQ6K>),
    Q8_0(Vec<BlockQ8_0>),
    /// Any other type, dequantized at load time.
    F32(Vec<f32>),
}

/// Activations quantized for one kind of weights: `m` rows.
pub enum Activations<'a> {
    Q8K(Vec<BlockQ8K>),
    Q8_0(Vec<BlockQ8_0>),
    F32(&'a [f32]),
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
/// - `tiled`: the batch has 8 rows or more, so Q6_K goes through the tiled K-quant matmul (one
///   exact integer per 256 values, scaled by the weight scale, then a fused multiply-add by the
///   activation scale, rather than eight lanes summed at the end).
///
/// The default is a lone row (llama.cpp's GEMV and row dot products).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowMode {
    pub gemm: bool,
    pub tiled: bool,
}

/// The ggml types kept quantized; any other is dequantized to f32 at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4K,
    Q6K,
    Q8_0,
    F32,
}

impl QMatrix {
    /// A matrix from raw GGUF block bytes of a kept type.
    pub fn from_blocks(kind: Kind, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, String> {
        let block = match kind {
            Kind::Q4K | Kind::Q6K => QK_K,
            Kind::Q8_0 => QK8_0,
            Kind::F32 => 1,
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
            Kind::Q6K => Weights::Q6K(blocks_from_bytes(bytes)),
            Kind::Q8_0 => Weights::Q8_0(blocks_from_bytes(bytes)),
            Kind::F32 => Weights::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
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
            Weights::Q6K(b) => b.len(),
            Weights::Q8_0(b) => b.len(),
            Weights::F32(v) => v.len(),
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
            Weights::Q6K(blocks) => {
                let per_row = self.cols / QK_K;
                for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK_K)) {
                    dequantize_q6k(block, out);
                }
            }
            Weights::Q8_0(blocks) => {
                let per_row = self.cols / QK8_0;
                for (block, out) in blocks[row * per_row..(row + 1) * per_row].iter().zip(out.chunks_exact_mut(QK8_0)) {
                    let d = block.d.to_f32();
                    for (o, &q) in out.iter_mut().zip(&block.qs) {
                        *o = q as f32 * d;
                    }
                }
            }
            Weights::F32(values) => out.copy_from_slice(&values[row * self.cols..(row + 1) * self.cols]),
        }
    }

    /// `xs` (`m` rows of `cols`) quantized the way this matrix's dot products expect, row `r`
    /// as for `modes[r]` (a lone row when `modes` is shorter).
    pub fn quantize<'a>(&self, xs: &'a [f32], modes: &[RowMode]) -> Activations<'a> {
        assert_eq!(xs.len() % self.cols, 0);
        match self.weights {
            Weights::Q4K(_) | Weights::Q4Kx8(_) | Weights::Q6K(_) => {
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
            Weights::Q8_0(_) => {
                let mut blocks = vec![BlockQ8_0 { d: f16::ZERO, qs: [0; QK8_0] }; xs.len() / QK8_0];
                blocks.iter_mut().zip(xs.chunks_exact(QK8_0)).for_each(|(b, x)| quantize_q8_0(x, b));
                Activations::Q8_0(blocks)
            }
            Weights::F32(_) => Activations::F32(xs),
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
        if let Weights::Q4Kx8(_) = self.weights {
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
                let mut tiled = [false; TILE];
                for (i, r) in tile.clone().enumerate() {
                    let mode = modes.get(r).copied().unwrap_or_default();
                    flags[i] = mode.gemm;
                    tiled[i] = mode.tiled;
                }
                let n = tile.len();
                // Q4_K rows take llama.cpp's GEMM flag, Q6_K rows its tiled flag.
                let row_flags = if let Weights::Q4Kx8(_) = self.weights { &flags[..n] } else { &tiled[..n] };
                self.dot_rows(first..first + count, acts, tile.clone(), row_flags, &mut tile_out, count);
                for (r, values) in tile.zip(tile_out.chunks_exact(count)) {
                    // SAFETY: row r < m, columns first..first + count ≤ self.rows of the
                    // (m, rows) output: only this task writes them (see `matmul_many`).
                    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), out.at(r * self.rows + first), count) };
                }
            }
        }
    }

    /// Which activation quantization this matrix needs (matrices with the same key can share
    /// one; see [`matmul_rows_many`]).
    fn activation_key(&self) -> u8 {
        match self.weights {
            Weights::Q4Kx8(_) => 0,
            Weights::Q4K(_) | Weights::Q6K(_) => 1,
            Weights::Q8_0(_) => 2,
            Weights::F32(_) => 3,
        }
    }

    /// Weight rows `rows` (whole groups of eight for interleaved weights) against the activation
    /// rows `acts_rows` (`flags`: their [`RowMode`]s' `gemm` flag for Q4_K, `tiled` for Q6_K):
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
            (Weights::Q8_0(w), Activations::Q8_0(a)) => {
                let kb = self.cols / QK8_0;
                let (w, a) = (&w[rows.start * kb..rows.end * kb], &a[acts_rows.start * kb..acts_rows.end * kb]);
                in_groups(a, kb, stride, flags, out, |a, _: [bool; 4], out| kernels::q8_0_rows(w, a, kb, stride, out));
            }
            (Weights::F32(w), Activations::F32(a)) => {
                let a = &a[acts_rows.start * self.cols..acts_rows.end * self.cols];
                for (i, row) in rows.enumerate() {
                    let w = &w[row * self.cols..(row + 1) * self.cols];
                    for (j, x) in a.chunks_exact(self.cols).enumerate() {
                        out[j * stride + i] = dot_f32(w, x);
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

/// Dot product in eight lanes of fused multiply-adds, summed in ggml's order (`hsum8`), then the
/// elements past the last whole eight.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the features were detected on this CPU.
        return unsafe { kernels::avx2::dot_f32(a, b) };
    }
    dot_f32_lanes(a, b)
}

/// The portable [`dot_f32`].
fn dot_f32_lanes(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent lanes, then a fixed reduction: deterministic.
    let mut lanes = [0f32; 8];
    let mut a8 = a.chunks_exact(8);
    let mut b8 = b.chunks_exact(8);
    for (x, y) in (&mut a8).zip(&mut b8) {
        for l in 0..8 {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    let mut sum = hsum8(&lanes);
    for (x, y) in a8.remainder().iter().zip(b8.remainder()) {
        sum = x.mul_add(*y, sum);
    }
    sum
}

/// `xs` rounded to the nearest f16 values (ties to even), as f32.
pub fn round_to_f16(xs: &[f32]) -> Vec<f32> {
    use half::slice::HalfFloatSliceExt;
    let mut halves = vec![f16::ZERO; xs.len()];
    halves.convert_from_f32_slice(xs);
    let mut out = vec![0f32; xs.len()];
    halves.convert_to_f32_slice(&mut out);
    out
}

/// Whether the CPU has AVX2, FMA and F16C (the SIMD kernels' requirements).
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return kernels::avx2::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// ggml's `hsum_float_8`: (l0+l4, l1+l5, l2+l6, l3+l7), then (0+2, 1+3), then 0+1.
#[inline(always)]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    let (a0, a1, a2, a3) = (l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]);
    (a0 + a2) + (a1 + a3)
}

simd_dispatch! {
    /// ggml's `quantize_row_q8_K_ref`.
    fn quantize_q8k(x: &[f32], y: &mut BlockQ8K, positive_ties: bool) = quantize_q8k_block;
}

#[inline(always)]
fn quantize_q8k_block(x: &[f32], y: &mut BlockQ8K, positive_ties: bool) {
    assert_eq!(x.len(), QK_K);
    // The largest magnitude (in eight lanes, which vectorizes; NaN is never the largest), and
    // the first value that has it, as ggml's scan finds them.
    let mut lanes = [0f32; 8];
    for chunk in x.chunks_exact(8) {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v.abs());
        }
    }
    let amax = lanes.iter().fold(0f32, |m, &l| m.max(l));
    if amax == 0.0 {
        *y = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
        return;
    }
    let mut max = *x.iter().find(|v| v.abs() == amax).expect("amax is one of the values");
    // ggml_quantize_mat_q8_K_4x8 takes +amax when both +amax and -amax occur; the reference
    // quantizer takes whichever comes first.
    if positive_ties && max < 0.0 && x.contains(&amax) {
        max = amax;
    }
    let iscale = -127.0 / max;
    for (q, &v) in y.qs.iter_mut().zip(x) {
        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
    }
    for (sum, qs) in y.bsums.iter_mut().zip(y.qs.chunks_exact(16)) {
        *sum = qs.iter().map(|&q| q as i16).sum();
    }
    y.d = 1.0 / iscale;
}

simd_dispatch! {
    /// ggml's AVX2 `quantize_row_q8_0` (which differs from the reference one in how the scale
    /// is inverted and how halves round).
    fn quantize_q8_0(x: &[f32], y: &mut BlockQ8_0) = quantize_q8_0_block;
}

#[inline(always)]
fn quantize_q8_0_block(x: &[f32], y: &mut BlockQ8_0) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    y.d = f16::from_f32(d);
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    for (q, &v) in y.qs.iter_mut().zip(x) {
        *q = ((v * id).round_ties_even() as i32).clamp(-128, 127) as i8;
    }
}

/// The eight 6-bit scales and eight 6-bit mins of a Q4_K block, unpacked with ggml's
/// word-wise shuffle: `[scales..., mins...]`.
#[inline(always)]
fn q4k_scales_mins(packed: &[u8; 12]) -> [u8; 16] {
    const KMASK1: u32 = 0x3f3f3f3f;
    const KMASK2: u32 = 0x0f0f0f0f;
    const KMASK3: u32 = 0x03030303;
    let word = |i: usize| u32::from_le_bytes([packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]]);
    let (u0, u1, u2) = (word(0), word(1), word(2));
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let u1_new = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let u2_new = u1 & KMASK1;
    let u0_new = u0 & KMASK1;
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&u0_new.to_le_bytes());
    out[4..8].copy_from_slice(&u1_new.to_le_bytes());
    out[8..12].copy_from_slice(&u2_new.to_le_bytes());
    out[12..16].copy_from_slice(&u3.to_le_bytes());
    out
}

/// ggml's `dequantize_row_q4_K` for one block.
fn dequantize_q4k(b: &BlockQ4K, out: &mut [f32]) {
    let (d, min) = (b.d.to_f32(), b.dmin.to_f32());
    let sm = q4k_scales_mins(&b.scales);
    for j in 0..QK_K / 64 {
        let (sc1, m1) = (sm[2 * j], sm[8 + 2 * j]);
        let (sc2, m2) = (sm[2 * j + 1], sm[8 + 2 * j + 1]);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        let q = &b.qs[32 * j..32 * j + 32];
        for l in 0..32 {
            out[64 * j + l] = d1 * (q[l] & 0xF) as f32 - m1;
            out[64 * j + 32 + l] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// The 6-bit value of element `i` (0..256) of a Q6_K block, unsigned (0..63; the weight is
/// `value - 32`).
#[inline]
fn q6k_value(b: &BlockQ6K, i: usize) -> u8 {
    let (chunk, rest) = (i / 128, i % 128);
    let (quarter, l) = (rest / 32, rest % 32);
    let ql = &b.ql[64 * chunk..];
    let qh = b.qh[32 * chunk + l];
    let low = match quarter {
        0 => ql[l] & 0xF,
        1 => ql[l + 32] & 0xF,
        2 => ql[l] >> 4,
        _ => ql[l + 32] >> 4,
    };
    low | (((qh >> (2 * quarter)) & 3) << 4)
}

/// ggml's `dequantize_row_q6_K` for one block.
fn dequantize_q6k(b: &BlockQ6K, out: &mut [f32]) {
    let d = b.d.to_f32();
    for (i, o) in out.iter_mut().enumerate() {
        *o = d * b.scales[i / 16] as f32 * (q6k_value(b, i) as i32 - 32) as f32;
    }
}

/// The dot-product kernels: weight row blocks against up to four (Q6_K: eight) activation rows at
/// once.
mod kernels {
    use super::*;

    /// Calls the AVX2 kernel specialised for the number of activation rows (1 to 4, or 1 to 8
    /// when the call starts with `8:`), or the portable one, with `kernel(w, acts, extra..., out)`.
    macro_rules! by_rows {
        ($kernel:ident, $w:expr, $acts:expr $(, $extra:expr)*; $out:expr) => {{
            let (w, acts, out) = ($w, $acts, $out);
            by_rows!(@rows [1 2 3] 4; $kernel, acts, (w, acts $(, $extra)*, out))
        }};
        (8: $kernel:ident, $w:expr, $acts:expr $(, $extra:expr)*; $out:expr) => {{
            let (w, acts, out) = ($w, $acts, $out);
            by_rows!(@rows [1 2 3 4 5 6 7] 8; $kernel, acts, (w, acts $(, $extra)*, out))
        }};
        (@rows [$($r:literal)*] $max:literal; $kernel:ident, $acts:ident, $args:tt) => {{
            #[cfg(target_arch = "x86_64")]
            if avx2::available() {
                // SAFETY: AVX2, FMA and F16C were detected on this CPU; the kernels take 1 to
                // $max activation rows.
                unsafe {
                    return match $acts.len() {
                        $($r => avx2::$kernel::<$r> $args,)*
                        _ => avx2::$kernel::<$max> $args,
                    };
                }
            }
            portable::$kernel $args
        }};
    }

    // Non-interleaved formats, over consecutive weight rows of `kb` blocks each, weight row i
    // writing activation row j's output at `out[j * stride + i]`: one dispatch for a whole run
    // of rows (a decode step's output layer alone is 150k rows). `tiled[i]`: activation row i as
    // llama.cpp's tiled K-quant matmul computes it.

    pub fn q4k_rows(w: &[BlockQ4K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, out: &mut [f32]) {
        by_rows!(q4k_rows, w, acts, kb, stride; out)
    }

    /// Groups of eight interleaved rows; `gemm[i]`: fold activation row i's sums every pair of
    /// sub-blocks, as llama.cpp's GEMM does.
    pub fn q4kx8_rows(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], kb: usize, stride: usize, gemm: [bool; 4], out: &mut [f32]) {
        by_rows!(q4kx8_rows, w, acts, kb, stride, gemm; out)
    }

    /// Group g's eight outputs for each activation row i into `out[i * stride + 8g..]`.
    #[inline(always)]
    fn scatter_group(values: &[[f32; 8]], g: usize, stride: usize, out: &mut [f32]) {
        for (i, values) in values.iter().enumerate() {
            for (r, &v) in values.iter().enumerate() {
                out[i * stride + 8 * g + r] = v;
            }
        }
    }

    /// Weight row i's output for each activation row j into `out[j * stride + i]`.
    #[inline(always)]
    fn scatter_row(values: &[f32], i: usize, stride: usize, out: &mut [f32]) {
        for (j, &v) in values.iter().enumerate() {
            out[j * stride + i] = v;
        }
    }

    /// Up to eight activation rows at a time (the other formats take four): a Q6_K block's
    /// unpacking is shared by all of them, and it costs as much as a row's products.
    pub fn q6k_rows(w: &[BlockQ6K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
        by_rows!(8: q6k_rows, w, acts, kb, stride, tiled; out)
    }

    pub fn q8_0_rows(w: &[BlockQ8_0], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
        by_rows!(q8_0_rows, w, acts, kb, stride; out)
    }

    /// The Q4_K block's integer dot product and min correction for one activation block.
    #[inline]
    pub(super) fn q4k_min_sum(scales: &[u8; 12], a: &BlockQ8K) -> i32 {
        let sm = q4k_scales_mins(scales);
        (0..8).map(|s| sm[8 + s] as i32 * (a.bsums[2 * s] as i32 + a.bsums[2 * s + 1] as i32)).sum()
    }

    pub mod portable {
        use super::*;

        pub fn q4k(w: &[BlockQ4K], acts: &[&[BlockQ8K]], out: &mut [f32]) {
            for (a, out) in acts.iter().zip(out.iter_mut()) {
                let (mut acc, mut acc_min) = (0f32, 0f32);
                for (x, y) in w.iter().zip(a.iter()) {
                    let sm = q4k_scales_mins(&x.scales);
                    let mut sum = 0i32;
                    for (s, &sc) in sm[..8].iter().enumerate() {
                        let (j, high) = (s / 2, s % 2 == 1);
                        let q4 = &x.qs[32 * j..32 * j + 32];
                        let q8 = &y.qs[32 * s..32 * s + 32];
                        let dot: i32 = q4.iter().zip(q8).map(|(&q, &v)| (if high { q >> 4 } else { q & 0xF }) as i32 * v as i32).sum();
                        sum += sc as i32 * dot;
                    }
                    acc = (sum as f32).mul_add(x.d.to_f32() * y.d, acc);
                    acc_min = (q4k_min_sum(&x.scales, y) as f32).mul_add(x.dmin.to_f32() * y.d, acc_min);
                }
                *out = acc - acc_min;
            }
        }

        pub fn q4kx8(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
            for ((a, out), gemm) in acts.iter().zip(out.iter_mut()).zip(gemm) {
                for (r, out) in out.iter_mut().enumerate() {
                    let (mut acc, mut acc_min) = (0f32, 0f32);
                    for (x, y) in w.iter().zip(a.iter()) {
                        let (d, dmin) = (x.d[r].to_f32() * y.d, x.dmin[r].to_f32() * y.d);
                        let mut sum = 0i32;
                        let mut min_sum = 0i32;
                        for sub in 0..8 {
                            let (sc, m) = x.scale_min(r, sub);
                            let dot: i32 = (32 * sub..32 * sub + 32).map(|i| x.value(r, i) as i32 * y.qs[i] as i32).sum();
                            sum += sc as i32 * dot;
                            min_sum += m as i32 * (y.bsums[2 * sub] as i32 + y.bsums[2 * sub + 1] as i32);
                            if gemm && sub % 2 == 1 {
                                acc = (sum as f32).mul_add(d, acc);
                                acc_min = (min_sum as f32).mul_add(dmin, acc_min);
                                (sum, min_sum) = (0, 0);
                            }
                        }
                        if !gemm {
                            acc = (sum as f32).mul_add(d, acc);
                            acc_min = (min_sum as f32).mul_add(dmin, acc_min);
                        }
                    }
                    *out = acc - acc_min;
                }
            }
        }

        pub fn q6k(w: &[BlockQ6K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
            for ((a, out), tiled) in acts.iter().zip(out.iter_mut()).zip(tiled) {
                let mut acc = [0f32; 8];
                let mut acc_tiled = 0f32;
                for (x, y) in w.iter().zip(a.iter()) {
                    let mut lanes = [0i32; 8];
                    for i in 0..QK_K {
                        // Lane of element i in the AVX2 kernel: its byte within its 32-byte
                        // vector, four bytes per 32-bit lane.
                        let lane = (i % 32) / 4;
                        lanes[lane] += x.scales[i / 16] as i32 * q6k_value(x, i) as i32 * y.qs[i] as i32;
                    }
                    for (l, lane) in lanes.iter_mut().enumerate() {
                        let offset =
                            y.bsums[2 * l] as i32 * x.scales[2 * l] as i32 + y.bsums[2 * l + 1] as i32 * x.scales[2 * l + 1] as i32;
                        *lane -= offset << 5;
                    }
                    let d = y.d * x.d.to_f32();
                    for (acc, &lane) in acc.iter_mut().zip(&lanes) {
                        *acc = d.mul_add(lane as f32, *acc);
                    }
                    let total: i32 = lanes.iter().sum();
                    acc_tiled = (x.d.to_f32() * total as f32).mul_add(y.d, acc_tiled);
                }
                *out = if tiled { acc_tiled } else { hsum8(&acc) };
            }
        }

        pub fn q8_0(w: &[BlockQ8_0], acts: &[&[BlockQ8_0]], out: &mut [f32]) {
            for (a, out) in acts.iter().zip(out.iter_mut()) {
                let mut acc = [0f32; 8];
                for (x, y) in w.iter().zip(a.iter()) {
                    let d = x.d.to_f32() * y.d.to_f32();
                    for (l, acc) in acc.iter_mut().enumerate() {
                        let lane: i32 = (4 * l..4 * l + 4).map(|i| x.qs[i] as i32 * y.qs[i] as i32).sum();
                        *acc = d.mul_add(lane as f32, *acc);
                    }
                }
                *out = hsum8(&acc);
            }
        }

        pub fn q4k_rows(w: &[BlockQ4K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, out: &mut [f32]) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; 8];
                q4k(row, acts, &mut values[..acts.len()]);
                scatter_row(&values[..acts.len()], i, stride, out);
            }
        }

        pub fn q4kx8_rows(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], kb: usize, stride: usize, gemm: [bool; 4], out: &mut [f32]) {
            for (g, group) in w.chunks_exact(kb).enumerate() {
                let mut result = [[0f32; 8]; 4];
                q4kx8(group, acts, gemm, &mut result[..acts.len()]);
                scatter_group(&result[..acts.len()], g, stride, out);
            }
        }

        pub fn q6k_rows(w: &[BlockQ6K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; 8];
                q6k(row, acts, tiled, &mut values[..acts.len()]);
                scatter_row(&values[..acts.len()], i, stride, out);
            }
        }

        pub fn q8_0_rows(w: &[BlockQ8_0], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; 8];
                q8_0(row, acts, &mut values[..acts.len()]);
                scatter_row(&values[..acts.len()], i, stride, out);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub mod avx2 {
        use std::arch::x86_64::*;
        use std::sync::OnceLock;

        use super::*;

        pub fn available() -> bool {
            static AVAILABLE: OnceLock<bool> = OnceLock::new();
            *AVAILABLE
                .get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c"))
        }

        /// Byte shuffles picking scales (2i, 2i+1) of a Q6_K block, eight copies each.
        static SCALE_PAIRS: [u8; 128] = {
            let mut table = [0u8; 128];
            let mut i = 0;
            while i < 8 {
                let mut k = 0;
                while k < 16 {
                    table[16 * i + k] = (2 * i + k / 8) as u8;
                    k += 1;
                }
                i += 1;
            }
            table
        };

        /// [`super::dot_f32`] with explicit vectors (the compiler leaves the lanes scalar):
        /// the same fused operations in the same lanes, so the same bits.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let n8 = n / 8 * 8;
            let mut acc = _mm256_setzero_ps();
            for i in (0..n8).step_by(8) {
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i)), acc);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            let mut sum = hsum8(&lanes);
            for (x, y) in a[n8..n].iter().zip(&b[n8..n]) {
                sum = x.mul_add(*y, sum);
            }
            sum
        }

        /// Sum of the eight i32 lanes (exact).
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn hsum_i32(v: __m256i) -> i32 {
            let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s)
        }

        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn hsum_f32(v: __m256) -> f32 {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), v);
            hsum8(&lanes)
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q4k<const R: usize>(w: &[BlockQ4K], acts: &[&[BlockQ8K]], out: &mut [f32]) {
            let acts: &[&[BlockQ8K]; R] = acts.try_into().expect("R activation rows");
            let m4 = _mm256_set1_epi8(0xF);
            let mut acc = _mm_setzero_ps();
            let mut acc_min = _mm_setzero_ps();
            for (b, x) in w.iter().enumerate() {
                let sm = q4k_scales_mins(&x.scales);
                let mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i));
                let mut sums = [_mm256_setzero_si256(); R];
                for j in 0..QK_K / 64 {
                    let scale_l = _mm256_set1_epi16(sm[2 * j] as i16);
                    let scale_h = _mm256_set1_epi16(sm[2 * j + 1] as i16);
                    let bits = _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i);
                    let q4l = _mm256_and_si256(bits, m4);
                    let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
                    for i in 0..R {
                        let q8 = acts[i].get_unchecked(b).qs.as_ptr().add(64 * j);
                        let q8l = _mm256_loadu_si256(q8 as *const __m256i);
                        let q8h = _mm256_loadu_si256(q8.add(32) as *const __m256i);
                        let pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                        let ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));
                        sums[i] = _mm256_add_epi32(sums[i], _mm256_add_epi32(pl, ph));
                    }
                }
                // The block's integer sums for the (up to) four rows, one per 32-bit lane, and
                // the fused multiply-adds lane by lane (each lane is the scalar computation).
                let zero = _mm256_setzero_si256();
                let mut mins_sums = [_mm_setzero_si128(); 4];
                let mut yd = [0f32; 4];
                for i in 0..R {
                    let y = acts[i].get_unchecked(b);
                    // Σ_s min_s · (bsums[2s] + bsums[2s+1]), exact in i32.
                    let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                    let pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256::<1>(bsums));
                    mins_sums[i] = _mm_madd_epi16(mins, pairs);
                    yd[i] = y.d;
                }
                let s = |i: usize| if i < R { sums[i] } else { zero };
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(s(0), s(1)), _mm256_hadd_epi32(s(2), s(3)));
                let isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
                let imin = _mm_hadd_epi32(_mm_hadd_epi32(mins_sums[0], mins_sums[1]), _mm_hadd_epi32(mins_sums[2], mins_sums[3]));
                let yd = _mm_loadu_ps(yd.as_ptr());
                let d = _mm_mul_ps(_mm_set1_ps(x.d.to_f32()), yd);
                let dmin = _mm_mul_ps(_mm_set1_ps(x.dmin.to_f32()), yd);
                acc = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), d, acc);
                acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(imin), dmin, acc_min);
            }
            let mut result = [0f32; 4];
            _mm_storeu_ps(result.as_mut_ptr(), _mm_sub_ps(acc, acc_min));
            out[..R].copy_from_slice(&result[..R]);
        }

        /// Group of eight interleaved weight rows against R activation rows.
        ///
        /// Each block is done in two passes: first the exact integer sums of every pair of
        /// sub-blocks (all the products, with the weight unpacking shared by the R rows), then the
        /// float accumulation in llama.cpp's order (its GEMM folds every pair of sub-blocks, its
        /// GEMV every block), kept out of the first pass so that its registers go to the products.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q4kx8<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
            let acts: &[&[BlockQ8K]; R] = acts.try_into().expect("R activation rows");
            let m4 = _mm256_set1_epi8(0xF);
            // Each row's 16-bit scale twice (a pair of 16-bit lanes per row).
            let dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            let mut acc = [_mm256_setzero_ps(); R];
            let mut acc_min = [_mm256_setzero_ps(); R];
            for (b, x) in w.iter().enumerate() {
                // ints[j][i]: activation row i's sums over sub-blocks 2j and 2j+1, one lane per
                // weight row.
                let mut ints = [[_mm256_setzero_si256(); R]; 4];
                for (j, ints) in ints.iter_mut().enumerate() {
                    let qs = x.qs.as_ptr().add(j * 256);
                    for half in 0..2 {
                        let sub = 2 * j + half;
                        let scales = _mm_loadl_epi64(x.scales.as_ptr().add(8 * sub) as *const __m128i);
                        let scales = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales, dup));
                        let mut dots = [_mm256_setzero_si256(); R];
                        for t in 0..8 {
                            let v = _mm256_loadu_si256(qs.add(t * 32) as *const __m256i);
                            let q = if half == 0 { _mm256_and_si256(v, m4) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4) };
                            for i in 0..R {
                                let a = acts[i].get_unchecked(b).qs.as_ptr().add(64 * j + 32 * half + 4 * t);
                                let a = _mm256_set1_epi32((a as *const i32).read_unaligned());
                                // At most 8 × 2 × 15 × 127 = 30480: no 16-bit overflow.
                                dots[i] = _mm256_add_epi16(dots[i], _mm256_maddubs_epi16(q, a));
                            }
                        }
                        for i in 0..R {
                            ints[i] = _mm256_add_epi32(ints[i], _mm256_madd_epi16(dots[i], scales));
                        }
                    }
                }
                let d = _mm256_cvtph_ps(_mm_loadu_si128(x.d.as_ptr() as *const __m128i));
                let dmin = _mm256_cvtph_ps(_mm_loadu_si128(x.dmin.as_ptr() as *const __m128i));
                // The mins of sub-blocks 2j and 2j+1, a pair of 16-bit lanes per weight row.
                let mins: [__m256i; 4] =
                    std::array::from_fn(|j| _mm256_cvtepu8_epi16(_mm_loadu_si128(x.mins.as_ptr().add(16 * j) as *const __m128i)));
                for i in 0..R {
                    let y = acts[i].get_unchecked(b);
                    let yd = _mm256_set1_ps(y.d);
                    let (d, dmin) = (_mm256_mul_ps(d, yd), _mm256_mul_ps(dmin, yd));
                    // The activation sums of sub-blocks 2j and 2j+1 as one 32-bit lane (16 bits
                    // each, wrapping like ggml's): lane [0, 1, 4, 5][j] of the pairwise sums of
                    // the 16-value sums.
                    let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                    let pairs = _mm256_hadd_epi16(bsums, bsums);
                    let min_ints: [__m256i; 4] = std::array::from_fn(|j| {
                        let lane = _mm256_set1_epi32([0, 1, 4, 5][j]);
                        _mm256_madd_epi16(mins[j], _mm256_permutevar8x32_epi32(pairs, lane))
                    });
                    let ints: [__m256i; 4] = std::array::from_fn(|j| ints[j][i]);
                    if gemm[i] {
                        for (sums, min_sums) in ints.iter().zip(&min_ints) {
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(*sums), d, acc[i]);
                            acc_min[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(*min_sums), dmin, acc_min[i]);
                        }
                    } else {
                        let sum = |v: &[__m256i; 4]| _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
                        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum(&ints)), d, acc[i]);
                        acc_min[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum(&min_ints)), dmin, acc_min[i]);
                    }
                }
            }
            for i in 0..R {
                _mm256_storeu_ps(out[i].as_mut_ptr(), _mm256_sub_ps(acc[i], acc_min[i]));
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q6k<const R: usize>(w: &[BlockQ6K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
            let acts: &[&[BlockQ8K]; R] = acts.try_into().expect("R activation rows");
            let m3 = _mm256_set1_epi8(3);
            let m15 = _mm256_set1_epi8(15);
            // Long-lived state in memory, so that the registers go to the inner loop.
            let mut acc = [[0f32; 8]; R];
            let mut acc_tiled = [0f32; R];
            for (b, x) in w.iter().enumerate() {
                let scales128 = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
                let mut sums = [_mm256_setzero_si256(); R];
                for j in 0..QK_K / 128 {
                    let ql = x.ql.as_ptr().add(64 * j);
                    let qh = x.qh.as_ptr().add(32 * j);
                    // Quarter t of the 128 values: 32 six-bit values (low 4 bits from ql, high 2
                    // from qh), in ggml's order; values 0..16 use one scale, 16..32 the next.
                    for t in 0..4 {
                        let bits = _mm256_loadu_si256(ql.add(32 * (t % 2)) as *const __m256i);
                        let low = if t < 2 { _mm256_and_si256(bits, m15) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m15) };
                        let high = _mm256_loadu_si256(qh as *const __m256i);
                        let high = match t {
                            0 => _mm256_slli_epi16::<4>(_mm256_and_si256(high, m3)),
                            1 => _mm256_slli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(12))),
                            2 => _mm256_and_si256(high, _mm256_set1_epi8(48)),
                            _ => _mm256_srli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(-64))),
                        };
                        let q = _mm256_or_si256(low, high);
                        // Scales 2i and 2i+1 (i = 4j + t), each over eight 16-bit lanes.
                        let pick = _mm_loadu_si128(SCALE_PAIRS.as_ptr().add(16 * (4 * j + t)) as *const __m128i);
                        let scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales128, pick));
                        for i in 0..R {
                            let v = _mm256_loadu_si256(acts[i].get_unchecked(b).qs.as_ptr().add(128 * j + 32 * t) as *const __m256i);
                            sums[i] = _mm256_add_epi32(sums[i], _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, v)));
                        }
                    }
                }
                let scales_16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(x.scales.as_ptr() as *const __m128i));
                let xd = x.d.to_f32();
                for i in 0..R {
                    let y = acts[i].get_unchecked(b);
                    let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                    let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, scales_16));
                    let lanes = _mm256_sub_epi32(sums[i], offset);
                    if tiled[i] {
                        acc_tiled[i] = (xd * hsum_i32(lanes) as f32).mul_add(y.d, acc_tiled[i]);
                    } else {
                        let a = _mm256_loadu_ps(acc[i].as_ptr());
                        let a = _mm256_fmadd_ps(_mm256_set1_ps(y.d * xd), _mm256_cvtepi32_ps(lanes), a);
                        _mm256_storeu_ps(acc[i].as_mut_ptr(), a);
                    }
                }
            }
            for i in 0..R {
                out[i] = if tiled[i] { acc_tiled[i] } else { hsum8(&acc[i]) };
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q4k_rows<const R: usize>(w: &[BlockQ4K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, out: &mut [f32]) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; R];
                q4k::<R>(row, acts, &mut values);
                scatter_row(&values, i, stride, out);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q4kx8_rows<const R: usize>(
            w: &[BlockQ4Kx8],
            acts: &[&[BlockQ8K]],
            kb: usize,
            stride: usize,
            gemm: [bool; 4],
            out: &mut [f32],
        ) {
            for (g, group) in w.chunks_exact(kb).enumerate() {
                let mut result = [[0f32; 8]; R];
                q4kx8::<R>(group, acts, gemm, &mut result);
                scatter_group(&result, g, stride, out);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q6k_rows<const R: usize>(
            w: &[BlockQ6K],
            acts: &[&[BlockQ8K]],
            kb: usize,
            stride: usize,
            tiled: [bool; 8],
            out: &mut [f32],
        ) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; R];
                q6k::<R>(row, acts, tiled, &mut values);
                scatter_row(&values, i, stride, out);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q8_0_rows<const R: usize>(w: &[BlockQ8_0], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
            for (i, row) in w.chunks_exact(kb).enumerate() {
                let mut values = [0f32; R];
                q8_0::<R>(row, acts, &mut values);
                scatter_row(&values, i, stride, out);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn q8_0<const R: usize>(w: &[BlockQ8_0], acts: &[&[BlockQ8_0]], out: &mut [f32]) {
            let acts: &[&[BlockQ8_0]; R] = acts.try_into().expect("R activation rows");
            let r = R;
            let ones = _mm256_set1_epi16(1);
            let mut acc = [_mm256_setzero_ps(); R];
            for (b, x) in w.iter().enumerate() {
                let qx = _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i);
                let ax = _mm256_sign_epi8(qx, qx);
                let xd = x.d.to_f32();
                for i in 0..r {
                    let y = &acts[i][b];
                    let qy = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                    let sy = _mm256_sign_epi8(qy, qx);
                    let lanes = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(ax, sy));
                    let d = _mm256_set1_ps(xd * y.d.to_f32());
                    acc[i] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc[i]);
                }
            }
            for i in 0..r {
                out[i] = hsum_f32(acc[i]);
            }
        }
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
                        kernels::portable::q4k(&w[row * kb..(row + 1) * kb], rows, out)
                    }
                }
                (Weights::Q4Kx8(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    let mut eight = vec![[0f32; 8]; m];
                    for (r, (rows, eight)) in rows.chunks(4).zip(eight.chunks_mut(4)).enumerate() {
                        let gemm = std::array::from_fn(|i| modes.get(4 * r + i).is_some_and(|m| m.gemm));
                        kernels::portable::q4kx8(&w[(row / 8) * kb..(row / 8 + 1) * kb], rows, gemm, eight);
                    }
                    out.iter_mut().zip(&eight).for_each(|(o, e)| *o = e[row % 8]);
                }
                (Weights::Q6K(w), Activations::Q8K(a)) => {
                    let kb = matrix.cols / QK_K;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    for (r, (rows, out)) in rows.chunks(8).zip(out.chunks_mut(8)).enumerate() {
                        let tiled = std::array::from_fn(|i| modes.get(8 * r + i).is_some_and(|m| m.tiled));
                        kernels::portable::q6k(&w[row * kb..(row + 1) * kb], rows, tiled, out)
                    }
                }
                (Weights::Q8_0(w), Activations::Q8_0(a)) => {
                    let kb = matrix.cols / QK8_0;
                    let rows: Vec<_> = a.chunks_exact(kb).collect();
                    for (rows, out) in rows.chunks(4).zip(out.chunks_mut(4)) {
                        kernels::portable::q8_0(&w[row * kb..(row + 1) * kb], rows, out)
                    }
                }
                _ => unreachable!(),
            }
            all.push(out.clone());
        }
        // (rows, m) -> (m, rows)
        (0..m).flat_map(|r| all.iter().map(move |col| col[r])).collect()
    }

    #[test]
    fn rows_are_independent_of_the_batch_and_the_kernels_agree_bit_for_bit() {
        let kinds = [(GgmlDType::Q4K, Kind::Q4K), (GgmlDType::Q6K, Kind::Q6K), (GgmlDType::Q8_0, Kind::Q8_0)];
        // 296 rows: a lone row's product takes runs of more than 64 weight rows per task.
        for ((dtype, kind), (rows, cols)) in kinds.into_iter().flat_map(|k| [(k, (40, 512)), (k, (296, 256))]) {
            let (matrix, qtensor) = quantized(dtype, kind, rows, cols);
            // Eleven rows: a full group of eight (Q6_K) or two of four, and a partial one.
            let xs = values(11 * cols, 11);
            let batch = matrix.matmul(&xs);
            // One row at a time gives the same bits as eleven at once.
            for (r, x) in xs.chunks_exact(cols).enumerate() {
                assert_eq!(matrix.matmul(x), batch[r * rows..(r + 1) * rows], "{kind:?} row {r}");
            }
            // The portable code computes the same lanes as the SIMD code, for lone rows and for
            // rows of llama.cpp's GEMM and tiled matmul (a mix, since each row has its own).
            assert_eq!(portable(&matrix, &xs, &[]), batch, "{kind:?} portable");
            let modes: Vec<RowMode> = (0..11).map(|r| RowMode { gemm: r % 3 != 1, tiled: r % 2 == 0 }).collect();
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

    #[test]
    fn activations_are_quantized_like_ggml() {
        // Q8_K: d = max / -127 with the signed maximum; round half to even.
        let mut x = vec![0f32; QK_K];
        x[0] = -2.54;
        x[1] = 0.01; // 0.01 * 127 / 2.54 = 0.5 -> 0 (to even)
        x[2] = 0.03; // 1.5 -> 2
        let mut y = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
        quantize_q8k(&x, &mut y, false);
        assert_eq!(y.d, 1.0 / (-127.0f32 / -2.54));
        assert_eq!(&y.qs[..3], &[-127, 0, 2]);
        assert_eq!(y.bsums[0], -125);
        // Q8_0: d = amax / 127 as f16, scale 127 / amax.
        let mut x = [0f32; QK8_0];
        x[0] = 1.27;
        x[1] = -0.005; // -0.5 -> 0
        x[2] = 0.015; // 1.5 -> 2
        let mut y = BlockQ8_0 { d: f16::ZERO, qs: [0; QK8_0] };
        quantize_q8_0(&x, &mut y);
        assert_eq!(y.d, f16::from_f32(1.27 / 127.0));
        assert_eq!(&y.qs[..3], &[127, 0, 2]);
    }
}
