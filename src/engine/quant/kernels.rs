//! The dot-product kernels: weight row blocks against up to four (Q5_K, Q6_K: eight) activation
//! rows at once, each dispatched to its AVX2 version ([`super::avx2`]) where the CPU has it,
//! else to the portable one, which computes the same bits.

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::blocks::{
    q4_0_value, q4k_scales_mins, q5_1_value, q5k_value, q6k_value, BlockQ4K, BlockQ4Kx8, BlockQ4_0x8, BlockQ5K, BlockQ5_1, BlockQ6K,
    BlockQ8K, BlockQ8_0, BlockQ8_1, QK4_0, QK_K,
};
use crate::engine::cpu::hsum8;
use crate::simd_dispatch;

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
        if crate::engine::cpu::simd_available() {
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
pub(super) fn scatter_group(values: &[[f32; 8]], g: usize, stride: usize, out: &mut [f32]) {
    for (i, values) in values.iter().enumerate() {
        for (r, &v) in values.iter().enumerate() {
            out[i * stride + 8 * g + r] = v;
        }
    }
}

/// Weight row i's output for each activation row j into `out[j * stride + i]`.
#[inline(always)]
pub(super) fn scatter_row(values: &[f32], i: usize, stride: usize, out: &mut [f32]) {
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

/// `tiled[i]`: activation row i as llama.cpp's tiled K-quant matmul computes it, else as
/// `ggml_vec_dot_q5_K_q8_K`.
pub fn q5k_rows(w: &[BlockQ5K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    by_rows!(8: q5k_rows, w, acts, kb, stride, tiled; out)
}

/// Each row computed as `ggml_vec_dot_q5_1_q8_1` (and `_q4_1_`, the same arithmetic) computes
/// it: per block, eight lanes of four exact products, each folded into its f32 lane with one
/// fused multiply-add by the product of the two scales; the mins times the activation sums
/// accumulated apart in one scalar with fused multiply-adds; the lanes summed in ggml's order,
/// then that scalar added.
pub fn q5_1_rows(w: &[BlockQ5_1], acts: &[&[BlockQ8_1]], kb: usize, stride: usize, out: &mut [f32]) {
    by_rows!(q5_1_rows, w, acts, kb, stride; out)
}

/// Groups of eight interleaved rows, each row computed as llama.cpp's repacked Q4_0 kernels
/// compute it (`gemv/gemm_q4_0_8x8_q8_0`, which round alike): per block of 32 values the exact
/// integer dot product, folded into one f32 accumulator with one fused multiply-add by the
/// product of the two scales.
pub fn q4_0x8_rows(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    by_rows!(q4_0x8_rows, w, acts, kb, stride; out)
}

// ggml's dot products of float rows (`ggml_vec_dot_f32/_f16/_bf16`, AVX2 build), which llama.cpp
// uses for a lone row (a batch of two or more goes through llamafile's tinyBLAS instead, whose
// order is `cpu::dot_f32`'s). The 16-bit types' values are given as f32 (exact).

simd_dispatch! {
    /// `ggml_vec_dot_f32`: four 8-lane accumulators over steps of 32, added (0+2)+(1+3), the
    /// eight lanes summed pairwise with `hadd`, then the elements past the last step in f32.
    pub fn vec_dot_f32(a: &[f32], b: &[f32]) -> f32 = vec_dot_f32_lanes;
}

simd_dispatch! {
    /// `ggml_vec_dot_f16`: [`vec_dot_f32`]'s order, with the elements past the last step
    /// added in f64.
    pub fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 = vec_dot_f16_lanes;
}

simd_dispatch! {
    /// `ggml_vec_dot_bf16`: four 8-lane accumulators added (0+2)+(1+3), the lanes summed in
    /// `hsum_float_8`'s order, then the rest in f64.
    pub fn vec_dot_bf16(a: &[f32], b: &[f32]) -> f32 = vec_dot_bf16_lanes;
}

/// The four accumulators of ggml's float dot products over the whole steps of 32, added
/// (0+2)+(1+3); and the length they cover.
#[inline(always)]
fn four_accumulators(a: &[f32], b: &[f32]) -> ([f32; 8], usize) {
    let n = a.len().min(b.len()) / 32 * 32;
    let mut sum = [[0f32; 8]; 4];
    for (x, y) in a[..n].chunks_exact(32).zip(b[..n].chunks_exact(32)) {
        for (j, sum) in sum.iter_mut().enumerate() {
            for (l, s) in sum.iter_mut().enumerate() {
                *s = x[8 * j + l].mul_add(y[8 * j + l], *s);
            }
        }
    }
    (std::array::from_fn(|l| (sum[0][l] + sum[2][l]) + (sum[1][l] + sum[3][l])), n)
}

/// Eight lanes summed as `hadd(hadd(lo + hi))` does: ((0+4)+(1+5)) + ((2+6)+(3+7)).
#[inline(always)]
fn hadd8(l: &[f32; 8]) -> f32 {
    let t: [f32; 4] = std::array::from_fn(|k| l[k] + l[k + 4]);
    (t[0] + t[1]) + (t[2] + t[3])
}

#[inline(always)]
fn vec_dot_f32_lanes(a: &[f32], b: &[f32]) -> f32 {
    let (lanes, n) = four_accumulators(a, b);
    let mut sum = hadd8(&lanes);
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        sum += x * y;
    }
    sum
}

#[inline(always)]
fn vec_dot_f16_lanes(a: &[f32], b: &[f32]) -> f32 {
    let (lanes, n) = four_accumulators(a, b);
    let mut sum = hadd8(&lanes) as f64;
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        sum += (x * y) as f64;
    }
    sum as f32
}

#[inline(always)]
fn vec_dot_bf16_lanes(a: &[f32], b: &[f32]) -> f32 {
    let (lanes, n) = four_accumulators(a, b);
    let mut sum = hsum8(&lanes) as f64;
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        sum += (x * y) as f64;
    }
    sum as f32
}

/// The Q4_K block's integer dot product and min correction for one activation block.
#[inline]
pub(super) fn q4k_min_sum(scales: &[u8; 12], a: &BlockQ8K) -> i32 {
    let sm = q4k_scales_mins(scales);
    (0..8).map(|s| sm[8 + s] as i32 * (a.bsums[2 * s] as i32 + a.bsums[2 * s + 1] as i32)).sum()
}

pub mod portable {
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
                    let offset = y.bsums[2 * l] as i32 * x.scales[2 * l] as i32 + y.bsums[2 * l + 1] as i32 * x.scales[2 * l + 1] as i32;
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

    pub fn q5_1(w: &[BlockQ5_1], acts: &[&[BlockQ8_1]], out: &mut [f32]) {
        for (a, out) in acts.iter().zip(out.iter_mut()) {
            let (mut acc, mut summs) = ([0f32; 8], 0f32);
            for (x, y) in w.iter().zip(a.iter()) {
                summs = x.m.to_f32().mul_add(y.s.to_f32(), summs);
                let d = x.d.to_f32() * y.d.to_f32();
                for (l, acc) in acc.iter_mut().enumerate() {
                    let lane: i32 = (4 * l..4 * l + 4).map(|i| q5_1_value(x, i) as i32 * y.qs[i] as i32).sum();
                    *acc = (lane as f32).mul_add(d, *acc);
                }
            }
            *out = hsum8(&acc) + summs;
        }
    }

    pub fn q5_1_rows(w: &[BlockQ5_1], acts: &[&[BlockQ8_1]], kb: usize, stride: usize, out: &mut [f32]) {
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
