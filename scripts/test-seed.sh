#!/usr/bin/env bash
# The checks on the seed article (tests/seed.rs), a third-party text that is not shipped: run
# where $PRECIS_SHARED/seed/article.fr.txt (default ../shared) is present, skipped with a note
# elsewhere. Needs the test models (bash scripts/test.sh fetches them).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${PRECIS_SHARED:-../shared}"
if [[ ! -f "$shared/seed/article.fr.txt" ]]; then
    echo "no seed article at $shared/seed/article.fr.txt: seed checks skipped" >&2
    exit 0
fi
cargo test --release --locked --features seed-tests --test seed "$@"
