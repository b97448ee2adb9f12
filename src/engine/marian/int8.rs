//! Int8 products `x · Wᵀ + b` for the Marian engine's `--int8` path, in CTranslate2's scheme:
//! each weight row quantized to int8 with its own scale (`max |w| / 127`), each input row
//! likewise at every product, sums of integer products in exact i32, then one float scaling per
//! output.
//!
//! AVX2's byte product (`maddubs`) is unsigned × signed and sums pairs into i16, saturating.
//! Inputs are therefore quantized to 7 bits (`max |x| / 63`, as FBGEMM's `reduce_range` does on
//! CPUs without VNNI) and offset by 64 to be unsigned: 127 · 127 · 2 fits i16, and the offset's
//! share, `64 · Σ_k w[k]`, is taken back per output row. Weights are packed in panels of [`NR`]
//! output rows, four inputs at a time: one 32-byte vector holds 4 inputs of 8 rows, so `madd`
//! with ones leaves one i32 per output row.

use super::super::pool;
use super::gemm::{panels_in_parallel, NR};

/// Input rows per tile.
const MR: usize = 4;

pub struct Int8Linear {
    rows: usize,
    cols: usize,
    /// Inputs rounded up to a multiple of four (zeros past `cols`).
    cols4: usize,
    /// Per panel, per group of four inputs: 16 rows × 4 bytes (row-major within the group).
    weights: Vec<i8>,
    /// Per row (padded to whole panels): `64 · Σ_k w[k]`, the input offset's share.
    offsets: Vec<i32>,
    /// Per row (padded to whole panels): its weights' scale.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

/// The scale of a row quantized to integers in ±`max_q` (`max |x| / max_q`), and its inverse
/// (0 for an all-zero row).
fn row_scale(xs: &[f32], max_q: f32) -> (f32, f32) {
    let max = xs.iter().fold(0f32, |m, x| m.max(x.abs()));
    (max / max_q, if max > 0.0 { max_q / max } else { 0.0 })
}

/// `x` quantized with the inverse scale `inv`, rounding to nearest, within ±`max_q`.
fn quantize(x: f32, inv: f32, max_q: f32) -> i8 {
    (x * inv).round().clamp(-max_q, max_q) as i8
}

/// Quantizes `xs` to integers in ±`max_q` with one scale; returns the scale.
fn quantize_row(xs: &[f32], max_q: f32, out: &mut [i8]) -> f32 {
    let (scale, inv) = row_scale(xs, max_q);
    for (q, &x) in out.iter_mut().zip(xs) {
        *q = quantize(x, inv, max_q);
    }
    scale
}

/// Input offset that makes 7-bit inputs unsigned.
const INPUT_OFFSET: i32 = 64;

/// An input row for the kernel: 7-bit values plus [`INPUT_OFFSET`], as bytes; returns the scale.
fn quantize_input(xs: &[f32], out: &mut [u8]) -> f32 {
    let (scale, inv) = row_scale(xs, 63.0);
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = (quantize(x, inv, 63.0) as i32 + INPUT_OFFSET) as u8;
    }
    scale
}

impl Int8Linear {
    /// `weight` row-major `(rows, cols)`; `bias` of `rows` values.
    pub fn new(weight: &[f32], bias: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(weight.len(), rows * cols);
        let cols4 = cols.next_multiple_of(4);
        let n_panels = rows.div_ceil(NR);
        let mut weights = vec![0i8; n_panels * NR * cols4];
        let mut scales = vec![0f32; n_panels * NR];
        let mut offsets = vec![0i32; n_panels * NR];
        let mut row_q = vec![0i8; cols];
        for (r, row) in weight.chunks_exact(cols).enumerate() {
            scales[r] = quantize_row(row, 127.0, &mut row_q);
            offsets[r] = INPUT_OFFSET * row_q.iter().map(|&q| q as i32).sum::<i32>();
            let panel = &mut weights[(r / NR) * NR * cols4..][..NR * cols4];
            for (k, &q) in row_q.iter().enumerate() {
                panel[(k / 4) * NR * 4 + (r % NR) * 4 + k % 4] = q;
            }
        }
        let mut padded = vec![0f32; n_panels * NR];
        padded[..rows].copy_from_slice(bias);
        Self { rows, cols, cols4, weights, offsets, scales, bias: padded }
    }

