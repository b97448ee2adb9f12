#!/usr/bin/env python3
"""Reference token ids from llama.cpp for SentencePiece GGUF tokenizers (`tokenizer.ggml.model = llama`).

Writes three fixtures:

- tests/fixtures/tokenizer_gemma3.json: the Gemma 3 270M vocabulary. Every case is tokenized
  with `llm.tokenize(text.encode("utf-8"), add_bos=..., special=...)` for the four combinations,
  and the ids of the (add_bos=True, special=True) call are turned back into text with
  `llama_detokenize(remove_special=False, unparse_special=...)` for both values. Separate
  detokenization cases give hand-picked id lists (byte tokens, cut UTF-8, control, unused and
  user-defined tokens).
- tests/fixtures/tokenizer_spm_tiny.json: a small vocabulary written here into a GGUF file
  with no tensors (loaded with `vocab_only=True`), for what Gemma's metadata does not exercise:
  the default `add_space_prefix = true` (Llama 2, Mistral), `add_eos_token`, default special
  ids, score ties, merges that need intermediate tokens, an empty token text, a control-looking
  token typed normal. The fixture holds the whole vocabulary, so that the tests can write the
  same GGUF file.
- tests/fixtures/tokenizer_eog.json: the end-of-generation ids llama.cpp derives
  (`llama_vocab_is_eog` over the whole vocabulary) for each test model found.

Third-party texts (FLORES lines) are referenced by index plus the sha256 of their UTF-8 bytes,
never copied, and so is the text they decode to; only texts we wrote ourselves are inline.

Usage: python3 scripts/ref/llamacpp_tokenize_spm.py [--model PATH] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gguf_kv  # noqa: E402
import reference as ref  # noqa: E402
from llamacpp_tokenize import INLINE_CASES  # noqa: E402

FRA_LINES = 200
ENG_LINES = 50
FLORES_DIR = ref.REPO_ROOT / "tests/fixtures/flores200-devtest"
MODEL_GEMMA3 = ref.MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"

# (add_bos, special) -> fixture key; add_bos is llama_tokenize's add_special.
CALLS = {
    "ids": (False, False),
    "ids_special": (False, True),
    "ids_bos": (True, False),
    "ids_bos_special": (True, True),
}

# Texts we wrote ourselves for what SentencePiece vocabularies do differently from byte-level
# BPE: spaces escaped as U+2581 (and a literal U+2581 in the text), Gemma's user-defined tokens
# for runs of spaces, tabs and newlines and for HTML tags (always split out), its control tokens
# (only with special=True), byte fallback for characters outside the vocabulary.
SPM_CASES: list[tuple[str, str]] = [
    ("literal_lower_one_eighth_block", "a\u2581b \u2581\u2581c"),
    ("only_lower_one_eighth_block", "\u2581"),
    ("two_spaces", "  "),
    ("space_run_longer_than_any_token", " " * 40 + "x"),
    ("leading_space_word", " Bonjour"),
    ("leading_two_spaces_word", "  Bonjour"),
    ("tab_runs", "a\tb\t\tc\t\t\t\td"),
    ("newline_run_long", "a" + "\n" * 35 + "b"),
    ("spaces_then_newlines", "fin  \n\n  suite"),
    ("gemma_turn", "<start_of_turn>user\nTraduis : bonjour<end_of_turn>\n<start_of_turn>model\n"),
    ("gemma_turn_adjacent", "x<end_of_turn>y<start_of_turn><start_of_turn>z"),
    ("gemma_bos_eos_pad_unk_mask", "<bos> <eos> <pad> <unk> <mask>"),
    ("gemma_unused", "<unused0><unused12> <unused98>"),
    ("gemma_image_markers", "<start_of_image>x<end_of_image>"),
    ("gemma_multimodal_user_defined", "[multimodal] texte"),
    ("gemma_html_user_defined", "<b>gras</b> <i>it</i> <table><tr><td>1</td></tr></table>"),
    ("gemma_s_tags", "<s>barré</s> et </s>"),
    ("gemma_h1_code", "<h1>Titre</h1>\n<code>x = 1</code>"),
    ("byte_token_text", "<0x41><0xC3><0xA9>"),
    ("angle_brackets_partial", "<start_of_turn <end_of_turn> <start_of_turn"),
    ("nul_and_controls", "a\u0000b\u0007c\u001bd"),
    ("private_use_and_unassigned", "\ue000\U000f0000\U0010fffd\u0378"),
    ("rare_cjk_extension", "\U00020000\U0002a6d6\U00030000"),
    ("ancient_scripts", "𐌰𐌱𐌲 𓀀𓀁 𒀀"),
    ("math_alphanumerics", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕏 𝟘𝟙"),
    ("emoji_skin_tones", "👋🏻👋🏿 🤝🏽"),
    ("emoji_keycap", "1️⃣ #️⃣"),
    ("french_typography", "«\u202fLe 14\u00a0juillet\u202f», l’Assemblée a voté 312\u00a0voix contre 12 ; c’est « historique »."),
    ("french_ligatures", "Œdipe, sœur, bœuf, ex æquo"),
    ("french_capitals_accents", "À ÉCOLE, ÎLE, ÔTER, ÛÈ, Ç"),
    ("digits_long", "31415926535897932384626433832795028841971"),
    ("digits_grouped", "1 234 567,89 € ; 1,234,567.89 $ ; 10\u202f000"),
    ("ordinals_and_units", "1er, 2e, 3ème, 25°C, 10 km/h, 5 m², 3 h 15"),
    ("quotes_mix", "\"droit\" 'simple' « français » “anglais” ‹ › „bas“"),
    ("ellipsis_and_dashes", "Attendez… — non – peut-être ‒ oui ― fin"),
    ("whitespace_mix", " \t \n\r\n \u00a0\u2009\u200a\u3000 "),
    ("trailing_newline", "Fin.\n"),
    ("very_long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3),
    ("repeated_char", "a" * 64),
    ("repeated_syllable", "la" * 40),
    ("mixed_scripts", "Paris (パリ, Париж, باريس, 巴黎)"),
]

# Detokenization cases for Gemma 3, as token texts (resolved to ids through the vocabulary;
# "<0xE2>" is a byte token). Both detokenize calls are recorded for each.
GEMMA3_DETOKENIZE: list[tuple[str, list[str]]] = [
    ("bos_alone", ["<bos>"]),
    ("eos_alone", ["<eos>"]),
    ("bos_word_eos", ["<bos>", "Bonjour", "<eos>"]),
    ("turn_markers", ["<start_of_turn>", "user", "\n", "Bonjour", "<end_of_turn>", "\n"]),
    ("pad_unk_mask", ["<pad>", "<unk>", "<mask>"]),
    ("unused_control", ["<unused0>", "<unused1>", "<unused98>"]),
    ("user_defined_multimodal", ["[multimodal]"]),
    ("user_defined_newlines_spaces_tabs", ["\n", "\n\n", "  ", "   ", "\t", "\t\t"]),
    ("user_defined_s_end_tag", ["<s>", "</s>"]),
    ("image_markers", ["<start_of_image>", "<end_of_image>"]),
    ("byte_tokens_euro", ["<0xE2>", "<0x82>", "<0xAC>"]),
    ("byte_tokens_cut_utf8", ["<0xC3>"]),
    ("byte_tokens_ascii", ["<0x41>", "<0x20>", "<0x0A>"]),
    ("leading_space_piece_first", ["\u2581Bonjour", "\u2581le"]),
    ("leading_space_piece_after_bos", ["<bos>", "\u2581Bonjour"]),
    ("escaped_space_inside", ["\u2581", ">\u2581</", "\u2581"]),
    ("empty", []),
]


def resolve(tokens: list[str], names: list[str]) -> list[int]:
    index = {t: i for i, t in enumerate(tokens)}
    return [index[n] for n in names]


def tokenize_all(llm, text: str) -> dict:
    data = text.encode("utf-8")
    return {key: llm.tokenize(data, add_bos=add_bos, special=special) for key, (add_bos, special) in CALLS.items()}


def detokenize(llm, ids: list[int], unparse_special: bool) -> bytes:
    """llama.cpp's llama_detokenize(remove_special=False, unparse_special)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    size = 256 + 64 * len(ids)
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, unparse_special)
    if n < 0:
        raise RuntimeError(f"detokenize buffer too small for {ids}")
    return buf.raw[:n]


