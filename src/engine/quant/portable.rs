//! The portable kernels, the reference each SIMD variant is tested against: plain Rust over
//! fixed-width chunks (32 values, 16-bit products, no per-element branches) that the compiler
//! vectorizes for the target's baseline (SSE2 on x86-64, NEON on aarch64), and the `wide`
//! crate's vectors where LLVM does not find the instruction (16-bit multiply-adds that sum
//! pairs into 32 bits: `pmaddwd` on SSE2).
//!
//! Each computes the same exact integers as the AVX2 kernels (the same 32-bit lanes where their
//! grouping reaches the float part) and the same float operations in the same order, so the
//! same bits. A weight block is unpacked once for all the activation rows of a call. 16-bit
//! partial sums are bounded as noted where they are formed (|activation| <= 128).

use super::blocks::{
    q4k_scales_mins, BlockQ4K, BlockQ4Kx8, BlockQ4_0x8, BlockQ5K, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, MinBlock, SignedBlock, QK_K,
};
use super::kernels::{q4k_min_sum, scatter_group, scatter_row};
use wide::{i16x8, i32x4};

use crate::engine::cpu::{fused_mul_add as fma, fused_mul_add_lanes as fma_lanes, hsum8};

/// `lanes[l] += scale[l] * (p[4l] + p[4l+1] + p[4l+2] + p[4l+3])` for the eight lanes of 32
/// products (the AVX2 kernels' 32-bit lanes: four bytes each).
#[inline(always)]
fn add_quads(lanes: &mut [i32; 8], p: &[i16; 32], scale: &[i32; 8]) {
    for l in 0..8 {
        let quad = p[4 * l] as i32 + p[4 * l + 1] as i32 + p[4 * l + 2] as i32 + p[4 * l + 3] as i32;
        lanes[l] += scale[l] * quad;
    }
}

/// The 32 products `q[k] * y[k]` as 16-bit integers (|q| <= 255 / 2 keeps them in range).
#[inline(always)]
fn products(q: &[u8], y: &[i8]) -> [i16; 32] {
    let (q, y): (&[u8; 32], &[i8; 32]) = (q[..32].try_into().unwrap(), y[..32].try_into().unwrap());
    std::array::from_fn(|k| q[k] as i16 * y[k] as i16)
}

/// A Q6_K block's 256 unsigned 6-bit values (`q + 32`) in order.
#[inline(always)]
fn q6k_values(x: &BlockQ6K) -> [u8; QK_K] {
    let mut q = [0u8; QK_K];
    for c in 0..2 {
        let (ql, qh) = (&x.ql[64 * c..64 * c + 64], &x.qh[32 * c..32 * c + 32]);
        let out = &mut q[128 * c..128 * c + 128];
        for l in 0..32 {
            let (a, b, h) = (ql[l], ql[l + 32], qh[l]);
            out[l] = (a & 0xF) | ((h & 3) << 4);
            out[l + 32] = (b & 0xF) | (((h >> 2) & 3) << 4);
            out[l + 64] = (a >> 4) | (((h >> 4) & 3) << 4);
            out[l + 96] = (b >> 4) | (((h >> 6) & 3) << 4);
        }
    }
    q
}

/// A Q5_K block's 256 unsigned 5-bit values in order.
#[inline(always)]
fn q5k_values(x: &BlockQ5K) -> [u8; QK_K] {
    let mut q = [0u8; QK_K];
    for j in 0..4 {
        let qs = &x.qs[32 * j..32 * j + 32];
        for l in 0..32 {
            let h = x.qh[l];
            q[64 * j + l] = (qs[l] & 0xF) | (((h >> (2 * j)) & 1) << 4);
            q[64 * j + 32 + l] = (qs[l] >> 4) | (((h >> (2 * j + 1)) & 1) << 4);
        }
    }
    q
}

/// A Q4_K block's 256 4-bit values in order.
#[inline(always)]
fn q4k_values(x: &BlockQ4K) -> [u8; QK_K] {
    let mut q = [0u8; QK_K];
    for j in 0..4 {
        let qs = &x.qs[32 * j..32 * j + 32];
        for l in 0..32 {
            q[64 * j + l] = qs[l] & 0xF;
            q[64 * j + 32 + l] = qs[l] >> 4;
        }
    }
    q
}

