//! The GGUF block layouts (weights and quantized activations): reading blocks out of the file's
//! bytes, dequantizing them, and quantizing activations as ggml does.

use half::f16;

use super::load_task_len;
use crate::engine::pool;
use crate::simd_dispatch;

pub const QK_K: usize = 256;
pub const QK8_0: usize = 32;
pub const QK4_0: usize = 32;
pub const QK5_1: usize = 32;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4K {
    pub(super) d: f16,
    pub(super) dmin: f16,
    pub(super) scales: [u8; 12],
    pub(super) qs: [u8; QK_K / 2],
}

/// One Q4_K block (256 columns) of eight consecutive rows, interleaved so that a 256-bit vector
/// holds four consecutive weights of each of the eight rows: SIMD lanes are output rows, as in
/// llama.cpp's `block_q4_Kx8`. Same values as the eight blocks it comes from; 32 bytes more
/// (the 6-bit scales and mins unpacked to bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4Kx8 {
    pub(super) d: [f16; 8],
    pub(super) dmin: [f16; 8],
    /// `[sub-block][row]`.
    pub(super) scales: [u8; 64],
    /// `[pair of sub-blocks][row][2]`.
    pub(super) mins: [u8; 64],
    /// `[64-value chunk j][group of 4 t][row][4]`: low nibbles are values `64j + 4t + u` (sub-block
    /// 2j), high nibbles `64j + 32 + 4t + u` (sub-block 2j + 1).
    pub(super) qs: [u8; 1024],
}

impl BlockQ4Kx8 {
    pub(super) fn new(rows: [&BlockQ4K; 8]) -> Self {
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
    pub(super) fn scale_min(&self, r: usize, sub: usize) -> (u8, u8) {
        (self.scales[sub * 8 + r], self.mins[(sub / 2) * 16 + r * 2 + sub % 2])
    }

    #[inline]
    pub(super) fn value(&self, r: usize, i: usize) -> u8 {
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
    pub(super) ql: [u8; QK_K / 2],
    pub(super) qh: [u8; QK_K / 4],
    pub(super) scales: [i8; QK_K / 16],
    pub(super) d: f16,
}

/// 256 weights `d * scale_s * q - dmin * min_s` with a 5-bit `q` (low four bits in `qs` as in
/// Q4_K, the fifth in `qh`: bit `2j` of byte `l` for value `l` of sub-block `2j`, bit `2j + 1`
/// for value `l` of sub-block `2j + 1`) and the six-bit scales and mins packed as in Q4_K.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ5K {
    pub(super) d: f16,
    pub(super) dmin: f16,
    pub(super) scales: [u8; 12],
    pub(super) qh: [u8; QK_K / 8],
    pub(super) qs: [u8; QK_K / 2],
}

/// 32 weights `d * (q - 8)`: byte `j` holds value `j` in its low nibble and value `j + 16` in
/// its high one.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4_0 {
    pub(super) d: f16,
    pub(super) qs: [u8; QK4_0 / 2],
}

/// 32 weights `d * (q - 16)` with a 5-bit `q`, its bits as in [`BlockQ5_1`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ5_0 {
    pub(super) d: f16,
    pub(super) qh: [u8; 4],
    pub(super) qs: [u8; QK4_0 / 2],
}

/// Blocks of 32 weights `d * q` with a small signed integer `q` (Q8_0's byte, Q5_0's and Q4_0's
/// offset nibbles), which llama.cpp multiplies alike against Q8_0 activations
/// (`ggml_vec_dot_q{8,5,4}_0_q8_0`, llamafile's tinyBLAS): the values unpacked to 32 signed
/// bytes, eight lanes of four exact products, one fused multiply-add per block by the product
/// of the two scales. One set of kernels serves all three.
pub trait SignedBlock: Copy + Send + Sync {
    fn scale(&self) -> f16;
    /// The 32 values `q`, in order.
    fn values(&self) -> [i8; 32];
    /// [`SignedBlock::values`] in a 256-bit vector.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i;
}

impl SignedBlock for BlockQ8_0 {
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }

    #[inline(always)]
    fn values(&self) -> [i8; 32] {
        self.qs
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i {
        // SAFETY: the 32 bytes of `qs`; AVX (for the load) is the caller's to guarantee.
        unsafe { std::arch::x86_64::_mm256_loadu_si256(self.qs.as_ptr() as *const _) }
    }
}

