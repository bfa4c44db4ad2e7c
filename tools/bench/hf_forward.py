#!/usr/bin/env python3
"""Forward latency of Hugging Face transformers (PyTorch eager, fp32) on the same shapes as
`albert-lens bench`, with every attention and hidden state returned (and copied to the host),
for side-by-side comparisons in one run. Random weights; nothing is downloaded.

    python3 tools/bench/hf_forward.py --device cpu --models albert-base,bert-base --tokens 128,512

`--precision tf32` lets cuBLAS use TF32 tensor cores for fp32 matmuls and `--precision bf16` runs
the model under bf16 autocast: the baselines beside `albert-lens bench --precision fast`.
"""

import argparse
import statistics
import time

import torch
from transformers import (AlbertConfig, AlbertModel, BertConfig, BertModel, DebertaV2Config,
                          DebertaV2Model, DistilBertConfig,
                          DistilBertModel, ElectraConfig, ElectraModel, ModernBertConfig,
                          ModernBertModel, RobertaConfig, RobertaModel)

SHAPES = {
    "albert-base": (AlbertConfig, AlbertModel, dict(vocab_size=30000, embedding_size=128, hidden_size=768,
                    num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, hidden_act="gelu_new")),
    "albert-large": (AlbertConfig, AlbertModel, dict(vocab_size=30000, embedding_size=128, hidden_size=1024,
                     num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, hidden_act="gelu_new")),
    "bert-base": (BertConfig, BertModel, dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                  num_attention_heads=12, intermediate_size=3072, hidden_act="gelu")),
    "roberta-base": (RobertaConfig, RobertaModel, dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12,
                     num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                     max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)),
    "distilbert-base": (DistilBertConfig, DistilBertModel, dict(vocab_size=30522, dim=768, n_layers=6, n_heads=12,
                        hidden_dim=3072, activation="gelu")),
    "modernbert-base": (ModernBertConfig, ModernBertModel, dict(vocab_size=50368, hidden_size=768,
                        num_hidden_layers=22, num_attention_heads=12, intermediate_size=1152,
                        hidden_activation="gelu", global_attn_every_n_layers=3, local_attention=128,
                        max_position_embeddings=8192)),
    "deberta-v3-base": (DebertaV2Config, DebertaV2Model, dict(vocab_size=128100, hidden_size=768,
                        num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        hidden_act="gelu", max_position_embeddings=512, type_vocab_size=0,
                        relative_attention=True, position_buckets=256, max_relative_positions=-1,
                        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
                        position_biased_input=False, layer_norm_eps=1e-7)),
    "electra-small": (ElectraConfig, ElectraModel, dict(vocab_size=30522, embedding_size=128, hidden_size=256,
                      num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024, hidden_act="gelu")),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="albert-base,bert-base")
    ap.add_argument("--tokens", default="128,512")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    args = ap.parse_args()
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device(args.device)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    print(f"| model | N | HF eager {args.precision} on {args.device}, GPU/compute time (ms) | with all attentions + hidden states on host (ms) |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        cfg_cls, model_cls, kw = SHAPES[name]
        cfg = cfg_cls(**kw, attn_implementation="eager")
        model = model_cls(cfg).eval().to(dev)
        for n in [int(t) for t in args.tokens.split(",")]:
            ids = (torch.arange(n) * 7919 + 13) % kw["vocab_size"]
            ids = ids.unsqueeze(0).to(dev)

            def run(copy):
                with torch.no_grad(), autocast:
                    out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
                if copy:
                    _ = [a.cpu() for a in out.attentions] + [h.cpu() for h in out.hidden_states]
                if dev.type == "cuda":
                    torch.cuda.synchronize()

            run(True)
            res = []
            for copy in (False, True):
                times = []
                for _ in range(args.iters):
                    t = time.perf_counter()
                    run(copy)
                    times.append((time.perf_counter() - t) * 1e3)
                res.append(statistics.median(times))
            print(f"| {name} | {n} | {res[0]:.1f} | {res[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
