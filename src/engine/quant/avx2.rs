//! The AVX2 (with FMA and F16C) versions of the kernels in [`super::kernels`]: the same integer
//! lane sums and the same fused multiply-adds, so the same bits.
//!
//! The kernels are safe functions compiled for their CPU features (`#[target_feature]`):
//! calling one from code compiled without them is `unsafe`, and sound only where
//! [`crate::engine::cpu::simd_available`] (for the VNNI ones
//! [`crate::engine::cpu::vnni_available`]) said so. Apart from that they have no precondition:
//! every slice is indexed with bounds checks, and every pointer load reads inside one block's
//! fixed-size array, at offsets the loop bounds keep in range (the `SAFETY` comments give them).

use std::arch::x86_64::*;

use super::blocks::{
    q4k_scales_mins, BlockQ4K, BlockQ4Kx8, BlockQ4_0, BlockQ4_0x8, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, MinBlock,
    SignedBlock, QK_K,
};
use super::kernels::{scatter_group, scatter_row};
use crate::engine::cpu::hsum8;

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

/// `acts` as R rows, each cut to its first `blocks` blocks (so that the kernels' checked
/// `acts[i][b]`, `b < blocks`, need not be checked again inside a block). Panics if `acts` does
/// not hold R rows or one of them is shorter.
#[inline(always)]
fn rows_of<'a, B, const R: usize>(acts: &[&'a [B]], blocks: usize) -> [&'a [B]; R] {
    let acts: &[&[B]; R] = acts.try_into().expect("R activation rows");
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation rows shorter than the weight row");
    std::array::from_fn(|i| &acts[i][..blocks])
}

/// Sum of the eight i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_f32(v: __m256) -> f32 {
    let mut lanes = [0f32; 8];
    // SAFETY: eight f32 into the eight of `lanes`.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
    hsum8(&lanes)
}

/// One Q4_K weight row against R activation rows (1 to 4), R outputs into `out`.
///
/// Panics if `acts` does not hold R rows of at least `w.len()` blocks, or `out` less than R
/// values.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4k<const R: usize>(w: &[BlockQ4K], acts: &[&[BlockQ8K]], out: &mut [f32]) {
    let acts = rows_of::<BlockQ8K, R>(acts, w.len());
    let m4 = _mm256_set1_epi8(0xF);
    let mut acc = _mm_setzero_ps();
    let mut acc_min = _mm_setzero_ps();
    for (b, x) in w.iter().enumerate() {
        let ys: [&BlockQ8K; R] = std::array::from_fn(|i| &acts[i][b]);
        let sm = q4k_scales_mins(&x.scales);
        // SAFETY: bytes 8..16 of the 16 of `sm`.
        let mins = _mm_cvtepu8_epi16(unsafe { _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i) });
        let mut sums = [_mm256_setzero_si256(); R];
        for j in 0..QK_K / 64 {
            let scale_l = _mm256_set1_epi16(sm[2 * j] as i16);
            let scale_h = _mm256_set1_epi16(sm[2 * j + 1] as i16);
            // SAFETY: bytes 32j..32j + 32 of the 128 of `qs` (j < 4).
            let bits = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i) };
            let q4l = _mm256_and_si256(bits, m4);
            let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
            for i in 0..R {
                let q8 = &ys[i].qs;
                // SAFETY: bytes 64j..64j + 64 of the 256 of `qs` (j < 4).
                let (q8l, q8h) = unsafe {
                    let q8 = q8.as_ptr().add(64 * j);
                    (_mm256_loadu_si256(q8 as *const __m256i), _mm256_loadu_si256(q8.add(32) as *const __m256i))
                };
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
            let y = ys[i];
            // Σ_s min_s · (bsums[2s] + bsums[2s+1]), exact in i32.
            // SAFETY: the 32 bytes of `bsums` (16 i16).
            let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
            let pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256::<1>(bsums));
            mins_sums[i] = _mm_madd_epi16(mins, pairs);
            yd[i] = y.d;
        }
        let s = |i: usize| if i < R { sums[i] } else { zero };
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(s(0), s(1)), _mm256_hadd_epi32(s(2), s(3)));
        let isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let imin = _mm_hadd_epi32(_mm_hadd_epi32(mins_sums[0], mins_sums[1]), _mm_hadd_epi32(mins_sums[2], mins_sums[3]));
        // SAFETY: the four f32 of `yd`.
        let yd = unsafe { _mm_loadu_ps(yd.as_ptr()) };
        let d = _mm_mul_ps(_mm_set1_ps(x.d.to_f32()), yd);
        let dmin = _mm_mul_ps(_mm_set1_ps(x.dmin.to_f32()), yd);
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), d, acc);
        acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(imin), dmin, acc_min);
    }
    let mut result = [0f32; 4];
    // SAFETY: four f32 into the four of `result`.
    unsafe { _mm_storeu_ps(result.as_mut_ptr(), _mm_sub_ps(acc, acc_min)) };
    out[..R].copy_from_slice(&result[..R]);
}

