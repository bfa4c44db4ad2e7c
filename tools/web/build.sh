#!/usr/bin/env bash
# Builds the web app into target/web/: index.html, albert-lens.js (wasm-bindgen's glue) and
# albert-lens_bg.wasm, a static folder any web server serves (GitHub Pages works). Installs what
# it needs: the wasm32 target (rustup) and the wasm-bindgen CLI of the version Cargo.lock pins
# (cargo install, from crates.io). No wasm-opt pass: Debian's binaryen 108 rejects the module
# without --all-features and, with it, made the compressed bundle larger.
#   tools/web/build.sh            # then: tools/web/serve.mjs (or any static server) on target/web
# (the cargo profile is `web-release`, not `web`: a profile keeps its build scripts and macros in
# target/<profile>/, and with `web` the fresh copy of target/web deleted them, so that every
# build compiled every crate again)
set -euo pipefail
cd "$(dirname "$0")/../.."

if command -v rustup > /dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# the CLI must be exactly the version of the wasm-bindgen crate the build links
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2> /dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "installing wasm-bindgen-cli $want (was: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want"
fi

cargo build --profile web-release --target wasm32-unknown-unknown --bin albert-lens

out=target/web
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name albert-lens \
    target/wasm32-unknown-unknown/web-release/albert-lens.wasm
cp tools/web/index.html "$out/"

raw=$(du -cb "$out"/* | tail -1 | cut -f1)
packed=$(cat "$out"/* | gzip -9 | wc -c)
echo "$out: $((raw / 1024)) KiB, $((packed / 1024)) KiB gzip-compressed"
