#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for SECONDS (default 60), one after the other:
#
#   bash scripts/fuzz.sh [SECONDS]          # every target
#   FUZZ_TARGETS="gguf_load" bash scripts/fuzz.sh 3600
#
# Needs the nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz (installed
# from crates.io when missing). Each target starts from the committed seeds (fuzz/seeds/TARGET)
# plus seeds made from the test fixtures (the tiny GGUF models, the Marian vocabularies' example
# texts, the example article), and keeps what it finds in fuzz/corpus/TARGET (not committed).
# A crash leaves its input in fuzz/artifacts/TARGET and makes the script exit 1; turn it into a
# regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
targets="${FUZZ_TARGETS:-gguf_load gguf_tokenizer marian_tokenizer input_document grounding}"

rustup run nightly rustc --version >/dev/null 2>&1 || { echo "the nightly toolchain is required (rustup toolchain install nightly)" >&2; exit 2; }
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Seeds made from the fixtures (copied each run: large binary seeds are not committed).
seed() {
    local target="$1"; shift
    local dir="fuzz/corpus/$target"
    mkdir -p "$dir"
    for file in "$@"; do
        [ -f "$file" ] && cp -n "$file" "$dir/seed-$(basename "$file")"
    done
    return 0
}
seed gguf_load tests/fixtures/models/*.gguf tests/fixtures/arch/*.gguf
seed gguf_tokenizer examples/article.fr.txt tests/fixtures/articles/*.txt
seed marian_tokenizer examples/article.fr.txt tests/fixtures/articles/*.txt
seed input_document examples/article.fr.txt tests/fixtures/articles/*.txt
seed grounding examples/article.fr.txt
if [ -d tests/fixtures/flores200-devtest ]; then
    head -c 20000 tests/fixtures/flores200-devtest/fra_Latn.devtest > fuzz/corpus/gguf_tokenizer/seed-flores-fra.txt 2>/dev/null || true
    head -c 20000 tests/fixtures/flores200-devtest/fra_Latn.devtest > fuzz/corpus/marian_tokenizer/seed-flores-fra.txt 2>/dev/null || true
fi

status=0
for target in $targets; do
    echo "== $target: ${seconds}s"
    # The GGUF seeds are the tiny test models (up to 1.4 MB); texts stay short.
    max_len=65536
    [ "$target" = gguf_load ] && max_len=1500000
    mkdir -p "fuzz/seeds/$target" "fuzz/artifacts/$target"
    # -rss_limit_mb and -timeout turn memory blow-ups and hangs into findings too.
    if ! (cd fuzz && cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 -max_len="$max_len" \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1); then
        echo "== $target: FOUND A CRASH (see fuzz/artifacts/$target)" >&2
        status=1
    fi
done
exit $status
