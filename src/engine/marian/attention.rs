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
/// (`q_stride` apart, the first `d` values of each are the query; `out` is rows × `d`). Scores are not scaled (the
/// queries are). Softmax as torch computes it in f32: `exp(x - max) / sum`; keys a row does not
/// attend to (padding, the future) are left out, which is what torch's `-inf` mask gives too.
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
            for (s, &at) in scores.iter_mut().zip(&offsets) {
                *s = dot(q, &keys.data[at + h * hd..][..hd]);
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            out.fill(0.0);
            for (s, &at) in scores.iter().zip(&offsets) {
                let p = s / sum;
                for (o, x) in out.iter_mut().zip(&keys.data[at + d + h * hd..][..hd]) {
                    *o += p * x;
                }
            }
        }
    });
}

/// Dot product in eight independent lanes (a sequential sum does not vectorize), then the lanes
/// pairwise. Not torch's summation order, nor was the sequential one: both stay far inside the
/// 1e-4 the parity tests allow on scores.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().expect("8 lanes"), y.try_into().expect("8 lanes"));
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let [l0, l1, l2, l3, l4, l5, l6, l7] = lanes;
    ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) + tail
}