/// Group of eight interleaved weight rows against R activation rows.
///
/// Each block is done in two passes: first the exact integer sums of every pair of
/// sub-blocks (all the products, with the weight unpacking shared by the R rows), then the
/// float accumulation in llama.cpp's order (its GEMM folds every pair of sub-blocks, its
/// GEMV every block), kept out of the first pass so that its registers go to the products.
///
/// Panics if `acts` does not hold R rows (1 to 4) of at least `w.len()` blocks, or `out` less
/// than R groups of outputs.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4kx8<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    // SAFETY: without VNNI, the body needs only this function's features.
    unsafe { q4kx8_body::<R, NO_VNNI>(w, acts, gemm, out) }
}

/// The byte products of [`q4kx8_body`]: AVX2's 16-bit pairs, AVX-512 VNNI's `vpdpbusd` on
/// 256-bit registers, or AVX-VNNI's (the same instruction, VEX-encoded).
const NO_VNNI: u8 = 0;
const AVX512_VNNI: u8 = 1;
const AVX_VNNI: u8 = 2;

/// [`q4kx8`] with AVX-512 VNNI's byte products on 256-bit registers (`vpdpbusd`): each row's
/// four products of a 32-bit lane summed into it in one instruction, the scales applied per
/// sub-block as 32-bit products. The same exact integer sums, so the same bits.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub fn q4kx8_vnni<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    // SAFETY: this function's features include AVX-512 VL and VNNI.
    unsafe { q4kx8_body::<R, AVX512_VNNI>(w, acts, gemm, out) }
}

/// [`q4kx8_vnni`] with AVX-VNNI (CPUs with VNNI but no AVX-512).
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub fn q4kx8_avx_vnni<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    // SAFETY: this function's features include AVX-VNNI.
    unsafe { q4kx8_body::<R, AVX_VNNI>(w, acts, gemm, out) }
}

/// [`q4kx8`], [`q4kx8_vnni`] and [`q4kx8_avx_vnni`], inlined into each (its only callers),
/// where `VNNI`'s products are compiled with AVX-512 VNNI or AVX-VNNI.
///
/// # Safety
/// With `AVX512_VNNI`, the CPU must have AVX-512 VL and VNNI; with `AVX_VNNI`, AVX-VNNI (AVX2,
/// FMA and F16C being this function's own features, which its callers' include).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4kx8_body<const R: usize, const VNNI: u8>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    let acts = rows_of::<BlockQ8K, R>(acts, w.len());
    let m4 = _mm256_set1_epi8(0xF);
    // Each row's 16-bit scale twice (a pair of 16-bit lanes per row).
    let dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut acc_min = [_mm256_setzero_ps(); R];
    for (b, x) in w.iter().enumerate() {
        let ys: [&BlockQ8K; R] = std::array::from_fn(|i| &acts[i][b]);
        // ints[j][i]: activation row i's sums over sub-blocks 2j and 2j+1, one lane per
        // weight row.
        let mut ints = [[_mm256_setzero_si256(); R]; 4];
        for (j, ints) in ints.iter_mut().enumerate() {
            let qs = &x.qs[j * 256..][..256];
            for half in 0..2 {
                let sub = 2 * j + half;
                // SAFETY: bytes 8·sub..8·sub + 8 of the 64 of `scales` (sub < 8).
                let scales = unsafe { _mm_loadl_epi64(x.scales.as_ptr().add(8 * sub) as *const __m128i) };
                if VNNI != NO_VNNI {
                    // Sub-block sums of four-byte groups in 32-bit lanes (one per weight
                    // row), at most 32 × 15 × 128: exact; then times the row's scale.
                    let mut dots = [_mm256_setzero_si256(); R];
                    for t in 0..8 {
                        // SAFETY: bytes 32t..32t + 32 of the 256 of `qs` (t < 8).
                        let v = unsafe { _mm256_loadu_si256(qs.as_ptr().add(t * 32) as *const __m256i) };
                        let q = if half == 0 { _mm256_and_si256(v, m4) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4) };
                        for i in 0..R {
                            // SAFETY: bytes 64j + 32·half + 4t..+4 of the 256 of `qs` (j < 4,
                            // half < 2, t < 8).
                            let a = unsafe { (ys[i].qs.as_ptr().add(64 * j + 32 * half + 4 * t) as *const i32).read_unaligned() };
                            let a = _mm256_set1_epi32(a);
                            dots[i] = if VNNI == AVX512_VNNI {
                                // SAFETY: with AVX512_VNNI, the caller guarantees AVX-512 VL and VNNI.
                                unsafe { _mm256_dpbusd_epi32(dots[i], q, a) }
                            } else {
                                // SAFETY: with AVX_VNNI, the caller guarantees AVX-VNNI.
                                unsafe { _mm256_dpbusd_avx_epi32(dots[i], q, a) }
                            };
                        }
                    }
                    let scales = _mm256_cvtepu8_epi32(scales);
                    for i in 0..R {
                        ints[i] = _mm256_add_epi32(ints[i], _mm256_mullo_epi32(dots[i], scales));
                    }
                    continue;
                }
                let scales = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales, dup));
                let mut dots = [_mm256_setzero_si256(); R];
                for t in 0..8 {
                    // SAFETY: bytes 32t..32t + 32 of the 256 of `qs` (t < 8).
                    let v = unsafe { _mm256_loadu_si256(qs.as_ptr().add(t * 32) as *const __m256i) };
                    let q = if half == 0 { _mm256_and_si256(v, m4) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4) };
                    for i in 0..R {
                        // SAFETY: bytes 64j + 32·half + 4t..+4 of the 256 of `qs` (j < 4,
                        // half < 2, t < 8).
                        let a = unsafe { (ys[i].qs.as_ptr().add(64 * j + 32 * half + 4 * t) as *const i32).read_unaligned() };
                        let a = _mm256_set1_epi32(a);
                        // At most 8 × 2 × 15 × 127 = 30480: no 16-bit overflow.
                        dots[i] = _mm256_add_epi16(dots[i], _mm256_maddubs_epi16(q, a));
                    }
                }
                for i in 0..R {
                    ints[i] = _mm256_add_epi32(ints[i], _mm256_madd_epi16(dots[i], scales));
                }
            }
        }
        // SAFETY: the 16 bytes of `d` and of `dmin` (eight f16 each).
        let (d, dmin) = unsafe { (_mm_loadu_si128(x.d.as_ptr() as *const __m128i), _mm_loadu_si128(x.dmin.as_ptr() as *const __m128i)) };
        let (d, dmin) = (_mm256_cvtph_ps(d), _mm256_cvtph_ps(dmin));
        // The mins of sub-blocks 2j and 2j+1, a pair of 16-bit lanes per weight row.
        let mins: [__m256i; 4] = std::array::from_fn(|j| {
            // SAFETY: bytes 16j..16j + 16 of the 64 of `mins` (j < 4).
            _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(x.mins.as_ptr().add(16 * j) as *const __m128i) })
        });
        for i in 0..R {
            let y = ys[i];
            let yd = _mm256_set1_ps(y.d);
            let (d, dmin) = (_mm256_mul_ps(d, yd), _mm256_mul_ps(dmin, yd));
            // The activation sums of sub-blocks 2j and 2j+1 as one 32-bit lane (16 bits
            // each, wrapping like ggml's): lane [0, 1, 4, 5][j] of the pairwise sums of
            // the 16-value sums.
            // SAFETY: the 32 bytes of `bsums`.
            let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
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
        // SAFETY: eight f32 into the eight of `out[i]` (a checked index).
        unsafe { _mm256_storeu_ps(out[i].as_mut_ptr(), _mm256_sub_ps(acc[i], acc_min[i])) };
    }
}

