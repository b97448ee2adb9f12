#!/usr/bin/env python3
"""Marian speed, side by side in one run: HF transformers, CTranslate2 fp32/int8, precis f32/int8.

The checkpoint is a full-size, randomly initialised Marian with the opus-mt-fr-en shape (d_model
512, 6+6 layers, 8 heads, FFN 2048, swish, scaled and shared embeddings) and the real
opus-mt-tc-big-fr-en tokenizer files from ../shared (vocabulary 53,017); it is created once under
target/marian-bench/ (not committed) and converted with `ct2-transformers-converter`.

Workload: the first 200 FLORES devtest French lines, beam 4, batch 32, every output forced to
exactly 40 generated tokens (precis `--min-length 40 --max-length 40`, HF
`min_new_tokens=max_new_tokens=40`, CTranslate2 `min_decoding_length=max_decoding_length=40`),
2 threads. Reported: target tokens per second of the translation call alone (model loading
excluded), where target tokens = generated tokens summed over sentences as each engine reports
them; and, for int8 engines, how many outputs equal the same engine's fp32 output.

Usage: bash scripts/bench-marian.sh  (or .venv/bin/python scripts/ref/marian_bench.py [--lines N])
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

BENCH_DIR = ref.REPO_ROOT / "target" / "marian-bench"
# Model shapes: opus-mt-fr-en (the benchmark) and opus-mt-tc-big-fr-en (--shape tc-big).
SHAPES = {
    "opus-mt-fr-en": dict(d_model=512, heads=8, ffn=2048, activation="swish", max_positions=512),
    "tc-big": dict(d_model=1024, heads=16, ffn=4096, activation="relu", max_positions=1024),
}
SHAPE = "opus-mt-fr-en"
CHECKPOINT = BENCH_DIR / "opus-mt-fr-en-shape"
TOKENIZER_DIR = ref.SHARED_DIR / "tokenizers" / "opus-mt-tc-big-fr-en"
PRECIS = ref.REPO_ROOT / "target" / "release" / "precis"
LENGTH = 40
BEAMS = 4
BATCH = 32


def make_checkpoint() -> None:
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    if (CHECKPOINT / "model.safetensors").is_file():
        return
    CHECKPOINT.mkdir(parents=True, exist_ok=True)
    for name in ["source.spm", "target.spm", "vocab.json", "tokenizer_config.json"]:
        shutil.copy(TOKENIZER_DIR / name, CHECKPOINT / name)
    vocab = json.loads((TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    pad, eos = vocab["<pad>"], vocab["</s>"]
    shape = SHAPES[SHAPE]
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=shape["d_model"],
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=shape["heads"],
        decoder_attention_heads=shape["heads"],
        encoder_ffn_dim=shape["ffn"],
        decoder_ffn_dim=shape["ffn"],
        activation_function=shape["activation"],
        max_position_embeddings=shape["max_positions"],
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=eos,
        forced_eos_token_id=eos,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=eos, forced_eos_token_id=eos,
        max_length=512, num_beams=4, pad_token_id=pad,
    )
    model.save_pretrained(str(CHECKPOINT), safe_serialization=True)


def convert_ct2(quantization: str) -> Path:
    out = BENCH_DIR / (f"ct2-{quantization}" if SHAPE == "opus-mt-fr-en" else f"{SHAPE}-ct2-{quantization}")
    if not (out / "model.bin").is_file():
        converter = Path(sys.executable).parent / "ct2-transformers-converter"
        subprocess.run([str(converter), "--model", str(CHECKPOINT), "--output_dir", str(out),
                        "--quantization", quantization, "--force"], check=True)
    return out


def run_hf(lines: list[str], threads: int) -> dict:
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    torch.set_num_threads(threads)
    tokenizer = MarianTokenizer.from_pretrained(str(CHECKPOINT))
    model = MarianMTModel.from_pretrained(str(CHECKPOINT)).eval()
    outputs, generated = [], 0
    start = time.perf_counter()
    for i in range(0, len(lines), BATCH):
        enc = tokenizer(lines[i : i + BATCH], return_tensors="pt", padding=True)
        with torch.inference_mode():
            seqs = model.generate(**enc, num_beams=BEAMS, min_new_tokens=LENGTH, max_new_tokens=LENGTH)
        for row in seqs.tolist():
            ids = [t for t in row[1:] if t != model.config.pad_token_id]
            outputs.append(ids)
            generated += len(ids)
    return {"seconds": time.perf_counter() - start, "tokens": generated, "outputs": outputs}


def run_ct2(lines: list[str], threads: int, quantization: str) -> dict:
    import ctranslate2
    from transformers import MarianTokenizer

    tokenizer = MarianTokenizer.from_pretrained(str(CHECKPOINT))
    translator = ctranslate2.Translator(str(convert_ct2(quantization)), device="cpu", compute_type=quantization,
                                        inter_threads=1, intra_threads=threads)
    sources = [tokenizer.convert_ids_to_tokens(tokenizer(line).input_ids) for line in lines]
    start = time.perf_counter()
    results = translator.translate_batch(sources, beam_size=BEAMS, max_batch_size=BATCH, min_decoding_length=LENGTH,
                                         max_decoding_length=LENGTH, return_scores=True)
    seconds = time.perf_counter() - start
    outputs = [r.hypotheses[0] for r in results]
    return {"seconds": seconds, "tokens": sum(len(o) for o in outputs), "outputs": outputs}


def run_precis(lines_file: Path, threads: int, int8: bool) -> dict:
    cmd = [str(PRECIS), "translate", "--engine", "marian", "--model", str(CHECKPOINT), "--lines", str(lines_file),
           "--json", "--beams", str(BEAMS), "--min-length", str(LENGTH), "--max-length", str(LENGTH),
           "--batch-size", str(BATCH), "--threads", str(threads)] + (["--int8"] if int8 else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, check=True)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    match = re.search(r"translated \d+ segments in ([0-9.]+) s", proc.stderr)
    if not match:
        sys.exit(f"no timing line in precis stderr:\n{proc.stderr}")
    outputs = [r["tokens"] for r in records]
    return {"seconds": float(match.group(1)), "tokens": sum(len(o) for o in outputs), "outputs": outputs}


def main() -> None:
    global SHAPE, CHECKPOINT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated engines to skip (hf,ct2-fp32,ct2-int8,precis-f32,precis-int8)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default=SHAPE, help="model shape (default opus-mt-fr-en)")
    args = parser.parse_args()
    SHAPE = args.shape
    if SHAPE != "opus-mt-fr-en":
        CHECKPOINT = BENCH_DIR / f"{SHAPE}-shape"

    make_checkpoint()
    lines = ref.read_lines(ref.FLORES_DIR / "fra_Latn.devtest")[: args.lines]
    lines_file = BENCH_DIR / f"flores-{args.lines}.fr.txt"
    lines_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skip = set(filter(None, args.skip.split(",")))
    runs = {
        "hf": lambda: run_hf(lines, args.threads),
        "ct2-fp32": lambda: run_ct2(lines, args.threads, "float32"),
        "ct2-int8": lambda: run_ct2(lines, args.threads, "int8"),
        "precis-f32": lambda: run_precis(lines_file, args.threads, False),
        "precis-int8": lambda: run_precis(lines_file, args.threads, True),
    }
    results = {}
    for name, run in runs.items():
        if name in skip:
            continue
        print(f"running {name} ...", file=sys.stderr)
        results[name] = run()
        r = results[name]
        print(f"  {name}: {r['tokens']} tokens in {r['seconds']:.2f} s = {r['tokens'] / r['seconds']:.1f} tok/s",
              file=sys.stderr)

    print(f"\n{SHAPE} shape, {args.lines} FLORES lines, beam {BEAMS}, batch {BATCH}, {LENGTH} tokens per output, {args.threads} threads")
    ct2_int8 = results.get("ct2-int8")
    base = ct2_int8["tokens"] / ct2_int8["seconds"] if ct2_int8 else None
    print(f"{'engine':<12} {'tokens':>7} {'seconds':>8} {'tok/s':>8} {'vs ct2-int8':>12}")
    for name, r in results.items():
        rate = r["tokens"] / r["seconds"]
        ratio = f"{rate / base:.2f}" if base else "-"
        print(f"{name:<12} {r['tokens']:>7} {r['seconds']:>8.2f} {rate:>8.1f} {ratio:>12}")
    for engine in ["ct2", "precis"]:
        if f"{engine}-fp32" in results or f"{engine}-f32" in results:
            fp32 = results.get(f"{engine}-fp32") or results[f"{engine}-f32"]
            if f"{engine}-int8" in results:
                same = sum(a == b for a, b in zip(fp32["outputs"], results[f"{engine}-int8"]["outputs"]))
                print(f"{engine} int8 outputs identical to {engine} fp32: {same}/{len(lines)}")
    if "precis-f32" in results and "hf" in results:
        same = sum(a == b for a, b in zip(results["precis-f32"]["outputs"], results["hf"]["outputs"]))
        print(f"precis f32 outputs identical to HF: {same}/{len(lines)}")


if __name__ == "__main__":
    main()
