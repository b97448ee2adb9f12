#!/usr/bin/env python3
"""Reference logits of the tiny quantized models -> tests/fixtures/quant_logits.json.

For every model of tests/fixtures/models (see make_test_models.py) and a few prompts of fixed
token ids (in the fixture's header; a case names its prompt by index):
- the SHA-256 of llama.cpp's logits after the prompt (little-endian f32, the bytes precis
  compares bit for bit);
- the SHA-256 of the logits of every prompt row when all are asked for (llama.cpp then runs the
  last layer and the output projection on all rows rather than on the last one alone);
- the greedy continuation (one llama_decode call per token) with the SHA-256 of the logits at
  every step.
The prompt lengths pick llama.cpp's paths: under 8 rows the row dot products and GEMV (and the
4-row GEMM for the first 4 rows of a repacked matrix), 8 rows or more the tiled K-quant matmul,
over 512 two prompt batches. Every case is run with 1 and 2 threads, which must agree (the
script fails otherwise).

llama.cpp's AVX-512 build orders some float sums differently from its AVX2 build: the fixture of
an AVX2 build (scripts/setup-reference.sh on a CPU without AVX-512) is quant_logits.json, that of
an AVX-512 build quant_logits.avx512.json (--out), which the tests use at precis's `avx512` level.

Usage: python3 scripts/ref/quant_logits.py [--steps 8]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

MODELS_DIR = ref.REPO_ROOT / "tests/fixtures/models"
PROMPT_LENGTHS = [5, 13, 70, 520]
# Ordinary tokens only (the last three ids are the special tokens).
TOKEN_RANGE = 513


def digest(logits) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(logits, dtype="<f4").tobytes()).hexdigest()


def all_prompt_logits(model: Path, prompt: list[int], threads: int) -> str:
    """The digest of the logits of every prompt row, all rows asked for (`logits_all`)."""
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(model),
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        n_gpu_layers=0,
        logits_all=True,
        verbose=False,
    )
    llm.reset()
    llm.eval(prompt)
    return digest(llm.scores[: len(prompt)].reshape(-1))


def run(model: Path, prompt: list[int], steps: int, threads: int) -> dict:
    import numpy as np

    llm = ref.load_llama(model, n_ctx=1024, n_threads=threads)
    llm.reset()
    llm.eval(prompt)
    logits = ref.last_logits(llm)
    case = {
        "prompt_logits_sha256": digest(logits),
        "all_prompt_logits_sha256": all_prompt_logits(model, prompt, threads),
        "tokens": [],
        "step_logits_sha256": [],
    }
    for _ in range(steps):
        token = int(np.argmax(logits))
        case["tokens"].append(token)
        llm.eval([token])
        logits = ref.last_logits(llm)
        case["step_logits_sha256"].append(digest(logits))
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/quant_logits.json")
    args = parser.parse_args()

    rng = random.Random(20240611)
    prompts = [[rng.randrange(TOKEN_RANGE) for _ in range(n)] for n in PROMPT_LENGTHS]
    cases = []
    for model in sorted(MODELS_DIR.glob("tiny-*.gguf")):
        for index, prompt in enumerate(prompts):
            one, two = (run(model, prompt, args.steps, threads) for threads in (1, 2))
            if one != two:
                raise AssertionError(f"{model.name}, {len(prompt)} tokens: 1 and 2 threads disagree")
            cases.append({"model": model.name, "model_sha256": ref.file_sha256(model), "prompt": index, **one})
            ref.log(f"{model.name}: {len(prompt)} prompt tokens, greedy {one['tokens']}")
    fixture = {
        "source": "scripts/ref/quant_logits.py",
        "llama_cpp": ref.llama_cpp_info(),
        "threads": [1, 2],
        "prompts": prompts,
        "cases": cases,
    }
    ref.write_fixture(args.out, fixture, "cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