/// One Q6_K weight row against R activation rows (1 to 8), R outputs into `out`.
///
/// Panics if `acts` does not hold R rows of at least `w.len()` blocks, or `out` less than R
/// values.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q6k<const R: usize>(w: &[BlockQ6K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
    let acts = rows_of::<BlockQ8K, R>(acts, w.len());
    let m3 = _mm256_set1_epi8(3);
    let m15 = _mm256_set1_epi8(15);
    // Long-lived state in memory, so that the registers go to the inner loop.
    let mut acc = [[0f32; 8]; R];
    let mut acc_tiled = [0f32; R];
    for (b, x) in w.iter().enumerate() {
        let ys: [&BlockQ8K; R] = std::array::from_fn(|i| &acts[i][b]);
        // SAFETY: the 16 bytes of `scales`.
        let scales128 = unsafe { _mm_loadu_si128(x.scales.as_ptr() as *const __m128i) };
        let mut sums = [_mm256_setzero_si256(); R];
        for j in 0..QK_K / 128 {
            let ql = &x.ql[64 * j..][..64];
            let qh = &x.qh[32 * j..][..32];
            // Quarter t of the 128 values: 32 six-bit values (low 4 bits from ql, high 2
            // from qh), in ggml's order; values 0..16 use one scale, 16..32 the next.
            for t in 0..4 {
                // SAFETY: bytes 32·(t mod 2)..+32 of the 64 of `ql`.
                let bits = unsafe { _mm256_loadu_si256(ql.as_ptr().add(32 * (t % 2)) as *const __m256i) };
                let low = if t < 2 { _mm256_and_si256(bits, m15) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m15) };
                // SAFETY: the 32 bytes of `qh`.
                let high = unsafe { _mm256_loadu_si256(qh.as_ptr() as *const __m256i) };
                let high = match t {
                    0 => _mm256_slli_epi16::<4>(_mm256_and_si256(high, m3)),
                    1 => _mm256_slli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(12))),
                    2 => _mm256_and_si256(high, _mm256_set1_epi8(48)),
                    _ => _mm256_srli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(-64))),
                };
                let q = _mm256_or_si256(low, high);
                // Scales 2i and 2i+1 (i = 4j + t), each over eight 16-bit lanes.
                // SAFETY: bytes 16·(4j + t)..+16 of the 128 of `SCALE_PAIRS` (j < 2, t < 4).
                let pick = unsafe { _mm_loadu_si128(SCALE_PAIRS.as_ptr().add(16 * (4 * j + t)) as *const __m128i) };
                let scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales128, pick));
                for i in 0..R {
                    // SAFETY: bytes 128j + 32t..+32 of the 256 of `qs` (j < 2, t < 4).
                    let v = unsafe { _mm256_loadu_si256(ys[i].qs.as_ptr().add(128 * j + 32 * t) as *const __m256i) };
                    sums[i] = _mm256_add_epi32(sums[i], _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, v)));
                }
            }
        }
        // SAFETY: the 16 bytes of `scales`.
        let scales_16 = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(x.scales.as_ptr() as *const __m128i) });
        let xd = x.d.to_f32();
        for i in 0..R {
            let y = ys[i];
            // SAFETY: the 32 bytes of `bsums`.
            let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
            let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, scales_16));
            let lanes = _mm256_sub_epi32(sums[i], offset);
            if tiled[i] {
                acc_tiled[i] = (xd * hsum_i32(lanes) as f32).mul_add(y.d, acc_tiled[i]);
            } else {
                // SAFETY: the eight f32 of `acc[i]`.
                let a = unsafe { _mm256_loadu_ps(acc[i].as_ptr()) };
                let a = _mm256_fmadd_ps(_mm256_set1_ps(y.d * xd), _mm256_cvtepi32_ps(lanes), a);
                // SAFETY: as above.
                unsafe { _mm256_storeu_ps(acc[i].as_mut_ptr(), a) };
            }
        }
    }
    for i in 0..R {
        out[i] = if tiled[i] { acc_tiled[i] } else { hsum8(&acc[i]) };
    }
}