impl SignedBlock for BlockQ5_0 {
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }

    #[inline(always)]
    fn values(&self) -> [i8; 32] {
        std::array::from_fn(|i| five_bits(&self.qs, self.qh, i) as i8 - 16)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { super::avx2::q5_0_bytes(self) }
    }
}

impl SignedBlock for BlockQ4_0 {
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }

    #[inline(always)]
    fn values(&self) -> [i8; 32] {
        std::array::from_fn(|i| q4_0_value(self, i))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { super::avx2::q4_0_bytes(self) }
    }
}

/// One Q4_0 block (32 columns) of eight consecutive rows, interleaved so that a 256-bit vector
/// holds four bytes of each of the eight rows (SIMD lanes are output rows, as in llama.cpp's
/// `block_q4_0x8`). The same 144 bytes as the eight blocks it comes from.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4_0x8 {
    pub(super) d: [f16; 8],
    /// `[group t (0..4)][row][4]`: bytes `4t..4t + 4` of each row's block (low nibbles values
    /// `4t + u`, high nibbles values `16 + 4t + u`).
    pub(super) qs: [u8; 128],
}

impl BlockQ4_0x8 {
    pub(super) fn new(rows: [&BlockQ4_0; 8]) -> Self {
        let mut x = Self { d: [f16::ZERO; 8], qs: [0; 128] };
        for (r, block) in rows.iter().enumerate() {
            x.d[r] = block.d;
            for t in 0..4 {
                x.qs[32 * t + 4 * r..32 * t + 4 * r + 4].copy_from_slice(&block.qs[4 * t..4 * t + 4]);
            }
        }
        x
    }

    /// Row `r`'s block, as in the file.
    pub(super) fn row(&self, r: usize) -> BlockQ4_0 {
        BlockQ4_0 { d: self.d[r], qs: std::array::from_fn(|j| self.qs[32 * (j / 4) + 4 * r + j % 4]) }
    }
}

/// 32 weights `d * q + m` with a 5-bit `q`: byte `j` of `qs` holds the low four bits of value `j`
/// in its low nibble and of value `j + 16` in its high one; bit `i` of `qh` (little-endian) is
/// value `i`'s fifth bit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ5_1 {
    pub(super) d: f16,
    pub(super) m: f16,
    pub(super) qh: [u8; 4],
    pub(super) qs: [u8; QK5_1 / 2],
}

/// 32 weights `d * q + m` with a 4-bit `q`, nibbles as in [`BlockQ5_1`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ4_1 {
    pub(super) d: f16,
    pub(super) m: f16,
    pub(super) qs: [u8; QK5_1 / 2],
}

/// Blocks of 32 weights `d * q + m` with a small unsigned `q` (Q5_1's five bits, Q4_1's four),
/// which llama.cpp multiplies alike against Q8_1 activations (`ggml_vec_dot_q{5,4}_1_q8_1`):
/// one set of kernels serves both.
pub trait MinBlock: Copy + Send + Sync {
    fn scale(&self) -> f16;
    fn min(&self) -> f16;
    /// The 32 values `q`, in order.
    fn values(&self) -> [u8; 32];
    /// [`MinBlock::values`] in a 256-bit vector.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i;
}

impl MinBlock for BlockQ5_1 {
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }

    #[inline(always)]
    fn min(&self) -> f16 {
        self.m
    }

    #[inline(always)]
    fn values(&self) -> [u8; 32] {
        std::array::from_fn(|i| q5_1_value(self, i))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { super::avx2::five_bit_bytes(&self.qs, self.qh) }
    }
}

impl MinBlock for BlockQ4_1 {
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }

    #[inline(always)]
    fn min(&self) -> f16 {
        self.m
    }

    #[inline(always)]
    fn values(&self) -> [u8; 32] {
        std::array::from_fn(|i| if i < 16 { self.qs[i] & 0xF } else { self.qs[i - 16] >> 4 })
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn bytes(&self) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { super::avx2::nibble_bytes(&self.qs) }
    }
}

