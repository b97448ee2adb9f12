//! The dot-product kernels: weight row blocks against up to four (Q5_K, Q6_K: eight) activation
//! rows at once, each dispatched to its AVX2 version ([`super::avx2`]) where the CPU has it,
//! else to the portable one, which computes the same bits.

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::blocks::{
    q4k_scales_mins, BlockQ4K, BlockQ4Kx8, BlockQ4_0x8, BlockQ5K, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, MinBlock, SignedBlock,
};
use super::portable;
use crate::engine::cpu::{dot_f32, fused_mul_add, hsum};
use crate::lanes_dispatch;

/// Calls the AVX2 kernel specialised for the number of activation rows (1 to 4, or 1 to 8
/// when the call starts with `8:`), or the portable one, with `kernel(w, acts, extra..., out)`.
/// The caller has checked the lengths ([`check_rows`]).
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
            // SAFETY: the kernels' only precondition is their CPU features (their slices are
            // indexed with bounds checks), and `simd_available` is true only at a level whose
            // features were detected on this CPU (AVX2, FMA and F16C: see `cpu::level`).
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

/// For a batch of activation rows, returns the product through the first kernel whose CPU
/// condition holds (`vnni_available() => kernel, ...`), specialised for the number of rows
/// (those listed, else `$max`); falls through when none holds. Only for conditions that imply
/// the kernel's features: `vnni_available` (AVX2, FMA, F16C, AVX-512 VL and VNNI),
/// `avx_vnni_available` (AVX2, FMA, F16C and AVX-VNNI), `simd_available` (AVX2, FMA, F16C).
#[cfg(target_arch = "x86_64")]
macro_rules! batch_rows {
    ($rows:tt $max:literal; $($available:ident => $kernel:ident),+; $acts:ident, $args:tt) => {{
        $(
            if crate::engine::cpu::$available() {
                batch_rows!(@rows $rows $max; $kernel; $acts, $args);
            }
        )+
    }};
    (@rows [$($r:literal)*] $max:literal; $kernel:ident; $acts:ident, $args:tt) => {
        // SAFETY: the kernels' only precondition is their CPU features, which the condition
        // around this call detected on this CPU (see the macro's documentation).
        unsafe {
            return match $acts.len() {
                $($r => avx2::$kernel::<$r> $args,)*
                _ => avx2::$kernel::<$max> $args,
            };
        }
    };
}

/// The lengths every `*_rows` kernel below expects, asserted before it dispatches: 1 to
/// `max_acts` activation rows of `kb` blocks each, `w` whole weight rows (or interleaved groups)
/// of `kb` blocks, each giving `per_row` outputs (8 for a group), and room in `out` for the last
/// activation row's outputs, `stride` after the one before.
#[inline(always)]
fn check_rows<W, A>(w: &[W], acts: &[&[A]], kb: usize, stride: usize, per_row: usize, max_acts: usize, out: &[f32]) {
    assert!((1..=max_acts).contains(&acts.len()), "{} activation rows for a kernel of 1 to {max_acts}", acts.len());
    assert!(acts.iter().all(|a| a.len() == kb), "activation rows of other than {kb} blocks");
    assert!(kb > 0 && w.len().is_multiple_of(kb), "{} weight blocks are not whole rows of {kb}", w.len());
    let outputs = w.len() / kb * per_row;
    if outputs > 0 {
        let end = (acts.len() - 1).saturating_mul(stride).saturating_add(outputs);
        assert!(end <= out.len(), "{} outputs for {} activation rows of {outputs}, {stride} apart", out.len(), acts.len());
    }
}

// Non-interleaved formats, over consecutive weight rows of `kb` blocks each, weight row i
// writing activation row j's output at `out[j * stride + i]`: one dispatch for a whole run
// of rows (a decode step's output layer alone is 150k rows). `tiled[i]`: activation row i as
// llama.cpp's tiled K-quant matmul computes it.

pub fn q4k_rows(w: &[BlockQ4K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 1, 4, out);
    by_rows!(q4k_rows, w, acts, kb, stride; out)
}