/// [`q4k`] over consecutive weight rows of `kb` blocks (see [`super::kernels::q4k_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4k_rows<const R: usize>(w: &[BlockQ4K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; R];
        q4k::<R>(row, acts, &mut values);
        scatter_row(&values, i, stride, out);
    }
}

/// [`q4kx8`] over consecutive groups of `kb` blocks (see [`super::kernels::q4kx8_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4kx8_rows<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], kb: usize, stride: usize, gemm: [bool; 4], out: &mut [f32]) {
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; R];
        q4kx8::<R>(group, acts, gemm, &mut result);
        scatter_group(&result, g, stride, out);
    }
}

/// [`q4kx8_rows`] with [`q4kx8_avx_vnni`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub fn q4kx8_avx_vnni_rows<const R: usize>(
    w: &[BlockQ4Kx8],
    acts: &[&[BlockQ8K]],
    kb: usize,
    stride: usize,
    gemm: [bool; 4],
    out: &mut [f32],
) {
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; R];
        q4kx8_avx_vnni::<R>(group, acts, gemm, &mut result);
        scatter_group(&result, g, stride, out);
    }
}

/// [`q4kx8_rows`] with [`q4kx8_vnni`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub fn q4kx8_vnni_rows<const R: usize>(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], kb: usize, stride: usize, gemm: [bool; 4], out: &mut [f32]) {
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; R];
        q4kx8_vnni::<R>(group, acts, gemm, &mut result);
        scatter_group(&result, g, stride, out);
    }
}

/// [`q6k`] over consecutive weight rows of `kb` blocks (see [`super::kernels::q6k_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q6k_rows<const R: usize>(w: &[BlockQ6K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; R];
        q6k::<R>(row, acts, tiled, &mut values);
        scatter_row(&values, i, stride, out);
    }
}

/// [`q8_0`] over consecutive weight rows of `kb` blocks (see [`super::kernels::q8_0_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q8_0_rows<const R: usize>(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; R];
        q8_0::<R>(row, acts, &mut values);
        scatter_row(&values, i, stride, out);
    }
}

