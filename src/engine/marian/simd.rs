//! AVX2 helpers of the Marian engine (the portable build is SSE2 only): exp and the swish
//! activation. Callers compiled without AVX2 and FMA check `cpu::simd_available()` first.

/// `xs = xs * sigmoid(xs)` (swish / SiLU), as `x / (1 + exp(-x))` with ggml's vector exp
/// (about 1.5 ulp; torch's own vector exp is not libm's either).
pub fn silu_in_place(xs: &mut [f32]) {
    let portable = |x: &mut f32| *x = *x / (1.0 + (-*x).exp());
    #[cfg(target_arch = "x86_64")]
    if crate::engine::cpu::simd_available() {
        let n8 = xs.len() / 8 * 8;
        // SAFETY: `x86::silu` needs only AVX2 and FMA, which `simd_available` says were
        // detected.
        unsafe { x86::silu(&mut xs[..n8]) };
        xs[n8..].iter_mut().for_each(portable);
        return;
    }
    xs.iter_mut().for_each(portable);
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use std::arch::x86_64::*;

    /// [`super::silu_in_place`] on a multiple of eight values (panics otherwise). exp's argument
    /// is clamped to [-87, 87], where the fast path of `expf` holds: past it swish is `x` or ±0
    /// within 1e-35.
    #[target_feature(enable = "avx2,fma")]
    pub fn silu(xs: &mut [f32]) {
        assert!(xs.len().is_multiple_of(8));
        let (lo, hi, one) = (_mm256_set1_ps(-87.0), _mm256_set1_ps(87.0), _mm256_set1_ps(1.0));
        for i in (0..xs.len()).step_by(8) {
            // SAFETY: i + 8 <= xs.len(), a multiple of eight (asserted), by the loop bound.
            let p = unsafe { xs.as_mut_ptr().add(i) };
            // SAFETY: `p` points to eight values of `xs` (above).
            let x = unsafe { _mm256_loadu_ps(p) };
            let e = expf(_mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), lo), hi));
            // SAFETY: as for the load.
            unsafe { _mm256_storeu_ps(p, _mm256_div_ps(x, _mm256_add_ps(one, e))) };
        }
    }

    /// ggml's `ggml_v_expf` for arguments in [-87, 87] (no overflow or underflow branch needed).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn expf(x: __m256) -> __m256 {
        let r = _mm256_set1_ps(f32::from_bits(0x4b40_0000)); // 0x1.8p23
        let z = _mm256_fmadd_ps(x, _mm256_set1_ps(f32::from_bits(0x3fb8_aa3b)), r); // log2(e)
        let n = _mm256_sub_ps(z, r);
        let b = _mm256_fnmadd_ps(
            n,
            _mm256_set1_ps(f32::from_bits(0x35bf_be8e)),                         // 0x1.7f7d1cp-20
            _mm256_fnmadd_ps(n, _mm256_set1_ps(f32::from_bits(0x3f31_7200)), x), // 0x1.62e4p-1
        );
        let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
        let k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0))));
        let u = _mm256_mul_ps(b, b);
        let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
        let j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)), // 0x1.0e402p-7, 0x1.573e2ep-5
                u,
                _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)), // 0x1.555e66p-3, 0x1.fffdb6p-2
            ),
            u,
            _mm256_mul_ps(c(0x3f7f_fff6), b), // 0x1.ffffecp-1
        );
        _mm256_fmadd_ps(j, k, k)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vector_swish_agrees_with_the_formula_over_the_whole_range() {
        let mut xs: Vec<f32> = (0..803).map(|i| (i as f32 - 401.0) * 0.3).collect();
        let want: Vec<f64> = xs.iter().map(|&x| x as f64 / (1.0 + (-x as f64).exp())).collect();
        super::silu_in_place(&mut xs);
        for (g, w) in xs.iter().zip(&want) {
            assert!((*g as f64 - w).abs() <= 1e-6 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }
}