pub fn q5k(w: &[BlockQ5K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
    let n = acts.len().min(out.len());
    let (mut acc, mut summs, mut acc_tiled) = ([[0f32; 8]; 8], [0f32; 8], [0f32; 8]);
    for (b, x) in w.iter().enumerate() {
        let q = q5k_values(x);
        let sm = q4k_scales_mins(&x.scales);
        let (xd, xmin) = (x.d.to_f32(), x.dmin.to_f32());
        for i in 0..n {
            let y = &acts[i][b];
            // Lane l of sub-block s: values 32s + 4l + u, a sum of four products of at most
            // 31 * 128 each.
            let mut lanes = [0i32; 8];
            for s in 0..8 {
                let p = products(&q[32 * s..], &y.qs[32 * s..]);
                add_quads(&mut lanes, &p, &[sm[s] as i32; 8]);
            }
            let mins = q4k_min_sum(&x.scales, y) as f32;
            // ggml_vec_dot_q5_K_q8_K: the lanes scaled into eight accumulators, the min
            // correction into a scalar one (ggml's `summs += dmin * m`, contracted into a fused
            // multiply-add by C's default contraction with FMA enabled).
            let d = y.d * xd;
            for (acc, &lane) in acc[i].iter_mut().zip(&lanes) {
                *acc = fma(d, lane as f32, *acc);
            }
            summs[i] = fma(-y.d * xmin, mins, summs[i]);
            // The tiled matmul: the block's exact sum, its min correction, then the activation
            // scale.
            let total: i32 = lanes.iter().sum();
            acc_tiled[i] = fma(fma(-xmin, mins, xd * total as f32), y.d, acc_tiled[i]);
        }
    }
    for i in 0..n {
        out[i] = if tiled[i] { acc_tiled[i] } else { hsum8(&acc[i]) + summs[i] };
    }
}

pub fn q4_0x8(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], out: &mut [[f32; 8]]) {
    let n = acts.len().min(out.len());
    let mut acc = [[0f32; 8]; 4];
    for (b, x) in w.iter().enumerate() {
        // `[t][row][u]`: low nibbles values 4t + u, high ones 16 + 4t + u, both minus 8.
        let lo: [i16; 128] = std::array::from_fn(|k| (x.qs[k] & 0xF) as i16 - 8);
        let hi: [i16; 128] = std::array::from_fn(|k| (x.qs[k] >> 4) as i16 - 8);
        let xd: [f32; 8] = std::array::from_fn(|r| x.d[r].to_f32());
        for i in 0..n {
            let y = &acts[i][b];
            // Per (row, u), four t of products of at most 8 * 128 each.
            let mut sums = [0i16; 32];
            for t in 0..4 {
                let (yl, yh) = (&y.qs[4 * t..4 * t + 4], &y.qs[16 + 4 * t..16 + 4 * t + 4]);
                let (yl, yh): ([i16; 32], [i16; 32]) =
                    (std::array::from_fn(|k| yl[k % 4] as i16), std::array::from_fn(|k| yh[k % 4] as i16));
                for k in 0..32 {
                    sums[k] += lo[32 * t + k] * yl[k] + hi[32 * t + k] * yh[k];
                }
            }
            let yd = y.d.to_f32();
            for r in 0..8 {
                let sum = sums[4 * r] as i32 + sums[4 * r + 1] as i32 + sums[4 * r + 2] as i32 + sums[4 * r + 3] as i32;
                acc[i][r] = fma(sum as f32, xd[r] * yd, acc[i][r]);
            }
        }
    }
    out[..n].copy_from_slice(&acc[..n]);
}

pub fn q5k_rows(w: &[BlockQ5K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; 8];
        q5k(row, acts, tiled, &mut values[..acts.len()]);
        scatter_row(&values[..acts.len()], i, stride, out);
    }
}

pub fn q4_0x8_rows(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; 4];
        q4_0x8(group, acts, &mut result[..acts.len()]);
        scatter_group(&result[..acts.len()], g, stride, out);
    }
}