/// One Q8_0 (or Q5_0, Q4_0: see [`SignedBlock`]) weight row against R activation rows (1 to 4),
/// R outputs into `out`.
///
/// Panics if `acts` does not hold R rows of at least `w.len()` blocks, or `out` less than R
/// values.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q8_0<const R: usize>(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], out: &mut [f32]) {
    let acts: &[&[BlockQ8_0]; R] = acts.try_into().expect("R activation rows");
    let r = R;
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); R];
    for (b, x) in w.iter().enumerate() {
        // SAFETY: this function's features include AVX2.
        let qx = unsafe { x.bytes() };
        let ax = _mm256_sign_epi8(qx, qx);
        let xd = x.scale().to_f32();
        for i in 0..r {
            let y = &acts[i][b];
            // SAFETY: the 32 bytes of `qs`.
            let qy = unsafe { _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i) };
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

/// [`q8_0_rows`] in tiles of `W` weight rows by the R activation rows, each product computed
/// as [`q8_0`] computes it: per block, eight lanes of exact four-byte sums, one fused
/// multiply-add into the pair's lanes by the product of the two scales, the lanes summed at
/// the end. A tile loads each activation block and converts its scale once for `W` weight rows.
/// With VNNI the weights are made unsigned (`q + 128`, one `vpdpbusd` per pair) and the lane
/// starts at `-128 ×` the activation's four bytes, so that it ends at the same sum; without
/// it, the 16-bit pairs of [`q8_0`]. Activations are this crate's Q8_0 (|q| ≤ 127), so the
/// 16-bit pairs never saturate and both give the same integers.
///
/// # Safety
/// With `AVX512_VNNI`, the CPU must have AVX-512 VL and VNNI; with `AVX_VNNI`, AVX-VNNI.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_tiles<const R: usize, const W: usize, const VNNI: u8>(
    w: &[impl SignedBlock],
    acts: &[&[BlockQ8_0]],
    kb: usize,
    stride: usize,
    out: &mut [f32],
) {
    let acts = rows_of::<BlockQ8_0, R>(acts, kb);
    let rows = w.len() / kb;
    let whole = rows / W * W;
    for first in (0..whole).step_by(W) {
        // SAFETY: the caller's guarantee for `VNNI`.
        unsafe { q8_0_tile::<R, W, VNNI>(&w[first * kb..(first + W) * kb], &acts, first, stride, out) };
    }
    for first in whole..rows {
        // SAFETY: as above.
        unsafe { q8_0_tile::<R, 1, VNNI>(&w[first * kb..(first + 1) * kb], &acts, first, stride, out) };
    }
}

/// The 32 nibbles of `qs` as bytes, in value order (low nibbles first).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn nibble_bytes(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the 16 bytes of `qs`.
    let low = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(low), low), _mm256_set1_epi8(0xF))
}

/// All ones in byte i exactly where bit i of `qh` is set (ggml's `bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bit_bytes(qh: [u8; 4]) -> __m256i {
    // Byte i of the 32 takes byte i / 8 of qh; `or` with all bits but bit i % 8 set, so that it
    // is all ones exactly when that bit is set.
    let spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    let qh = _mm256_shuffle_epi8(_mm256_set1_epi32(i32::from_le_bytes(qh)), spread);
    _mm256_cmpeq_epi8(_mm256_or_si256(qh, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe)), _mm256_set1_epi8(-1))
}

/// A Q5_0 block's values as signed bytes, as ggml's AVX2 `ggml_vec_dot_q5_0_q8_0` unpacks them:
/// the nibbles, or'ed with 0xF0 (-16) where the fifth bit is clear.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_0_bytes(x: &BlockQ5_0) -> __m256i {
    _mm256_or_si256(nibble_bytes(&x.qs), _mm256_andnot_si256(bit_bytes(x.qh), _mm256_set1_epi8(0xF0u8 as i8)))
}

/// A Q4_0 block's values as signed bytes: the nibbles minus 8.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_0_bytes(x: &BlockQ4_0) -> __m256i {
    _mm256_sub_epi8(nibble_bytes(&x.qs), _mm256_set1_epi8(8))
}

/// Unsigned 5-bit values (Q5_1) as bytes: the nibbles with bit 4 where `qh` has the value's bit.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn five_bit_bytes(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    _mm256_or_si256(nibble_bytes(qs), _mm256_and_si256(bit_bytes(qh), _mm256_set1_epi8(0x10)))
}

/// Up to four f16 values as f32 in the first lanes of one vector (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_lanes<const N: usize>(values: [half::f16; N]) -> __m128 {
    let mut bits = 0u64;
    for (k, v) in values.iter().enumerate().take(4) {
        bits |= (v.to_bits() as u64) << (16 * k);
    }
    _mm_cvtph_ps(_mm_cvtsi64_si128(bits as i64))
}

