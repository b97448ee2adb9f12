//! Speed of one quantized product on synthetic weights, for kernel work (not a comparison with
//! a reference engine: that is `scripts/bench-llm.sh`).
//!
//! `cargo run --release --example kernels -- ROWS COLS M [q5k|q6k|q4_0|q8_0] [gemv]`: a
//! `(ROWS, COLS)` Q4_K (or Q5_K, Q6_K, Q4_0, Q8_0) matrix times M activation rows, every row in
//! llama.cpp's GEMM and tiled modes (prompt rows) or, with `gemv`, in neither (decoding rows);
//! prints the time per product and the multiply-accumulates per second. The model's shapes:
//! 8960 1536 (ffn_gate/up), 1536 8960 (ffn_down), 1536 1536 (attn_q/output), 151936 1536
//! (output).

use std::time::Instant;

use precis::engine::quant::{Kind, QMatrix, RowMode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: kernels ROWS COLS M [q5k|q6k|q4_0|q8_0] [gemv]";
    let arg = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).expect(usage) };
    let (rows, cols, m) = (arg(0), arg(1), arg(2));
    let kind = match args.get(3).map(String::as_str) {
        Some("q5k") => Kind::Q5K,
        Some("q6k") => Kind::Q6K,
        Some("q4_0") => Kind::Q4_0,
        Some("q8_0") => Kind::Q8_0,
        _ => Kind::Q4K,
    };
    // Random blocks (xorshift) with a small f16 scale, so that the sums stay finite: (values per
    // block, bytes per block, where the f16 scales are).
    let (block_values, block_bytes, scale_at) = match kind {
        Kind::Q5K => (256, 176, vec![0, 2]),
        Kind::Q6K => (256, 210, vec![208]),
        Kind::Q4_0 => (32, 18, vec![0]),
        Kind::Q8_0 => (32, 34, vec![0]),
        _ => (256, 144, vec![0, 2]),
    };
    let mut state = 0x9e37_79b9u32;
    let mut bytes: Vec<u8> = (0..rows * cols / block_values * block_bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    for block in bytes.chunks_exact_mut(block_bytes) {
        for &at in &scale_at {
            block[at..at + 2].copy_from_slice(&half::f16::from_f32(1e-3).to_le_bytes());
        }
    }
    let w = QMatrix::from_blocks(kind, rows, cols, &bytes).expect("a whole number of blocks");
    let xs: Vec<f32> = (0..m * cols).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    // Prompt rows take llama.cpp's GEMM and tiled paths; `gemv` gives the decoding rows' path.
    let gemv = args.iter().any(|a| a == "gemv");
    let modes = vec![RowMode { gemm: !gemv, tiled: !gemv, sgemm: !gemv }; m];
    let acts = w.quantize(&xs, &modes);
    std::hint::black_box(w.matmul_quantized(&acts, m, &modes));
    let iters = (2e11 / (rows * cols * m) as f64).max(3.0) as usize;
    let start = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(w.matmul_quantized(&acts, m, &modes));
    }
    let seconds = start.elapsed().as_secs_f64() / iters as f64;
    println!("{rows}x{cols} {kind:?}, {m} rows: {:.2} ms, {:.1} GMAC/s", seconds * 1e3, (rows * cols * m) as f64 / seconds / 1e9);
}
