#!/usr/bin/env python3
"""Single-stream llama.cpp speed: prefill tok/s and greedy decode tok/s on CPU.

Prefill: eval of the whole tokenized prompt from an empty cache (one llama_decode per n_batch
chunk, logits of the last position only). Decode: --n-predict argmax tokens fed back one at a
time; EOS is ignored so every run decodes exactly --n-predict tokens. One warm-up run, then
--repeat timed runs; the best of each figure is reported as one JSON line on stdout.

The prompt file is tokenized as is (add_bos=False, special=True, so ChatML markup in it counts
as special tokens); with --as-translate its text is instead put in the translate chat prompt.

Usage: python3 scripts/ref/llamacpp_bench.py --model PATH --prompt-file F --n-predict 128 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402


def run_once(llm, prompt: list[int], n_predict: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds) of one run from an empty cache."""
    import numpy as np

    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n_predict):
        token = int(np.argmax(ref.last_logits(llm)))
        llm.eval([token])
    decode = time.perf_counter() - t0
    return prefill, decode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_DEFAULT)
    parser.add_argument("--prompt-file", type=Path, required=True)
    parser.add_argument("--as-translate", action="store_true",
                        help="wrap the file's text in the translate chat prompt")
    parser.add_argument("--n-predict", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512, help="n_batch (prefill chunk size)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    text = ref.read_text_exact(args.prompt_file)
    probe = ref.load_llama(args.model, n_ctx=512, n_threads=args.threads)
    if args.as_translate:
        _, prompt = ref.prompt_ids(probe, ref.translate_messages(text.strip()))
    else:
        prompt = probe.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    del probe
    if not prompt:
        raise SystemExit(f"{args.prompt_file}: empty prompt")
    n_ctx = max(4096, len(prompt) + args.n_predict + 16)
    llm = ref.load_llama(args.model, n_ctx=n_ctx, n_threads=args.threads, n_batch=args.batch)

    run_once(llm, prompt[: min(len(prompt), 64)], min(args.n_predict, 8))  # warm-up
    runs = [run_once(llm, prompt, args.n_predict) for _ in range(max(1, args.repeat))]
    best_prefill = min(r[0] for r in runs)
    best_decode = min(r[1] for r in runs)
    result = {
        "engine": "llama.cpp",
        "model": args.model.name,
        "threads": args.threads,
        "n_batch": args.batch,
        "prompt_tokens": len(prompt),
        "prefill_tok_s": round(len(prompt) / best_prefill, 2),
        "decode_tokens": args.n_predict,
        "decode_tok_s": round(args.n_predict / best_decode, 2) if args.n_predict else None,
        "runs": len(runs),
        "llama_cpp_python": ref.llama_cpp_info()["llama_cpp_python"],
        "system_info": ref.llama_cpp_info().get("system_info", ""),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
