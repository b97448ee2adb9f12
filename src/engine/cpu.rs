//! CPU helpers shared by the engines (the GGUF models' forward pass and Marian): the choice
//! between portable and AVX2 code, and float dot products and sums in ggml's order.

use half::f16;

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
                if $crate::engine::cpu::simd_available() {
                    // SAFETY: the features were detected on this CPU.
                    return unsafe { fast($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}

/// Dot product in eight lanes of fused multiply-adds, summed in ggml's order (`hsum8`), then the
/// elements past the last whole eight.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the features were detected on this CPU.
        return unsafe { avx2::dot_f32(a, b) };
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
    return avx2::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// ggml's `hsum_float_8`: (l0+l4, l1+l5, l2+l6, l3+l7), then (0+2, 1+3), then 0+1.
#[inline(always)]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    let (a0, a1, a2, a3) = (l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]);
    (a0 + a2) + (a1 + a3)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::hsum8;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c"))
    }

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
}
