#!/usr/bin/env python3
"""Compare greedy token ids of precis (`translate --lines --json`) with llama.cpp
(`llamacpp_translate.py`) line by line.

Prints how many lines are token-identical and, for every line that is not, the first step where
they diverge with llama.cpp's top-1 minus top-2 logit margin at that step: a small margin is a
near-tie that last-bit differences in the numerics may break either way.

Usage: compare_greedy.py REFERENCE.jsonl PRECIS.jsonl
"""
import json
import sys


def main() -> int:
    ref_path, precis_path = sys.argv[1], sys.argv[2]
    refs = [json.loads(line) for line in open(ref_path, encoding="utf-8")]
    ours = [json.loads(line) for line in open(precis_path, encoding="utf-8")]
    if len(refs) != len(ours):
        print(f"line counts differ: reference {len(refs)}, precis {len(ours)}", file=sys.stderr)
        return 2
    identical = 0
    for i, (ref, got) in enumerate(zip(refs, ours)):
        a, b = ref["tokens"], got["tokens"]
        if a == b:
            identical += 1
            continue
        at = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        margins = ref.get("margins") or []
        margin = margins[at] if at < len(margins) else float("nan")
        print(f"line {i + 1}: diverges at step {at} of {len(a)} (llama.cpp margin {margin:.3f})")
        print(f"  llama.cpp: {ref['text']}")
        print(f"  precis:    {got['text']}")
    print(f"identical: {identical}/{len(refs)} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