    /// `xs` (`m × cols`, row-major) → `m × rows`, row-major.
    pub fn forward(&self, xs: &[f32]) -> Vec<f32> {
        let (k, k4, n) = (self.cols, self.cols4, self.rows);
        assert!(xs.len().is_multiple_of(k));
        let m = xs.len() / k;
        let mut acts = vec![INPUT_OFFSET as u8; m * k4];
        let mut act_scales = vec![0f32; m];
        let rows: Vec<_> = xs.chunks_exact(k).zip(acts.chunks_exact_mut(k4)).zip(&mut act_scales).collect();
        pool::for_each(rows, |((x, q), s)| *s = quantize_input(x, q));
        panels_in_parallel(m, n, MR, |p, i, rows, at, stride| {
            let w = &self.weights[p * NR * k4..][..NR * k4];
            let (scales, bias) = (&self.scales[p * NR..][..NR], &self.bias[p * NR..][..NR]);
            let offsets = &self.offsets[p * NR..][..NR];
            let (acts, act_scales) = (&acts[i * k4..(i + rows) * k4], &act_scales[i..i + rows]);
            // SAFETY: `panels_in_parallel` gives a tile of `rows` rows (1 to MR) of NR values at
            // `at`, `stride` apart.
            unsafe { tile_product(acts, act_scales, k4, w, offsets, scales, bias, at, stride, rows) };
        })
    }
}