/// `W` weight rows (`w`, from weight row `first` on) of [`q8_0_tiles`] against its R activation
/// rows of as many blocks each.
///
/// # Safety
/// As [`q8_0_tiles`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_tile<const R: usize, const W: usize, const VNNI: u8>(
    w: &[impl SignedBlock],
    acts: &[&[BlockQ8_0]; R],
    first: usize,
    stride: usize,
    out: &mut [f32],
) {
    let kb = w.len() / W;
    let load = |qs: &[i8; 32]| {
        // SAFETY: the 32 bytes of `qs`.
        unsafe { _mm256_loadu_si256(qs.as_ptr() as *const __m256i) }
    };
    // Lane k of `v` in every lane.
    let lane = |v: __m256, k: usize| match k {
        0 => _mm256_shuffle_ps::<0x00>(v, v),
        1 => _mm256_shuffle_ps::<0x55>(v, v),
        2 => _mm256_shuffle_ps::<0xAA>(v, v),
        _ => _mm256_shuffle_ps::<0xFF>(v, v),
    };
    let dot = |src: __m256i, u: __m256i, s: __m256i| {
        if VNNI == AVX512_VNNI {
            // SAFETY: the caller guarantees AVX-512 VL and VNNI with this mode.
            unsafe { _mm256_dpbusd_epi32(src, u, s) }
        } else {
            // SAFETY: the caller guarantees AVX-VNNI with this mode.
            unsafe { _mm256_dpbusd_avx_epi32(src, u, s) }
        }
    };
    let (ones, flip) = (_mm256_set1_epi16(1), _mm256_set1_epi8(-128));
    let mut acc = [[_mm256_setzero_ps(); R]; W];
    for b in 0..kb {
        let ys: [__m256i; R] = std::array::from_fn(|i| load(&acts[i][b].qs));
        let yd = f16_lanes::<R>(std::array::from_fn(|i| acts[i][b].d));
        let xd = f16_lanes::<W>(std::array::from_fn(|j| w[j * kb + b].scale()));
        let xd = _mm256_set_m128(xd, xd);
        // With VNNI: -128 × each lane's four activation bytes.
        let starts: [__m256i; R] = std::array::from_fn(|i| {
            if VNNI == NO_VNNI {
                _mm256_setzero_si256()
            } else {
                _mm256_sub_epi32(_mm256_setzero_si256(), dot(_mm256_setzero_si256(), flip, ys[i]))
            }
        });
        for (j, acc) in acc.iter_mut().enumerate() {
            // SAFETY: this function's features include AVX2.
            let qx = unsafe { w[j * kb + b].bytes() };
            let unsigned = if VNNI == NO_VNNI { _mm256_sign_epi8(qx, qx) } else { _mm256_xor_si256(qx, flip) };
            // The products of weight row j's scale with each activation row's (one rounding
            // each, as the scalar product), in lanes i and 4 + i.
            let d = _mm256_mul_ps(lane(xd, j), _mm256_set_m128(yd, yd));
            for i in 0..R {
                let lanes = if VNNI == NO_VNNI {
                    _mm256_madd_epi16(ones, _mm256_maddubs_epi16(unsigned, _mm256_sign_epi8(ys[i], qx)))
                } else {
                    dot(starts[i], unsigned, ys[i])
                };
                acc[i] = _mm256_fmadd_ps(lane(d, i), _mm256_cvtepi32_ps(lanes), acc[i]);
            }
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        let values: [f32; R] = std::array::from_fn(|i| hsum_f32(acc[i]));
        scatter_row(&values, first + j, stride, out);
    }
}

/// [`q8_0_rows`] with AVX-512 VNNI's byte products on 256-bit registers, four weight rows at a
/// time (see [`q8_0_tiles`]).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub fn q8_0_vnni_rows<const R: usize>(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    // SAFETY: this function's features include AVX-512 VL and VNNI.
    unsafe { q8_0_tiles::<R, 4, AVX512_VNNI>(w, acts, kb, stride, out) }
}

/// [`q8_0_vnni_rows`] with AVX-VNNI (CPUs with VNNI but no AVX-512; 16 vector registers, so
/// two weight rows at a time).
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub fn q8_0_avx_vnni_rows<const R: usize>(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    // SAFETY: this function's features include AVX-VNNI.
    unsafe { q8_0_tiles::<R, 2, AVX_VNNI>(w, acts, kb, stride, out) }
}

/// [`q8_0_rows`] two weight rows at a time (see [`q8_0_tiles`]), for batches of activation rows.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q8_0_tiled_rows<const R: usize>(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    // SAFETY: without VNNI, the body needs only this function's features.
    unsafe { q8_0_tiles::<R, 2, NO_VNNI>(w, acts, kb, stride, out) }
}

/// [`q5_1`] over consecutive weight rows of `kb` blocks (see [`super::kernels::q5_1_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q5_1_rows<const R: usize>(w: &[impl MinBlock], acts: &[&[BlockQ8_1]], kb: usize, stride: usize, out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; R];
        q5_1::<R>(row, acts, &mut values);
        scatter_row(&values, i, stride, out);
    }
}

/// One Q5_1 weight row against R activation rows, as `ggml_vec_dot_q5_1_q8_1` computes each.
///
/// Panics if `acts` does not hold R rows (1 to 4) of at least `w.len()` blocks, or `out` less
/// than R values.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q5_1<const R: usize>(w: &[impl MinBlock], acts: &[&[BlockQ8_1]], out: &mut [f32]) {
    let acts: &[&[BlockQ8_1]; R] = acts.try_into().expect("R activation rows");
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut summs = [0f32; R];
    for (b, x) in w.iter().enumerate() {
        // SAFETY: this function's features include AVX2.
        let qx = unsafe { x.bytes() };
        let (xd, xm) = (x.scale().to_f32(), x.min().to_f32());
        for i in 0..R {
            let y = &acts[i][b];
            summs[i] = xm.mul_add(y.s.to_f32(), summs[i]);
            // SAFETY: the 32 bytes of `qs`.
            let qy = unsafe { _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i) };
            let lanes = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(qx, qy));
            let d = _mm256_set1_ps(xd * y.d.to_f32());
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), d, acc[i]);
        }
    }
    for i in 0..R {
        out[i] = hsum_f32(acc[i]) + summs[i];
    }
}