/// Groups of eight interleaved rows; `gemm[i]`: fold activation row i's sums every pair of
/// sub-blocks, as llama.cpp's GEMM does.
pub fn q4kx8_rows(w: &[BlockQ4Kx8], acts: &[&[BlockQ8K]], kb: usize, stride: usize, gemm: [bool; 4], out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 8, 4, out);
    // VNNI for batches: a lone row's product is bound by memory, and there the AVX2 kernel
    // was as fast (decode steps of the 1.5B model, one thread).
    #[cfg(target_arch = "x86_64")]
    if acts.len() > 1 {
        batch_rows!([2 3] 4; vnni_available => q4kx8_vnni_rows, avx_vnni_available => q4kx8_avx_vnni_rows; acts, (w, acts, kb, stride, gemm, out));
    }
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
    check_rows(w, acts, kb, stride, 1, 8, out);
    by_rows!(8: q6k_rows, w, acts, kb, stride, tiled; out)
}

/// Q8_0, Q5_0 or Q4_0 weights ([`SignedBlock`]), each row computed as `ggml_vec_dot_q8_0_q8_0`
/// (`_q5_0_`, `_q4_0_`) computes it (and llamafile's tinyBLAS, which
/// llama.cpp uses for batches: the same lanes and order): per block, eight lanes of exact
/// four-byte sums, each folded into its f32 lane with one fused multiply-add by the product of
/// the two scales; the lanes summed in ggml's order. Batches go through tiles of weight rows
/// (VNNI's byte products where the CPU has them): the same sums.
pub fn q8_0_rows(w: &[impl SignedBlock], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 1, 4, out);
    #[cfg(target_arch = "x86_64")]
    if acts.len() > 1 {
        batch_rows!(
            [2 3] 4;
            vnni_available => q8_0_vnni_rows, avx_vnni_available => q8_0_avx_vnni_rows, simd_available => q8_0_tiled_rows;
            acts, (w, acts, kb, stride, out)
        );
    }
    by_rows!(q8_0_rows, w, acts, kb, stride; out)
}

/// `tiled[i]`: activation row i as llama.cpp's tiled K-quant matmul computes it, else as
/// `ggml_vec_dot_q5_K_q8_K`.
pub fn q5k_rows(w: &[BlockQ5K], acts: &[&[BlockQ8K]], kb: usize, stride: usize, tiled: [bool; 8], out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 1, 8, out);
    // VNNI for batches (a lone row's product is bound by memory). Not for Q6_K: its 16-bit
    // pairs through `vpdpwssd` measured slower than AVX2's multiply-add and add.
    #[cfg(target_arch = "x86_64")]
    if acts.len() > 1 {
        batch_rows!([2 3 4 5 6 7] 8; vnni_available => q5k_vnni_rows, avx_vnni_available => q5k_avx_vnni_rows; acts, (w, acts, kb, stride, tiled, out));
    }
    by_rows!(8: q5k_rows, w, acts, kb, stride, tiled; out)
}

/// Each row computed as `ggml_vec_dot_q5_1_q8_1` (and `_q4_1_`, the same arithmetic) computes
/// it: per block, eight lanes of four exact products, each folded into its f32 lane with one
/// fused multiply-add by the product of the two scales; the mins times the activation sums
/// accumulated apart in one scalar with fused multiply-adds; the lanes summed in ggml's order,
/// then that scalar added.
pub fn q5_1_rows(w: &[impl MinBlock], acts: &[&[BlockQ8_1]], kb: usize, stride: usize, out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 1, 4, out);
    by_rows!(q5_1_rows, w, acts, kb, stride; out)
}

/// Groups of eight interleaved rows, each row computed as llama.cpp's repacked Q4_0 kernels
/// compute it (`gemv/gemm_q4_0_8x8_q8_0`, which round alike): per block of 32 values the exact
/// integer dot product, folded into one f32 accumulator with one fused multiply-add by the
/// product of the two scales.
pub fn q4_0x8_rows(w: &[BlockQ4_0x8], acts: &[&[BlockQ8_0]], kb: usize, stride: usize, out: &mut [f32]) {
    check_rows(w, acts, kb, stride, 8, 4, out);
    by_rows!(q4_0x8_rows, w, acts, kb, stride; out)
}

// ggml's dot products of float rows (`ggml_vec_dot_f32/_f16/_bf16`), which llama.cpp uses for a
// lone row (a batch of two or more goes through llamafile's tinyBLAS instead: [`tinyblas_dot`]),
// in the `L` lanes of its float vectors on this CPU (`cpu::float_lanes`: 8 in its AVX2 build, 16
// in its AVX-512 build). The 16-bit types' values are given as f32 (exact).

