#!/usr/bin/env python3
"""Corpus throughput of Hugging Face transformers (PyTorch eager, fp32, batched with padding and
attention masks, attentions requested) computing the same head statistics as `albert-lens corpus`
(src/corpus/stats.rs: [CLS]/[SEP]/punctuation shares, self/prev/next, entropy, distance, the
norm-based [SEP] share and head_js), on the same inputs as `albert-lens bench --corpus`: the first
--texts lines of assets/corpus/brown-heldout.txt tokenized by albert-mini's tokenizer (cut at 128),
bucketed by length in windows of 16 batches. Random weights of the real shapes; nothing is
downloaded.

    python3 tools/bench/hf_corpus.py --device cpu --models albert-base,bert-base --batches 1,8,32,128
"""

import argparse
import math
import os
import re
import time
import unicodedata

import torch
from tokenizers import Tokenizer

from hf_forward import SHAPES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def inputs(count):
    tok = Tokenizer.from_file(os.path.join(ROOT, "assets", "models", "albert-mini", "tokenizer.json"))
    tok.enable_truncation(max_length=128)
    lines = [l for l in open(os.path.join(ROOT, "assets", "corpus", "brown-heldout.txt"), encoding="utf-8")
             if l.strip()][:count]
    ids = [tok.encode(l.rstrip("\n")).ids for l in lines]
    vocab = tok.get_vocab()

    def punct(t):
        t = re.sub(r"^(##)+", "", t.lstrip("\u2581"))
        return t != "" and all(unicodedata.category(c).startswith("P") for c in t)
    specials = {vocab[s] for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if s in vocab}
    punct_ids = {i for t, i in vocab.items() if i not in specials and punct(t)}
    return ids, vocab["[CLS]"], vocab["[SEP]"], punct_ids


class Stats:
    def __init__(self, model, heads, dev):
        self.values, self.dense = [], []
        for name, mod in model.named_modules():
            if name.endswith("attention.value") or name.endswith("attention.self.value"):
                mod.register_forward_hook(lambda m, i, o: self.values.append(o))
            if name.endswith("attention.dense") or name.endswith("attention.output.dense"):
                mod.register_forward_hook(lambda m, i, o: self.dense.append(m.weight))
        self.heads, self.dev = heads, dev

    def batch(self, out, ids, mask, sep_id, punct_ids):
        """The sums over real query positions of every statistic (9 x [K]) and of head_js [K, K]."""
        B, N = ids.shape
        q = mask.to(torch.float32)  # [B, N]
        sepk = (ids == sep_id).to(torch.float32)
        punk = torch.isin(ids, punct_ids).to(torch.float32)
        pos = torch.arange(N, device=self.dev, dtype=torch.float32)
        dist = (pos[:, None] - pos[None, :]).abs()
        per = []
        rows = []
        for j, a in enumerate(out.attentions):  # [B, h, N, N]
            h = a.shape[1]
            d = self.values[j].shape[-1] // h
            v = self.values[j].view(B, N, h, d)
            wo = self.dense[j].T.reshape(h, d, -1)
            norm = torch.einsum("bnhd,hdo->bhno", v, wo).norm(dim=-1)  # [B, h, N]
            w = a * norm[:, :, None, :]
            zero = torch.zeros(B, h, 1, device=self.dev)
            s = [a[..., 0], (a * sepk[:, None, None, :]).sum(-1), (a * punk[:, None, None, :]).sum(-1),
                 a.diagonal(dim1=-2, dim2=-1),
                 torch.cat([zero, a.diagonal(offset=-1, dim1=-2, dim2=-1)], -1),
                 torch.cat([a.diagonal(offset=1, dim1=-2, dim2=-1), zero], -1),
                 -torch.special.xlogy(a, a).sum(-1), (a * dist).sum(-1),
                 (w * sepk[:, None, None, :]).sum(-1) / w.sum(-1)]
            per.append(torch.stack([(x * q[:, None, :]).sum((0, 2)) for x in s]))  # [9, h]
            rows.append(a)
        stats = torch.cat(per, 1)  # [9, K]
        P = torch.stack(rows, 1).flatten(1, 2).permute(0, 2, 1, 3)  # [B, N, K, N]
        K = P.shape[2]
        plogp = torch.special.xlogy(P, P).sum(-1)  # [B, N, K]
        js = torch.zeros(K, K, device=self.dev)
        for i in range(K - 1):
            m = (P[:, :, i:i + 1, :] + P[:, :, i + 1:, :]) / 2
            d = (plogp[:, :, i:i + 1] + plogp[:, :, i + 1:]) / 2 - torch.special.xlogy(m, m).sum(-1)
            r = (d / math.log(2) * q[:, :, None]).sum((0, 1))
            js[i, i + 1:] += r
            js[i + 1:, i] += r
        self.values.clear()
        self.dense.clear()
        return stats, js


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="albert-base,bert-base")
    ap.add_argument("--batches", default="1,8,32,128")
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--iters", type=int, default=1)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(a.device)
    ids, cls_id, sep_id, punct = inputs(a.texts)
    punct_ids = torch.tensor(sorted(punct), device=dev)
    tokens = sum(len(x) for x in ids)
    print(f"| model | batch | texts | tokens | HF eager fp32 on {a.device} texts/s | tokens/s |")
    print("|---|---|---|---|---|---|")
    for name in a.models.split(","):
        cfg_cls, model_cls, kw = SHAPES[name]
        model = model_cls(cfg_cls(**kw, attn_implementation="eager")).eval().to(dev)
        st = Stats(model, kw["num_attention_heads"], dev)
        for b in [int(x) for x in a.batches.split(",")]:
            best = float("inf")
            for _ in range(max(1, a.iters)):
                t0 = time.perf_counter()
                total = None
                for w in range(0, len(ids), b * 16):
                    window = sorted(ids[w:w + b * 16], key=len)
                    for c in range(0, len(window), b):
                        chunk = window[c:c + b]
                        n = max(len(x) for x in chunk)
                        x = torch.zeros(len(chunk), n, dtype=torch.long)
                        m = torch.zeros(len(chunk), n, dtype=torch.long)
                        for i, row in enumerate(chunk):
                            x[i, :len(row)] = torch.tensor(row)
                            m[i, :len(row)] = 1
                        x, m = x.to(dev), m.to(dev)
                        with torch.no_grad():
                            out = model(input_ids=x, attention_mask=m, output_attentions=True)
                            s, js = st.batch(out, x, m, sep_id, punct_ids)
                        total = (s, js) if total is None else (total[0] + s, total[1] + js)
                _ = (total[0].cpu(), total[1].cpu())
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            print(f"| {name} | {b} | {len(ids)} | {tokens} | {len(ids) / best:.1f} | {tokens / best:.0f} |", flush=True)


if __name__ == "__main__":
    main()
