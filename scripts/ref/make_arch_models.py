#!/usr/bin/env python3
"""Small random-weight GGUF models of the `qwen3` and `llama` architectures -> tests/fixtures/arch/.

They exist to compare precis's forward pass with llama.cpp's on architectures no test model of
precis has (tests/arch_parity.rs, reference logits from scripts/ref/llamacpp_arch_logits.py):
two layers, 256-wide embeddings, a 512-token byte-level BPE vocabulary, weights in the types
precis keeps quantized and computes as llama.cpp does (Q4_K, Q6_K, Q8_0, Q5_0; norms in F32).
No F32 or F16 weight matrices: llama.cpp multiplies those differently from precis's kernels.

The k-quant tensors are random blocks (random nibbles, sub-block scales and minimums) with the
block scale chosen for the wanted spread; Q8_0 and Q5_0 tensors are Gaussian weights quantized
by gguf-py. The weights are scaled so that activations stay of order one and the logits spread
over several units (greedy picks are not near-ties). Everything comes from a fixed seed: the
files are reproducible byte for byte with the same gguf-py and numpy.

- qwen3-tiny.gguf: 4 query heads and 2 key/value heads of 128 (attention.key_length: the head
  size differs from n_embd / n_head), per-head query and key RMS norms, output tied to the
  embeddings (no output.weight), NeoX rotary embedding.
- llama-tiny.gguf: 4 query heads and 1 key/value head of 64, a separate output matrix,
  interleaved rotary embedding with base 500000.
- llama3-tiny.gguf: Llama 3.1/3.2's rotary frequency factors (`rope_freqs.weight`, computed as
  llama.cpp's converter computes them for `rope_scaling.rope_type = llama3`, factor 8, with an
  original context of 512 instead of 8192 so that most pairs of dimensions get a factor other
  than 1 within the test prompts), 4 query heads and 2 key/value heads of 64, output tied to
  the embeddings (as in Llama 3.2 1B and 3B).
- gemma3-tiny.gguf: Gemma 3's layout as the 4B and larger models (TranslateGemma) have it:
  six layers, five of them with a 16-position sliding window (so that the test prompts cross
  it) and the sixth global with linear rotary scaling (factor 8, base 1000000; the windowed
  layers use base 10000 unscaled), query and key head norms, norms after attention and
  feed-forward, GELU feed-forward, embeddings scaled by √n_embd, tied output. The same
  byte-level BPE vocabulary as the others (the tests give token ids).

Usage: python3 scripts/ref/make_arch_models.py [--out-dir tests/fixtures/arch]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

N_VOCAB = 512
N_EMBD = 256
N_LAYER = 2
CONTEXT = 4096
QK_K = 256


def byte_level_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (`bytes_to_unicode`), in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = {}
    extra = 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def vocabulary() -> tuple[list[str], list[int], list[str], int]:
    """Tokens, token types, merges and the end-of-text id of a minimal byte-level BPE vocabulary:
    the 256 bytes, pairs of frequent letters (and space + letter) merged, one control token."""
    alphabet = byte_level_alphabet()
    tokens = list(alphabet)
    merges = []
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    space = alphabet[ord(" ")]
    firsts = [space] + list(letters)
    for a in firsts:
        for b in letters:
            if len(tokens) == N_VOCAB - 1:
                break
            tokens.append(a + b)
            merges.append(f"{a} {b}")
    eot = len(tokens)
    tokens.append("<|endoftext|>")
    types = [1] * eot + [3]  # NORMAL, then CONTROL
    assert len(tokens) == N_VOCAB and len(set(tokens)) == N_VOCAB
    return tokens, types, merges, eot


class Weights:
    def __init__(self, seed: int) -> None:
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(seed)

    def norm(self, n: int):
        """RMS norm weights around 1."""
        return (1.0 + 0.2 * self.rng.standard_normal(n)).astype(self.np.float32)

    def gaussian(self, rows: int, cols: int, gain: float):
        return (self.rng.standard_normal((rows, cols)) * gain / cols**0.5).astype(self.np.float32)

    def matrix(self, qtype, rows: int, cols: int, gain: float = 1.0):
        """A (rows, cols) weight matrix of `qtype` as raw GGUF bytes, values of standard deviation
        about gain / √cols."""
        from gguf import GGMLQuantizationType as T
        from gguf import quants

        np = self.np
        if qtype in (T.Q8_0, T.Q5_0):
            return quants.quantize(self.gaussian(rows, cols, gain), qtype)
        assert cols % QK_K == 0, f"{qtype.name} rows are whole blocks of {QK_K}"
        n_blocks = rows * cols // QK_K
        if qtype == T.Q4_K:
            # d, dmin (f16), 12 bytes of 6-bit sub-block scales and minimums, 128 bytes of nibbles.
            raw = self.rng.integers(0, 256, size=(n_blocks, 144), dtype=np.uint8)
            scale = np.array([[1.0, 7.5]], dtype=np.float16)
        elif qtype == T.Q6_K:
            # 128 bytes of low nibbles, 64 of high bits, 16 int8 sub-block scales, d (f16).
            raw = self.rng.integers(0, 256, size=(n_blocks, 210), dtype=np.uint8)
            raw[:, 192:208] = self.rng.integers(-64, 65, size=(n_blocks, 16)).astype(np.int8).view(np.uint8)
            scale = np.array([[1.0]], dtype=np.float16)
        else:
            raise ValueError(f"unsupported type {qtype.name}")
        self._set_scales(qtype, raw, scale)
        values = quants.dequantize(raw.reshape(rows, -1), qtype)
        target = gain / cols**0.5
        self._set_scales(qtype, raw, (scale.astype(np.float32) * (target / values.std())).astype(np.float16))
        return raw.reshape(rows, -1)

    def _set_scales(self, qtype, raw, scale) -> None:
        from gguf import GGMLQuantizationType as T

        np = self.np
        halves = np.ascontiguousarray(np.broadcast_to(scale.astype(np.float16), (raw.shape[0], scale.shape[1]))).view(np.uint8)
        if qtype == T.Q4_K:
            raw[:, 0:4] = halves
        else:
            raw[:, 208:210] = halves


def llama3_rope_factors(base: float, head_dim: int, factor: float, low: float, high: float, original_context: int):
    """The divisors of the rotary angle per pair of head dimensions, as convert_hf_to_gguf.py
    computes them for Llama 3.1's `rope_scaling` (rope_type llama3)."""
    import math

    import numpy as np

    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    low_wavelen, high_wavelen = original_context / low, original_context / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (original_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def write_model(path: Path, arch: str, spec: dict, seed: int) -> None:
    import gguf
    from gguf import GGMLQuantizationType as T

    w = Weights(seed)
    tokens, types, merges, eot = vocabulary()
    n_head, n_kv, head_dim, n_ff = spec["n_head"], spec["n_head_kv"], spec["head_dim"], spec["n_ff"]
    n_layer = spec.get("n_layer", N_LAYER)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"precis {arch} test model (random weights)")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(spec["rope_base"])
    if "gemma3" in spec:
        g = spec["gemma3"]
        writer.add_sliding_window(g["sliding_window"])
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(g["rope_scale"])
    if head_dim != N_EMBD // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(spec["pre"])
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(eot)
    writer.add_eos_token_id(eot)
    writer.add_add_bos_token(False)

    def matrix(name: str, qtype, rows: int, cols: int, gain: float = 1.0) -> None:
        writer.add_tensor(name, w.matrix(qtype, rows, cols, gain), raw_dtype=qtype)

    # Embeddings of spread about one per value (gain √cols); the tied output then gives logits
    # of a few units.
    matrix("token_embd.weight", spec["embd_type"], N_VOCAB, N_EMBD, gain=spec.get("embd_gain", N_EMBD**0.5))
    writer.add_tensor("output_norm.weight", w.norm(N_EMBD))
    if spec.get("llama3_rope") is not None:
        writer.add_tensor("rope_freqs.weight", llama3_rope_factors(spec["rope_base"], head_dim, **spec["llama3_rope"]))
    if spec["output_type"] is not None:
        matrix("output.weight", spec["output_type"], N_VOCAB, N_EMBD, gain=4.0)
    for il in range(n_layer):
        p = f"blk.{il}"
        t = spec["layer_types"][il % len(spec["layer_types"])]
        writer.add_tensor(f"{p}.attn_norm.weight", w.norm(N_EMBD))
        matrix(f"{p}.attn_q.weight", t["q"], n_head * head_dim, N_EMBD, gain=2.0)
        matrix(f"{p}.attn_k.weight", t["k"], n_kv * head_dim, N_EMBD, gain=2.0)
        matrix(f"{p}.attn_v.weight", t["v"], n_kv * head_dim, N_EMBD)
        if spec["head_norms"]:
            writer.add_tensor(f"{p}.attn_q_norm.weight", w.norm(head_dim))
            writer.add_tensor(f"{p}.attn_k_norm.weight", w.norm(head_dim))
        matrix(f"{p}.attn_output.weight", t["o"], N_EMBD, n_head * head_dim, gain=4.0)
        if "gemma3" in spec:
            writer.add_tensor(f"{p}.post_attention_norm.weight", w.norm(N_EMBD))
        writer.add_tensor(f"{p}.ffn_norm.weight", w.norm(N_EMBD))
        matrix(f"{p}.ffn_gate.weight", t["gate"], n_ff, N_EMBD, gain=2.0)
        matrix(f"{p}.ffn_up.weight", t["up"], n_ff, N_EMBD)
        matrix(f"{p}.ffn_down.weight", t["down"], N_EMBD, n_ff, gain=6.0)
        if "gemma3" in spec:
            writer.add_tensor(f"{p}.post_ffw_norm.weight", w.norm(N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def specs() -> dict[str, tuple[str, dict, int]]:
    from gguf import GGMLQuantizationType as T

    return {
        "qwen3-tiny.gguf": (
            "qwen3",
            {
                "n_head": 4,
                "n_head_kv": 2,
                "head_dim": 128,
                "n_ff": 512,
                "rope_base": 1000000.0,
                "pre": "qwen2",
                "head_norms": True,
                "embd_type": T.Q8_0,
                "output_type": None,
                "layer_types": [
                    {"q": T.Q4_K, "k": T.Q8_0, "v": T.Q6_K, "o": T.Q4_K, "gate": T.Q5_0, "up": T.Q8_0, "down": T.Q6_K},
                    {"q": T.Q8_0, "k": T.Q4_K, "v": T.Q5_0, "o": T.Q6_K, "gate": T.Q4_K, "up": T.Q4_K, "down": T.Q4_K},
                ],
            },
            3,
        ),
        "llama-tiny.gguf": (
            "llama",
            {
                "n_head": 4,
                "n_head_kv": 1,
                "head_dim": 64,
                "n_ff": 768,
                "rope_base": 500000.0,
                "pre": "llama-bpe",
                "head_norms": False,
                "embd_type": T.Q4_K,
                "output_type": T.Q6_K,
                "layer_types": [
                    {"q": T.Q4_K, "k": T.Q8_0, "v": T.Q8_0, "o": T.Q5_0, "gate": T.Q4_K, "up": T.Q4_K, "down": T.Q6_K},
                    {"q": T.Q5_0, "k": T.Q6_K, "v": T.Q4_K, "o": T.Q4_K, "gate": T.Q8_0, "up": T.Q6_K, "down": T.Q4_K},
                ],
            },
            5,
        ),
        "llama3-tiny.gguf": (
            "llama",
            {
                "n_head": 4,
                "n_head_kv": 2,
                "head_dim": 64,
                "n_ff": 512,
                "rope_base": 500000.0,
                "llama3_rope": {"factor": 8.0, "low": 1.0, "high": 4.0, "original_context": 512},
                "pre": "llama-bpe",
                "head_norms": False,
                "embd_type": T.Q6_K,
                "output_type": None,
                "layer_types": [
                    {"q": T.Q4_K, "k": T.Q4_K, "v": T.Q6_K, "o": T.Q4_K, "gate": T.Q4_K, "up": T.Q4_K, "down": T.Q6_K},
                    {"q": T.Q8_0, "k": T.Q6_K, "v": T.Q4_K, "o": T.Q6_K, "gate": T.Q6_K, "up": T.Q4_K, "down": T.Q8_0},
                ],
            },
            7,
        ),
        "gemma3-tiny.gguf": (
            "gemma3",
            {
                "n_layer": 6,
                "n_head": 4,
                "n_head_kv": 1,
                "head_dim": 64,
                "n_ff": 512,
                "rope_base": 1000000.0,
                "gemma3": {"sliding_window": 16, "rope_scale": 8.0},
                # Gemma scales the embeddings by √n_embd itself.
                "embd_gain": 1.0,
                "pre": "qwen2",
                "head_norms": True,
                "embd_type": T.Q8_0,
                "output_type": None,
                "layer_types": [
                    {"q": T.Q4_K, "k": T.Q5_0, "v": T.Q6_K, "o": T.Q4_K, "gate": T.Q4_K, "up": T.Q5_0, "down": T.Q6_K},
                    {"q": T.Q8_0, "k": T.Q4_K, "v": T.Q4_K, "o": T.Q5_0, "gate": T.Q6_K, "up": T.Q4_K, "down": T.Q8_0},
                ],
            },
            9,
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "tests/fixtures/arch")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, (arch, spec, seed) in specs().items():
        path = args.out_dir / name
        write_model(path, arch, spec, seed)
        print(f"{path}: {path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
