#!/usr/bin/env bash
# Quality of precis side by side with llama.cpp greedy decoding of the same GGUF model:
#
#  1. FLORES-200 devtest fr->en, the first N lines: chrF and BLEU (sacrebleu), lines whose every
#     number is kept, numbers added, glossary terms kept, French acronyms left in the English;
#     for precis (full: glossary, checks, second translations), precis --plain (the llama.cpp
#     prompt and tokens, with English number conventions) and llama.cpp itself
#     (scripts/ref/llamacpp_translate.py, same prompt). Then precis's per-line confidence
#     against sentence-level chrF, in fifths.
#  2. The articles of eval/articles (written for this evaluation, each with six key facts):
#     `precis brief` against llama.cpp translating paragraph by paragraph and summarizing with
#     the same first prompt (scripts/ref/llamacpp_brief.py): key facts the summary keeps,
#     numbers the summary states that the French does not, numbers lost in the translation,
#     French acronyms left.
#
# Usage: bash scripts/eval.sh [--lines N|all] [--model PATH] [--threads N] [--out DIR]
#                             [--skip-flores] [--skip-articles]
# FLORES is read from $PRECIS_SHARED/eval/flores200-devtest (default ../shared). Sets up the
# reference side with scripts/setup-reference.sh (llama-cpp-python built for this CPU) and
# sacrebleu. Results: DIR/flores.md and DIR/articles.md (default target/eval). Takes about
# 30 minutes on 2 cores with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=200
model=""
threads=2
out=target/eval
flores=1
articles=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --lines) lines="$2"; shift 2 ;;
        --model) model="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --skip-flores) flores=0; shift ;;
        --skip-articles) articles=0; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
shared="${PRECIS_SHARED:-../shared}"
data="$shared/eval/flores200-devtest"

bash scripts/setup-reference.sh >&2
py=.venv/bin/python
"$py" -m pip install -q sacrebleu==2.6.0 >&2
cargo build --release --locked >&2
precis="${CARGO_TARGET_DIR:-target}/release/precis"
# The default model (fetched if missing) unless --model names one.
[[ -n "$model" ]] || model="$("$precis" -q fetch-models)"
mkdir -p "$out"

cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
flags="$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni)$' | tr '\n' ' ')"
header="Measured $(date -u +%Y-%m-%d) on $cpu ($flags), $threads threads, model $(basename "$model")."
echo "$header" >&2

if [[ $flores == 1 ]]; then
    [[ -f "$data/fra_Latn.devtest" ]] || { echo "FLORES devtest not found in $data (set PRECIS_SHARED)" >&2; exit 2; }
    if [[ $lines == all ]]; then lines=$(wc -l < "$data/fra_Latn.devtest"); fi
    head -n "$lines" "$data/fra_Latn.devtest" > "$out/flores.fr"
    head -n "$lines" "$data/eng_Latn.devtest" > "$out/flores.en"
    echo "FLORES: precis" >&2
    "$precis" -q translate --threads "$threads" --model "$model" --lines "$out/flores.fr" --json > "$out/flores.precis.jsonl"
    echo "FLORES: precis --plain" >&2
    "$precis" -q translate --threads "$threads" --model "$model" --plain --lines "$out/flores.fr" --json > "$out/flores.precis-plain.jsonl"
    echo "FLORES: llama.cpp" >&2
    "$py" scripts/ref/llamacpp_translate.py --model "$model" --lines "$out/flores.fr" --threads "$threads" \
        --out "$out/flores.llamacpp.jsonl" 2> "$out/flores.llamacpp.log"
    {
        echo "$header"
        echo
        "$py" scripts/eval.py flores --src "$out/flores.fr" --ref "$out/flores.en" \
            --hyp "llama.cpp=$out/flores.llamacpp.jsonl" --hyp "precis --plain=$out/flores.precis-plain.jsonl" \
            --hyp "precis=$out/flores.precis.jsonl" --confidence precis
    } > "$out/flores.md"
    cat "$out/flores.md"
fi

if [[ $articles == 1 ]]; then
    mkdir -p "$out/articles/precis" "$out/articles/llamacpp"
    for article in eval/articles/*.fr.txt; do
        name="$(basename "$article" .fr.txt)"
        echo "article $name: precis" >&2
        "$precis" -q brief --threads "$threads" --model "$model" --json "$article" > "$out/articles/precis/$name.json"
    done
    echo "articles: llama.cpp" >&2
    "$py" scripts/ref/llamacpp_brief.py --model "$model" --threads "$threads" --out "$out/articles/llamacpp" \
        eval/articles/*.fr.txt 2> "$out/articles/llamacpp.log"
    {
        echo "$header"
        echo
        "$py" scripts/eval.py articles --brief "llama.cpp=$out/articles/llamacpp" --brief "precis=$out/articles/precis"
    } > "$out/articles.md"
    cat "$out/articles.md"
fi
