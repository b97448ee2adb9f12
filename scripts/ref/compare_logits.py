#!/usr/bin/env python3
"""Logit parity: llama.cpp's logits after a translate prompt vs the ones precis wrote.

precis side: `precis bench-llm --model M --prompt-file F --as-translate --n-predict 1 --repeat 1
--logits-out OUT.f32`. This script evaluates the same prompt with llama-cpp-python (same GGUF,
same thread count) and reports how far apart the two logit vectors are: max and mean |diff|,
how many are bit-identical, and whether the top-5 agree. A bit-exact engine gives 0.

Usage: python3 scripts/ref/compare_logits.py --model PATH --prompt-file F --logits OUT.f32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402


def main() -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_DEFAULT)
    parser.add_argument("--prompt-file", type=Path, required=True)
    parser.add_argument("--logits", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-batch", type=int, default=512,
                        help="llama.cpp's batch size (a prompt longer than this is fed in pieces)")
    parser.add_argument("--one-by-one", action="store_true",
                        help="feed llama.cpp one token per decode call instead of the whole prompt")
    parser.add_argument("--raw", action="store_true",
                        help="tokenize the file as is (bench-llm without --as-translate)")
    args = parser.parse_args()

    llm = ref.load_llama(args.model, n_threads=args.threads, n_batch=args.n_batch)
    text = ref.read_text_exact(args.prompt_file)
    if args.raw:
        prompt = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    else:
        _, prompt = ref.prompt_ids(llm, ref.translate_messages(text))
    if args.one_by_one:
        for token in prompt:
            llm.eval([token])
    else:
        llm.eval(prompt)
    theirs = np.array(ref.last_logits(llm), dtype=np.float32)
    ours = np.fromfile(args.logits, dtype="<f4")
    if ours.shape != theirs.shape:
        print(f"shape mismatch: precis {ours.shape}, llama.cpp {theirs.shape}")
        return 1
    diff = np.abs(ours - theirs)
    top = lambda v: list(np.argsort(-v)[:5])  # noqa: E731
    print(f"prompt {len(prompt)} tokens; logits {ours.size}")
    print(f"max |diff| {diff.max():.6g} at {int(diff.argmax())}; mean |diff| {diff.mean():.6g}")
    print(f"bit-identical: {int((ours == theirs).sum())}/{ours.size}")
    print(f"top-5 precis {top(ours)} llama.cpp {top(theirs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
