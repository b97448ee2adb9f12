#!/usr/bin/env python3
"""Greedy reference translations with llama.cpp, one JSON object per segment.

Each segment (a line of --lines FILE, or a paragraph of --paragraphs FILE, the title first) is put
in the translate prompt (prompts/translate.*.txt, chat template from the GGUF), evaluated from an
empty cache, and decoded by pure argmax over the logits (ties -> lowest id, as numpy.argmax), one
token at a time, until an EOS id (not written to the output) or max_new_tokens
= 64 + 3 * len(tokenize(segment, add_bos=False, special=False)).

Output lines: {"line"|"paragraph": i, "prompt_tokens": n, "tokens": [...], "text": "...",
"stop": "eos"|"length", "margins": [top-1 minus top-2 logit per step, the stop step included],
"min_margin", "seconds"}; a summary (wall time, token counts) goes to stderr.

Usage:
  python3 scripts/ref/llamacpp_translate.py --model PATH --lines FILE --limit N --out OUT.jsonl
  python3 scripts/ref/llamacpp_translate.py --model PATH --paragraphs ARTICLE --out OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402


def max_new_tokens(llm, segment: str) -> int:
    return 64 + 3 * len(llm.tokenize(segment.encode("utf-8"), add_bos=False, special=False))


def greedy(
    llm, prompt: list[int], limit: int, stop_ids: set[int], margins: list[float] | None = None
) -> tuple[list[int], str]:
    """Argmax decode from an empty cache; returns (generated ids without EOS, stop reason).

    The prompt is evaluated in one call (llama.cpp splits it in n_batch chunks), then one token
    per call. If `margins` is given, the top-1 minus top-2 logit of every step is appended to it
    (a small margin marks a near-tie that other numerics may break the other way).
    """
    import numpy as np

    llm.reset()
    llm.eval(prompt)
    out: list[int] = []
    while len(out) < limit:
        logits = ref.last_logits(llm)
        token = int(np.argmax(logits))
        if margins is not None:
            top2 = np.partition(logits, -2)[-2:]
            margins.append(float(top2[1] - top2[0]))
        if token in stop_ids:
            return out, "eos"
        out.append(token)
        if len(out) == limit:
            break
        llm.eval([token])
    return out, "length"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_DEFAULT)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--lines", type=Path, help="one French segment per line (e.g. FLORES)")
    source.add_argument("--paragraphs", type=Path, help="article: title line, blank-line paragraphs")
    parser.add_argument("--start", type=int, default=0, help="first segment index (0-based)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many segments")
    parser.add_argument("--out", type=Path, required=True, help="JSONL output path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    args = parser.parse_args()

    if args.lines is not None:
        key, segments = "line", ref.read_lines(args.lines)
    else:
        key, segments = "paragraph", ref.split_paragraphs(ref.read_text_exact(args.paragraphs))
    end = len(segments) if args.limit is None else min(len(segments), args.start + args.limit)
    indices = range(args.start, end)

    llm = ref.load_llama(args.model, n_ctx=args.ctx, n_threads=args.threads)
    stop_ids = set(ref.eos_ids(llm))
    totals = {"segments": 0, "prompt_tokens": 0, "generated_tokens": 0, "stopped_by_length": 0}
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        for i in indices:
            segment = segments[i]
            _, prompt = ref.prompt_ids(llm, ref.translate_messages(segment))
            limit = max_new_tokens(llm, segment)
            if len(prompt) + limit > args.ctx:
                raise SystemExit(f"{key} {i}: {len(prompt)} prompt + {limit} new tokens exceed "
                                 f"--ctx {args.ctx}")
            t0 = time.perf_counter()
            margins: list[float] = []
            tokens, stop = greedy(llm, prompt, limit, stop_ids, margins)
            seconds = time.perf_counter() - t0
            text = llm.detokenize(tokens).decode("utf-8", errors="replace")
            record = {key: i, "prompt_tokens": len(prompt), "tokens": tokens, "text": text,
                      "stop": stop, "seconds": round(seconds, 3),
                      "min_margin": round(min(margins), 4),
                      "margins": [round(m, 4) for m in margins]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            totals["segments"] += 1
            totals["prompt_tokens"] += len(prompt)
            totals["generated_tokens"] += len(tokens)
            totals["stopped_by_length"] += stop == "length"
            ref.log(f"{key} {i}: {len(prompt)} prompt, {len(tokens)} generated ({stop}), "
                    f"{seconds:.2f} s")
    totals["wall_s"] = round(time.perf_counter() - started, 3)
    summary = {"engine": "llama.cpp", "model": args.model.name, "threads": args.threads,
               "stop_ids": sorted(stop_ids), **totals, **ref.llama_cpp_info()}
    summary.pop("system_info", None)
    ref.log(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