/// Σ_s min_s · (bsums[2s] + bsums[2s+1]) of a K-quant block with Q4_K-packed mins (`sm[8..16]`
/// unpacked), exact in i32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn min_sum(sm: &[u8; 16], y: &BlockQ8K) -> i32 {
    // SAFETY: bytes 8..16 of the 16 of `sm`.
    let mins = _mm_cvtepu8_epi16(unsafe { _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i) });
    // SAFETY: the 32 bytes of `bsums`.
    let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
    let pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256::<1>(bsums));
    let prod = _mm_madd_epi16(mins, pairs);
    let s = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s)))
}

/// One Q5_K weight row against R activation rows: the lane sums of
/// `ggml_vec_dot_q5_K_q8_K`, folded as it folds them or as the tiled matmul does (`tiled`).
/// With VNNI, each scaled pair of 16-bit sums is added into its 32-bit lane by one `vpdpwssd`
/// instead of a multiply-add and an add (the same exact integers).
///
/// Panics if `acts` does not hold R rows (1 to 8) of at least `w.len()` blocks, or `out` less
/// than R values.
///
/// # Safety
/// With `AVX512_VNNI`, the CPU must have AVX-512 VL and VNNI; with `AVX_VNNI`, AVX-VNNI.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_body<const R: usize, const VNNI: u8>(w: &[BlockQ5K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
    let acts = rows_of::<BlockQ8K, R>(acts, w.len());
    let m4 = _mm256_set1_epi8(0xF);
    let bit0 = _mm256_set1_epi8(1);
    let bit1 = _mm256_set1_epi8(2);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut summs = [0f32; R];
    let mut acc_tiled = [0f32; R];
    for (b, x) in w.iter().enumerate() {
        let ys: [&BlockQ8K; R] = std::array::from_fn(|i| &acts[i][b]);
        let sm = q4k_scales_mins(&x.scales);
        // SAFETY: the 32 bytes of `qh`.
        let hbits = unsafe { _mm256_loadu_si256(x.qh.as_ptr() as *const __m256i) };
        let mut sums = [_mm256_setzero_si256(); R];
        for j in 0..QK_K / 64 {
            let scale_l = _mm256_set1_epi16(sm[2 * j] as i16);
            let scale_h = _mm256_set1_epi16(sm[2 * j + 1] as i16);
            // SAFETY: bytes 32j..32j + 32 of the 128 of `qs` (j < 4).
            let bits = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i) };
            // The fifth bits of sub-blocks 2j and 2j+1 (bits 2j and 2j+1 of each qh byte), moved
            // to bit 4; masked per byte after the 16-bit shift.
            let h = _mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j as i32));
            let high_l = _mm256_slli_epi16::<4>(_mm256_and_si256(h, bit0));
            let high_h = _mm256_slli_epi16::<3>(_mm256_and_si256(h, bit1));
            let q5l = _mm256_or_si256(_mm256_and_si256(bits, m4), high_l);
            let q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4), high_h);
            for i in 0..R {
                // SAFETY: bytes 64j..64j + 64 of the 256 of `qs` (j < 4).
                let (q8l, q8h) = unsafe {
                    let q8 = ys[i].qs.as_ptr().add(64 * j);
                    (_mm256_loadu_si256(q8 as *const __m256i), _mm256_loadu_si256(q8.add(32) as *const __m256i))
                };
                // At most 2 × 31 × 127 per 16-bit pair: no saturation.
                let (pl, ph) = (_mm256_maddubs_epi16(q5l, q8l), _mm256_maddubs_epi16(q5h, q8h));
                sums[i] = match VNNI {
                    NO_VNNI => _mm256_add_epi32(sums[i], _mm256_add_epi32(_mm256_madd_epi16(scale_l, pl), _mm256_madd_epi16(scale_h, ph))),
                    // SAFETY: the caller guarantees AVX-512 VL and VNNI with this mode. The
                    // same exact sums, added to the lanes in another order.
                    AVX512_VNNI => unsafe { _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(sums[i], scale_l, pl), scale_h, ph) },
                    // SAFETY: the caller guarantees AVX-VNNI with this mode.
                    _ => unsafe { _mm256_dpwssd_avx_epi32(_mm256_dpwssd_avx_epi32(sums[i], scale_l, pl), scale_h, ph) },
                };
            }
        }
        let (xd, xmin) = (x.d.to_f32(), x.dmin.to_f32());
        for i in 0..R {
            let y = ys[i];
            let mins = min_sum(&sm, y) as f32;
            if tiled[i] {
                let total = hsum_i32(sums[i]) as f32;
                acc_tiled[i] = (-xmin).mul_add(mins, xd * total).mul_add(y.d, acc_tiled[i]);
            } else {
                acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(y.d * xd), _mm256_cvtepi32_ps(sums[i]), acc[i]);
                summs[i] = (-y.d * xmin).mul_add(mins, summs[i]);
            }
        }
    }
    for i in 0..R {
        out[i] = if tiled[i] { acc_tiled[i] } else { hsum_f32(acc[i]) + summs[i] };
    }
}

