#!/usr/bin/env python3
"""Reference renderings of real chat templates -> tests/fixtures/chat_templates.json.

The templates are the published texts in tests/fixtures/chat_templates/ (their sources are in
the README there). Each is rendered for a set of message lists the way HF transformers renders
chat templates: `transformers.utils.chat_template_utils.render_jinja_template` (what
`apply_chat_template(..., tokenize=False)` calls) with add_generation_prompt=True,
enable_thinking=False, and the special tokens as variables; `strftime_now` sees a fixed time
(FIXED_NOW, recorded in the fixture) so that Llama 3.2's "Today Date" does not change with the
day the fixture is made. Without transformers, jinja2 is set up as transformers sets it up
(reference.render_chat). A template that raises (`raise_exception`) gets the error's message.

Token ids are llama.cpp's for the rendered text (`tokenize(prompt, add_bos=False, special=True)`,
as llama-cpp-python's chat completion feeds it) with a tokenizer of the template's family: Gemma 3
270M's for the Gemma templates, Qwen2.5's for Qwen3's (the template is text; Qwen3's `<think>`
tokens are plain text to it). No Llama 3 tokenizer is provisioned: Llama cases have text only.
For the Gemma templates the script also checks that this equals what llama.cpp's own chat code
feeds (the leading BOS text stripped, then `add_bos=True`): one BOS, never two.

Usage: python3 scripts/ref/chat_templates.py [--out PATH]
(needs jinja2 >= 3.1.6, transformers optional, llama-cpp-python for the ids)
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402
from llamacpp_chat import ENGLISH_PARAGRAPH, FRENCH_MULTILINE, FRENCH_SENTENCE  # noqa: E402

TEMPLATE_DIR = ref.REPO_ROOT / "tests/fixtures/chat_templates"
MODEL_GEMMA = ref.MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"

# 2025-03-07 12:00:00 UTC; strftime_now formats it as a naive datetime, as transformers formats
# datetime.now().
FIXED_NOW = datetime(2025, 3, 7, 12, 0, 0)
FIXED_NOW_UNIX = int(FIXED_NOW.replace(tzinfo=timezone.utc).timestamp())

LLAMA3_SPECIALS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}

# file, family, tokenizer GGUF (None: text only), special tokens (None: from that GGUF).
TEMPLATES = [
    ("google-gemma-3-it.jinja", "gemma3", MODEL_GEMMA, None),
    ("google-translategemma-4b-it.jinja", "translategemma", MODEL_GEMMA, None),
    ("Qwen-Qwen3-0.6B.jinja", "qwen3", ref.MODEL_SMALL, None),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3.1", None, LLAMA3_SPECIALS),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3.2", None, LLAMA3_SPECIALS),
]


def example_turns() -> list[dict]:
    """The example translations precis puts before a paragraph (translate.rs, `messages`)."""
    turns = []
    for line in ref.read_prompt("translate.examples").split("\n"):
        if line.startswith("#") or "\t" not in line:
            continue
        french, english = line.split("\t", 1)
        turns.append({"role": "user", "content": ref.fill(ref.read_prompt("translate.user"), french)})
        turns.append({"role": "assistant", "content": english})
    return turns


def translation_request(text: str) -> dict:
    """TranslateGemma's structured user message, as precis builds it (fr -> en)."""
    return {"role": "user", "content": [{"type": "text", "source_lang_code": "fr", "target_lang_code": "en",
                                         "text": text}]}


def cases() -> list[dict]:
    translate = ref.translate_messages(FRENCH_SENTENCE)
    return [
        {"name": "system_user", "messages": translate},
        {"name": "system_examples_user", "messages": translate[:1] + example_turns() + translate[1:]},
        {"name": "summary", "messages": ref.summarize_messages(ENGLISH_PARAGRAPH)},
        {"name": "user_only", "messages": [{"role": "user", "content": FRENCH_MULTILINE}]},
        # Leading and trailing whitespace: Gemma's templates trim message contents.
        {"name": "whitespace", "messages": [{"role": "system", "content": "  Be brief.\n"},
                                            {"role": "user", "content": "\n  Bonjour ! \u00a0\n"}]},
        # Special-token text inside a message: precis tokenizes it as plain text, llama.cpp (and
        # these ids) as the special tokens, so the case has a text reference only.
        {"name": "special_token_text", "ids": False,
         "messages": [{"role": "user", "content": "Fin du tour <end_of_turn>\n<start_of_turn>model\n<|im_end|>"}]},
        # Structured content: precis sends it only to templates that take language codes; Gemma
        # 3's reads the text of such a list too.
        {"name": "translation_request", "families": ["translategemma", "gemma3"],
         "messages": [translation_request(FRENCH_SENTENCE)]},
        {"name": "translation_request_multiline", "families": ["translategemma", "gemma3"],
         "messages": [translation_request(" " + FRENCH_MULTILINE + "\n")]},
        # Role order the Gemma templates refuse.
        {"name": "assistant_first", "messages": [{"role": "assistant", "content": "Hello."},
                                                 {"role": "user", "content": "Bonjour."}]},
        {"name": "two_users", "messages": [{"role": "user", "content": "Un."}, {"role": "user", "content": "Deux."}]},
    ]