lanes_dispatch! {
    /// `ggml_vec_dot_f32`: four `L`-lane accumulators over steps of 4L, added (0+2)+(1+3), the
    /// lanes summed (eight pairwise with `hadd`, sixteen as [`hsum`]), then the elements past
    /// the last step in f32.
    pub fn vec_dot_f32(a: &[f32], b: &[f32]) -> f32 = vec_dot_f32_lanes;
}

lanes_dispatch! {
    /// `ggml_vec_dot_f16`: [`vec_dot_f32`]'s order, with the elements past the last step
    /// added in f64.
    pub fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 = vec_dot_f16_lanes;
}

lanes_dispatch! {
    /// `ggml_vec_dot_bf16`: in eight lanes, four accumulators over steps of 32 added
    /// (0+2)+(1+3) and summed as [`hsum8`]; in sixteen, two accumulators over steps of 32, each
    /// summed as [`hsum`] and added in f64; then the rest in f64.
    pub fn vec_dot_bf16(a: &[f32], b: &[f32]) -> f32 = vec_dot_bf16_lanes;
}

lanes_dispatch! {
    /// llamafile's tinyBLAS, one output: one accumulator of `L` lanes of fused multiply-adds,
    /// summed as [`hsum`], then the elements past the last whole `L` (tinyBLAS takes only
    /// widths that are multiples of `L`).
    pub fn tinyblas_dot(a: &[f32], b: &[f32]) -> f32 = tinyblas_dot_lanes;
}

/// [`tinyblas_dot`] for code already compiled for its level.
#[inline(always)]
pub fn tinyblas_dot_lanes<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    if L == 8 {
        return dot_f32(a, b);
    }
    let mut lanes = [0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            // `mul_add`: this width runs only in code compiled with FMA.
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    let mut sum = hsum::<L>(&lanes);
    for (x, y) in ar.iter().zip(br) {
        sum = fused_mul_add(*x, *y, sum);
    }
    sum
}

/// The `A` accumulators of `L` lanes of ggml's float dot products over the whole steps of
/// `A·L`, each a chain of fused multiply-adds; and the length they cover.
#[inline(always)]
fn accumulators<const A: usize, const L: usize>(a: &[f32], b: &[f32]) -> ([[f32; L]; A], usize) {
    let n = a.len().min(b.len()) / (A * L) * (A * L);
    let mut sum = [[0f32; L]; A];
    for (x, y) in a[..n].chunks_exact(A * L).zip(b[..n].chunks_exact(A * L)) {
        for (j, sum) in sum.iter_mut().enumerate() {
            for (l, s) in sum.iter_mut().enumerate() {
                *s = x[L * j + l].mul_add(y[L * j + l], *s);
            }
        }
    }
    (sum, n)
}

/// Four accumulators added (0+2)+(1+3), lane by lane.
#[inline(always)]
fn fold4<const L: usize>(sum: &[[f32; L]; 4]) -> [f32; L] {
    std::array::from_fn(|l| (sum[0][l] + sum[2][l]) + (sum[1][l] + sum[3][l]))
}

/// The lanes of `GGML_F32_VEC_REDUCE`: eight summed as `hadd(hadd(lo + hi))` does,
/// ((0+4)+(1+5)) + ((2+6)+(3+7)); sixteen as `_mm512_reduce_add_ps` ([`hsum`]).
#[inline(always)]
pub(crate) fn reduce_lanes<const L: usize>(l: &[f32; L]) -> f32 {
    if L == 16 {
        return hsum::<L>(l);
    }
    let t: [f32; 4] = std::array::from_fn(|k| l[k] + l[k + 4]);
    (t[0] + t[1]) + (t[2] + t[3])
}

#[inline(always)]
fn vec_dot_f32_lanes<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    let (sum, n) = accumulators::<4, L>(a, b);
    let mut sum = reduce_lanes::<L>(&fold4(&sum));
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        sum += x * y;
    }
    sum
}

#[inline(always)]
fn vec_dot_f16_lanes<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    let (sum, n) = accumulators::<4, L>(a, b);
    let mut sum = reduce_lanes::<L>(&fold4(&sum)) as f64;
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        sum += (x * y) as f64;
    }
    sum as f32
}

#[inline(always)]
fn vec_dot_bf16_lanes<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    let (mut sum, n) = if L == 16 {
        let (sum, n) = accumulators::<2, L>(a, b);
        (hsum::<L>(&sum[0]) as f64 + hsum::<L>(&sum[1]) as f64, n)
    } else {
        let (sum, n) = accumulators::<4, L>(a, b);
        (hsum::<L>(&fold4(&sum)) as f64, n)
    };
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
