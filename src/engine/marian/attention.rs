//! Multi-head attention on plain buffers: each query row against its own set of keys, found
//! through an index function, so one loop serves the encoder (keys of the same source, padding
//! left out), the decoder's cached self-attention (keys spread over decoding steps, followed
//! through a beam's lineage) and cross-attention (the encoder states of the row's input).

use crate::engine::pool;

/// Where the keys of one query row are.
pub struct Keys<'a, N, A> {
    /// K and V vectors (`d` wide each, V right after K).
    pub data: &'a [f32],
    /// How many keys row `r` attends to.
    pub count: N,
    /// Offset in `data` of row `r`'s `j`-th key.
    pub at: A,
}

/// `out[r] = concat over heads of softmax(q_h · k_hᵀ) v_h` for each query row `r` of `queries`
/// (`q_stride` apart, the first `d` values of each are the query; `out` is rows × `d`). Scores
/// are not scaled (the queries are). Softmax as torch computes it in f32: `exp(x - max) / sum`;
/// keys a row does not attend to (padding, the future) are left out, which is what torch's
/// `-inf` mask gives too. Dot products are not in torch's summation order: the parity tests
/// allow 1e-4 on scores.
pub fn attend<N, A>(queries: &[f32], q_stride: usize, d: usize, heads: usize, keys: &Keys<N, A>, out: &mut [f32])
where
    N: Fn(usize) -> usize + Sync,
    A: Fn(usize, usize) -> usize + Sync,
{
    let hd = d / heads;
    let tasks: Vec<_> = out.chunks_mut(d).enumerate().collect();
    pool::for_each(tasks, |(r, out)| {
        let q = &queries[r * q_stride..][..d];
        let n = (keys.count)(r);
        let offsets: Vec<usize> = (0..n).map(|j| (keys.at)(r, j)).collect();
        let mut scores = vec![0f32; n];
        for h in 0..heads {
            let (q, out) = (&q[h * hd..][..hd], &mut out[h * hd..][..hd]);
            head(q, keys.data, &offsets, h * hd, d, &mut scores, out);
        }
    });
}

