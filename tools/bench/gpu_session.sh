#!/usr/bin/env bash
# One lent-GPU session's measurements, in one run (issue 17): the exact and fast (cooperative
# matrix) paths' latency, the fast path's error against the golden cases, and transformers'
# fp32, TF32 and bf16 baselines on the same GPU; the other encoder families' shapes (issue 33)
# beside transformers in fp32 (set MODELS to choose); corpus throughput on the GPU beside
# transformers' batched statistics (issue 29). Build the release binary first and carry it:
#   cargo build --release && bash tools/bench/gpu_session.sh target/release/albert-lens
# Results go to ${OUT:-/tmp}/gpu_session.md.
set -u
BIN=${1:-target/release/albert-lens}
MODELS=${MODELS:-albert-base,bert-base,roberta-base,distilbert-base,electra-small,modernbert-base,deberta-v3-base}
OUT=${OUT:-/tmp}
R="$OUT/gpu_session.md"
HERE=$(dirname "$0")
{
    date -u
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
    for p in exact fast; do
        echo "## albert-lens bench --precision $p"
        "$BIN" bench --backend gpu --precision "$p" --models "$MODELS" --tokens 128,512 --iters 20 --matmul 2>&1
        echo "## albert-lens verify --precision $p"
        "$BIN" verify --backend gpu --precision "$p" 2>&1 | tail -25
    done
    # corpus throughput (issue 29): padded GPU batches, statistics reduced on the device
    echo "## albert-lens bench --corpus --backend gpu"
    "$BIN" bench --corpus --backend gpu --models albert-base,bert-base --batches 1,32,128 --texts 1024 --iters 3 2>&1
    if python3 -c "import torch, transformers" 2>/dev/null; then
        for p in fp32 tf32 bf16; do
            echo "## transformers $p"
            python3 "$HERE/hf_forward.py" --device cuda --precision "$p" --models "$MODELS" --tokens 128,512 --iters 20 2>&1
        done
        echo "## transformers corpus (fp32, the same statistics)"
        python3 "$HERE/hf_corpus.py" --device cuda --models albert-base,bert-base --batches 1,32,128 --texts 1024 2>&1
    else
        echo "(no torch/transformers on this machine: the PyTorch rows need them)"
    fi
} > "$R" 2>&1
cat "$R"
