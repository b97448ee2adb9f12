#!/usr/bin/env python3
"""Quality of precis against llama.cpp greedy decoding on the same model (see scripts/eval.sh).

  eval.py flores --src FR --ref EN --hyp NAME=FILE.jsonl ... [--confidence NAME]
      chrF and BLEU (sacrebleu), digit numbers kept and added, glossary terms kept, per system;
      with --confidence, how precis's per-line confidence relates to sentence-level chrF.
  eval.py articles --dir eval/articles --brief NAME=DIR ...
      per system: key facts kept by the summary (eval/articles/*.facts.tsv), numbers the summary
      states that the French article does not, numbers of the French lost in the translation,
      French acronyms of the glossary left in the translation.

The number and glossary measures here are written independently of precis's own checks (digits,
million/billion after them, number words two to twenty and the tens to sixty, a quarter and a
half, plain regular expressions), so that they do not grade precis with its own rules.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import sacrebleu

REPO = Path(__file__).resolve().parents[1]

FRENCH_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?:,\d+)?|\d+(?:,\d+)?")
ENGLISH_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
# Version-like strings (802.11n) are the same in both languages.
VERSION = re.compile(r"\d+(?:\.\d+)+[a-z]")
FRENCH_WORDS = dict(zip("deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept dix-huit dix-neuf vingt".split(), range(2, 21)))
ENGLISH_WORDS = dict(zip("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split(), range(2, 21)))
FRENCH_WORDS |= dict(zip("trente quarante cinquante soixante".split(), range(30, 70, 10)))
ENGLISH_WORDS |= dict(zip("thirty forty fifty sixty".split(), range(30, 70, 10)))
# French approximate counts (une dizaine = about ten) and English "a dozen".
FRENCH_WORDS |= {"dizaine": 10, "douzaine": 12, "quinzaine": 15, "vingtaine": 20, "trentaine": 30, "quarantaine": 40,
                 "cinquantaine": 50, "soixantaine": 60, "centaine": 100}
ENGLISH_WORDS |= {"dozen": 12}
# A quarter and a half, in words or as a fraction in digits (1/4), are the same number.
FRACTION = re.compile(r"\b(\d+)/(\d+)\b")
FRACTION_WORDS = {"quart": "1/4", "quarter": "1/4", "moitié": "1/2", "half": "1/2"}
FRENCH_SCALE = {"million": 10**6, "millions": 10**6, "milliard": 10**9, "milliards": 10**9}
ENGLISH_SCALE = {"million": 10**6, "billion": 10**9}


def canonical(number: str) -> str:
    integer, _, fraction = number.partition(".")
    integer = integer.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{integer}.{fraction}" if fraction else integer


def scaled(value: str, factor: int) -> str:
    result = float(value) * factor
    return canonical(str(int(round(result)))) if abs(result - round(result)) < 1e-6 * max(1, result) else canonical(repr(result))


def numbers(text: str, pattern: re.Pattern, clean, words: dict, scale: dict) -> set[str]:
    """Numbers in digits (with a following million/billion), small number words, versions."""
    found = {m.group(0) for m in VERSION.finditer(text)} | {m.group(0) for m in FRACTION.finditer(text)}
    text = FRACTION.sub(" ", VERSION.sub(" ", text))
    for m in pattern.finditer(text):
        value = canonical(clean(m.group(0)))
        after = text[m.end():].split(maxsplit=1)
        if after and after[0].lower().strip(".,;") in scale:
            value = scaled(value, scale[after[0].lower().strip(".,;")])
        found.add(value)
    for word in re.findall(r"[\w-]+", text.lower()):
        if word in words:
            found.add(str(words[word]))
        if word in FRACTION_WORDS:
            found.add(FRACTION_WORDS[word])
    return found


def french_numbers(text: str) -> set[str]:
    return numbers(text, FRENCH_NUMBER, lambda n: re.sub(r"[ \u00a0\u202f\u2009]", "", n).replace(",", "."), FRENCH_WORDS, FRENCH_SCALE)


def english_numbers(text: str) -> set[str]:
    return numbers(text, ENGLISH_NUMBER, lambda n: n.replace(",", ""), ENGLISH_WORDS, ENGLISH_SCALE)


def load_glossary() -> list[tuple[str, list[str]]]:
    entries = []
    for line in (REPO / "data" / "glossary.fr-en.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        french, english = line.split("\t")
        entries.append((french, [form.strip() for form in english.split(" | ")]))
    return entries


def is_acronym(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and all(c.isupper() or c.isdigit() for c in word[1:])


def term_pattern(term: str) -> re.Pattern:
    """A term as whole words: acronyms as written, other terms without case."""
    words = re.split(r"[\s'’\-]+", term.strip())
    body = r"[\s'’\-]+".join(re.escape(w) for w in words if w)
    flags = 0 if is_acronym(term) else re.IGNORECASE
    return re.compile(rf"(?<![\w]){body}(?![\w])", flags)


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class Glossary:
    def __init__(self) -> None:
        self.entries = [(term_pattern(strip_accents(fr)), fr, [term_pattern(e) for e in en]) for fr, en in load_glossary()]
        # French acronyms whose English form differs (EI -> IS): they must not stay.
        self.acronyms = [
            (re.compile(rf"(?<![\w]){re.escape(fr)}(?![\w])"), fr)
            for fr, en in load_glossary()
            if is_acronym(fr) and fr not in en
        ]

    def terms(self, french: str) -> list[tuple[str, list[re.Pattern]]]:
        folded = strip_accents(french)
        return [(fr, en) for pattern, fr, en in self.entries if pattern.search(folded)]

    def kept(self, french: str, english: str) -> tuple[int, int]:
        terms = self.terms(french)
        return sum(any(p.search(english) for p in en) for _, en in terms), len(terms)

    def french_acronyms_left(self, french: str, english: str) -> list[str]:
        return [fr for pattern, fr in self.acronyms if pattern.search(french) and pattern.search(english)]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flores(args: argparse.Namespace) -> None:
    src = args.src.read_text(encoding="utf-8").split("\n")
    ref = args.ref.read_text(encoding="utf-8").split("\n")
    glossary = Glossary()
    systems = {}
    for spec in args.hyp:
        name, path = spec.split("=", 1)
        records = read_jsonl(Path(path))
        systems[name] = records
    n = min(len(r) for r in systems.values())
    src, ref = src[:n], ref[:n]
    print(f"FLORES-200 devtest fr->en, first {n} lines\n")
    print("| system | chrF | BLEU | lines with every number kept | numbers added | glossary terms kept | French acronyms left |")
    print("|---|---|---|---|---|---|---|")
    for name, records in systems.items():
        hyp = [r["text"] for r in records[:n]]
        chrf = sacrebleu.corpus_chrf(hyp, [ref]).score
        bleu = sacrebleu.corpus_bleu(hyp, [ref]).score
        kept_lines = sum(french_numbers(s) <= english_numbers(h) for s, h in zip(src, hyp))
        added = sum(len(english_numbers(h) - french_numbers(s)) for s, h in zip(src, hyp))
        terms = [glossary.kept(s, h) for s, h in zip(src, hyp)]
        kept, total = sum(k for k, _ in terms), sum(t for _, t in terms)
        left = sum(len(glossary.french_acronyms_left(s, h)) for s, h in zip(src, hyp))
        print(f"| {name} | {chrf:.2f} | {bleu:.2f} | {kept_lines}/{n} | {added} | {kept}/{total} | {left} |")
    if args.confidence:
        records = systems[args.confidence][:n]
        rows = [(r.get("confidence"), sacrebleu.sentence_chrf(r["text"], [e]).score) for r, e in zip(records, ref)]
        rows = [(c, s) for c, s in rows if c is not None]
        rows.sort()
        print(f"\nConfidence (mean token log-probability) of {args.confidence} against sentence chrF, by fifths:\n")
        print("| confidence range | lines | mean sentence chrF |")
        print("|---|---|---|")
        for k in range(5):
            part = rows[k * len(rows) // 5 : (k + 1) * len(rows) // 5]
            print(f"| {part[0][0]:.3f} to {part[-1][0]:.3f} | {len(part)} | {statistics.mean(s for _, s in part):.1f} |")
        for threshold in (-0.3, -0.4, -0.5, -0.6, -0.7):
            low = [s for c, s in rows if c < threshold]
            high = [s for c, s in rows if c >= threshold]
            if low and high:
                print(f"\nbelow {threshold}: {len(low)} lines, mean chrF {statistics.mean(low):.1f}; "
                      f"at or above: {len(high)} lines, mean chrF {statistics.mean(high):.1f}", end="")
        ranks_c = {i: r for r, (i, _) in enumerate(sorted(enumerate(rows), key=lambda x: x[1][0]))}
        ranks_s = {i: r for r, (i, _) in enumerate(sorted(enumerate(rows), key=lambda x: x[1][1]))}
        m = len(rows)
        d2 = sum((ranks_c[i] - ranks_s[i]) ** 2 for i in range(m))
        print(f"\n\nSpearman rank correlation of confidence and sentence chrF: {1 - 6 * d2 / (m * (m * m - 1)):.3f} ({m} lines)")


def read_facts(path: Path) -> list[tuple[str, list[re.Pattern]]]:
    facts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        description, *patterns = line.split("\t")
        facts.append((description, [re.compile(p, re.IGNORECASE) for p in patterns]))
    return facts


def articles(args: argparse.Namespace) -> None:
    glossary = Glossary()
    names = sorted(p.name[: -len(".fr.txt")] for p in args.dir.glob("*.fr.txt"))
    systems = dict(spec.split("=", 1) for spec in args.brief)
    print("| system | article | key facts kept | summary numbers not in the French | French numbers lost in the translation | French acronyms left |")
    print("|---|---|---|---|---|---|")
    totals = {}
    for system, directory in systems.items():
        kept_all, facts_all, invented_all, lost_all, left_all = 0, 0, 0, 0, 0
        for name in names:
            french = (args.dir / f"{name}.fr.txt").read_text(encoding="utf-8")
            facts = read_facts(args.dir / f"{name}.facts.tsv")
            brief = json.loads((Path(directory) / f"{name}.json").read_text(encoding="utf-8"))
            summary = brief["summary"]
            english = "\n\n".join([brief["title"], *brief["translation"]])
            kept = [d for d, patterns in facts if all(p.search(summary) for p in patterns)]
            invented = sorted(english_numbers(summary) - french_numbers(french))
            lost = sorted(french_numbers(french) - english_numbers(english))
            left = glossary.french_acronyms_left(french, english)
            kept_all += len(kept)
            facts_all += len(facts)
            invented_all += len(invented)
            lost_all += len(lost)
            left_all += len(left)
            print(f"| {system} | {name} | {len(kept)}/{len(facts)} | {', '.join(invented) or '-'} | {', '.join(lost) or '-'} | {', '.join(left) or '-'} |")
        totals[system] = (kept_all, facts_all, invented_all, lost_all, left_all)
    print("\n| system | key facts kept | summaries' numbers not in the French | numbers lost in translation | French acronyms left |")
    print("|---|---|---|---|---|")
    for system, (kept, facts, invented, lost, left) in totals.items():
        print(f"| {system} | {kept}/{facts} | {invented} | {lost} | {left} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("flores")
    f.add_argument("--src", type=Path, required=True)
    f.add_argument("--ref", type=Path, required=True)
    f.add_argument("--hyp", action="append", required=True, help="NAME=FILE.jsonl with a `text` per line")
    f.add_argument("--confidence", help="system whose `confidence` field to relate to sentence chrF")
    a = sub.add_parser("articles")
    a.add_argument("--dir", type=Path, default=REPO / "eval" / "articles")
    a.add_argument("--brief", action="append", required=True, help="NAME=DIR holding <article>.json briefs")
    args = parser.parse_args()
    {"flores": flores, "articles": articles}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
