#!/usr/bin/env python3
"""Tiny random-weight GGUF models in llama.cpp's quantization types -> tests/fixtures/models/.

Each model is written in F32 with the `gguf` package, then quantized by llama.cpp's own quantizer
(`llama_model_quantize` of llama-cpp-python), so the files hold exactly the block layouts and
tensor-type choices llama.cpp makes for that file type. Only the quantized files are kept.

Shapes: 2 layers, n_embd 256, 4 heads of 64, 2 KV heads, feed-forward 512 (every matrix width a
multiple of 256, so the k-quant types apply to all of them; every matrix height a multiple of 8,
so llama.cpp repacks Q4_0 on AVX2); the "narrow" models n_embd 128, 2 heads of 64, 1 KV head,
feed-forward 384 (no width a multiple of 256: llama.cpp's quantizer falls back from Q5_K to
Q5_1 and from Q6_K to Q8_0, as for most matrices of Qwen2.5-0.5B or Gemma 3 270M in Q5_K_M);
and a 516-token vocabulary (the first 513 tokens of the
Qwen2 vocabulary, with its merges among them, and three special tokens). 516 is not a multiple
of 8: an output matrix in Q4_0 is the one llama.cpp does not repack.

The weights are Gaussian (fixed seed; a rerun writes the same bytes). With the scales below the
logits have a standard deviation of about 1.6 (tied embeddings) and 4 (separate output), and the
smallest top-1 minus top-2 margin over the greedy steps of tests/fixtures/quant_logits.json is
0.006: greedy picks are not decided by last-bit rounding differences.

Usage: python3 scripts/ref/make_test_models.py [--out tests/fixtures/models]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

N_LAYER = 2
# name -> (n_embd, heads, KV heads, feed-forward); heads of 64
SHAPES = {"wide": (256, 4, 2, 512), "narrow": (128, 2, 1, 384)}
N_VOCAB_BASE = 513
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
N_VOCAB = N_VOCAB_BASE + len(SPECIALS)
CONTEXT = 2048

# (file name, architecture, shape, llama.cpp file type name, tied embeddings, output type override)
MODELS = [
    ("tiny-qwen2-q5_k_m.gguf", "qwen2", "wide", "LLAMA_FTYPE_MOSTLY_Q5_K_M", False, None),
    ("tiny-qwen2-q4_0.gguf", "qwen2", "wide", "LLAMA_FTYPE_MOSTLY_Q4_0", False, "GGML_TYPE_Q4_0"),
    ("tiny-llama-q5_k_m.gguf", "llama", "wide", "LLAMA_FTYPE_MOSTLY_Q5_K_M", True, None),
    ("tiny-llama-q4_0.gguf", "llama", "wide", "LLAMA_FTYPE_MOSTLY_Q4_0", True, None),
    ("tiny-llama-q4_1.gguf", "llama", "wide", "LLAMA_FTYPE_MOSTLY_Q4_1", True, None),
    ("tiny-qwen2-narrow-q5_k_m.gguf", "qwen2", "narrow", "LLAMA_FTYPE_MOSTLY_Q5_K_M", False, None),
    ("tiny-qwen2-narrow-f16.gguf", "qwen2", "narrow", "LLAMA_FTYPE_MOSTLY_F16", False, None),
    ("tiny-llama-narrow-bf16.gguf", "llama", "narrow", "LLAMA_FTYPE_MOSTLY_BF16", True, None),
]


def qwen2_vocab(source: Path):
    """The first N_VOCAB_BASE tokens of a Qwen2 GGUF, the merges among them, and the specials."""
    import gguf

    reader = gguf.GGUFReader(str(source))

    def strings(key: str, count: int | None = None) -> list[str]:
        field = reader.fields[key]
        ids = field.data if count is None else field.data[:count]
        return [bytes(field.parts[i]).decode("utf-8") for i in ids]

    tokens = strings("tokenizer.ggml.tokens", N_VOCAB_BASE)
    known = set(tokens)
    merges = []
    for merge in strings("tokenizer.ggml.merges"):
        left, right = merge.split(" ", 1)
        if left in known and right in known and left + right in known:
            merges.append(merge)
    types = [1] * len(tokens) + [3] * len(SPECIALS)
    return tokens + SPECIALS, types, merges


def write_f32_model(path: Path, arch: str, shape: str, tied: bool, vocab, seed: int) -> None:
    import gguf
    import numpy as np

    n_embd, n_head, n_head_kv, n_ff = SHAPES[shape]
    head_dim = n_embd // n_head
    tokens, types, merges = vocab
    rng = np.random.default_rng(seed)

    def gaussian(rows: int, cols: int, scale: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"tiny random {arch}")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(0)  # ALL_F32
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(N_VOCAB - 1)
    writer.add_bos_token_id(N_VOCAB_BASE)
    writer.add_pad_token_id(N_VOCAB_BASE)
    writer.add_add_bos_token(False)

    kv = n_head_kv * head_dim
    # Tied embeddings small next to what the layers add to the residual stream: otherwise the
    # last token's own embedding dominates the final state, and the output (the same matrix)
    # picks that token again at every step.
    embd_scale = 0.1 if tied else 1.0
    writer.add_tensor("token_embd.weight", (embd_scale * rng.standard_normal((N_VOCAB, n_embd))).astype(np.float32))
    for i in range(N_LAYER):
        p = f"blk.{i}"
        norm = lambda: (1.0 + 0.1 * rng.standard_normal(n_embd)).astype(np.float32)  # noqa: E731
        writer.add_tensor(f"{p}.attn_norm.weight", norm())
        writer.add_tensor(f"{p}.attn_q.weight", gaussian(n_embd, n_embd, 2.0))
        writer.add_tensor(f"{p}.attn_k.weight", gaussian(kv, n_embd, 2.0))
        writer.add_tensor(f"{p}.attn_v.weight", gaussian(kv, n_embd, 1.0))
        if arch == "qwen2":
            writer.add_tensor(f"{p}.attn_q.bias", (0.1 * rng.standard_normal(n_embd)).astype(np.float32))
            writer.add_tensor(f"{p}.attn_k.bias", (0.1 * rng.standard_normal(kv)).astype(np.float32))
            writer.add_tensor(f"{p}.attn_v.bias", (0.1 * rng.standard_normal(kv)).astype(np.float32))
        writer.add_tensor(f"{p}.attn_output.weight", gaussian(n_embd, n_embd, 2.0))
        writer.add_tensor(f"{p}.ffn_norm.weight", norm())
        writer.add_tensor(f"{p}.ffn_gate.weight", gaussian(n_ff, n_embd, 1.0))
        writer.add_tensor(f"{p}.ffn_up.weight", gaussian(n_ff, n_embd, 1.0))
        writer.add_tensor(f"{p}.ffn_down.weight", gaussian(n_embd, n_ff, 2.0))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    if not tied:
        writer.add_tensor("output.weight", gaussian(N_VOCAB, n_embd, 4.0))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(src: Path, dst: Path, ftype_name: str, output_type: str | None) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.nthread = 2
    if output_type is not None:
        params.output_tensor_type = getattr(llama_cpp, output_type)
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src.name} -> {dst.name}) returned {rc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/models")
    parser.add_argument("--vocab-from", type=Path, default=ref.MODEL_SMALL)
    args = parser.parse_args()

    import gguf

    args.out.mkdir(parents=True, exist_ok=True)
    vocab = qwen2_vocab(args.vocab_from)
    with tempfile.TemporaryDirectory() as tmp:
        for base, shape in [(1000, "wide"), (2000, "narrow")]:
            for seed, arch in enumerate(["qwen2", "llama"]):
                for tied in [False, True]:
                    names = [m for m in MODELS if m[1] == arch and m[2] == shape and m[4] == tied]
                    if not names:
                        continue
                    f32 = Path(tmp) / f"{arch}-{shape}-{tied}-f32.gguf"
                    write_f32_model(f32, arch, shape, tied, vocab, seed=base + seed)
                    for name, _, _, ftype, _, output_type in names:
                        dst = args.out / name
                        quantize(f32, dst, ftype, output_type)
                        types = sorted({t.tensor_type.name for t in gguf.GGUFReader(str(dst)).tensors})
                        ref.log(f"{name}: {dst.stat().st_size} bytes, tensor types {', '.join(types)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