/// One head of one query row: `out = Σⱼ softmax(q · kⱼ)ⱼ vⱼ`, `kⱼ` at `data[offsets[j] + at..]`,
/// `vⱼ` `d` further; `scores` has one slot per key.
fn head(q: &[f32], data: &[f32], offsets: &[usize], at: usize, d: usize, scores: &mut [f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if q.len().is_multiple_of(8) && crate::engine::cpu::simd_available() {
        let hd = q.len();
        assert_eq!(out.len(), hd, "attention output of another width than the query's");
        for &o in offsets {
            // (Saturating: a sum past usize::MAX fails the check instead of wrapping.)
            assert!(o.saturating_add(at).saturating_add(d).saturating_add(hd) <= data.len(), "attention key past its buffer");
        }
        // SAFETY: `simd_available` says AVX2 and FMA were detected; hd is a multiple of eight,
        // `out` holds hd values, and every K and V read is in bounds (checked above).
        return unsafe { x86::head(q, data, offsets, at, d, scores, out) };
    }
    head_portable(q, data, offsets, at, d, scores, out);
}

/// [`head`] without SIMD.
fn head_portable(q: &[f32], data: &[f32], offsets: &[usize], at: usize, d: usize, scores: &mut [f32], out: &mut [f32]) {
    let hd = q.len();
    for (s, &o) in scores.iter_mut().zip(offsets) {
        *s = crate::engine::cpu::dot_f32(q, &data[o + at..][..hd]);
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    out.fill(0.0);
    for (s, &o) in scores.iter().zip(offsets) {
        let p = s / sum;
        for (o, x) in out.iter_mut().zip(&data[o + at + d..][..hd]) {
            *o += p * x;
        }
    }
}

/// [`head`] in AVX2: the same steps with fused multiply-adds and ggml's vector exp.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::simd::x86::expf;

    /// [`super::head`] for a multiple of eight values per head.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `hd` = `q.len()` must be a multiple of 8, `out` hold at
    /// least `hd` values, and every offset `o` in `offsets` have `o + at + d + hd <=
    /// data.len()` (K is read at `o + at`, V at `o + at + d`, `hd` values each).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn head(q: &[f32], data: &[f32], offsets: &[usize], at: usize, d: usize, scores: &mut [f32], out: &mut [f32]) {
        let hd = q.len();
        let base = data.as_ptr();
        for (s, &o) in scores.iter_mut().zip(offsets) {
            // SAFETY: K starts inside `data` (the caller's bound on `o`).
            let k = unsafe { base.add(o + at) };
            let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0;
            while i + 16 <= hd {
                // SAFETY: i + 16 <= hd by the loop condition; q has hd values, K hd from `k`.
                let (x0, y0, x1, y1) = unsafe {
                    let (q, k) = (q.as_ptr().add(i), k.add(i));
                    (_mm256_loadu_ps(q), _mm256_loadu_ps(k), _mm256_loadu_ps(q.add(8)), _mm256_loadu_ps(k.add(8)))
                };
                a0 = _mm256_fmadd_ps(x0, y0, a0);
                a1 = _mm256_fmadd_ps(x1, y1, a1);
                i += 16;
            }
            if i < hd {
                // SAFETY: i + 8 <= hd, hd being a multiple of 8 (the caller's obligation).
                let (x0, y0) = unsafe { (_mm256_loadu_ps(q.as_ptr().add(i)), _mm256_loadu_ps(k.add(i))) };
                a0 = _mm256_fmadd_ps(x0, y0, a0);
            }
            *s = hsum(_mm256_add_ps(a0, a1));
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let n8 = scores.len() / 8 * 8;
        let (vmax, floor) = (_mm256_set1_ps(max), _mm256_set1_ps(-87.0));
        let mut vsum = _mm256_setzero_ps();
        for j in (0..n8).step_by(8) {
            // SAFETY: j + 8 <= n8 <= scores.len(), by the loop bound.
            let p = unsafe { scores.as_mut_ptr().add(j) };
            // SAFETY: eight values of `scores` at `p` (above).
            let e = expf(_mm256_max_ps(_mm256_sub_ps(unsafe { _mm256_loadu_ps(p) }, vmax), floor));
            // SAFETY: as for the load.
            unsafe { _mm256_storeu_ps(p, e) };
            vsum = _mm256_add_ps(vsum, e);
        }
        let mut sum = hsum(vsum);
        for s in &mut scores[n8..] {
            *s = (*s - max).exp();
            sum += *s;
        }
        out.fill(0.0);
        let o = out.as_mut_ptr();
        for (s, &off) in scores.iter().zip(offsets) {
            let p = _mm256_set1_ps(s / sum);
            // SAFETY: V starts inside `data` (the caller's bound on `off`).
            let v = unsafe { base.add(off + at + d) };
            for i in (0..hd).step_by(8) {
                // SAFETY: i + 8 <= hd (a multiple of 8): inside V's hd values and `out`'s
                // (at least hd, the caller's obligation).
                unsafe { _mm256_storeu_ps(o.add(i), _mm256_fmadd_ps(p, _mm256_loadu_ps(v.add(i)), _mm256_loadu_ps(o.add(i)))) };
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simd_head_agrees_with_the_portable_one() {
        let value = |i: usize| ((i * 7919) % 101) as f32 / 37.0 - 1.3;
        for (hd, n) in [(64, 1), (64, 9), (24, 17), (8, 3)] {
            let d = 2 * hd;
            let data: Vec<f32> = (0..(n + 2) * 2 * d).map(value).collect();
            let offsets: Vec<usize> = (0..n).map(|j| ((j * 5) % (n + 2)) * 2 * d).collect();
            let q: Vec<f32> = (0..hd).map(|i| value(i + 3)).collect();
            let (mut want, mut got) = (vec![0f32; hd], vec![0f32; hd]);
            head_portable(&q, &data, &offsets, hd, d, &mut vec![0.0; n], &mut want);
            head(&q, &data, &offsets, hd, d, &mut vec![0.0; n], &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "hd {hd} n {n}: {g} vs {w}");
            }
        }
    }
}
