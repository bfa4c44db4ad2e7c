#!/usr/bin/env python3
"""Two albert-lens corpus statistics files hold the same statistics: the same tensors and
shapes, query positions and texts, every value within 1e-5 (relative to max(1, |value|); the
shards add their sums in another order; with a third argument `exact`, bit for bit), and
neither is a partial merge. Standard library only. Exit 0 when they agree; else the first
difference is printed and the exit is 1."""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        raw = body[a:b]
        if t["dtype"] == "F32":
            values = struct.unpack(f"<{len(raw) // 4}f", raw)
        elif t["dtype"] == "I64":
            values = struct.unpack(f"<{len(raw) // 8}q", raw)
        else:
            sys.exit(f"{path}: {name} is {t['dtype']}")
        tensors[name] = (t["shape"], values)
    return meta, tensors


def main():
    (ma, ta), (mb, tb) = read(sys.argv[1]), read(sys.argv[2])
    tol = 0.0 if sys.argv[3:] == ["exact"] else 1e-5
    for m, p in ((ma, sys.argv[1]), (mb, sys.argv[2])):
        if m.get("shard", ""):
            sys.exit(f"{p} is a partial merge (shard {m['shard']!r})")
    for key in ("lines", "truncated", "skipped", "model"):
        if ma.get(key) != mb.get(key):
            print(f"metadata {key}: {ma.get(key)!r} vs {mb.get(key)!r}")
            return 1
    if sorted(ta) != sorted(tb):
        print(f"tensors differ: {sorted(ta)} vs {sorted(tb)}")
        return 1
    for name in ta:
        (sa, va), (sb, vb) = ta[name], tb[name]
        if sa != sb:
            print(f"{name}: shape {sa} vs {sb}")
            return 1
        for i, (x, y) in enumerate(zip(va, vb)):
            if abs(x - y) > tol * max(1.0, abs(y)):
                print(f"{name}[{i}]: {x} vs {y}")
                return 1
    print(f"same statistics: {len(ta)} tensors, {ma.get('lines')} texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