def decoded_fields(llm, ids: list[int], inline: bool) -> dict:
    """Both detokenizations, as text (inline cases) or as sha256 of the bytes."""
    out = {}
    for key, unparse in (("decoded", True), ("decoded_skip_special", False)):
        raw = detokenize(llm, ids, unparse)
        if inline:
            out[key + "_hex"] = raw.hex()
        else:
            out[key + "_sha256"] = ref.sha256_hex(raw)
    return out


def eog_ids(llm) -> list[int]:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return [i for i in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)]


def load_vocab(path: Path):
    from llama_cpp import Llama

    return Llama(model_path=str(path), vocab_only=True, verbose=False)


def model_facts(path: Path) -> dict:
    meta = gguf_kv.read_metadata(str(path))
    facts = {"model_file": path.name, "model_sha256": ref.file_sha256(path)}
    for key in ("general.name", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_space_prefix"):
        facts[key] = meta.get(key)
    types = meta["tokenizer.ggml.token_type"]
    facts["vocab_size"] = len(meta["tokenizer.ggml.tokens"])
    facts["token_type_counts"] = {str(t): types.count(t) for t in sorted(set(types))}
    facts["token_type_legend"] = "1 normal, 2 unknown, 3 control, 4 user_defined, 5 unused, 6 byte"
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        facts[key.replace("tokenizer.ggml.", "") + "_sha256"] = gguf_kv.value_sha256(meta[key])
    return facts


def gemma3_fixture(model: Path) -> dict:
    llm = load_vocab(model)
    cases = []
    for lang, file, count in (("fra", "fra_Latn.devtest", FRA_LINES), ("eng", "eng_Latn.devtest", ENG_LINES)):
        lines = ref.read_lines(FLORES_DIR / file)
        for i in range(count):
            data = lines[i].encode("utf-8")
            case = {"source": f"flores-{lang}", "line": i, "text_sha256": ref.sha256_hex(data), "text_bytes": len(data)}
            case.update(tokenize_all(llm, lines[i]))
            case.update(decoded_fields(llm, case["ids_bos_special"], inline=False))
            cases.append(case)
    for name, text in INLINE_CASES + SPM_CASES:
        case = {"source": "inline", "name": name, "text": text}
        case.update(tokenize_all(llm, text))
        case.update(decoded_fields(llm, case["ids_bos_special"], inline=True))
        cases.append(case)
    detok = []
    tokens = gguf_kv.read_metadata(str(model))["tokenizer.ggml.tokens"]
    for name, texts in GEMMA3_DETOKENIZE:
        ids = resolve(tokens, texts)
        detok.append({"name": name, "ids": ids, **decoded_fields(llm, ids, inline=True)})
    return {
        "generator": "scripts/ref/llamacpp_tokenize_spm.py",
        **ref.llama_cpp_info(),
        "tokenize_call": "llm.tokenize(text.encode('utf-8'), add_bos=..., special=...) with "
                         + ", ".join(f"{k}: add_bos={a}, special={s}" for k, (a, s) in CALLS.items()),
        "detokenize_call": "llama_detokenize(vocab, ids, remove_special=False, unparse_special=True) -> decoded, "
                           "unparse_special=False -> decoded_skip_special; bytes as hex (inline) or sha256",
        "tokenizer": model_facts(model),
        "eog_ids": eog_ids(llm),
        "sources": {
            "flores-fra": "tests/fixtures/flores200-devtest/fra_Latn.devtest",
            "flores-eng": "tests/fixtures/flores200-devtest/eng_Latn.devtest",
        },
        "conventions": {
            "line": "0-based; the file's UTF-8 text split on '\\n' (no other newline handling)",
            "text_sha256": "sha256 of the case text's UTF-8 bytes, to check the text was rebuilt right",
            "decoded_sha256": "sha256 of the detokenized bytes of ids_bos_special",
        },
        "detokenize": detok,
        "total_ids": sum(len(c[k]) for c in cases for k in CALLS),
        "cases": cases,
    }


# A vocabulary small enough to reason about, with the defaults of `tokenizer.ggml.model = llama`
# (no add_bos_token, add_space_prefix or unknown_token_id keys) and add_eos_token = true.
# (text, score, type); the 256 byte tokens <0x00>..<0xFF> (type 6) follow the first three.
TINY_HEAD = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
TINY_TAIL = [
    ("\u2581", -1.0, 1),
    ("a", -2.0, 1),
    ("b", -2.0, 1),
    ("c", -2.0, 1),
    ("d", -2.0, 1),
    ("x", -2.0, 1),
    ("y", -2.0, 1),
    ("ab", -3.0, 1),  # ties with "bc": the leftmost pair merges first
    ("bc", -3.0, 1),
    ("abc", -0.5, 1),
    ("cd", -4.0, 1),
    ("abcd", -0.1, 1),  # reachable from "ab" + "cd" only
    ("xyz", 5.0, 1),  # unreachable: neither "xy" nor "yz" exists
    ("\u2581a", -1.5, 1),
    ("\u2581ab", -0.8, 1),
    ("\u2581\u2581", -1.2, 1),
    ("a\u2581", -1.4, 1),
    ("aa", -2.5, 1),
    ("é", -2.0, 1),
    ("<|u|>", 0.0, 4),  # user-defined: split out even without special parsing
    ("<|c|>", 0.0, 3),  # control: split out only with special parsing
    ("<|eot_id|>", 0.0, 1),  # typed normal; llama.cpp makes it control and end-of-generation
    ("<|unused|>", 0.0, 5),
    ("", 0.0, 1),  # llama.cpp renames an empty token "[EMPTY_<id>]"
    ("<", -6.0, 1),
    ("|", -6.0, 1),
    (">", -6.0, 1),
    ("<|", -5.0, 1),
    ("u", -6.0, 1),
    ("<|u", -4.0, 1),
]

TINY_TEXTS: list[tuple[str, str]] = [
    ("empty", ""),
    ("space", " "),
    ("word", "abcd"),
    ("tie_leftmost", "abc"),
    ("tie_leftmost_spaced", "x abc"),
    ("unreachable", "xyz"),
    ("repeats", "aaaaa"),
    ("spaces", "a  b   c"),
    ("leading_trailing_spaces", "  ab  "),
    ("byte_fallback", "aé€z\U0001f600"),
    ("user_defined", "a<|u|>b <|u|> c"),
    ("control", "a<|c|>b"),
    ("control_then_space", "<|c|> ab"),
    ("eot_typed_normal", "x<|eot_id|>y"),
    ("bos_eos_text", "<s>ab</s>"),
    ("unused_text", "<|unused|>"),
    ("angle_merges", "<|u <| |> <|c"),
    ("newlines_tabs", "a\nb\tc"),
]

# As token texts; "" is the empty token.
TINY_DETOKENIZE: list[tuple[str, list[str]]] = [
    ("leading_space_first", ["\u2581ab", "a"]),
    ("leading_space_after_bos", ["<s>", "\u2581ab", "a"]),
    ("bos_and_eos", ["<s>", "aa", "</s>"]),
    ("space_only", ["\u2581"]),
    ("byte_space_first", ["<0x20>", "a"]),
    ("unknown", ["<unk>"]),
    ("user_defined_control_unused", ["<|u|>", "<|c|>", "<|eot_id|>", "<|unused|>"]),
    ("empty_token", [""]),
    ("bytes_cut_utf8", ["<0xE2>", "<0x82>"]),
]


def tiny_vocab() -> list[tuple[str, float, int]]:
    return TINY_HEAD + [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)] + TINY_TAIL


