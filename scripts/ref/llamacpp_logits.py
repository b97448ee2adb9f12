#!/usr/bin/env python3
"""Reference logits and greedy tokens from llama.cpp -> tests/fixtures/llamacpp_logits.json.

For the translate prompt of FLORES devtest French lines (by index; the test rebuilds the same
prompts from ../shared, so no third-party text is stored): the prompt's token count, the SHA-256
of llama.cpp's logits after the prompt (little-endian f32, the bytes precis compares bit for
bit), the top-5 ids, and the greedy continuation (one token per llama_decode call, as
llama-cpp-python's generation does) up to --steps tokens or an end-of-generation token, with the
SHA-256 of the logits at every step.

The fixture depends on how llama.cpp was built: tests/fixtures/llamacpp_logits.json from an AVX2 build,
llamacpp_logits.avx512.json (--out) from an AVX-512 build (scripts/setup-reference.sh builds for the CPU it
runs on); the tests pick the one of the CPU level precis runs at.

Usage: python3 scripts/ref/llamacpp_logits.py [--lines 0 5 17] [--steps 24]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402


def digest(logits) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(logits, dtype="<f4").tobytes()).hexdigest()


def main() -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[0, 5, 17])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/llamacpp_logits.json")
    args = parser.parse_args()

    flores = ref.read_lines(ref.FLORES_DIR / "fra_Latn.devtest")
    cases = []
    for model in [ref.MODEL_SMALL, ref.MODEL_DEFAULT]:
        llm = ref.load_llama(model, n_threads=args.threads)
        stop = set(ref.eos_ids(llm))
        for line in args.lines:
            _, prompt = ref.prompt_ids(llm, ref.translate_messages(flores[line]))
            llm.reset()
            llm.eval(prompt)
            logits = ref.last_logits(llm)
            case = {
                "model": model.name,
                "flores_line": line,
                "prompt_tokens": len(prompt),
                "prompt_logits_sha256": digest(logits),
                "top5": [int(i) for i in np.argsort(-np.asarray(logits))[:5]],
                "tokens": [],
                "step_logits_sha256": [],
            }
            for _ in range(args.steps):
                token = int(np.argmax(logits))
                if token in stop:
                    break
                case["tokens"].append(token)
                llm.eval([token])
                logits = ref.last_logits(llm)
                case["step_logits_sha256"].append(digest(logits))
            ref.log(f"{model.name} line {line}: {len(prompt)} prompt tokens, {len(case['tokens'])} generated")
            cases.append(case)
    fixture = {
        "source": "scripts/ref/llamacpp_logits.py",
        "llama_cpp": ref.llama_cpp_info(),
        "threads": args.threads,
        "cases": cases,
    }
    ref.write_fixture(args.out, fixture, "cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
