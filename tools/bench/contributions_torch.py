#!/usr/bin/env python3
"""The baseline of `albert-lens bench --contributions`: the same context-mixing definitions
(../shared/notes/contributions.md) in PyTorch, float32, on randomly initialised transformers
models of the same shapes, each method timed once per (model, N) with its per-layer matrices
and its aggregate, printed as the same markdown table.

The vectorised methods (norm, GlobEnc, ALTI) build the [N, N, H] decomposition per layer with
einsum, as the reference repositories do; value zeroing reruns the layer module once per token
with a forward hook on the value Linear, as hmohebbi/ValueZeroing does; flow uses networkx's
edmonds_karp, as samiraabnar/attention_flow does.

    python3 tools/bench/contributions_torch.py --models bert-base --tokens 128,512 --threads 2
"""

import argparse
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AlbertConfig, AlbertModel, BertConfig, BertModel

# the layer's modules and the product, as the reference fixtures take them
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from make_contributions import layer_parts as parts, product  # noqa: E402

SHAPES = {
    "albert-base": lambda: AlbertModel(AlbertConfig(vocab_size=30000, embedding_size=128,
                                                    hidden_size=768, num_hidden_layers=12,
                                                    num_attention_heads=12,
                                                    intermediate_size=3072, hidden_act="gelu_new",
                                                    max_position_embeddings=512),
                                       add_pooling_layer=False),
    "bert-base": lambda: BertModel(BertConfig(), add_pooling_layer=False),
}


def decompose(model, x, att, j, method):
    n, hsz = x.shape
    heads = model.config.num_attention_heads
    d = hsz // heads
    layer, value, dense, ln1, ffn, ln2 = parts(model, j)
    v = value(x).view(n, heads, d).transpose(0, 1)
    wo = dense.weight.view(hsz, heads, d).permute(1, 0, 2)
    f = torch.einsum("hkd,hcd->hkc", v, wo)
    z = torch.einsum("hik,hkc->ikc", att, f)
    if method == "norm":
        return z.norm(dim=-1)
    idx = torch.arange(n)
    z[idx, idx] += x
    ctx = torch.matmul(att, v).transpose(0, 1).reshape(n, hsz)
    p1 = x + dense(ctx)
    c = z - z.mean(-1, keepdim=True)
    if method == "globenc":
        a = ln1(p1)
        p2 = a + ffn(a)
        s1 = (p1.var(-1, unbiased=False) + ln1.eps).sqrt()
        s2 = (p2.var(-1, unbiased=False) + ln2.eps).sqrt()
        u = ln1.weight * c / s1[:, None, None]
        g = ln2.weight * (u - u.mean(-1, keepdim=True)) / s2[:, None, None]
        return g.norm(dim=-1)
    s = (p1 + ln1.eps).std(-1, unbiased=False)
    t = ln1.weight * c / s[:, None, None]
    yhat = t.sum(1) + ln1.weight * (dense.bias - dense.bias.mean()) / s[:, None] + ln1.bias
    dist = F.pairwise_distance(t.reshape(n * n, hsz),
                               yhat[:, None, :].expand(n, n, hsz).reshape(n * n, hsz), p=1)
    cc = torch.relu(yhat.norm(p=1, dim=-1)[:, None] - dist.view(n, n))
    return cc / cc.sum(-1, keepdim=True)


def value_zeroing(model, x, j):
    n = x.shape[0]
    layer, value, *_ = parts(model, j)
    run = lambda: (lambda y: y[0] if isinstance(y, tuple) else y)(layer(x[None]))[0]
    y = run()
    out = torch.zeros(n, n)
    for tok in range(n):
        def hook(_m, _i, o, tok=tok):
            o = o.clone()
            o[:, tok, :] = 0
            return o
        h = value.register_forward_hook(hook)
        yt = run()
        h.remove()
        cos = (F.normalize(yt, dim=-1) * F.normalize(y, dim=-1)).sum(-1)
        out[:, tok] = (1 - cos).clamp(0, 2)
    return out / out.sum(-1, keepdim=True)


def flow(hats, n):
    import networkx as nx
    g = nx.DiGraph()
    for l, m in enumerate(hats):
        for i in range(n):
            for k in range(n):
                g.add_edge((l + 1, i), (l, k), capacity=float(m[i, k]))
    out = torch.zeros(n, n)
    for i in range(n):
        for k in range(n):
            out[i, k] = nx.maximum_flow_value(g, (len(hats), i), (0, k),
                                              flow_func=nx.algorithms.flow.edmonds_karp)
    return out / out.sum(-1, keepdim=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="albert-base,bert-base")
    ap.add_argument("--tokens", default="128,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vz-max-tokens", type=int, default=128)
    ap.add_argument("--flow-max-tokens", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print("| model | N | method | ms | peak RSS so far (MB) |")
    print("|---|---|---|---|---|")
    for name in a.models.split(","):
        model = SHAPES[name]().eval()
        model.config._attn_implementation = "eager"
        for n in [int(t) for t in a.tokens.split(",")]:
            ids = torch.arange(n)[None] % model.config.vocab_size
            with torch.no_grad():
                out = model(input_ids=ids, output_hidden_states=True, output_attentions=True)
                hs = [h[0] for h in out.hidden_states]
                atts = [x[0] for x in out.attentions]
                layers = len(atts)
                for method in ("attention", "norm", "globenc", "alti", "value-zeroing", "flow"):
                    if method == "value-zeroing" and n > a.vz_max_tokens:
                        continue
                    if method == "flow" and n > a.flow_max_tokens:
                        continue
                    t0 = time.perf_counter()
                    eye = torch.eye(n)
                    if method in ("attention", "flow"):
                        hats = [(x.mean(0) + eye) / (x.mean(0) + eye).sum(-1, keepdim=True)
                                for x in atts]
                        r = product(hats) if method == "attention" else flow(hats, n)
                    elif method == "value-zeroing":
                        mats = [value_zeroing(model, hs[j], j) for j in range(layers)]
                        product(mats)
                    else:
                        mats = [decompose(model, hs[j], atts[j], j, method) for j in range(layers)]
                        if method != "norm":
                            product(mats)
                    ms = (time.perf_counter() - t0) * 1e3
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    print(f"| {name} | {n} | {method} | {ms:.0f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
