#!/usr/bin/env python3
"""Tiny Marian checkpoints and HF transformers reference outputs -> tests/fixtures/marian/<name>/.

For each checkpoint this script
1. trains a small SentencePiece unigram pair (French source, English target) on FLORES-200 devtest
   and builds the joint `vocab.json` the way opus-mt checkpoints have it (`</s>` 0, `<unk>` 1,
   then every source and target piece, `<pad>` last);
2. builds a randomly initialised `MarianMTModel` of a small shape (different activations, tied or
   untied output layer, shared or separate decoder embeddings, position limits) and trains it for a
   few hundred steps to copy FLORES devtest French lines (labels = the source ids), so that its
   output depends on its input (random weights decode one repeated token; a model this small
   does not learn real translation in minutes, but copying it learns);
3. gives `final_logits_bias` random values (training leaves that buffer at zero, and real
   checkpoints have it non-zero) and saves the checkpoint (safetensors, config.json,
   generation_config.json, tokenizer files);
4. runs HF `generate` on FLORES lines in batches with padding, with several decoding settings,
   and writes the generated ids, the decoded text (`skip_special_tokens=True`) and the scores
   to `hf_generate.json`. FLORES text is referenced by line index only, never stored.

Scores: beam search -> `sequences_scores` exactly as HF returns it. Greedy -> the mean, over the
generated tokens (EOS included when produced), of the log-softmax of HF's processed logits at
the chosen token, i.e. the mean of `compute_transition_scores(..., normalize_logits=True)`.

Usage: scripts/setup-reference.sh --marian, then
       .venv/bin/python scripts/ref/marian_make_checkpoints.py [--out tests/fixtures/marian]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as ref  # noqa: E402

import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer  # noqa: E402

FRA = ref.FLORES_DIR / "fra_Latn.devtest"
ENG = ref.FLORES_DIR / "eng_Latn.devtest"

# Reference lines: the first 40 FLORES devtest lines (all settings run on a prefix of them).
REFERENCE_LINES = 40

# name -> (spm normalization rule, spm vocab size, MarianConfig overrides, training steps)
CHECKPOINTS: dict[str, tuple[str, int, dict, int]] = {
    # opus-mt-fr-en-like: swish, tied embeddings everywhere, scaled embeddings.
    "tiny-swish": (
        "nmt_nfkc",
        1000,
        dict(
            d_model=64,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=128,
            decoder_ffn_dim=128,
            activation_function="swish",
            max_position_embeddings=256,
            scale_embedding=True,
            share_encoder_decoder_embeddings=True,
            tie_word_embeddings=True,
        ),
        800,
    ),
    # Other shape: relu, separate decoder embeddings, untied lm_head, no embedding scale,
    # a short position limit (64: long FLORES lines exceed it), identity normalisation.
    "tiny-relu-untied": (
        "identity",
        800,
        dict(
            d_model=48,
            encoder_layers=3,
            decoder_layers=1,
            encoder_attention_heads=3,
            decoder_attention_heads=6,
            encoder_ffn_dim=96,
            decoder_ffn_dim=80,
            activation_function="relu",
            max_position_embeddings=64,
            scale_embedding=False,
            share_encoder_decoder_embeddings=False,
            tie_word_embeddings=False,
        ),
        800,
    ),
}

# (run name, number of lines, generate() overrides). Everything else comes from the checkpoint's
# generation_config.json (num_beams 4, bad_words_ids [[pad]], forced_eos_token_id, max_length).
RUNS: list[tuple[str, int, dict]] = [
    ("greedy", REFERENCE_LINES, dict(num_beams=1)),
    ("beam4", REFERENCE_LINES, dict()),
    ("greedy_max_new_5", 12, dict(num_beams=1, max_new_tokens=5)),
    ("beam4_max_new_6", 12, dict(max_new_tokens=6)),
    ("beam4_lp0.6_early", 12, dict(length_penalty=0.6, early_stopping=True)),
    ("beam3_min_new_12_never", 12, dict(num_beams=3, min_new_tokens=12, max_new_tokens=24, early_stopping="never")),
    ("beam5_lp2_min_length_9", 12, dict(num_beams=5, length_penalty=2.0, min_length=9)),
]

BATCH = 8


def train_spm(lines: list[str], rule: str, vocab_size: int, prefix: Path) -> Path:
    text = prefix.with_suffix(".txt")
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        model_type="unigram",
        vocab_size=vocab_size,
        normalization_rule_name=rule,
        character_coverage=0.9995,
        unk_id=0,
        bos_id=-1,
        eos_id=1,
        pad_id=-1,
        unk_piece="<unk>",
        eos_piece="</s>",
        num_threads=1,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def joint_vocab(source: Path, target: Path) -> dict[str, int]:
    vocab = {"</s>": 0, "<unk>": 1}
    for model in (source, target):
        sp = spm.SentencePieceProcessor(model_file=str(model))
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in vocab:
                vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    return vocab


def build_checkpoint(name: str, rule: str, vocab_size: int, overrides: dict, steps: int, out: Path, seed: int) -> Path:
    fra = ref.read_lines(FRA)
    eng = ref.read_lines(ENG)
    work = Path(tempfile.mkdtemp(prefix=f"marian-{name}-"))
    source = train_spm(fra, rule, vocab_size, work / "source")
    target = train_spm(eng, rule, vocab_size, work / "target")
    vocab = joint_vocab(source, target)

    dest = out / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy(source, dest / "source.spm")
    shutil.copy(target, dest / "target.spm")
    (dest / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "source_lang": "fr",
                "target_lang": "en",
                "unk_token": "<unk>",
                "eos_token": "</s>",
                "pad_token": "<pad>",
                "model_max_length": overrides["max_position_embeddings"],
                "separate_vocabs": False,
                "tokenizer_class": "MarianTokenizer",
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    tokenizer = MarianTokenizer.from_pretrained(str(dest))

    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        bos_token_id=None,
        dropout=0.0,
        **overrides,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    limit = overrides["max_position_embeddings"]
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(fra), (32,), generator=gen).tolist()
        batch = tokenizer([fra[i] for i in idx], truncation=True, max_length=48, padding=True, return_tensors="pt")
        labels = batch["input_ids"].clone()
        labels[labels == pad] = -100
        for group in optimizer.param_groups:
            group["lr"] = 2e-3 * min(1.0, (step + 1) / 100)
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"{name}: step {step} loss {loss.item():.3f}", file=sys.stderr)
    model.eval()
    with torch.no_grad():
        model.final_logits_bias.copy_(torch.randn(model.final_logits_bias.shape, generator=gen) * 0.1)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]],
        bos_token_id=None,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        max_length=limit,
        num_beams=4,
        pad_token_id=pad,
    )
    model.save_pretrained(str(dest), safe_serialization=True)
    shutil.rmtree(work)
    return dest


def cut(ids: list[int], eos: int, pad: int) -> list[int]:
    """Generated ids without the decoder start token: up to and including EOS, no padding."""
    ids = ids[1:]
    if eos in ids:
        return ids[: ids.index(eos) + 1]
    while ids and ids[-1] == pad:
        ids.pop()
    return ids


def reference_outputs(dest: Path) -> dict:
    tokenizer = MarianTokenizer.from_pretrained(str(dest))
    model = MarianMTModel.from_pretrained(str(dest))
    model.eval()
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    # Lines HF can encode: no longer than the position limit (precis splits longer ones).
    limit = model.config.max_position_embeddings
    fra = ref.read_lines(FRA)
    lines = [i for i, text in enumerate(fra) if len(tokenizer(text).input_ids) <= limit]
    runs = []
    for run_name, n_lines, kwargs in RUNS:
        outputs = []
        for start in range(0, n_lines, BATCH):
            indices = lines[start : min(n_lines, start + BATCH)]
            texts = [fra[i] for i in indices]
            enc = tokenizer(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                out = model.generate(**enc, return_dict_in_generate=True, output_scores=True, **kwargs)
            beams = kwargs.get("num_beams", model.generation_config.num_beams)
            for i, text in enumerate(texts):
                tokens = cut(out.sequences[i].tolist(), eos, pad)
                if beams > 1:
                    score = out.sequences_scores[i].item()
                else:
                    logps = [torch.log_softmax(out.scores[t][i].float(), dim=-1)[tok].item() for t, tok in enumerate(tokens)]
                    score = sum(logps) / len(logps)
                outputs.append(
                    {
                        "line": indices[i],
                        "source_ids": enc.input_ids[i][enc.attention_mask[i].bool()].tolist(),
                        "tokens": tokens,
                        "text": tokenizer.decode(tokens, skip_special_tokens=True),
                        "score": score,
                    }
                )
        runs.append({"name": run_name, "generate_kwargs": kwargs, "outputs": outputs})
    return {
        "generator": "scripts/ref/marian_make_checkpoints.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "source": "flores-fra: line i of ../shared/eval/flores200-devtest/fra_Latn.devtest (0-based); lines longer than max_position_embeddings skipped",
        "batch_size": BATCH,
        "greedy_score": "mean over generated tokens (EOS included) of log_softmax(processed logits)[token]",
        "beam_score": "sequences_scores",
        "runs": runs,
    }


# Also written as pytorch_model.bin (tests/fixtures/marian/<name>.pytorch_model.bin).
BIN_CHECKPOINT = "tiny-relu-untied"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ref.REPO_ROOT / "tests" / "fixtures" / "marian")
    parser.add_argument("--only", help="build only this checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed, (name, (rule, vocab_size, overrides, steps)) in enumerate(CHECKPOINTS.items()):
        if args.only and name != args.only:
            continue
        dest = build_checkpoint(name, rule, vocab_size, overrides, steps, args.out, seed)
        fixture = reference_outputs(dest)
        (dest / "hf_generate.json").write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if name == BIN_CHECKPOINT:
            # The same weights as a legacy PyTorch state dict (what older checkpoints ship), with
            # the shared embeddings stored once and referenced, as torch.save does.
            model = MarianMTModel.from_pretrained(str(dest))
            state = {k: v for k, v in model.state_dict().items() if "embed_positions" not in k}
            torch.save(state, args.out / f"{name}.pytorch_model.bin")
        size = sum(p.stat().st_size for p in dest.iterdir())
        print(f"{name}: wrote {dest} ({size / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