pub fn q4k(w: &[BlockQ4K], acts: &[&[BlockQ8K]], out: &mut [f32]) {
    let n = acts.len().min(out.len());
    let (mut acc, mut acc_min) = ([0f32; 4], [0f32; 4]);
    for (b, x) in w.iter().enumerate() {
        let q = q4k_values(x);
        let sm = q4k_scales_mins(&x.scales);
        let (xd, xmin) = (x.d.to_f32(), x.dmin.to_f32());
        for i in 0..n {
            let y = &acts[i][b];
            // The block's exact integer sum; the lanes' grouping does not reach the floats.
            let mut lanes = [0i32; 8];
            for s in 0..8 {
                let p = products(&q[32 * s..], &y.qs[32 * s..]);
                add_quads(&mut lanes, &p, &[sm[s] as i32; 8]);
            }
            let sum: i32 = lanes.iter().sum();
            acc[i] = fma(sum as f32, xd * y.d, acc[i]);
            acc_min[i] = fma(q4k_min_sum(&x.scales, y) as f32, xmin * y.d, acc_min[i]);
        }
    }
    for i in 0..n {
        out[i] = acc[i] - acc_min[i];
    }
}

/// One group of eight weight rows (the tests' entry; [`q4kx8_rows`] runs the products).
#[cfg(test)]
pub fn q4kx8(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    let n = acts.len().min(out.len());
    let ys = q8k_pairs(&acts[..n], w.len());
    q4kx8_pairs(w, &ys, gemm, out);
}

/// A Q8_K block's values as the Q4_K kernels multiply them, `[j][t][half]`: values
/// `64j + 32 half + 4t + u` for u = 0..4, twice, in 16 bits (a vector of eight).
type Q8KPairs = ([[[i16; 8]; 2]; 32], f32, [i16; QK_K / 16]);

/// Every activation row's first `kb` blocks as [`Q8KPairs`], written in place (arrays of this
/// size returned by value are copied).
fn q8k_pairs(acts: &[&[BlockQ8K]], kb: usize) -> Vec<Vec<Q8KPairs>> {
    acts.iter()
        .map(|a| {
            let mut out = vec![([[[0i16; 8]; 2]; 32], 0f32, [0i16; QK_K / 16]); kb];
            for ((values, d, bsums), y) in out.iter_mut().zip(&a[..kb]) {
                // Widened 32 at a time (that vectorizes), then each four copied twice.
                for (j, pairs) in values.chunks_exact_mut(8).enumerate() {
                    for h in 0..2 {
                        let q = &y.qs[64 * j + 32 * h..][..32];
                        let wide: [i16; 32] = std::array::from_fn(|k| q[k] as i16);
                        for (t, pair) in pairs.iter_mut().enumerate() {
                            pair[h][..4].copy_from_slice(&wide[4 * t..4 * t + 4]);
                            pair[h][4..].copy_from_slice(&wide[4 * t..4 * t + 4]);
                        }
                    }
                }
                (*d, *bsums) = (y.d, y.bsums);
            }
            out
        })
        .collect()
}

/// [`q4kx8_pairs`] for one activation row (decoding): the nibbles unpacked as they are used,
/// and the scales applied in f32 (their products with the integer sums are exact, under 2^24),
/// which costs less than building the 16-bit scale vectors for a single row.
fn q4kx8_one(w: &[BlockQ4Kx8], ys: &[Q8KPairs], gemm: bool) -> [f32; 8] {
    let (mut acc, mut acc_min) = ([0f32; 8], [0f32; 8]);
    for (x, (y, y_d, bsums)) in w.iter().zip(ys) {
        let scales: [f32; 64] = std::array::from_fn(|k| x.scales[k] as f32);
        let mins: [f32; 64] = std::array::from_fn(|k| x.mins[k] as f32);
        let (mut sums, mut min_sums) = ([[0f32; 8]; 4], [[0f32; 8]; 4]);
        for j in 0..4 {
            let qs: &[u8; 256] = x.qs[256 * j..256 * j + 256].try_into().unwrap();
            // Per (row, u), eight t of products of at most 15 * 128 each.
            let (mut dlo, mut dhi) = ([0i16; 32], [0i16; 32]);
            for t in 0..8 {
                let (ql, qh): ([i16; 32], [i16; 32]) =
                    (std::array::from_fn(|k| (qs[32 * t + k] & 0xF) as i16), std::array::from_fn(|k| (qs[32 * t + k] >> 4) as i16));
                let [yl, yh] = &y[8 * j + t];
                let (yl, yh): ([i16; 32], [i16; 32]) = (std::array::from_fn(|k| yl[k % 8]), std::array::from_fn(|k| yh[k % 8]));
                for k in 0..32 {
                    dlo[k] += ql[k] * yl[k];
                    dhi[k] += qh[k] * yh[k];
                }
            }
            let quad = |p: &[i16; 32], r: usize| p[4 * r] as i32 + p[4 * r + 1] as i32 + p[4 * r + 2] as i32 + p[4 * r + 3] as i32;
            let (scale_lo, scale_hi) = (&scales[16 * j..16 * j + 8], &scales[16 * j + 8..16 * j + 16]);
            sums[j] = std::array::from_fn(|r| quad(&dlo, r) as f32 * scale_lo[r] + quad(&dhi, r) as f32 * scale_hi[r]);
            let bs_lo = (bsums[4 * j] as i32 + bsums[4 * j + 1] as i32) as f32;
            let bs_hi = (bsums[4 * j + 2] as i32 + bsums[4 * j + 3] as i32) as f32;
            min_sums[j] = std::array::from_fn(|r| mins[16 * j + 2 * r] * bs_lo + mins[16 * j + 2 * r + 1] * bs_hi);
        }
        let d: [f32; 8] = std::array::from_fn(|r| x.d[r].to_f32() * y_d);
        let dmin: [f32; 8] = std::array::from_fn(|r| x.dmin[r].to_f32() * y_d);
        fold_q4kx8(&mut acc, &mut acc_min, &sums, &min_sums, &d, &dmin, gemm);
    }
    std::array::from_fn(|r| acc[r] - acc_min[r])
}

