//! Attention of a few queries per (batch, head) on the CPU, for decoding steps: one decoder
//! token per row against its self-attention cache, or the beams of an input against that
//! input's encoder states. Done as plain loops in parallel over (batch, head) instead of
//! thousands of tiny matrix products, each with its own dispatch.

use candle_core::{Storage, Tensor};

use crate::{Error, Result};

/// Runs `f` on the contiguous f32 data of `t` (on the CPU).
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => {
            let data = cpu.as_slice::<f32>()?;
            let start = layout.start_offset();
            f(&data[start..start + t.elem_count()])
        }
        _ => Err(Error::Candle(candle_core::Error::Msg("decoder attention runs on the CPU only".into()))),
    }
}

/// softmax(q k^T + mask) v for q (b, heads, nq, hd), k and v (b, heads, nk, hd) and an additive
/// mask (b, 1, 1, nk) or none; returns (b, heads, nq, hd). Scores are not scaled (the queries
/// are). Softmax as torch computes it in f32: `exp(x - max) / sum`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, heads, nq, hd) = q.dims4()?;
    let nk = k.dim(2)?;
    let mut out = vec![0f32; b * heads * nq * hd];
    with_data(q, |q| {
        with_data(k, |k| {
            with_data(v, |v| {
                let mut run = |mask: Option<&[f32]>| {
                    let tasks: Vec<_> = out.chunks_mut(nq * hd).enumerate().collect();
                    crate::engine::pool::for_each(tasks, |(bh, out)| {
                        let item = bh / heads;
                        let q = &q[bh * nq * hd..(bh + 1) * nq * hd];
                        let k = &k[bh * nk * hd..(bh + 1) * nk * hd];
                        let v = &v[bh * nk * hd..(bh + 1) * nk * hd];
                        let mask = mask.map(|m| &m[item * nk..(item + 1) * nk]);
                        let mut scores = vec![0f32; nk];
                        for (qi, out) in q.chunks_exact(hd).zip(out.chunks_exact_mut(hd)) {
                            for (j, (s, kj)) in scores.iter_mut().zip(k.chunks_exact(hd)).enumerate() {
                                *s = dot(qi, kj) + mask.map_or(0.0, |m| m[j]);
                            }
                            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                            let mut sum = 0f32;
                            for s in scores.iter_mut() {
                                *s = (*s - max).exp();
                                sum += *s;
                            }
                            for (s, vj) in scores.iter().zip(v.chunks_exact(hd)) {
                                let p = s / sum;
                                for (o, x) in out.iter_mut().zip(vj) {
                                    *o += p * x;
                                }
                            }
                        }
                    });
                };
                match mask {
                    Some(m) => with_data(m, |m| {
                        run(Some(m));
                        Ok(())
                    }),
                    None => {
                        run(None);
                        Ok(())
                    }
                }
            })
        })
    })?;
    Ok(Tensor::from_vec(out, (b, heads, nq, hd), q.device())?)
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
