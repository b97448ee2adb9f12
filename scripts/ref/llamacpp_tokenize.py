#!/usr/bin/env python3
"""Reference token ids from llama.cpp for the qwen2 GGUF tokenizer -> tests/fixtures/tokenizer_qwen2.json.

Every case is tokenized with `llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)`.
Third-party texts (FLORES lines, the seed article) are referenced by index plus the sha256 of
their UTF-8 bytes, never copied; only texts we wrote ourselves are stored inline.

Usage: python3 scripts/ref/llamacpp_tokenize.py [--model PATH] [--other-model PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gguf_kv  # noqa: E402
import reference as ref  # noqa: E402

FRA_LINES = 200
ENG_LINES = 50

# Texts we wrote ourselves, chosen to hit the pre-tokenizer and byte-level BPE edge cases.
INLINE_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("single_space", " "),
    ("guillemets_plain_spaces", "« 8 000 »"),
    ("guillemets_nbsp", "«\u00a0Bonjour\u00a0»"),
    ("guillemets_nbsp_sentence", "Il a dit\u00a0: «\u00a0plus de 8\u00a0000 personnes\u00a0».\u00a0"),
    ("narrow_nbsp_thousands", "8\u202f000"),
    ("narrow_nbsp_punct", "Vraiment\u202f? Oui\u202f! Prix\u202f: 12,50\u202f€"),
    ("apostrophe_typographic", "L’État, aujourd’hui, c’est l’affaire d’Ève."),
    ("apostrophe_ascii", "L'État, aujourd'hui, c'est l'affaire d'Ève."),
    ("english_contractions", "It's, don't, we're, I've, I'm, you'll, he'd"),
    ("english_contractions_upper", "IT'S DON'T WE'RE I'VE I'M YOU'LL HE'D"),
    ("english_contractions_typographic", "It’s, don’t, we’re"),
    ("emoji_simple", "Bravo 👍🎉!"),
    ("emoji_zwj_family", "👨\u200d👩\u200d👧\u200d👦"),
    ("emoji_zwj_profession", "👩🏽\u200d🚀 et 🧑\u200d💻"),
    ("emoji_flags", "🇫🇷🇬🇧🇺🇸"),
    ("emoji_variation_selector", "❤️ ☀︎ ✔️"),
    ("crlf", "Ligne un\r\nLigne deux\r\n\r\nLigne quatre"),
    ("lone_cr", "a\rb\r"),
    ("tabs", "\tcol1\tcol2\t\tcol4\n\t\tindent"),
    ("space_run_inner", "un  deux   trois    quatre"),
    ("space_run_long", "x" + " " * 20 + "y"),
    ("spaces_before_newline", "fin   \nsuite"),
    ("newline_run", "a\n\n\nb\n\n\n\n\n\nc"),
    ("newlines_only", "\n\n\n"),
    ("mixed_whitespace", " \n \t \n  "),
    ("leading_spaces", "   Début du texte"),
    ("trailing_spaces", "Fin du texte   "),
    ("leading_trailing_newlines", "\nTexte\n"),
    ("digits_run", "1234567890"),
    ("digits_decimal", "3.14159"),
    ("digits_french", "12,5 % de 1 250 000 habitants en 2024"),
    ("digits_mixed_letters", "A380 et COVID-19, 3e, 21h30, v2.0.1"),
    ("accented_capitals", "ÉTAT Ça À Ô Œuvre ÇA ÉÈÊË"),
    ("accents_lower", "naïve, café, où, déjà, cœur, Noël"),
    ("combining_accent", "e\u0301te\u0301"),
    ("zero_width_and_bom", "a\u200bb\ufeffc"),
    ("chinese", "今天天气很好，我们去公园。"),
    ("arabic", "مرحبا بالعالم، هذا اختبار."),
    ("cyrillic", "Привет, мир! Это тест."),
    ("greek_hebrew_devanagari", "Ελλάδα שלום नमस्ते"),
    ("japanese_korean", "東京タワー と 서울"),
    ("literal_im_end", "before <|im_end|> after"),
    ("literal_im_start_chatml", "<|im_start|>user\nSalut<|im_end|>\n"),
    ("literal_endoftext", "<|endoftext|>"),
    ("literal_tool_call", "<tool_call>{}</tool_call>"),
    ("literal_fim", "<|fim_prefix|>x<|fim_suffix|>"),
    ("html_like", "<b>gras</b> &amp; <br/>"),
    ("punctuation_runs", "Quoi ?!... — « non » ; (oui) [peut-être] {x}"),
    ("dashes_and_quotes", "– — ‘a’ “b” „c“ ‹d›"),
    ("url_email", "https://example.org/a?b=1&c=2 contact@example.org"),
    ("code_snippet", "fn main() {\n    println!(\"{}\", 42);\n}\n"),
    ("long_word", "anticonstitutionnellement"),
    ("single_char_e_acute", "é"),
    ("single_newline", "\n"),
    ("byte_fallback_rare", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🜁 \U0010fffd"),
]


def tokenizer_facts(model: Path, other: Path | None) -> dict:
    meta = gguf_kv.read_metadata(str(model))
    keys = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")
    facts = {
        "model_file": model.name,
        "model_sha256": ref.file_sha256(model),
        "general.name": meta.get("general.name"),
        "tokenizer.ggml.model": meta.get("tokenizer.ggml.model"),
        "tokenizer.ggml.pre": meta.get("tokenizer.ggml.pre"),
        "tokenizer.ggml.bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "tokenizer.ggml.eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "tokenizer.ggml.padding_token_id": meta.get("tokenizer.ggml.padding_token_id"),
        "tokenizer.ggml.add_bos_token": meta.get("tokenizer.ggml.add_bos_token"),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "merges_count": len(meta["tokenizer.ggml.merges"]),
        "token_type_counts": {
            str(t): meta["tokenizer.ggml.token_type"].count(t)
            for t in sorted(set(meta["tokenizer.ggml.token_type"]))
        },
        "token_type_legend": "1 normal, 3 control, 4 user_defined, 5 unused",
    }
    for key in keys:
        facts[key.replace("tokenizer.ggml.", "") + "_sha256"] = gguf_kv.value_sha256(meta[key])
    if other is not None:
        other_meta = gguf_kv.read_metadata(str(other))
        same = {key: meta[key] == other_meta[key] for key in keys}
        for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token"):
            same[key] = meta.get(key) == other_meta.get(key)
        facts["same_tokenizer_as"] = {
            "model_file": other.name,
            "compared": same,
            "identical": all(same.values()),
        }
        if not facts["same_tokenizer_as"]["identical"]:
            ref.log(f"warning: tokenizer of {other.name} differs from {model.name}: {same}")
    return facts


def referenced_case(llm, case: dict, text: str) -> dict:
    data = text.encode("utf-8")
    case.update({"text_sha256": ref.sha256_hex(data), "text_bytes": len(data)})
    case["ids"] = llm.tokenize(data, add_bos=False, special=False)
    return case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_SMALL)
    parser.add_argument("--other-model", type=Path, default=ref.MODEL_DEFAULT,
                        help="second GGUF whose tokenizer metadata must equal --model's")
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/tokenizer_qwen2.json")
    args = parser.parse_args()

    facts = tokenizer_facts(args.model, args.other_model if args.other_model.exists() else None)
    llm = ref.load_llama(args.model)

    cases = []
    for lang, path, count in (
        ("fra", ref.FLORES_DIR / "fra_Latn.devtest", FRA_LINES),
        ("eng", ref.FLORES_DIR / "eng_Latn.devtest", ENG_LINES),
    ):
        lines = ref.read_lines(path)
        for i in range(count):
            cases.append(referenced_case(llm, {"source": f"flores-{lang}", "line": i}, lines[i]))

    article = ref.read_text_exact(ref.SEED_ARTICLE)
    for i, para in enumerate(ref.split_paragraphs(article)):
        cases.append(referenced_case(llm, {"source": "seed-paragraph", "paragraph": i}, para))
    cases.append(referenced_case(llm, {"source": "seed-whole"}, article))

    for name, text in INLINE_CASES:
        data = text.encode("utf-8")
        cases.append({"source": "inline", "name": name, "text": text,
                      "ids": llm.tokenize(data, add_bos=False, special=False)})

    fixture = {
        "generator": "scripts/ref/llamacpp_tokenize.py",
        **ref.llama_cpp_info(),
        "tokenize_call": "llm.tokenize(text.encode('utf-8'), add_bos=False, special=False)",
        "tokenizer": facts,
        "sources": {
            "flores-fra": "shared/eval/flores200-devtest/fra_Latn.devtest",
            "flores-eng": "shared/eval/flores200-devtest/eng_Latn.devtest",
            "seed-paragraph": "shared/seed/article.fr.txt",
            "seed-whole": "shared/seed/article.fr.txt",
        },
        "conventions": {
            "line": "0-based; the file's UTF-8 text split on '\\n' (no other newline handling)",
            "paragraph": "0-based; the file's text split on blank lines (regex \\n[ \\t\\r]*\\n), "
                         "each piece trimmed with Python str.strip(), empty pieces dropped; "
                         "paragraph 0 is the title line",
            "seed-whole": "the whole file's bytes decoded as UTF-8, untrimmed, newlines as stored",
            "text_sha256": "sha256 of the case text's UTF-8 bytes, to check the text was rebuilt right",
        },
        "total_ids": sum(len(c["ids"]) for c in cases),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ref.write_fixture(args.out, fixture, "cases")
    ref.log(f"wrote {args.out}: {len(cases)} cases, {fixture['total_ids']} ids, "
            f"{args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
