#!/usr/bin/env python3
"""albert-lens's CPU forward against Hugging Face transformers on the same machine, interleaved:
each round runs `albert-lens bench --backend cpu` and then hf_forward.py (both with every
attention and hidden state returned), and the table gives the median over rounds of each case's
median time, and the ratio (below 1: albert-lens is faster). A noisy machine moves single runs
by ±30%; interleaving puts the noise on both sides.

    cargo build --release
    python3 tools/bench/cpu_compare.py --rounds 5 [--bin target/release/albert-lens]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rows(text, col):
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > col and re.fullmatch(r"\d+", cells[1] or ""):
            out[(cells[0], int(cells[1]))] = float(cells[col])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--models", default="albert-base,bert-base")
    ap.add_argument("--tokens", default="128,512")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "albert-lens"))
    a = ap.parse_args()
    ours, theirs = {}, {}
    for r in range(a.rounds):
        o = subprocess.run([a.bin, "bench", "--backend", "cpu", "--models", a.models, "--tokens", a.tokens,
                            "--iters", str(a.iters)], capture_output=True, text=True, check=True).stdout
        t = subprocess.run([sys.executable, os.path.join(HERE, "hf_forward.py"), "--device", "cpu", "--models",
                            a.models, "--tokens", a.tokens, "--iters", str(a.iters)],
                           capture_output=True, text=True, check=True).stdout
        for k, v in rows(o, 3).items():  # albert-lens CPU (ms)
            ours.setdefault(k, []).append(v)
        for k, v in rows(t, 3).items():  # HF with everything on the host (ms)
            theirs.setdefault(k, []).append(v)
        print(f"round {r + 1} of {a.rounds} done", file=sys.stderr, flush=True)
    print(f"| model | N | albert-lens CPU (ms) | HF eager, all outputs (ms) | ratio | rounds |")
    print("|---|---|---|---|---|---|")
    for k in sorted(ours):
        if k in theirs:
            mo, mt = statistics.median(ours[k]), statistics.median(theirs[k])
            print(f"| {k[0]} | {k[1]} | {mo:.0f} | {mt:.0f} | {mo / mt:.2f} | {len(ours[k])} |")


if __name__ == "__main__":
    main()
