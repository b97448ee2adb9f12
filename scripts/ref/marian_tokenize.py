#!/usr/bin/env python3
"""Reference ids from HF `MarianTokenizer` -> tests/fixtures/tokenizer_marian.json.

Tokenizer: the real opus-mt-tc-big-fr-en files in ../shared/tokenizers/opus-mt-tc-big-fr-en.
Cases: all 1012 FLORES-200 devtest French lines, every paragraph of the seed article and the
whole article, and inline texts we wrote ourselves (whitespace, Unicode normalisation, unknown
characters, special-token strings, language codes). Encoding is `tokenizer(text).input_ids`
(pieces + `</s>`). Decoding cases: `decode(ids, skip_special_tokens=True)` of the encoded ids of
every case (the vocabulary is shared, so source ids are valid target ids), stored as the sha256
of the text for third-party texts and as the text for our own. Third-party texts are referenced
by index plus the sha256 of their UTF-8 bytes, never copied.

Usage: .venv/bin/python scripts/ref/marian_tokenize.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

import transformers  # noqa: E402
from transformers import MarianTokenizer  # noqa: E402

TOKENIZER_DIR = ref.SHARED_DIR / "tokenizers" / "opus-mt-tc-big-fr-en"

INLINE_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("single_space", " "),
    ("spaces_only", "   \t \n "),
    ("leading_trailing_spaces", "   Bonjour le monde.   "),
    ("space_runs", "un  deux   trois\t\tquatre\n\ncinq"),
    ("nbsp_punct", "Vraiment\u00a0? Oui\u202f! Prix\u00a0: 12,50\u00a0€"),
    ("guillemets", "Il a dit : « plus de 8 000 personnes »."),
    ("apostrophes", "L’État, aujourd’hui, c'est l'affaire d’Ève."),
    ("nfkc_compat", "ﬁn ½ Ⅻ ２０２４ ｱ ㎞ ™ ℃"),
    ("combining", "e\u0301te\u0301 cafe\u0301 n\u0303"),
    ("zero_width_bom", "a\u200bb\ufeffc\u200d"),
    ("control_chars", "a\u0001b\u0007c\u001fd"),
    ("unknown_scripts", "漢字 テスト 😀 👨\u200d👩\u200d👧"),
    ("mixed_unknown_known", "Le mot 漢字est là, 😀😀 fin."),
    ("special_eos", "avant </s> après"),
    ("special_unk_pad", "x<unk>y<pad>z"),
    ("special_adjacent", "</s></s><pad>"),
    ("language_code", ">>fra<< Bonjour"),
    ("language_code_known_shape", ">>eng<<Salut"),
    ("not_language_code", "a >>fra<< b"),
    ("literal_space_symbol", "a\u2581b \u2581 c\u2581"),
    ("digits", "12,5 % de 1 250 000 habitants en 2024, 21h30, COVID-19."),
    ("accents_upper", "ÉTAT Ça À Ô Œuvre ÇA ÉÈÊË"),
    ("long_word", "anticonstitutionnellement"),
    ("urls", "https://example.org/a?b=1&c=2 contact@example.org"),
    ("dashes_quotes", "– — ‘a’ “b” „c“ ‹d› …"),
    ("crlf", "Ligne un\r\nLigne deux\r\n"),
]


def seed_paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n[ \t\r]*\n", text) if p.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests" / "fixtures" / "tokenizer_marian.json")
    args = parser.parse_args()

    tokenizer = MarianTokenizer.from_pretrained(str(TOKENIZER_DIR))
    cases = []

    def add(case: dict, text: str, inline: bool) -> None:
        ids = tokenizer(text).input_ids
        decoded = tokenizer.decode(ids, skip_special_tokens=True)
        case["ids"] = ids
        if inline:
            case["text"] = text
            case["decoded"] = decoded
        else:
            case["text_sha256"] = ref.sha256_hex(text.encode("utf-8"))
            case["decoded_sha256"] = ref.sha256_hex(decoded.encode("utf-8"))
        cases.append(case)

    for name, text in INLINE_CASES:
        add({"source": "inline", "name": name}, text, inline=True)
    for i, line in enumerate(ref.read_lines(ref.FLORES_DIR / "fra_Latn.devtest")):
        add({"source": "flores-fra", "line": i}, line, inline=False)
    seed = ref.read_text_exact(ref.SEED_ARTICLE)
    for i, paragraph in enumerate(seed_paragraphs(seed)):
        add({"source": "seed-paragraph", "paragraph": i}, paragraph, inline=False)
    add({"source": "seed-whole"}, seed, inline=False)

    fixture = {
        "generator": "scripts/ref/marian_tokenize.py",
        "transformers": transformers.__version__,
        "tokenizer_dir": "../shared/tokenizers/opus-mt-tc-big-fr-en",
        "encode_call": "tokenizer(text).input_ids",
        "decode_call": "tokenizer.decode(ids, skip_special_tokens=True)",
        "cases": cases,
    }
    args.out.write_text(json.dumps(fixture, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
