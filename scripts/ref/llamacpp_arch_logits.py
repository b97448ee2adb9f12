#!/usr/bin/env python3
"""Reference logits of the gemma3, qwen3 and llama architectures -> tests/fixtures/llamacpp_arch_logits.json.

For Gemma 3 270M (gemma-3-270m-q4_k_m.gguf in the models directory) and the random-weight
qwen3 and llama models of tests/fixtures/arch (scripts/ref/make_arch_models.py): prompts given
as token ids (so that precis needs no tokenizer for these models), the SHA-256 of llama.cpp's
logits after the prompt (little-endian f32), the top-5 ids, and a greedy continuation of --steps
tokens (one llama_decode call per token; end-of-generation tokens are fed back like any other)
with the SHA-256 of the logits at every step. Prompts longer than 512 tokens are evaluated in
batches of 512, as llama-cpp-python does.

Gemma prompts: llama.cpp's tokenization (with BOS) of FLORES devtest French lines, shipped in
tests/fixtures/flores200-devtest: line 0; lines 1-4; and lines from 10 on until the prompt
passes 600 tokens, past the model's 512-token sliding window. The ids are stored in the fixture.
Tiny-model prompts (qwen3-tiny, llama-tiny, llama3-tiny, gemma3-tiny): random ids from a fixed seed, of lengths 1, 9, 100 and 530.

The fixture depends on how llama.cpp was built: tests/fixtures/llamacpp_arch_logits.json from an AVX2 build,
llamacpp_arch_logits.avx512.json (--out) from an AVX-512 build (scripts/setup-reference.sh builds for the CPU it
runs on); the tests pick the one of the CPU level precis runs at.

Usage: python3 scripts/ref/llamacpp_arch_logits.py [--steps 16]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

GEMMA = "gemma-3-270m-q4_k_m.gguf"
TINY = ["qwen3-tiny.gguf", "llama-tiny.gguf", "llama3-tiny.gguf", "gemma3-tiny.gguf"]
TINY_LENGTHS = [1, 9, 100, 530]
LONG_GEMMA_PROMPT = 600


def digest(logits) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(logits, dtype="<f4").tobytes()).hexdigest()


def gemma_prompts(llm) -> list[list[int]]:
    flores = ref.read_lines(ref.REPO_ROOT / "tests/fixtures/flores200-devtest/fra_Latn.devtest")

    def ids(text: str) -> list[int]:
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    long_text = ""
    line = 10
    while len(ids(long_text)) <= LONG_GEMMA_PROMPT:
        long_text += ("\n" if long_text else "") + flores[line]
        line += 1
    return [ids(flores[0]), ids("\n".join(flores[1:5])), ids(long_text)]


def tiny_prompts(n_vocab: int) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(11)
    return [[int(t) for t in rng.integers(0, n_vocab, size=n)] for n in TINY_LENGTHS]


def run(llm, model: str, prompt: list[int], steps: int) -> dict:
    import numpy as np

    llm.reset()
    llm.eval(prompt)
    logits = ref.last_logits(llm)
    case = {
        "model": model,
        "prompt": prompt,
        "prompt_logits_sha256": digest(logits),
        "top5": [int(i) for i in np.argsort(-np.asarray(logits), kind="stable")[:5]],
        "tokens": [],
        "step_logits_sha256": [],
    }
    for _ in range(steps):
        token = int(np.argmax(logits))
        case["tokens"].append(token)
        llm.eval([token])
        logits = ref.last_logits(llm)
        case["step_logits_sha256"].append(digest(logits))
    ref.log(f"{model}: {len(prompt)} prompt tokens, greedy {case['tokens']}")
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/llamacpp_arch_logits.json")
    args = parser.parse_args()

    cases = []
    gemma_path = ref.MODELS_DIR / GEMMA
    llm = ref.load_llama(gemma_path, n_threads=args.threads)
    for prompt in gemma_prompts(llm):
        cases.append(run(llm, GEMMA, prompt, args.steps))
    gemma_sha256 = ref.file_sha256(gemma_path)
    del llm
    for model in TINY:
        llm = ref.load_llama(ref.REPO_ROOT / "tests/fixtures/arch" / model, n_threads=args.threads)
        for prompt in tiny_prompts(llm.n_vocab()):
            cases.append(run(llm, model, prompt, args.steps))
        del llm
    fixture = {
        "source": "scripts/ref/llamacpp_arch_logits.py",
        "llama_cpp": ref.llama_cpp_info(),
        "threads": args.threads,
        "model_sha256": {GEMMA: gemma_sha256}
        | {m: ref.file_sha256(ref.REPO_ROOT / "tests/fixtures/arch" / m) for m in TINY},
        "cases": cases,
    }
    ref.write_fixture(args.out, fixture, "cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
