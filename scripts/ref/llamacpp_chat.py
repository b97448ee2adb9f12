#!/usr/bin/env python3
"""Reference chat-template renderings and llama.cpp ids -> tests/fixtures/chat_template_qwen2.json.

Each case's messages are built from the prompt files in prompts/ (read at run time) and texts we
wrote ourselves; the prompt is rendered with the GGUF's tokenizer.chat_template the way HF
transformers does (see reference.py) and tokenized with add_bos=False, special=True.

Usage: python3 scripts/ref/llamacpp_chat.py [--model PATH] [--other-model PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

# Our own texts (fictional news), not taken from any corpus.
FRENCH_SENTENCE = (
    "Le conseil municipal de Villeneuve-sur-Lot a voté mardi soir un budget de 12,4 millions "
    "d’euros pour rénover trois écoles primaires."
)
FRENCH_MULTILINE = (
    "Rentrée : « des classes plus petites »\n\n"
    "La ministre a promis lundi «\u00a0au moins 2\u202f000 postes\u00a0» d’enseignants.\n"
    "Les syndicats répondent : « Nous attendons des actes. »"
)
ENGLISH_PARAGRAPH = (
    "On Tuesday evening, the town council of Villeneuve-sur-Lot approved a budget of 12.4 million "
    "euros to renovate three primary schools. Work will begin in March 2025 and should last "
    "eighteen months. Mayor Claire Dubois said that 1,350 pupils would benefit from the new "
    "classrooms."
)
ENGLISH_WITH_GUILLEMETS = (
    "Back to school: « smaller classes »\n\n"
    "On Monday the minister promised « at least 2,000 teaching posts ».\n"
    "The unions replied: « We are waiting for action. »"
)


def cases() -> list[dict]:
    return [
        {
            "name": "translate_sentence",
            "built_from": {"system": "prompts/translate.system.txt",
                           "user": "prompts/translate.user.txt", "text": FRENCH_SENTENCE},
            "messages": ref.translate_messages(FRENCH_SENTENCE),
        },
        {
            "name": "summarize_paragraph",
            "built_from": {"system": "prompts/summarize.system.txt",
                           "user": "prompts/summarize.user.txt", "text": ENGLISH_PARAGRAPH},
            "messages": ref.summarize_messages(ENGLISH_PARAGRAPH),
        },
        {
            "name": "no_system_message",
            "built_from": None,
            "messages": [{"role": "user",
                          "content": "Bonjour ! Comment dit-on « chat » en anglais ?"}],
        },
        {
            "name": "translate_multiline_guillemets",
            "built_from": {"system": "prompts/translate.system.txt",
                           "user": "prompts/translate.user.txt", "text": FRENCH_MULTILINE},
            "messages": ref.translate_messages(FRENCH_MULTILINE),
        },
        {
            "name": "summarize_strict_multiline_guillemets",
            "built_from": {"system": "prompts/summarize.system.txt",
                           "user": "prompts/summarize.user.txt", "text": ENGLISH_WITH_GUILLEMETS,
                           "instruction": "prompts/summarize.instructions.txt, the last"},
            "messages": ref.summarize_messages(ENGLISH_WITH_GUILLEMETS, ref.summary_instructions()[-1][1]),
        },
    ]


def llama_cpp_python_rendering(llm, messages: list[dict]) -> str | None:
    """llama-cpp-python's own Jinja2 formatter, as an independent cross-check."""
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError:
        return None
    tokens = ref.special_token_vars(llm)
    formatter = Jinja2ChatFormatter(
        template=ref.chat_template(llm),
        eos_token=tokens.get("eos_token", ""),
        bos_token=tokens.get("bos_token", ""),
        add_generation_prompt=True,
    )
    return formatter(messages=messages).prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ref.MODEL_SMALL)
    parser.add_argument("--other-model", type=Path, default=ref.MODEL_DEFAULT,
                        help="second GGUF that must render and tokenize every case identically")
    parser.add_argument("--out", type=Path,
                        default=ref.REPO_ROOT / "tests/fixtures/chat_template_qwen2.json")
    args = parser.parse_args()

    models = [args.model] + ([args.other_model] if args.other_model.exists() else [])
    the_cases = cases()
    per_model = []
    for path in models:
        llm = ref.load_llama(path)
        template = ref.chat_template(llm)
        rendered = []
        for case in the_cases:
            prompt, ids = ref.prompt_ids(llm, case["messages"])
            rendered.append((prompt, ids, llama_cpp_python_rendering(llm, case["messages"])))
        per_model.append({
            "model_file": path.name,
            "chat_template_sha256": ref.sha256_hex(template.encode("utf-8")),
            "chat_template_chars": len(template),
            "special_tokens": ref.special_token_vars(llm),
            "eos_ids": ref.eos_ids(llm),
            "rendered": rendered,
        })
        del llm

    first = per_model[0]
    for other in per_model[1:]:
        for case, a, b in zip(the_cases, first["rendered"], other["rendered"]):
            if a[:2] != b[:2]:
                raise SystemExit(f"{case['name']}: {other['model_file']} renders or tokenizes "
                                 f"differently from {first['model_file']}")
    out_cases = []
    for case, (prompt, ids, lcp_prompt) in zip(the_cases, first["rendered"]):
        out_cases.append({
            **case,
            "add_generation_prompt": True,
            "prompt": prompt,
            "llama_cpp_python_formatter_agrees": None if lcp_prompt is None else lcp_prompt == prompt,
            "ids": ids,
        })

    fixture = {
        "generator": "scripts/ref/llamacpp_chat.py",
        **ref.llama_cpp_info(),
        "rendering": "jinja2 ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, "
                     "extensions=[loopcontrols]); globals raise_exception, strftime_now; filter "
                     "tojson(ensure_ascii=False); variables messages, tools=None, documents=None, "
                     "add_generation_prompt, bos_token, eos_token, pad_token",
        "tokenize_call": "llm.tokenize(prompt.encode('utf-8'), add_bos=False, special=True)",
        "prompt_files": {
            name: ref.sha256_hex((ref.PROMPTS_DIR / f"{name}.txt").read_bytes())
            for name in ("translate.system", "translate.user", "summarize.system",
                         "summarize.user", "summarize.instructions")
        },
        "models": [
            {k: v for k, v in m.items() if k != "rendered"} for m in per_model
        ],
        "models_note": "every listed model renders and tokenizes every case identically "
                       "(the script stops otherwise)",
        "cases": out_cases,
    }
    ref.write_fixture(args.out, fixture, "cases")
    total = sum(len(c["ids"]) for c in out_cases)
    ref.log(f"wrote {args.out}: {len(out_cases)} cases, {total} ids, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