/// One block's sums of a weight group into its accumulators as llama.cpp folds them: its GEMM
/// every pair of sub-blocks, its GEMV once per block. The eight rows side by side (independent
/// lanes), so that the fused multiply-adds vectorize.
#[inline(always)]
fn fold_q4kx8(
    acc: &mut [f32; 8],
    acc_min: &mut [f32; 8],
    sums: &[[f32; 8]; 4],
    min_sums: &[[f32; 8]; 4],
    d: &[f32; 8],
    dmin: &[f32; 8],
    gemm: bool,
) {
    if gemm {
        for j in 0..4 {
            *acc = fma_lanes(&sums[j], d, acc);
            *acc_min = fma_lanes(&min_sums[j], dmin, acc_min);
        }
    } else {
        // The block's sums, exact in 32 bits (four chunks may pass 2^24).
        let total = |s: &[[f32; 8]; 4]| -> [f32; 8] {
            std::array::from_fn(|r| (s[0][r] as i32 + s[1][r] as i32 + s[2][r] as i32 + s[3][r] as i32) as f32)
        };
        *acc = fma_lanes(&total(sums), d, acc);
        *acc_min = fma_lanes(&total(min_sums), dmin, acc_min);
    }
}

fn q4kx8_pairs(w: &[BlockQ4Kx8], ys: &[Vec<Q8KPairs>], gemm: [bool; 4], out: &mut [[f32; 8]]) {
    let n = ys.len().min(out.len());
    if n == 1 {
        out[0] = q4kx8_one(w, &ys[0], gemm[0]);
        return;
    }
    let (mut acc, mut acc_min) = ([[0f32; 8]; 4], [[0f32; 8]; 4]);
    for (b, x) in w.iter().enumerate() {
        // Per activation row, 64-value chunk and weight row: the scaled sums of the chunk's two
        // sub-blocks (at most 2 * 63 * 32 * 15 * 128), and their min corrections.
        let mut sums = [[[0f32; 8]; 4]; 4];
        let mut min_sums = [[[0f32; 8]; 4]; 4];
        for j in 0..4 {
            // `[t][row][u]`: low nibbles values 64j + 4t + u, high ones 64j + 32 + 4t + u.
            // Vector c of a t holds rows 2c and 2c + 1.
            let qs: &[u8; 256] = x.qs[256 * j..256 * j + 256].try_into().unwrap();
            // Unpacked once for all the activation rows (in place: nested `from_fn`s of this
            // size were neither inlined nor built in place).
            let mut unpacked = [[[0i16; 32]; 8]; 2];
            let [low, high] = &mut unpacked;
            for (t, (lo, hi)) in low.iter_mut().zip(high).enumerate() {
                for (k, (lo, hi)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    (*lo, *hi) = ((qs[32 * t + k] & 0xF) as i16, (qs[32 * t + k] >> 4) as i16);
                }
            }
            // Per sub-block h and vector c, the scales of rows 2c and 2c + 1 for their
            // products; the mins as stored, `[row][2]`.
            let scales: [[i16x8; 4]; 2] = std::array::from_fn(|h| {
                std::array::from_fn(|c| i16x8::new(std::array::from_fn(|k| x.scales[16 * j + 8 * h + 2 * c + k / 4] as i16)))
            });
            let mins: [i16x8; 2] = std::array::from_fn(|c| i16x8::new(std::array::from_fn(|k| x.mins[16 * j + 8 * c + k] as i16)));
            for i in 0..n {
                let (y, _, bsums) = &ys[i][b];
                // Per sub-block, one after the other (four accumulators, four weight vectors
                // and the activations fit in SSE2's sixteen registers): per (row, u), eight t
                // of products of at most 15 * 128, then scaled and summed in pairs.
                let mut pairs = [i32x4::ZERO; 4];
                for h in 0..2 {
                    let mut d = [i16x8::ZERO; 4];
                    for t in 0..8 {
                        let q = &unpacked[h][t];
                        let y = i16x8::new(y[8 * j + t][h]);
                        for c in 0..4 {
                            d[c] += i16x8::new(q[8 * c..8 * c + 8].try_into().unwrap()) * y;
                        }
                    }
                    for c in 0..4 {
                        pairs[c] += d[c].dot(scales[h][c]);
                    }
                }
                // Row 2c + e: pairs 2e and 2e + 1 of vector c.
                sums[i][j] = adjacent_sums(pairs).map(|s| s as f32);
                let bs_lo = bsums[4 * j] + bsums[4 * j + 1];
                let bs_hi = bsums[4 * j + 2] + bsums[4 * j + 3];
                let bs = i16x8::new([bs_lo, bs_hi, bs_lo, bs_hi, bs_lo, bs_hi, bs_lo, bs_hi]);
                let m = mins.map(|m| m.dot(bs).round_float().to_array());
                min_sums[i][j] = std::array::from_fn(|r| m[r / 4][r % 4]);
            }
        }
        let xd: [f32; 8] = std::array::from_fn(|r| x.d[r].to_f32());
        let xmin: [f32; 8] = std::array::from_fn(|r| x.dmin[r].to_f32());
        for i in 0..n {
            let y_d = ys[i][b].1;
            let (d, dmin): ([f32; 8], [f32; 8]) = (std::array::from_fn(|r| xd[r] * y_d), std::array::from_fn(|r| xmin[r] * y_d));
            fold_q4kx8(&mut acc[i], &mut acc_min[i], &sums[i], &min_sums[i], &d, &dmin, gemm[i]);
        }
    }
    for i in 0..n {
        out[i] = std::array::from_fn(|r| acc[i][r] - acc_min[i][r]);
    }
}

