//! f32 products `x · Wᵀ + b` for the Marian engine's linear layers, with the weights packed once
//! at load time.
//!
//! candle's matmul packs the weight matrix again on every call: for the 53k-row output layer
//! that is a 108 MB copy per decoding step, and 8% of a beam-search run went to it. Here `W` is
//! stored as panels of [`NR`] output rows, column after column (`panel[k][r]`), so the kernel
//! reads it straight through: a tile of up to [`MR`] activation rows × 16 outputs lives in 12
//! AVX2 registers, and each step of `k` is two loads of weights, [`MR`] broadcasts and 12 FMAs.
//! The bias is the accumulators' starting value (as torch's `addmm` with `beta = 1` does).

use super::super::pool::{self, SharedOut};

/// Output rows per panel (two AVX2 vectors).
pub(super) const NR: usize = 16;
/// Activation rows per tile.
const MR: usize = 6;
/// Panels per parallel task.
const PANELS_PER_TASK: usize = 8;

/// A weight matrix `(rows, cols)` with its bias, packed for [`PackedLinear::forward`].
pub struct PackedLinear {
    rows: usize,
    cols: usize,
    /// `rows.div_ceil(NR)` panels of `cols × NR` values; rows past `rows` are zero.
    panels: Vec<f32>,
    /// `rows` rounded up to whole panels, zero past `rows`.
    bias: Vec<f32>,
}

/// Most rows a tile kernel takes at once.
const MAX_TILE_ROWS: usize = 8;

/// The `m × n` row-major output of a product computed by tiles: panels of [`NR`] outputs go to
/// parallel tasks ([`PANELS_PER_TASK`] each), and each panel's rows go by `mr` at a time.
/// `tile(p, i, rows, at, stride)` must write rows `i..i + rows` of panel `p`'s NR outputs, row
/// `r` at `at + r · stride`: straight into the output for whole panels, into a scratch tile
/// for the last panel when `n` is not a multiple of NR (then copied out, its `n mod NR`
/// columns only). Shared by the f32 and int8 products.
pub(super) fn panels_in_parallel(m: usize, n: usize, mr: usize, tile: impl Fn(usize, usize, usize, *mut f32, usize) + Sync) -> Vec<f32> {
    assert!((1..=MAX_TILE_ROWS).contains(&mr));
    // Not zeroed first: every element is written below (a 27 MB memset per decoding step for
    // the output layer otherwise).
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    if m == 0 {
        return out;
    }
    let ptr = SharedOut(out.as_mut_ptr());
    let n_panels = n.div_ceil(NR);
    let tasks: Vec<usize> = (0..n_panels).step_by(PANELS_PER_TASK).collect();
    pool::for_each(tasks, |first| {
        for p in first..(first + PANELS_PER_TASK).min(n_panels) {
            let cols = NR.min(n - p * NR);
            for i in (0..m).step_by(mr) {
                let rows = mr.min(m - i);
                if cols == NR {
                    // Rows i.. i + rows < m, columns p·NR.. p·NR + NR ≤ n; only this task writes
                    // panel p's columns, and `out` outlives the parallel region.
                    tile(p, i, rows, ptr.at(i * n + p * NR), n);
                    continue;
                }
                let mut scratch = [[0f32; NR]; MAX_TILE_ROWS];
                tile(p, i, rows, scratch.as_mut_ptr().cast(), NR);
                for (r, values) in scratch[..rows].iter().enumerate() {
                    // SAFETY: as above, for the `cols` columns of the last, partial panel.
                    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), ptr.at((i + r) * n + p * NR), cols) };
                }
            }
        }
    });
    // SAFETY: the tasks wrote all m × n elements: every panel, every row, its `cols` columns.
    unsafe { out.set_len(m * n) };
    out
}

impl PackedLinear {
    /// `weight` row-major `(rows, cols)`; `bias` of `rows` values, or none (zeros).
    pub fn new(weight: &[f32], bias: Option<&[f32]>, rows: usize, cols: usize) -> Self {
        assert_eq!(weight.len(), rows * cols);
        let n_panels = rows.div_ceil(NR);
        let mut panels = vec![0f32; n_panels * cols * NR];
        for (r, row) in weight.chunks_exact(cols).enumerate() {
            let panel = &mut panels[(r / NR) * cols * NR..][..cols * NR];
            for (k, &w) in row.iter().enumerate() {
                panel[k * NR + r % NR] = w;
            }
        }
        let mut padded = vec![0f32; n_panels * NR];
        if let Some(bias) = bias {
            padded[..rows].copy_from_slice(bias);
        }
        Self { rows, cols, panels, bias: padded }
    }

    /// `xs` (`m × cols`, row-major) → `m × rows`, row-major.
    pub fn forward(&self, xs: &[f32]) -> Vec<f32> {
        let (k, n) = (self.cols, self.rows);
        assert!(xs.len().is_multiple_of(k));
        panels_in_parallel(xs.len() / k, n, MR, |p, i, rows, at, stride| {
            let panel = &self.panels[p * k * NR..(p + 1) * k * NR];
            let bias = &self.bias[p * NR..(p + 1) * NR];
            // SAFETY: `panels_in_parallel` gives a tile of `rows` rows (1 to MR) of NR values at
            // `at`, `stride` apart.
            unsafe { kernel(&xs[i * k..(i + rows) * k], k, panel, bias, at, stride, rows) };
        })
    }
}

