#!/usr/bin/env bash
# Screenshots of the real app window for the README: each view of the built-in albert-mini on
# the example sentence, in a 1280x800 Xvfb window. Needs Xvfb (apt-get install xvfb) and a
# built binary: cargo build --release (or set BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/albert-lens}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
Xvfb :97 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB' EXIT
sleep 1
mkdir -p screenshots
for view in heatmap model links; do
    DISPLAY=:97 "$BIN" --backend cpu --view "$view" --screenshot "screenshots/$view.png"
done