/// One weight row (the tests' entry; [`q6k_rows`] runs the products).
#[cfg(test)]
pub fn q6k(w: &[BlockQ6K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
    let n = acts.len().min(out.len());
    let ys = q8k_wide(&acts[..n], w.len());
    q6k_wide(w, &ys, tiled, out);
}

/// A Q8_K block with its values widened to 16 bits.
type Q8KWide = ([i16; QK_K], f32, [i16; QK_K / 16]);

/// Every activation row's first `kb` blocks as [`Q8KWide`], written in place.
fn q8k_wide(acts: &[&[BlockQ8K]], kb: usize) -> Vec<Vec<Q8KWide>> {
    acts.iter()
        .map(|a| {
            let mut out = vec![([0i16; QK_K], 0f32, [0i16; QK_K / 16]); kb];
            for ((values, d, bsums), y) in out.iter_mut().zip(&a[..kb]) {
                for (v, q) in values.chunks_exact_mut(16).zip(y.qs.chunks_exact(16)) {
                    for k in 0..16 {
                        v[k] = q[k] as i16;
                    }
                }
                (*d, *bsums) = (y.d, y.bsums);
            }
            out
        })
        .collect()
}

/// `out[k] += a[2k] * b[2k] + a[2k + 1] * b[2k + 1]` in 32 bits for 32 values: `pmaddwd` on
/// x86-64 (SSE2), widening multiplies and pairwise adds on NEON.
#[inline(always)]
fn madd(out: &mut [i32x4; 4], a: &[i16], b: &[i16]) {
    for (o, (a, b)) in out.iter_mut().zip(a[..32].chunks_exact(8).zip(b[..32].chunks_exact(8))) {
        *o += i16x8::new(a.try_into().unwrap()).dot(i16x8::new(b.try_into().unwrap()));
    }
}

/// The sums of adjacent pairs of sixteen 32-bit values: `out[l] = v[2l] + v[2l + 1]`.
#[inline(always)]
fn adjacent_sums(v: [i32x4; 4]) -> [i32; 8] {
    let v = v.map(|v| v.to_array());
    std::array::from_fn(|l| v[l / 2][2 * (l % 2)] + v[l / 2][2 * (l % 2) + 1])
}

fn q6k_wide(w: &[BlockQ6K], ys: &[Vec<Q8KWide>], tiled: [bool; 8], out: &mut [f32]) {
    let n = ys.len().min(out.len());
    let (mut acc, mut acc_tiled) = ([[0f32; 8]; 8], [0f32; 8]);
    for (b, x) in w.iter().enumerate() {
        let q = q6k_values(x);
        // Each value times the scale of its 16 (at most 63 * 128 in magnitude).
        let qs: [i16; QK_K] = std::array::from_fn(|i| q[i] as i16 * x.scales[i / 16] as i16);
        let xd = x.d.to_f32();
        for i in 0..n {
            let (ys, y_d, bsums) = &ys[i][b];
            // Lane l: values 32v + 4l + u of every 32-value chunk v. The products summed in
            // pairs, the pairs accumulated over the chunks in 32 bits, then lane l = pairs 2l
            // and 2l + 1.
            let mut pairs = [i32x4::ZERO; 4];
            for (qs, ys) in qs.chunks_exact(32).zip(ys.chunks_exact(32)) {
                madd(&mut pairs, qs, ys);
            }
            let mut lanes = adjacent_sums(pairs);
            // The AVX2 kernel subtracts 32 times the scaled activation sums of values 32l..32l+32
            // from lane l (the values are stored as q + 32).
            for (l, lane) in lanes.iter_mut().enumerate() {
                let offset = bsums[2 * l] as i32 * x.scales[2 * l] as i32 + bsums[2 * l + 1] as i32 * x.scales[2 * l + 1] as i32;
                *lane -= offset << 5;
            }
            if tiled[i] {
                let total: i32 = lanes.iter().sum();
                acc_tiled[i] = fma(xd * total as f32, *y_d, acc_tiled[i]);
            } else {
                acc[i] = fma_lanes(&[y_d * xd; 8], &lanes.map(|l| l as f32), &acc[i]);
            }
        }
    }
    for i in 0..n {
        out[i] = if tiled[i] { acc_tiled[i] } else { hsum8(&acc[i]) };
    }
}

/// `ggml_vec_dot_q8_0_q8_0` (and `_q5_0_`, `_q4_0_`: see [`SignedBlock`]).
pub fn q8_0(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], out: &mut [f32]) {
    let n = acts.len().min(out.len());
    let mut acc = [[0f32; 8]; 4];
    for (b, x) in w.iter().enumerate() {
        let values = x.values();
        let xq: [i16; 32] = std::array::from_fn(|k| values[k] as i16);
        let xd = x.scale().to_f32();
        for i in 0..n {
            let y = &acts[i][b];
            // Products of at most 128 * 128: four of them need 32 bits.
            let p: [i16; 32] = std::array::from_fn(|k| xq[k] * y.qs[k] as i16);
            let lanes: [i32; 8] =
                std::array::from_fn(|l| p[4 * l] as i32 + p[4 * l + 1] as i32 + p[4 * l + 2] as i32 + p[4 * l + 3] as i32);
            let d = xd * y.d.to_f32();
            for (acc, &lane) in acc[i].iter_mut().zip(&lanes) {
                *acc = fma(d, lane as f32, *acc);
            }
        }
    }
    for i in 0..n {
        out[i] = hsum8(&acc[i]);
    }
}