/// [`q5k_body`] over consecutive weight rows of `kb` blocks (see [`super::kernels::q5k_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q5k_rows<const R: usize>(w: &[BlockQ5K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    // SAFETY: without VNNI, the body needs only this function's features.
    unsafe { q5k_rows_body::<R, NO_VNNI>(w, acts, kb, stride, tiled, out) }
}

/// [`q5k_rows`] with AVX-512 VNNI's `vpdpwssd` on 256-bit registers.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub fn q5k_vnni_rows<const R: usize>(w: &[BlockQ5K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    // SAFETY: this function's features include AVX-512 VL and VNNI.
    unsafe { q5k_rows_body::<R, AVX512_VNNI>(w, acts, kb, stride, tiled, out) }
}

/// [`q5k_vnni_rows`] with AVX-VNNI (CPUs with VNNI but no AVX-512).
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub fn q5k_avx_vnni_rows<const R: usize>(
    w: &[BlockQ5K],
    acts: &[&[BlockQ8K]],
    kb: usize,
    stride: usize,
    tiled: [bool; 8],
    out: &mut [f32],
) {
    // SAFETY: this function's features include AVX-VNNI.
    unsafe { q5k_rows_body::<R, AVX_VNNI>(w, acts, kb, stride, tiled, out) }
}

/// The row loop of the three functions above.
///
/// # Safety
/// As [`q5k_body`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k_rows_body<const R: usize, const VNNI: u8>(
    w: &[BlockQ5K],
    acts: &[&[BlockQ8K]],
    kb: usize,
    stride: usize,
    tiled: [bool; 8],
    out: &mut [f32],
) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; R];
        // SAFETY: the caller's guarantee for `VNNI`.
        unsafe { q5k_body::<R, VNNI>(row, acts, tiled, &mut values) };
        scatter_row(&values, i, stride, out);
    }
}

/// A group of eight interleaved Q4_0 weight rows against R activation rows: per block the eight
/// rows' exact integer dot products in the lanes of one vector (as in llama.cpp's repacked
/// kernels), then one fused multiply-add by the scales.
///
/// Panics if `acts` does not hold R rows (1 to 4) of at least `w.len()` blocks, or `out` less
/// than R groups of outputs.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4_0x8<const R: usize>(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], out: &mut [[f32; 8]]) {
    let acts = rows_of::<BlockQ8_0, R>(acts, w.len());
    let m4 = _mm256_set1_epi8(0xF);
    let ones8 = _mm256_set1_epi8(1);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); R];
    for (b, x) in w.iter().enumerate() {
        // Group t of each row: four bytes, their low nibbles values 4t..4t+4, their high
        // nibbles values 16+4t..16+4t+4 (unsigned, 0..15).
        // SAFETY: bytes 32t..32t + 32 of the 128 of `qs` (t < 4).
        let packed: [__m256i; 4] = std::array::from_fn(|t| unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * t) as *const __m256i) });
        let low: [__m256i; 4] = std::array::from_fn(|t| _mm256_and_si256(packed[t], m4));
        let high: [__m256i; 4] = std::array::from_fn(|t| _mm256_and_si256(_mm256_srli_epi16::<4>(packed[t]), m4));
        // SAFETY: the 16 bytes of `d` (eight f16).
        let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(x.d.as_ptr() as *const __m128i) });
        for i in 0..R {
            let y = &acts[i][b];
            // SAFETY: bytes j..j + 4 of the 32 of `qs`, j ≤ 16 + 12 at both uses below.
            let at = |j: usize| _mm256_set1_epi32(unsafe { (y.qs.as_ptr().add(j) as *const i32).read_unaligned() });
            // Σ q·y in 16-bit lanes: at most 8 × 2 × 15 × 127 = 30480.
            let mut dots = _mm256_setzero_si256();
            for t in 0..4 {
                dots = _mm256_add_epi16(dots, _mm256_maddubs_epi16(low[t], at(4 * t)));
                dots = _mm256_add_epi16(dots, _mm256_maddubs_epi16(high[t], at(16 + 4 * t)));
            }
            // Σ (q - 8)·y = Σ q·y - 8·Σ y (exact integers either way).
            // SAFETY: the 32 bytes of `qs`.
            let qs_y = unsafe { _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i) };
            let sum_y = hsum_i32(_mm256_madd_epi16(ones, _mm256_maddubs_epi16(ones8, qs_y)));
            let sums = _mm256_sub_epi32(_mm256_madd_epi16(dots, ones), _mm256_set1_epi32(8 * sum_y));
            let scale = _mm256_mul_ps(d, _mm256_set1_ps(y.d.to_f32()));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[i]);
        }
    }
    for i in 0..R {
        // SAFETY: eight f32 into the eight of `out[i]` (a checked index).
        unsafe { _mm256_storeu_ps(out[i].as_mut_ptr(), acc[i]) };
    }
}

/// [`q4_0x8`] over consecutive groups of `kb` blocks (see [`super::kernels::q4_0x8_rows`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q4_0x8_rows<const R: usize>(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; R];
        q4_0x8::<R>(group, acts, &mut result);
        scatter_group(&result, g, stride, out);
    }
}