/// Row `r` of the tile, at `at + r · stride`:
/// `bias[j] + act_scales[r] · scales[j] · (Σ_k acts[r][k] · w[k][j] - offsets[j])`.
/// Panics unless `rows` is 1 to [`MR`] and the slices hold `rows` rows of `k4` inputs and their
/// scales, `k4 / 4` groups of [`NR`] × 4 weights, and [`NR`] offsets, scales and biases.
///
/// # Safety
/// `at` must be valid for writing `rows` rows of [`NR`] values, `stride` apart.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_product(
    acts: &[u8],
    act_scales: &[f32],
    k4: usize,
    w: &[i8],
    offsets: &[i32],
    scales: &[f32],
    bias: &[f32],
    at: *mut f32,
    stride: usize,
    rows: usize,
) {
    assert!((1..=MR).contains(&rows), "a tile of {rows} rows");
    #[cfg(target_arch = "x86_64")]
    if crate::engine::cpu::vnni_available() {
        let args = (acts, act_scales, k4, w, offsets, scales, bias, at, stride);
        // SAFETY: `vnni_available` says AVX2, FMA and AVX-512 F/BW/VL/VNNI were detected (it
        // implies `Level::Avx512`); the kernel writes R = `rows` rows (1 to MR, asserted
        // above), for which `at` has room (the caller's obligation); it asserts its slices'
        // lengths itself.
        unsafe {
            return match rows {
                1 => x86::tile_vnni::<1>(args),
                2 => x86::tile_vnni::<2>(args),
                3 => x86::tile_vnni::<3>(args),
                _ => x86::tile_vnni::<4>(args),
            };
        }
    }
    #[cfg(target_arch = "x86_64")]
    if crate::engine::cpu::simd_available() {
        let args = (acts, act_scales, k4, w, offsets, scales, bias, at, stride);
        // SAFETY: `simd_available` says AVX2 and FMA were detected; the rest as above.
        unsafe {
            return match rows {
                1 => x86::tile::<1>(args),
                2 => x86::tile::<2>(args),
                3 => x86::tile::<3>(args),
                _ => x86::tile::<4>(args),
            };
        }
    }
    for r in 0..rows {
        let a = &acts[r * k4..(r + 1) * k4];
        for j in 0..NR {
            let sum: i32 = (0..k4).map(|k| a[k] as i32 * w[(k / 4) * NR * 4 + j * 4 + k % 4] as i32).sum();
            // SAFETY: the caller's tile has room for row r < `rows`, j < NR.
            unsafe { *at.add(r * stride + j) = bias[j] + act_scales[r] * scales[j] * (sum - offsets[j]) as f32 };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::NR;

    /// [`super::tile_product`]'s arguments but the row count.
    pub type Args<'a> = (&'a [u8], &'a [f32], usize, &'a [i8], &'a [i32], &'a [f32], &'a [f32], *mut f32, usize);

    /// [`super::tile_product`] for a tile of R rows, with its panics.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `out` must be valid for writing R rows of [`NR`] values,
    /// `stride` apart.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile<const R: usize>((acts, act_scales, k4, w, offsets, scales, bias, out, stride): Args) {
        assert!(acts.len() >= R * k4 && w.len() >= NR * k4);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let (a, wp) = (acts.as_ptr(), w.as_ptr());
        for q in 0..k4 / 4 {
            // SAFETY: w[64q..64q + 64], q < k4 / 4 and NR·k4 = 16·k4 <= w.len() (asserted).
            let (w0, w1) = unsafe { (_mm256_loadu_si256(wp.add(q * 64).cast()), _mm256_loadu_si256(wp.add(q * 64 + 32).cast())) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: acts[r·k4 + 4q..+4], r < R and 4q + 4 <= k4, R·k4 <= acts.len()
                // (asserted).
                let x = _mm256_set1_epi32(unsafe { a.add(r * k4 + q * 4).cast::<i32>().read_unaligned() });
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
            }
        }
        // SAFETY: `out` as the caller guarantees.
        unsafe { finish::<R>(&acc, act_scales, offsets, scales, bias, out, stride) }
    }

    /// [`tile`] with AVX-512 VNNI: a group of four inputs of all sixteen rows is one 512-bit
    /// vector, and `vpdpbusd` adds each row's four byte products to its 32-bit lane in one
    /// instruction. The same exact sums (inputs are 7-bit here too), so the same outputs.
    ///
    /// # Safety
    /// The CPU must have AVX2, FMA and AVX-512 F/BW/VL/VNNI; `out` as for [`tile`].
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn tile_vnni<const R: usize>((acts, act_scales, k4, w, offsets, scales, bias, out, stride): Args) {
        assert!(acts.len() >= R * k4 && w.len() >= NR * k4);
        let mut acc = [_mm512_setzero_si512(); R];
        let (a, wp) = (acts.as_ptr(), w.as_ptr());
        for q in 0..k4 / 4 {
            // SAFETY: w[64q..64q + 64], q < k4 / 4 and NR·k4 = 16·k4 <= w.len() (asserted).
            let w = unsafe { _mm512_loadu_si512(wp.add(q * 64).cast()) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: acts[r·k4 + 4q..+4], r < R and 4q + 4 <= k4, R·k4 <= acts.len()
                // (asserted).
                let x = _mm512_set1_epi32(unsafe { a.add(r * k4 + q * 4).cast::<i32>().read_unaligned() });
                *acc = _mm512_dpbusd_epi32(*acc, x, w);
            }
        }
        let halves: [[__m256i; 2]; R] = std::array::from_fn(|r| [_mm512_castsi512_si256(acc[r]), _mm512_extracti64x4_epi64::<1>(acc[r])]);
        // SAFETY: `out` as the caller guarantees.
        unsafe { finish::<R>(&halves, act_scales, offsets, scales, bias, out, stride) }
    }

    /// Each tile row's sums (rows 0-7 and 8-15) less the offsets, scaled, plus the bias.
    /// Panics unless `act_scales` holds R values and `offsets`, `scales` and `bias` [`NR`].
    ///
    /// # Safety
    /// `out` must be valid for writing R rows of [`NR`] values, `stride` apart.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn finish<const R: usize>(
        acc: &[[__m256i; 2]; R],
        act_scales: &[f32],
        offsets: &[i32],
        scales: &[f32],
        bias: &[f32],
        out: *mut f32,
        stride: usize,
    ) {
        assert!(act_scales.len() >= R && offsets.len() >= NR && scales.len() >= NR && bias.len() >= NR);
        // SAFETY: the first NR = 16 values of `offsets`, `scales` and `bias` (asserted).
        let (o0, o1, s0, s1, b0, b1) = unsafe {
            (
                _mm256_loadu_si256(offsets.as_ptr().cast()),
                _mm256_loadu_si256(offsets.as_ptr().add(8).cast()),
                _mm256_loadu_ps(scales.as_ptr()),
                _mm256_loadu_ps(scales.as_ptr().add(8)),
                _mm256_loadu_ps(bias.as_ptr()),
                _mm256_loadu_ps(bias.as_ptr().add(8)),
            )
        };
        for (r, acc) in acc.iter().enumerate() {
            let sa = _mm256_set1_ps(act_scales[r]);
            let y0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[0], o0)), _mm256_mul_ps(sa, s0), b0);
            let y1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[1], o1)), _mm256_mul_ps(sa, s1), b1);
            // SAFETY: row r < R of the caller's tile: NR = 16 values at out + r·stride.
            unsafe {
                _mm256_storeu_ps(out.add(r * stride), y0);
                _mm256_storeu_ps(out.add(r * stride + 8), y1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_the_dequantized_triple_loop() {
        for (m, rows, cols, w, b, x) in super::super::gemm::test_problems() {
            let got = Int8Linear::new(&w, &b, rows, cols).forward(&x);
            let (mut wq, mut xq) = (vec![0i8; cols], vec![0i8; cols]);
            for i in 0..m {
                let sx = quantize_row(&x[i * cols..(i + 1) * cols], 63.0, &mut xq);
                for j in 0..rows {
                    let sw = quantize_row(&w[j * cols..(j + 1) * cols], 127.0, &mut wq);
                    let sum: i32 = xq.iter().zip(&wq).map(|(&a, &b)| a as i32 * b as i32).sum();
                    let want = b[j] as f64 + sx as f64 * sw as f64 * sum as f64;
                    let got = got[i * rows + j] as f64;
                    assert!((got - want).abs() < 1e-4, "m={m} rows={rows} cols={cols} ({i},{j}): {got} vs {want}");
                }
            }
        }
    }

    /// The VNNI tile against the AVX2 one, bit for bit, with inputs and weights at the ends
    /// of their ranges (runs where the CPU has AVX-512 VNNI).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vnni_tile_gives_the_bits_of_the_avx2_tile() {
        if !(is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && crate::engine::cpu::simd_available())
        {
            return;
        }
        let (rows, cols) = (NR, 96);
        // Weights with a row of extremes, inputs with values at ±max: offset 7-bit inputs 1 and 127.
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| {
                if i < cols {
                    if i % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                } else {
                    ((i * 7919 % 255) as f32 - 127.0) / 31.0
                }
            })
            .collect();
        let b: Vec<f32> = (0..rows).map(|j| j as f32 / 7.0).collect();
        let lin = Int8Linear::new(&w, &b, rows, cols);
        let k4 = lin.cols4;
        let xs: Vec<f32> = (0..MR * cols)
            .map(|i| {
                if i % 5 == 0 {
                    3.0
                } else if i % 5 == 1 {
                    -3.0
                } else {
                    ((i * 104729 % 201) as f32 - 100.0) / 40.0
                }
            })
            .collect();
        let mut acts = vec![INPUT_OFFSET as u8; MR * k4];
        let mut act_scales = vec![0f32; MR];
        for ((x, q), s) in xs.chunks_exact(cols).zip(acts.chunks_exact_mut(k4)).zip(&mut act_scales) {
            *s = quantize_input(x, q);
        }
        assert!(acts.contains(&1) && acts.contains(&127));
        let args = |out: &mut Vec<f32>| {
            (&acts[..], &act_scales[..], k4, &lin.weights[..], &lin.offsets[..], &lin.scales[..], &lin.bias[..], out.as_mut_ptr(), NR)
        };
        let (mut avx2, mut vnni) = (vec![0f32; MR * NR], vec![0f32; MR * NR]);
        // SAFETY: the features were detected above; each output holds MR rows of NR values.
        unsafe {
            x86::tile::<MR>(args(&mut avx2));
            x86::tile_vnni::<MR>(args(&mut vnni));
        }
        assert_eq!(avx2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), vnni.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}
