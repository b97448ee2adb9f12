#!/usr/bin/env python3
"""Plain greedy briefs with llama.cpp, the baseline of scripts/eval.sh.

For each article (title line, then blank-line paragraphs): every paragraph, the title first, is
translated with precis's plain translate prompt and greedy decoding (as scripts/ref/
llamacpp_translate.py), then the translation is summarized with precis's first summary request
(prompts/summarize.*.txt), greedy, at most 200 new tokens, cut to precis's limits (the first
sentences up to 5 and 120 words, at least one). No glossary, checks, repairs or candidates: what
the same model gives with the same prompts and nothing else. Writes
OUT/<article>.json with `title`, `translation` (body paragraphs) and `summary`, shaped like
`precis brief --json` for scripts/eval.py.

Usage: python3 scripts/ref/llamacpp_brief.py --model PATH --out DIR ARTICLE.fr.txt...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402
from llamacpp_translate import greedy, max_new_tokens  # noqa: E402


def shape(summary: str, max_sentences: int = 5, max_words: int = 120) -> str:
    """The first whole sentences of `summary` within the limits (the first one always)."""
    kept, words = [], 0
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(summary.split())):
        n = len(sentence.split())
        if kept and (len(kept) >= max_sentences or words + n > max_words):
            break
        kept.append(sentence)
        words += n
    return " ".join(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_DEFAULT)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("articles", type=Path, nargs="+")
    args = parser.parse_args()

    llm = ref.load_llama(args.model, n_ctx=args.ctx, n_threads=args.threads)
    stop_ids = set(ref.eos_ids(llm))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.articles:
        started = time.perf_counter()
        paragraphs = ref.split_paragraphs(ref.read_text_exact(path))
        english = []
        for paragraph in paragraphs:
            _, prompt = ref.prompt_ids(llm, ref.translate_messages(paragraph))
            tokens, _ = greedy(llm, prompt, max_new_tokens(llm, paragraph), stop_ids)
            english.append(" ".join(llm.detokenize(tokens).decode("utf-8", errors="replace").split()))
        _, prompt = ref.prompt_ids(llm, ref.summarize_messages("\n\n".join(english)))
        tokens, _ = greedy(llm, prompt, 200, stop_ids)
        raw = " ".join(llm.detokenize(tokens).decode("utf-8", errors="replace").split())
        name = path.name.removesuffix(".fr.txt").removesuffix(".txt")
        record = {"title": english[0], "translation": english[1:], "summary": shape(raw), "summary_raw": raw}
        (args.out / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        ref.log(f"{name}: {len(paragraphs)} paragraphs, {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