def renderer():
    """(render(template, messages, variables) -> str, description)."""
    try:
        import transformers
        import transformers.utils.chat_template_utils as ctu
    except ImportError:
        def render(template, messages, variables):
            return ref.render_chat(template, messages, {k: v for k, v in variables.items()
                                                        if k.endswith("_token")})
        return render, "jinja2 set up as transformers sets it up (scripts/ref/reference.py render_chat)"

    class FixedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    # strftime_now reads the module's `datetime` when called.
    ctu.datetime = FixedDatetime

    def render(template, messages, variables):
        rendered, _ = ctu.render_jinja_template(conversations=[messages], chat_template=template,
                                                add_generation_prompt=True, **variables)
        return rendered[0]

    return render, (f"transformers {transformers.__version__} render_jinja_template (jinja2 "
                    f"{__import__('jinja2').__version__}), add_generation_prompt=True, "
                    "enable_thinking=False, bos_token, eos_token")


def vocab(path: Path):
    """llama.cpp with the vocabulary of the GGUF at `path` only (no weights)."""
    from llama_cpp import Llama

    return Llama(model_path=str(path), vocab_only=True, verbose=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests/fixtures/chat_templates.json")
    args = parser.parse_args()

    import jinja2

    render, how = renderer()
    the_cases = cases()
    templates = []
    out_cases = []
    for file, family, tokenizer_path, specials in TEMPLATES:
        template = ref.read_text_exact(TEMPLATE_DIR / file)
        llm = vocab(tokenizer_path) if tokenizer_path else None
        if llm is not None:
            llm_specials = ref.special_token_vars(llm)
            specials = {k: llm_specials[k] for k in ("bos_token", "eos_token")}
        templates.append({"file": file, "family": family, "sha256": ref.sha256_hex(template.encode("utf-8")),
                          "special_tokens": specials,
                          "tokenizer": tokenizer_path.name if tokenizer_path else None})
        for case in the_cases:
            if family not in case.get("families", [family]):
                continue
            entry = {"template": file, "name": case["name"], "messages": case["messages"]}
            try:
                prompt = render(template, case["messages"], {**specials, "enable_thinking": False})
            except jinja2.exceptions.TemplateError as e:
                entry["error"] = str(e)
                out_cases.append(entry)
                continue
            entry["prompt"] = prompt
            if llm is not None and case.get("ids", True):
                ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
                bos = specials["bos_token"]
                if family.endswith("gemma3") or family == "translategemma":
                    # llama.cpp's chat code: the template's BOS text stripped, BOS added by tokenize.
                    assert prompt.startswith(bos), (file, case["name"])
                    server = llm.tokenize(prompt[len(bos):].encode("utf-8"), add_bos=True, special=True)
                    assert server == ids, (file, case["name"], "llama.cpp's chat code feeds other ids")
                    assert ids[0] == llm.token_bos() and ids[1] != llm.token_bos(), (file, case["name"])
                entry["ids"] = ids
            out_cases.append(entry)
        del llm

    fixture = {
        "generator": "scripts/ref/chat_templates.py",
        **ref.llama_cpp_info(),
        "rendering": how,
        "strftime_now_time": FIXED_NOW.isoformat(),
        "strftime_now_unix": FIXED_NOW_UNIX,
        "tokenize_call": "llm.tokenize(prompt.encode('utf-8'), add_bos=False, special=True)",
        "prompt_files": {
            name: ref.sha256_hex((ref.PROMPTS_DIR / f"{name}.txt").read_bytes())
            for name in ("translate.system", "translate.user", "translate.examples", "summarize.system",
                         "summarize.user", "summarize.instructions")
        },
        "templates": templates,
        "cases": out_cases,
    }
    ref.write_fixture(args.out, fixture, "cases")
    rendered = sum(1 for c in out_cases if "prompt" in c)
    ref.log(f"wrote {args.out}: {len(out_cases)} cases ({rendered} rendered, {len(out_cases) - rendered} "
            f"refused), {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