/// Activations for Q5_1 (and Q4_1) weights: 32 values `d * q`, and `s = d * Σq` (both f16).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ8_1 {
    pub(super) d: f16,
    pub(super) s: f16,
    pub(super) qs: [i8; QK5_1],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ8_0 {
    pub(super) d: f16,
    pub(super) qs: [i8; QK8_0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct BlockQ8K {
    pub(super) d: f32,
    pub(super) qs: [i8; QK_K],
    pub(super) bsums: [i16; QK_K / 16],
}

const _: () = assert!(
    std::mem::size_of::<BlockQ4K>() == 144
        && std::mem::size_of::<BlockQ6K>() == 210
        && std::mem::size_of::<BlockQ8_0>() == 34
        && std::mem::size_of::<BlockQ8K>() == 292
        && std::mem::size_of::<BlockQ4Kx8>() == 1184
        && std::mem::size_of::<BlockQ5K>() == 176
        && std::mem::size_of::<BlockQ4_0>() == 18
        && std::mem::size_of::<BlockQ4_0x8>() == 144
        && std::mem::size_of::<BlockQ5_1>() == 24
        && std::mem::size_of::<BlockQ5_0>() == 22
        && std::mem::size_of::<BlockQ4_1>() == 20
        && std::mem::size_of::<BlockQ8_1>() == 36
);

/// Block `i` of `bytes` (a copy; the bytes need not be aligned). Only for the plain-old-data
/// block types, like [`blocks_from_bytes`].
pub(super) fn block_at<B: Copy>(bytes: &[u8], i: usize) -> B {
    let size = std::mem::size_of::<B>();
    let bytes = &bytes[i * size..(i + 1) * size];
    // SAFETY: `bytes` holds exactly one `B`, read unaligned; any bit pattern is a valid `B`.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const B) }
}

/// An empty vector with room for `n` weight blocks, its memory already paged in: `madvise`
/// calls (one per thread) instead of a page fault per 4 KB as the weights are copied in (the
/// model's gigabyte is ~270,000 pages). Where the kernel lacks the call (before Linux 5.14), the
/// pages come by faults as before.
pub(super) fn weight_vec<B>(n: usize) -> Vec<B> {
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
            pool::for_each(ranges, |(at, len)| {
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
pub(super) fn blocks_from_bytes<B: Copy + Send>(bytes: &[u8]) -> Vec<B> {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "{} bytes is not a whole number of {size}-byte blocks", bytes.len());
    let n = bytes.len() / size;
    let mut blocks = weight_vec::<B>(n);
    let per_task = load_task_len(n, size);
    let tasks: Vec<_> = blocks.spare_capacity_mut()[..n].chunks_mut(per_task).zip(bytes.chunks(per_task * size)).collect();
    pool::for_each(tasks, |(dst, src)| {
        // SAFETY: `dst` has room for exactly `src.len()` bytes; `B` is plain old data (see above).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr() as *mut u8, src.len()) };
    });
    // SAFETY: the tasks copied all `n` blocks, and any bit pattern is a valid `B`.
    unsafe { blocks.set_len(n) };
    blocks
}

simd_dispatch! {
    /// ggml's `quantize_row_q8_K_ref`.
    pub(super) fn quantize_q8k(x: &[f32], y: &mut BlockQ8K, positive_ties: bool) = quantize_q8k_block;
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
    pub(super) fn quantize_q8_0(x: &[f32], y: &mut BlockQ8_0) = quantize_q8_0_block;
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

simd_dispatch! {
    /// ggml's AVX2 `quantize_row_q8_1`: Q8_0's scale and rounding, and the sum of the values
    /// times the unrounded scale, as f16.
    pub(super) fn quantize_q8_1(x: &[f32], y: &mut BlockQ8_1) = quantize_q8_1_block;
}

#[inline(always)]
fn quantize_q8_1_block(x: &[f32], y: &mut BlockQ8_1) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    y.d = f16::from_f32(d);
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in y.qs.iter_mut().zip(x) {
        let v = ((v * id).round_ties_even() as i32).clamp(-128, 127);
        sum += v;
        *q = v as i8;
    }
    y.s = f16::from_f32(d * sum as f32);
}

/// The eight 6-bit scales and eight 6-bit mins of a Q4_K block, unpacked with ggml's
/// word-wise shuffle: `[scales..., mins...]`.
#[inline(always)]
pub(super) fn q4k_scales_mins(packed: &[u8; 12]) -> [u8; 16] {
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
pub(super) fn dequantize_q4k(b: &BlockQ4K, out: &mut [f32]) {
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

/// The 5-bit value of element `i` (0..256) of a Q5_K block (the weight is
/// `d * scale * value - dmin * min`).
#[inline]
pub(super) fn q5k_value(b: &BlockQ5K, i: usize) -> u8 {
    let (sub, l) = (i / 32, i % 32);
    let low = b.qs[32 * (sub / 2) + l];
    let low = if sub % 2 == 0 { low & 0xF } else { low >> 4 };
    low | (((b.qh[l] >> sub) & 1) << 4)
}

/// ggml's `dequantize_row_q5_K` for one block: `(d * scale) * q - dmin * min`, each product
/// rounded (no fused multiply-add: ggml-base is built without FMA).
pub(super) fn dequantize_q5k(b: &BlockQ5K, out: &mut [f32]) {
    let (d, min) = (b.d.to_f32(), b.dmin.to_f32());
    let sm = q4k_scales_mins(&b.scales);
    for (sub, out) in out.chunks_exact_mut(32).enumerate() {
        let (d, m) = (d * sm[sub] as f32, min * sm[8 + sub] as f32);
        for (l, o) in out.iter_mut().enumerate() {
            *o = d * q5k_value(b, 32 * sub + l) as f32 - m;
        }
    }
}

/// The signed 4-bit value of element `i` (0..32) of a Q4_0 block, `q - 8`.
#[inline]
pub(super) fn q4_0_value(b: &BlockQ4_0, i: usize) -> i8 {
    let q = b.qs[i % 16];
    (if i < 16 { q & 0xF } else { q >> 4 }) as i8 - 8
}

/// ggml's `dequantize_row_q4_0` for one block.
pub(super) fn dequantize_q4_0(b: &BlockQ4_0, out: &mut [f32]) {
    let d = b.d.to_f32();
    for (i, o) in out.iter_mut().enumerate() {
        *o = q4_0_value(b, i) as f32 * d;
    }
}

/// The 5-bit value of element `i` (0..32) of a Q5_1 block (the weight is `d * value + m`).
#[inline]
pub(super) fn q5_1_value(b: &BlockQ5_1, i: usize) -> u8 {
    five_bits(&b.qs, b.qh, i)
}

/// Element `i` (0..32) of 5-bit values stored as Q5_0 and Q5_1 store them: the low four bits in
/// nibbles (`qs[i % 16]`, low nibble for i < 16), the fifth in bit `i` of `qh`.
#[inline]
fn five_bits(qs: &[u8; 16], qh: [u8; 4], i: usize) -> u8 {
    let q = qs[i % 16];
    let low = if i < 16 { q & 0xF } else { q >> 4 };
    low | (((u32::from_le_bytes(qh) >> i) as u8 & 1) << 4)
}

/// ggml's `dequantize_row_q8_0`, `_q5_0` and `_q4_0` for one block: `q * d`.
pub(super) fn dequantize_signed(b: &impl SignedBlock, out: &mut [f32]) {
    let d = b.scale().to_f32();
    for (o, q) in out.iter_mut().zip(b.values()) {
        *o = q as f32 * d;
    }
}

/// ggml's `dequantize_row_q5_1` (and `_q4_1`) for one block: `value * d + m`, the product
/// rounded (no fused multiply-add: ggml-base is built without FMA).
pub(super) fn dequantize_min(b: &impl MinBlock, out: &mut [f32]) {
    let (d, m) = (b.scale().to_f32(), b.min().to_f32());
    for (o, q) in out.iter_mut().zip(b.values()) {
        *o = q as f32 * d + m;
    }
}

/// The 6-bit value of element `i` (0..256) of a Q6_K block, unsigned (0..63; the weight is
/// `value - 32`).
#[inline]
pub(super) fn q6k_value(b: &BlockQ6K, i: usize) -> u8 {
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
pub(super) fn dequantize_q6k(b: &BlockQ6K, out: &mut [f32]) {
    let d = b.d.to_f32();
    for (i, o) in out.iter_mut().enumerate() {
        *o = d * b.scales[i / 16] as f32 * (q6k_value(b, i) as i32 - 32) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Q8_1: Q8_0's values, and s = d * Σq with the unrounded d.
        let mut y1 = BlockQ8_1 { d: f16::ZERO, s: f16::ZERO, qs: [0; QK5_1] };
        quantize_q8_1(&x, &mut y1);
        assert_eq!((y1.d, y1.qs), (y.d, y.qs));
        assert_eq!(y1.s, f16::from_f32(1.27 / 127.0 * 129.0));
    }

    #[test]
    fn q5_1_values_take_their_fifth_bit_from_qh() {
        let mut b = BlockQ5_1 { d: f16::ONE, m: f16::ZERO, qh: [0; 4], qs: [0; 16] };
        b.qs[3] = 0xA5; // value 3: 5, value 19: 10
        b.qh = (1u32 << 19).to_le_bytes();
        assert_eq!((q5_1_value(&b, 3), q5_1_value(&b, 19), q5_1_value(&b, 4)), (5, 26, 0));
    }
}