/// `ggml_vec_dot_q5_1_q8_1`: eight lanes of four exact products per block, each folded in with
/// one fused multiply-add by the two scales' product; the mins times the activation sums apart.
pub fn q5_1(w: &[impl MinBlock], acts: &[&[BlockQ8_1]], out: &mut [f32]) {
    for (a, out) in acts.iter().zip(out.iter_mut()) {
        let (mut acc, mut summs) = ([0f32; 8], 0f32);
        for (x, y) in w.iter().zip(a.iter()) {
            summs = fma(x.min().to_f32(), y.s.to_f32(), summs);
            let d = x.scale().to_f32() * y.d.to_f32();
            let values = x.values();
            for (l, acc) in acc.iter_mut().enumerate() {
                let lane: i32 = (4 * l..4 * l + 4).map(|i| values[i] as i32 * y.qs[i] as i32).sum();
                *acc = fma(lane as f32, d, *acc);
            }
        }
        *out = hsum8(&acc) + summs;
    }
}

pub fn q5_1_rows(w: &[impl MinBlock], acts: &[&[BlockQ8_1]], kb: usize, stride: usize, out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; 8];
        q5_1(row, acts, &mut values[..acts.len()]);
        scatter_row(&values[..acts.len()], i, stride, out);
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
    // The activations spread once for all the groups of rows.
    let ys = q8k_pairs(acts, kb);
    for (g, group) in w.chunks_exact(kb).enumerate() {
        let mut result = [[0f32; 8]; 4];
        q4kx8_pairs(group, &ys, gemm, &mut result[..acts.len()]);
        scatter_group(&result[..acts.len()], g, stride, out);
    }
}

