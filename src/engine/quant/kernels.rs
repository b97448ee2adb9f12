//! The dot-product kernels: weight row blocks against up to four (Q5_K, Q6_K: eight) activation
//! rows at once, each dispatched to its AVX2 version ([`super::avx2`]) where the CPU has it,
//! else to the portable one, which computes the same bits.

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::blocks::{q4k_scales_mins, BlockQ4K, BlockQ4Kx8, BlockQ4_0x8, BlockQ5K, BlockQ6K, BlockQ8K, BlockQ8_0};
use super::portable;

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

/// Groups of eight interleaved rows, each row computed as llama.cpp's repacked Q4_0 kernels
/// compute it (`gemv/gemm_q4_0_8x8_q8_0`, which round alike): per block of 32 values the exact
/// integer dot product, folded into one f32 accumulator with one fused multiply-add by the
/// product of the two scales.
pub fn q4_0x8_rows(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    by_rows!(q4_0x8_rows, w, acts, kb, stride; out)
}

/// The Q4_K block's integer dot product and min correction for one activation block.
#[inline]
pub(super) fn q4k_min_sum(scales: &[u8; 12], a: &BlockQ8K) -> i32 {
    let sm = q4k_scales_mins(scales);
    (0..8).map(|s| sm[8 + s] as i32 * (a.bsums[2 * s] as i32 + a.bsums[2 * s + 1] as i32)).sum()
}
