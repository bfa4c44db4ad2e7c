#!/usr/bin/env bash
# The web build's tests (exit 0 = pass): builds target/web (tools/web/build.sh), installs
# playwright-core (npm, tools/web/package-lock.json), writes the desktop CPU backend's trace of
# the test sentence with the desktop binary, then runs tools/web/test.mjs in headless Chromium
# (/usr/bin/chromium, or $CHROMIUM) against the page served on localhost.
#   tools/web/test.sh [SCREENSHOT.png]
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/web/build.sh
(cd tools/web && npm ci --no-audit --no-fund --loglevel=error)

# the page's numbers are held to the desktop's, on this sentence
text='The cat sat on the mat because it was tired.'
# the binary as `cargo test` builds it (with the dev-dependencies' features): after the tests, as
# in .ci/run, nothing is rebuilt (a plain `cargo build --bin` re-resolves features and took 1.5
# minutes there)
cargo test --no-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/debug/albert-lens trace --model albert-mini --backend cpu --text "$text" \
    --out "$work/desktop.safetensors"
node tools/web/test.mjs "$work/desktop.safetensors" "$text" "$@"
