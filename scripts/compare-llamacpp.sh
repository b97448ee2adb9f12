#!/usr/bin/env bash
# Greedy parity: precis vs llama.cpp (llama-cpp-python) on the first N FLORES devtest French
# lines, same GGUF, same prompt, same thread count, one after the other (never concurrently).
# Usage: scripts/compare-llamacpp.sh [MODEL.gguf] [N] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-}"
n="${2:-50}"
threads="${3:-2}"
out="${OUT_DIR:-target/compare}"
mkdir -p "$out"
bash scripts/setup-reference.sh >&2
cargo build --release --locked >&2
# The default model (fetched if missing) unless one is given.
[[ -n "$model" ]] || model="$(./target/release/precis -q fetch-models)"
head -n "$n" ../shared/eval/flores200-devtest/fra_Latn.devtest > "$out/lines.fr"

start=$(date +%s)
.venv/bin/python scripts/ref/llamacpp_translate.py --model "$model" --lines "$out/lines.fr" \
    --limit "$n" --threads "$threads" --out "$out/llamacpp.jsonl" >&2
mid=$(date +%s)
./target/release/precis -q translate --threads "$threads" --model "$model" --plain --lines "$out/lines.fr" --json > "$out/precis.jsonl"
end=$(date +%s)
echo "llama.cpp: $((mid - start)) s, precis: $((end - mid)) s (wall, including model load)"
python3 scripts/ref/compare_greedy.py "$out/llamacpp.jsonl" "$out/precis.jsonl"
