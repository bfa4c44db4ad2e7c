#!/usr/bin/env bash
# bench --contributions beside its PyTorch baseline, model by model in the same session (run
# nothing else meanwhile: both use every core). Needs a release build and torch, transformers,
# networkx. Flow is timed at 16 tokens (networkx's edmonds_karp needs minutes beyond).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/albert-lens}
THREADS=${THREADS:-$(nproc)}
for model in ${MODELS:-albert-base bert-base}; do
    echo "## $model: albert-lens"
    "$BIN" bench --contributions --models "$model" --tokens 16,128,512 --vz-max-tokens 512 2>/dev/null
    echo "## $model: PyTorch $(python3 -c 'import torch; print(torch.__version__)'), $THREADS threads"
    python3 tools/bench/contributions_torch.py --models "$model" --tokens 16,128,512 \
        --threads "$THREADS" --vz-max-tokens 512 --flow-max-tokens 16 2>/dev/null
done