/// One tile of `rows` rows: `at[r·stride + j] = bias[j] + Σ_k xs[r][k] · panel[k][j]`.
/// Panics unless `rows` is 1 to [`MR`], `xs` holds `rows` rows of `k`, `panel` `k` steps of
/// [`NR`] and `bias` [`NR`] values.
///
/// # Safety
/// `at` must be valid for writing `rows` rows of [`NR`] values, `stride` apart.
unsafe fn kernel(xs: &[f32], k: usize, panel: &[f32], bias: &[f32], at: *mut f32, stride: usize, rows: usize) {
    assert!((1..=MR).contains(&rows), "a tile of {rows} rows");
    #[cfg(target_arch = "x86_64")]
    if crate::engine::cpu::simd_available() {
        // SAFETY: `simd_available` says AVX2 and FMA were detected; the kernel writes R =
        // `rows` rows (1 to MR, asserted above), for which `at` has room (the caller's
        // obligation); it asserts its slices' lengths itself.
        unsafe {
            return match rows {
                1 => x86::kernel::<1>(xs, k, panel, bias, at, stride),
                2 => x86::kernel::<2>(xs, k, panel, bias, at, stride),
                3 => x86::kernel::<3>(xs, k, panel, bias, at, stride),
                4 => x86::kernel::<4>(xs, k, panel, bias, at, stride),
                5 => x86::kernel::<5>(xs, k, panel, bias, at, stride),
                _ => x86::kernel::<6>(xs, k, panel, bias, at, stride),
            };
        }
    }
    for (r, x) in xs.chunks_exact(k).take(rows).enumerate() {
        let mut row = [0f32; NR];
        row.copy_from_slice(&bias[..NR]);
        for (&a, w) in x.iter().zip(panel.chunks_exact(NR)) {
            for (o, &w) in row.iter_mut().zip(w) {
                *o = a.mul_add(w, *o);
            }
        }
        // SAFETY: the caller's tile has room for row r < `rows` (`take(rows)`).
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), at.add(r * stride), NR) };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::NR;

    /// [`super::kernel`] for a tile of R rows. Panics unless `xs` holds R rows of `k`, `panel`
    /// `k` steps of [`NR`] and `bias` [`NR`] values.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `out` must be valid for writing R rows of [`NR`] values,
    /// `stride` apart.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel<const R: usize>(xs: &[f32], k: usize, panel: &[f32], bias: &[f32], out: *mut f32, stride: usize) {
        assert!(xs.len() >= R * k && panel.len() >= k * NR && bias.len() >= NR);
        // SAFETY: bias[0..16] (asserted).
        let (b0, b1) = unsafe { (_mm256_loadu_ps(bias.as_ptr()), _mm256_loadu_ps(bias.as_ptr().add(8))) };
        let mut acc = [[b0, b1]; R];
        let (x, w) = (xs.as_ptr(), panel.as_ptr());
        for kk in 0..k {
            // SAFETY: panel[kk·NR..kk·NR + 16], kk < k and k·NR <= panel.len() (asserted).
            let (w0, w1) = unsafe { (_mm256_loadu_ps(w.add(kk * NR)), _mm256_loadu_ps(w.add(kk * NR + 8))) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: xs[r·k + kk], r < R and kk < k, R·k <= xs.len() (asserted).
                let a = _mm256_broadcast_ss(unsafe { &*x.add(r * k + kk) });
                acc[0] = _mm256_fmadd_ps(a, w0, acc[0]);
                acc[1] = _mm256_fmadd_ps(a, w1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r < R of the caller's tile: NR = 16 values at out + r·stride.
            unsafe {
                _mm256_storeu_ps(out.add(r * stride), acc[0]);
                _mm256_storeu_ps(out.add(r * stride + 8), acc[1]);
            }
        }
    }
}

/// A ragged product problem for the kernels' tests: `m × cols` inputs `x`, a `rows × cols`
/// weight `w` with its bias `b`.
#[cfg(test)]
pub(super) type TestProblem = (usize, usize, usize, Vec<f32>, Vec<f32>, Vec<f32>);

#[cfg(test)]
pub(super) fn test_problems() -> Vec<TestProblem> {
    let value = |i: usize| ((i * 7919) % 23) as f32 / 7.0 - 1.5;
    [(1, 1, 1), (7, 17, 5), (13, 40, 64), (6, 16, 3), (5, 33, 7)]
        .into_iter()
        .map(|(m, rows, cols)| {
            let w = (0..rows * cols).map(value).collect();
            let b = (0..rows).map(|i| value(i + 3)).collect();
            (m, rows, cols, w, b, (0..m * cols).map(|i| value(i + 11)).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_a_plain_triple_loop_for_ragged_sizes() {
        for (m, rows, cols, w, b, x) in test_problems() {
            let got = PackedLinear::new(&w, Some(&b), rows, cols).forward(&x);
            for i in 0..m {
                for j in 0..rows {
                    let want: f64 = b[j] as f64 + (0..cols).map(|k| x[i * cols + k] as f64 * w[j * cols + k] as f64).sum::<f64>();
                    let got = got[i * rows + j] as f64;
                    assert!((got - want).abs() < 1e-4, "m={m} rows={rows} cols={cols} ({i},{j}): {got} vs {want}");
                }
            }
        }
    }
}
