//! Time of the quantized matrix products at the CPU level the process runs at (`PRECIS_CPU`,
//! default the highest this CPU supports), on weights of the shapes of Qwen2.5 1.5B's attention
//! output (1536 x 1536) and feed-forward up projection (8960 x 1536): one activation row, as in
//! decoding, and 32, as in a prompt. `scripts/bench-kernels.sh` runs it at every level and
//! prints the ratios.
//!
//! `cargo bench --bench kernels [-- FILTER]`: one line of JSON per product (median and shortest
//! time; threads as rayon's, `RAYON_NUM_THREADS`).

use std::time::{Duration, Instant};

use half::f16;
use precis::engine::cpu;
use precis::engine::quant::{Kind, QMatrix, RowMode};

/// Block size in weights, bytes per block, and the byte offsets of the block's f16 scales.
fn layout(kind: Kind) -> (usize, usize, &'static [usize]) {
    match kind {
        Kind::Q4K => (256, 144, &[0, 2]),
        Kind::Q5K => (256, 176, &[0, 2]),
        Kind::Q6K => (256, 210, &[208]),
        Kind::Q8_0 => (32, 34, &[0]),
        Kind::Q4_0 => (32, 18, &[0]),
        Kind::Q5_0 => (32, 22, &[0]),
        Kind::Q4_1 => (32, 20, &[0, 2]),
        Kind::Q5_1 => (32, 24, &[0, 2]),
        _ => unreachable!("not a block type"),
    }
}

/// Random blocks whose scales are small finite f16 values.
fn matrix(kind: Kind, rows: usize, cols: usize, seed: &mut u64) -> QMatrix {
    let (block, size, scales) = layout(kind);
    let mut bytes: Vec<u8> = (0..rows * cols / block * size)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 32) as u8
        })
        .collect();
    for b in bytes.chunks_exact_mut(size) {
        let scale = f16::from_f32(0.001 + (b[size / 2] as f32) * 1e-5).to_le_bytes();
        for &o in scales {
            b[o..o + 2].copy_from_slice(&scale);
        }
    }
    QMatrix::from_blocks(kind, rows, cols, &bytes).expect("valid blocks")
}

/// Median and shortest time of `f` over runs filling about a second.
fn time(mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_micros(1));
    let runs = (Duration::from_secs(1).as_secs_f64() / once.as_secs_f64()).clamp(3.0, 1000.0) as usize;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[runs / 2], times[0])
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let kinds = [Kind::Q4K, Kind::Q6K, Kind::Q5K, Kind::Q8_0, Kind::Q4_0, Kind::Q5_0, Kind::Q4_1];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for kind in kinds {
        for (rows, cols) in [(1536, 1536), (8960, 1536)] {
            let w = matrix(kind, rows, cols, &mut seed);
            for m in [1, 32] {
                if !format!("{kind:?} {rows}x{cols} m{m}").contains(&filter) {
                    continue;
                }
                let xs: Vec<f32> = (0..m * cols).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
                let mode = RowMode { gemm: m >= 4, tiled: m >= 8, sgemm: m >= 2 };
                let modes = vec![mode; m];
                let (t, fastest) = time(|| {
                    std::hint::black_box(w.matmul_rows(&xs, &modes));
                });
                let weights_per_s = (rows * cols * m) as f64 / t.as_secs_f64();
                println!(
                    "{{\"level\":\"{}\",\"kind\":\"{kind:?}\",\"rows\":{rows},\"cols\":{cols},\"m\":{m},\"us\":{:.1},\"us_min\":{:.1},\"gmac_s\":{:.2}}}",
                    cpu::level(),
                    t.as_secs_f64() * 1e6,
                    fastest.as_secs_f64() * 1e6,
                    weights_per_s / 1e9
                );
            }
        }
    }
}