pub fn q6k_rows(w: &[BlockQ6K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    // The activations widened once for all the rows.
    let ys = q8k_wide(acts, kb);
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; 8];
        q6k_wide(row, &ys, tiled, &mut values[..acts.len()]);
        scatter_row(&values[..acts.len()], i, stride, out);
    }
}

pub fn q8_0_rows(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    for (i, row) in w.chunks_exact(kb).enumerate() {
        let mut values = [0f32; 8];
        q8_0(row, acts, &mut values[..acts.len()]);
        scatter_row(&values[..acts.len()], i, stride, out);
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::super::blocks::BlockQ4_0;
    use super::*;

    /// The kernels written element by element, as the definitions the chunked ones are checked
    /// against on any CPU.
    mod scalar {
        use super::super::super::blocks::{q4_0_value, q5k_value, q6k_value, QK4_0};
        use super::super::super::kernels::q4k_min_sum;
        use super::*;

        pub fn q5k(w: &[BlockQ5K], acts: &[&[BlockQ8K]], tiled: [bool; 8], out: &mut [f32]) {
            for ((a, out), tiled) in acts.iter().zip(out.iter_mut()).zip(tiled) {
                let (mut acc, mut summs, mut acc_tiled) = ([0f32; 8], 0f32, 0f32);
                for (x, y) in w.iter().zip(a.iter()) {
                    let sm = q4k_scales_mins(&x.scales);
                    let mut lanes = [0i32; 8];
                    for (i, &q8) in y.qs.iter().enumerate() {
                        // Lane of element i in the AVX2 kernel: four bytes per 32-bit lane.
                        lanes[(i % 32) / 4] += sm[i / 32] as i32 * q5k_value(x, i) as i32 * q8 as i32;
                    }
                    let mins = q4k_min_sum(&x.scales, y) as f32;
                    let (xd, xmin) = (x.d.to_f32(), x.dmin.to_f32());
                    // ggml_vec_dot_q5_K_q8_K: the lanes scaled into eight accumulators, the min
                    // correction into a scalar one.
                    let d = y.d * xd;
                    for (acc, &lane) in acc.iter_mut().zip(&lanes) {
                        *acc = d.mul_add(lane as f32, *acc);
                    }
                    // ggml's `summs += dmin * m` is compiled (C's default contraction, FMA enabled)
                    // into a fused multiply-add: the unfused sum fails the parity fixtures.
                    summs = (-y.d * xmin).mul_add(mins, summs);
                    // The tiled matmul: the block's exact sum, its min correction, then the
                    // activation scale.
                    let total: i32 = lanes.iter().sum();
                    acc_tiled = (-xmin).mul_add(mins, xd * total as f32).mul_add(y.d, acc_tiled);
                }
                *out = if tiled { acc_tiled } else { hsum8(&acc) + summs };
            }
        }

        pub fn q4_0x8(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], out: &mut [[f32; 8]]) {
            for (a, out) in acts.iter().zip(out.iter_mut()) {
                for (r, out) in out.iter_mut().enumerate() {
                    let mut acc = 0f32;
                    for (x, y) in w.iter().zip(a.iter()) {
                        let x = x.row(r);
                        let sum: i32 = (0..QK4_0).map(|i| q4_0_value(&x, i) as i32 * y.qs[i] as i32).sum();
                        acc = (sum as f32).mul_add(x.d.to_f32() * y.d.to_f32(), acc);
                    }
                    *out = acc;
                }
            }
        }

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
    }

    /// xorshift bytes.
    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect()
    }

    /// Blocks of random bytes with scales between 2^-12 and 2^-5 (any other byte pattern is a
    /// valid block).
    fn blocks<B: Copy>(n: usize, seed: u32, scales: &[usize]) -> Vec<B> {
        let size = std::mem::size_of::<B>();
        let mut raw = bytes(n * size, seed);
        for (b, block) in raw.chunks_exact_mut(size).enumerate() {
            for (k, &at) in scales.iter().enumerate() {
                let d = f16::from_f32((1 + (b + k) % 7) as f32 / 256.0);
                block[at..at + 2].copy_from_slice(&d.to_le_bytes());
            }
        }
        raw.chunks_exact(size).map(|c| super::super::blocks::block_at(c, 0)).collect()
    }

    fn q8k_rows(m: usize, kb: usize, seed: u32) -> Vec<Vec<BlockQ8K>> {
        (0..m)
            .map(|i| {
                let xs: Vec<f32> = bytes(kb * QK_K, seed + i as u32).iter().map(|&b| b as f32 - 127.5).collect();
                xs.chunks_exact(QK_K)
                    .map(|x| {
                        let mut y = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
                        super::super::blocks::quantize_q8k(x, &mut y, false);
                        y
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn chunked_kernels_give_the_bits_of_the_element_by_element_ones() {
        let kb = 3;
        for m in 1..=8 {
            let acts = q8k_rows(m, kb, 40 + m as u32);
            let acts: Vec<&[BlockQ8K]> = acts.iter().map(|a| &a[..]).collect();
            let flags: [bool; 8] = std::array::from_fn(|i| (i + m) % 3 != 0);
            let (mut got, mut want) = ([0f32; 8], [0f32; 8]);
            let q6: Vec<BlockQ6K> = blocks(kb, 1, &[208]);
            q6k(&q6, &acts, flags, &mut got[..m]);
            scalar::q6k(&q6, &acts, flags, &mut want[..m]);
            assert_eq!(got, want, "Q6_K, {m} rows");
            let q5: Vec<BlockQ5K> = blocks(kb, 2, &[0, 2]);
            q5k(&q5, &acts, flags, &mut got[..m]);
            scalar::q5k(&q5, &acts, flags, &mut want[..m]);
            assert_eq!(got, want, "Q5_K, {m} rows");
            if m > 4 {
                continue;
            }
            let q4: Vec<BlockQ4K> = blocks(kb, 3, &[0, 2]);
            q4k(&q4, &acts, &mut got[..m]);
            scalar::q4k(&q4, &acts, &mut want[..m]);
            assert_eq!(got, want, "Q4_K, {m} rows");
            let gemm: [bool; 4] = std::array::from_fn(|i| flags[i]);
            let x8: Vec<BlockQ4Kx8> = blocks::<BlockQ4K>(8 * kb, 4, &[0, 2])
                .chunks_exact(8)
                .map(|rows| BlockQ4Kx8::new(std::array::from_fn(|r| &rows[r])))
                .collect();
            let (mut got8, mut want8) = ([[0f32; 8]; 4], [[0f32; 8]; 4]);
            q4kx8(&x8, &acts, gemm, &mut got8[..m]);
            scalar::q4kx8(&x8, &acts, gemm, &mut want8[..m]);
            assert_eq!(got8, want8, "Q4_K x8, {m} rows");

            let a0: Vec<Vec<BlockQ8_0>> = (0..m).map(|i| blocks(8, 50 + i as u32, &[0])).collect();
            let a0: Vec<&[BlockQ8_0]> = a0.iter().map(|a| &a[..]).collect();
            let q8: Vec<BlockQ8_0> = blocks(8, 5, &[0]);
            q8_0(&q8, &a0, &mut got[..m]);
            scalar::q8_0(&q8, &a0, &mut want[..m]);
            assert_eq!(got, want, "Q8_0, {m} rows");
            let q40: Vec<BlockQ4_0x8> =
                blocks::<BlockQ4_0>(64, 6, &[0]).chunks_exact(8).map(|rows| BlockQ4_0x8::new(std::array::from_fn(|r| &rows[r]))).collect();
            q4_0x8(&q40, &a0, &mut got8[..m]);
            scalar::q4_0x8(&q40, &a0, &mut want8[..m]);
            assert_eq!(got8, want8, "Q4_0 x8, {m} rows");
        }
    }
}
