"""Shared pieces of the llama.cpp reference scripts: model loading, prompt files, chat rendering.

The prompts are single-sourced in `prompts/*.txt` at the repository root and read at run time,
byte for byte (no trimming: the files carry no trailing newline). The chat prompt is rendered
with the GGUF's own `tokenizer.chat_template` the way HF transformers renders chat templates
(`apply_chat_template`): jinja2 ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True) with the loopcontrols extension, a `tojson` filter that keeps non-ASCII,
and the globals `raise_exception` and `strftime_now`; the special tokens are passed as variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS_DIR = REPO_ROOT / "prompts"
# Where precis provisions its models (src/models/mod.rs, models_dir): $PRECIS_MODELS_DIR, else
# precis/models in the XDG data directory.
MODELS_DIR = Path(
    os.environ.get("PRECIS_MODELS_DIR")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "precis" / "models"
)
MODEL_SMALL = MODELS_DIR / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_DEFAULT = MODELS_DIR / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
# shared/ sits beside the repository (main/ and shared/ are siblings); PRECIS_SHARED overrides.
SHARED_DIR = Path(os.environ.get("PRECIS_SHARED", REPO_ROOT.parent / "shared"))
FLORES_DIR = SHARED_DIR / "eval" / "flores200-devtest"
SEED_ARTICLE = SHARED_DIR / "seed" / "article.fr.txt"

TEXT_PLACEHOLDER = "{text}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_text_exact(path: Path) -> str:
    """UTF-8 text exactly as stored: no newline translation (CRLF stays CRLF), no trimming."""
    return Path(path).read_bytes().decode("utf-8")


def read_lines(path: Path) -> list[str]:
    """Lines of a one-segment-per-line file: split on "\\n", the trailing empty piece dropped.

    Line i of the result is what fixtures call `"line": i` (0-based).
    """
    lines = read_text_exact(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of an article: split on blank lines, each trimmed (str.strip), empties dropped.

    For the seed article the title line is paragraph 0.
    """
    return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]


def read_prompt(name: str) -> str:
    """One prompt file, e.g. read_prompt("translate.system")."""
    return read_text_exact(PROMPTS_DIR / f"{name}.txt")


def fill(template: str, text: str) -> str:
    if TEXT_PLACEHOLDER not in template:
        raise ValueError(f"user prompt template has no {TEXT_PLACEHOLDER} placeholder")
    return template.replace(TEXT_PLACEHOLDER, text)


def translate_messages(french: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": read_prompt("translate.system")},
        {"role": "user", "content": fill(read_prompt("translate.user"), french)},
    ]


def summary_instructions() -> list[tuple[str, str]]:
    """(name, instruction) of prompts/summarize.instructions.txt, in order."""
    found = []
    for line in read_prompt("summarize.instructions").split("\n"):
        if line.strip() and not line.startswith("#") and "\t" in line:
            name, text = line.split("\t", 1)
            found.append((name, text))
    return found


def summarize_messages(english: str, instruction: str | None = None) -> list[dict[str, str]]:
    """The summary request precis makes, with `instruction` (default: the first one)."""
    if instruction is None:
        instruction = summary_instructions()[0][1]
    user = fill(read_prompt("summarize.user"), english).replace("{instruction}", instruction)
    return [
        {"role": "system", "content": read_prompt("summarize.system")},
        {"role": "user", "content": user},
    ]


def load_llama(model_path: Path, n_ctx: int = 4096, n_threads: int = 2, n_batch: int = 512):
    """A CPU llama.cpp context (import deferred so --help works without llama_cpp)."""
    from llama_cpp import Llama

    return Llama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        n_batch=n_batch,
        n_gpu_layers=0,
        logits_all=False,
        verbose=False,
    )


def _token_text(llm, token_id: int | None) -> str | None:
    if token_id is None or token_id < 0:
        return None
    return llm.detokenize([token_id], special=True).decode("utf-8")


def _int_meta(llm, key: str) -> int | None:
    value = llm.metadata.get(key)
    return int(value) if value is not None else None


def special_token_vars(llm) -> dict[str, str]:
    """bos_token / eos_token (and pad_token) strings, as transformers passes them to templates."""
    out = {}
    for name, key in (
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
    ):
        text = _token_text(llm, _int_meta(llm, key))
        if text is not None:
            out[name] = text
    return out


def render_chat(
    template: str,
    messages: list[dict[str, str]],
    special_tokens: dict[str, str],
    add_generation_prompt: bool = True,
) -> str:
    """Render `messages` with a chat template exactly as HF transformers does."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    compiled = env.from_string(template)
    return compiled.render(
        messages=messages,
        tools=None,
        documents=None,
        add_generation_prompt=add_generation_prompt,
        **special_tokens,
    )


def chat_template(llm) -> str:
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise KeyError("GGUF metadata key tokenizer.chat_template is missing")
    return template


def prompt_ids(llm, messages: list[dict[str, str]]) -> tuple[str, list[int]]:
    """Rendered chat prompt and its llama.cpp ids (add_bos=False, special=True)."""
    prompt = render_chat(chat_template(llm), messages, special_token_vars(llm))
    return prompt, llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def eos_ids(llm) -> list[int]:
    """Ids that end generation: the GGUF eos id, <|im_end|> and <|endoftext|> where present."""
    ids = set()
    eos = _int_meta(llm, "tokenizer.ggml.eos_token_id")
    if eos is not None:
        ids.add(eos)
    for text in ("<|im_end|>", "<|endoftext|>"):
        toks = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(toks) == 1:
            ids.add(toks[0])
    return sorted(ids)


def llama_cpp_info() -> dict[str, Any]:
    import llama_cpp

    info = {"llama_cpp_python": llama_cpp.__version__}
    try:
        info["system_info"] = llama_cpp.llama_print_system_info().decode("utf-8").strip()
    except Exception:  # older/newer bindings may lack it; the version alone still identifies
        pass
    return info


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def write_fixture(path: Path, fixture: dict, list_key: str) -> None:
    """Write a fixture: the header indented, then `fixture[list_key]` one item per line.

    Items are ASCII-escaped (NBSP, ZWJ and friends stay visible as \\uXXXX); the result is
    parsed back before writing.
    """
    items = fixture[list_key]
    header = {k: v for k, v in fixture.items() if k != list_key}
    head = json.dumps(header, ensure_ascii=False, indent=1)
    body = ",\n".join("  " + json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in items)
    text = head[: head.rindex("}")].rstrip() + f',\n "{list_key}": [\n' + body + "\n ]\n}\n"
    if json.loads(text) != fixture:
        raise AssertionError("fixture did not round-trip through JSON")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def last_logits(llm):
    """Logits of the last evaluated position, read from the llama.cpp context (no copy).

    llama-cpp-python >= 0.3 no longer stores logits in `Llama.scores` unless logits_all=True,
    so they are read with llama_get_logits_ith(ctx, -1).
    """
    import ctypes

    import llama_cpp
    import numpy as np

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    if not ptr:
        raise RuntimeError("llama_get_logits_ith returned NULL (nothing evaluated?)")
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(llm.n_vocab(),))
