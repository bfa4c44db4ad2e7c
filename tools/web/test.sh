#!/usr/bin/env bash
# The web build's tests (exit 0 = pass): builds target/web (tools/web/build.sh), installs
# playwright-core (npm, tools/web/package-lock.json), writes the desktop CPU backend's trace of
# the test sentence with the desktop binary, then runs tools/web/test.mjs in headless Chromium
# (/usr/bin/chromium, or $CHROMIUM) against the page served on localhost.
# The page also opens a fixture model's files through its file dialog, and another as a Hub
# model; their desktop traces are written too.
#   tools/web/test.sh [SCREENSHOT.png]
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/web/build.sh
(cd tools/web && npm ci --no-audit --no-fund --loglevel=error)

# the page's numbers are held to the desktop's: albert-mini on the first sentence, then, on the
# sentence typed next, a model whose files the page is given in its file dialog and a Hub model
# (a stand-in Hub serves a fixture folder)
text='The cat sat on the mat because it was tired.'
new_text='Paris is the capital of France.'
picked=tests/fixtures/albert_spm_only_bf16
hub_dir=tests/fixtures/albert_mlm_sharded_f16
hub_id=lens-tests/albert-sharded
# the binary as `cargo test` builds it (with the dev-dependencies' features): after the tests, as
# in .ci/run, nothing is rebuilt (a plain `cargo build --bin` re-resolves features and took 1.5
# minutes there)
cargo test --no-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trace() {
    target/debug/albert-lens trace --model "$1" --backend cpu --text "$2" --out "$3"
}
trace albert-mini "$text" "$work/desktop.safetensors"
trace "$picked" "$new_text" "$work/picked.safetensors"
trace "$hub_dir" "$new_text" "$work/hub.safetensors"
cat > "$work/cases.json" <<CASES
{
  "text": "$text", "trace": "$work/desktop.safetensors", "new_text": "$new_text",
  "picked": { "dir": "$PWD/$picked", "trace": "$work/picked.safetensors" },
  "hub": { "id": "$hub_id", "dir": "$PWD/$hub_dir", "trace": "$work/hub.safetensors" }
}
CASES
node tools/web/test.mjs "$work/cases.json" "$@"
