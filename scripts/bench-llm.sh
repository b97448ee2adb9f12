#!/usr/bin/env bash
# precis vs llama.cpp (llama-cpp-python) on the same GGUF, the same prompts and the same thread
# count, in one run, one engine at a time:
#   (a) single stream: prefill tok/s of a translate prompt (seed paragraph 1) from an empty cache,
#       and greedy decode tok/s over --n-predict tokens (best of 3 after a warm-up);
#   (b) the seed article translated paragraph by paragraph (title + 25 paragraphs), greedy:
#       wall time, generated tok/s, peak RSS, and how many paragraphs are token-identical.
#       precis runs with --plain: the same prompt for every paragraph, as llama.cpp here, without
#       the checks and second translations of a normal run (scripts/eval.sh measures those).
# Usage: scripts/bench-llm.sh [--cpu LEVEL] [MODEL.gguf] [THREADS] [N_PREDICT]
#   --cpu LEVEL: precis's kernels at this instruction-set level (`portable`, `avx2`, `avx512`;
#   default: the highest this CPU supports); llama.cpp runs the build scripts/setup-reference.sh
#   made for this CPU either way (its instruction sets are printed with the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
cpu_args=()
if [[ "${1:-}" == "--cpu" ]]; then
    cpu_args=(--cpu "${2:?--cpu needs a level}")
    shift 2
fi
model="${1:-}"
threads="${2:-2}"
n_predict="${3:-128}"
seed="../shared/seed/article.fr.txt"
out="${OUT_DIR:-target/bench-llm}"
mkdir -p "$out"

bash scripts/setup-reference.sh >&2
cargo build --release --locked >&2
precis="${CARGO_TARGET_DIR:-target}/release/precis"
# The default model (fetched if missing) unless one is given.
[[ -n "$model" ]] || model="$("$precis" -q fetch-models)"
# The CPU's SIMD flags, printed next to the figures.
flags="$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | tr ' ' '\n' |
    grep -xE 'sse4_2|avx|avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|asimd|asimddp|sve' | tr '\n' ' ' || true)"
py=.venv/bin/python

# Seed paragraphs, one per line (the same split for both engines: blank-line paragraphs, trimmed).
$py - "$seed" "$out/seed.lines" "$out/prompt.txt" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
paragraphs = [p.strip() for p in re.split(r"\n[ \t\r]*\n", text) if p.strip()]
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(p.replace("\n", " ") for p in paragraphs) + "\n")
open(sys.argv[3], "w", encoding="utf-8").write(paragraphs[1])
PY

echo "== (a) single stream: $(basename "$model"), $threads threads, $n_predict decoded tokens" >&2
$py scripts/ref/llamacpp_bench.py --model "$model" --prompt-file "$out/prompt.txt" --as-translate \
    --n-predict "$n_predict" --threads "$threads" --repeat 3 > "$out/a-llamacpp.json"
"$precis" "${cpu_args[@]}" -q bench-llm --threads "$threads" --model "$model" --prompt-file "$out/prompt.txt" \
    --as-translate --n-predict "$n_predict" --repeat 3 > "$out/a-precis.json"

echo "== (b) seed article, paragraph by paragraph" >&2
/usr/bin/time -f "%e %M" -o "$out/b-llamacpp.time" $py scripts/ref/llamacpp_translate.py --model "$model" \
    --lines "$out/seed.lines" --threads "$threads" --out "$out/b-llamacpp.jsonl" 2> "$out/b-llamacpp.log"
/usr/bin/time -f "%e %M" -o "$out/b-precis.time" "$precis" "${cpu_args[@]}" -q translate --threads "$threads" \
    --model "$model" --plain --lines "$out/seed.lines" --json > "$out/b-precis.jsonl"

python3 - "$out" "$flags" <<'PY'
import json, sys
out, flags = sys.argv[1], sys.argv[2]
a_ref = json.load(open(f"{out}/a-llamacpp.json"))
a_us = json.load(open(f"{out}/a-precis.json"))
def times(name):
    wall, rss_kb = open(f"{out}/b-{name}.time").read().split()
    return float(wall), int(rss_kb) / 1024
def gen(name):
    return sum(len(json.loads(l)["tokens"]) for l in open(f"{out}/b-{name}.jsonl"))
ref_rows = [json.loads(l)["tokens"] for l in open(f"{out}/b-llamacpp.jsonl")]
our_rows = [json.loads(l)["tokens"] for l in open(f"{out}/b-precis.jsonl")]
same = sum(a == b for a, b in zip(ref_rows, our_rows))
(wr, mr), (wu, mu) = times("llamacpp"), times("precis")
gr, gu = gen("llamacpp"), gen("precis")
built = [f.split(" = ")[0] for f in a_ref.get("system_info", "").split(" | ") if f.strip().endswith("= 1") and "AVX" in f]
print(f"CPU flags: {flags.strip() or '(none of the SIMD ones)'}; precis kernels: {a_us['cpu']}, llama.cpp built with: {' '.join(built) or '?'}")
print(f"(a) prompt {a_us['prompt_tokens']} tokens (llama.cpp {a_ref['prompt_tokens']}), threads {a_us['threads']}")
print(f"    {'':10} {'llama.cpp':>10} {'precis':>10} {'ratio':>7}")
for key, label in [("prefill_tok_s", "prefill"), ("decode_tok_s", "decode")]:
    print(f"    {label + ' tok/s':10} {a_ref[key]:10.1f} {a_us[key]:10.1f} {a_us[key] / a_ref[key]:7.2f}")
print(f"(b) seed article, {len(our_rows)} paragraphs, {same}/{len(our_rows)} token-identical")
print(f"    {'':10} {'llama.cpp':>10} {'precis':>10} {'ratio':>7}")
print(f"    {'wall s':10} {wr:10.1f} {wu:10.1f} {wr / wu:7.2f}  (speed-up of precis)")
print(f"    {'gen tok/s':10} {gr / wr:10.1f} {gu / wu:10.1f} {(gu / wu) / (gr / wr):7.2f}")
print(f"    {'peak MiB':10} {mr:10.0f} {mu:10.0f}")
PY