def tiny_metadata(vocab) -> dict:
    """The GGUF metadata of the tiny vocabulary. The `llama.*` keys are the hyper-parameters
    llama.cpp needs to load a file with vocab_only; there are no tensors."""
    return {
        "general.architecture": "llama",
        "llama.context_length": 64,
        "llama.embedding_length": 8,
        "llama.block_count": 1,
        "llama.feed_forward_length": 8,
        "llama.attention.head_count": 1,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": ("str", [t for t, _, _ in vocab]),
        "tokenizer.ggml.scores": ("f32", [s for _, s, _ in vocab]),
        "tokenizer.ggml.token_type": ("i32", [ty for _, _, ty in vocab]),
        "tokenizer.ggml.add_eos_token": True,
    }


def tiny_fixture() -> dict:
    vocab = tiny_vocab()
    tokens = [t for t, _, _ in vocab]
    texts = TINY_TEXTS + [("empty_token_text", f"[EMPTY_{tokens.index('')}]")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spm_tiny.gguf"
        gguf_kv.write_metadata(path, tiny_metadata(vocab))
        llm = load_vocab(path)
        cases = []
        for name, text in texts:
            case = {"name": name, "text": text, **tokenize_all(llm, text)}
            case.update(decoded_fields(llm, case["ids_bos_special"], inline=True))
            cases.append(case)
        detok = []
        for name, names in TINY_DETOKENIZE:
            ids = resolve(tokens, names)
            detok.append({"name": name, "ids": ids, **decoded_fields(llm, ids, inline=True)})
        eog = eog_ids(llm)
    return {
        "generator": "scripts/ref/llamacpp_tokenize_spm.py",
        **ref.llama_cpp_info(),
        "tokenize_call": "as in tokenizer_gemma3.json",
        "detokenize_call": "as in tokenizer_gemma3.json",
        "gguf": "metadata only (GGUF v3, no tensors): the `llama.*` keys of `metadata`, then tokenizer.ggml.model, "
                "tokens, scores (f32), token_type (i32) from `vocab`, tokenizer.ggml.add_eos_token",
        "metadata": {k: v for k, v in tiny_metadata(vocab).items() if not isinstance(v, tuple)},
        "vocab": [[t, s, ty] for t, s, ty in vocab],
        "eog_ids": eog,
        "detokenize": detok,
        "cases": cases,
    }


def eog_fixture(models: list[Path]) -> dict:
    found = []
    for path in models:
        if path.exists():
            found.append({"file": path.name, "model_sha256": ref.file_sha256(path), "eog_ids": eog_ids(load_vocab(path))})
        else:
            ref.log(f"skipping {path}: not found")
    return {
        "generator": "scripts/ref/llamacpp_tokenize_spm.py",
        **ref.llama_cpp_info(),
        "call": "[i for i in range(n_vocab) if llama_vocab_is_eog(vocab, i)]",
        "models": found,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_GEMMA3)
    parser.add_argument("--out-dir", type=Path, default=ref.REPO_ROOT / "tests/fixtures")
    args = parser.parse_args()

    gemma = gemma3_fixture(args.model)
    ref.write_fixture(args.out_dir / "tokenizer_gemma3.json", gemma, "cases")
    ref.log(f"wrote tokenizer_gemma3.json: {len(gemma['cases'])} cases, {gemma['total_ids']} ids")

    tiny = tiny_fixture()
    ref.write_fixture(args.out_dir / "tokenizer_spm_tiny.json", tiny, "cases")
    ref.log(f"wrote tokenizer_spm_tiny.json: {len(tiny['cases'])} cases")

    eog = eog_fixture([args.model, ref.MODEL_SMALL, ref.MODEL_DEFAULT])
    ref.write_fixture(args.out_dir / "tokenizer_eog.json", eog, "models")
    ref.log(f"wrote tokenizer_eog.json: {len(eog['models'])} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
