#!/usr/bin/env bash
# Screenshots of the real app window for the README: each view of the built-in albert-mini on
# the example sentence, in a 1280x800 Xvfb window; and two figures made by `render`. Needs Xvfb (apt-get install xvfb) and a
# built binary: cargo build --release (or set BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/albert-lens}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
Xvfb :97 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB' EXIT
sleep 1
mkdir -p screenshots
for view in heatmap model links; do
    DISPLAY=:97 "$BIN" --backend cpu --tab attention --view "$view" --screenshot "screenshots/$view.png"
done
for tab in projection shared explain; do
    DISPLAY=:97 "$BIN" --backend cpu --tab "$tab" --screenshot "screenshots/$tab.png"
done
DISPLAY=:97 "$BIN" --backend cpu --tab lens --text "The capital of the United [MASK] is Washington." \
    --screenshot screenshots/lens.png
DISPLAY=:97 "$BIN" --backend cpu --tab attribution --text "The capital of the United [MASK] is Washington." \
    --screenshot screenshots/attribution.png
DISPLAY=:97 "$BIN" --backend cpu --tab mixing --text "The capital of the United [MASK] is Washington." \
    --screenshot screenshots/mixing.png
# a fine-tuned classifier explained: the built-in albert-mini-genre's prediction and the
# attribution of its class; its head importance and pruning curve on the labelled held-out
# genres, and what fine-tuning changed against its parent
GENRE="The senator said the committee would vote on the budget next week."
DISPLAY=:97 "$BIN" --backend cpu --model albert-mini-genre --tab prediction --text "$GENRE" \
    --screenshot screenshots/prediction.png
DISPLAY=:97 "$BIN" --backend cpu --model albert-mini-genre --tab attribution --text "$GENRE" \
    --screenshot screenshots/attribution-class.png
for view in importance pruning; do
    "$BIN" render --backend cpu --model albert-mini-genre --view "$view" --data builtin:genres \
        --limit 300 --scale 1.5 --out "screenshots/$view-figure.png"
done
"$BIN" render --backend cpu --model albert-mini-genre --compare albert-mini --view fine-tuning \
    --limit 300 --scale 1.5 --out screenshots/fine-tuning-figure.png
# a figure rebuilt from a scene file, and a layer-by-layer animation (and its frames side by
# side, when Python with Pillow is there)
"$BIN" render --backend cpu --scene screenshots/scene-example.json --out screenshots/scene-figure.png
"$BIN" render --backend cpu --view rollout --animate gif --scale 1 --out screenshots/rollout-layers.gif
"$BIN" render --backend cpu --view mixing --method value-zeroing --layer 2 --compare bert-mini \
    --scale 1 --out screenshots/mixing-figure.png
if python3 -c "import PIL" 2>/dev/null; then
    python3 - <<'PY'
from PIL import Image, ImageSequence
im = Image.open("screenshots/rollout-layers.gif")
frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
w, h = frames[0].size
strip = Image.new("RGB", (w * len(frames) // 2, h // 2), "white")
for i, f in enumerate(frames):
    strip.paste(f.resize((w // 2, h // 2)), (i * w // 2, 0))
strip.save("screenshots/rollout-strip.png")
PY
fi
# figures made by the command line (no window)
"$BIN" render --backend cpu --view attribution --text "The capital of the United [MASK] is Washington." \
    --out screenshots/attribution-figure.png --scale 1.5
"$BIN" render --backend cpu --view explain --layer 2 --head 2 --position 3 --temperature 2 \
    --compare bert-mini --out screenshots/explain-figure.png --scale 1
"$BIN" render --backend cpu --view figure1 --compare bert-mini --repeats 12,24 --out screenshots/figure1.png --scale 1.5
"$BIN" render --backend cpu --view lens --text "The capital of the United [MASK] is Washington." \
    --out screenshots/lens-figure.png --scale 1.5
# the encoder families: the parameter table across four families, and a RoBERTa classifier
# (the random-weight fixture) in the Prediction tab
"$BIN" render --backend cpu --view parameters --model albert-mini --compare tests/fixtures/distilbert_mlm \
    --also bert-mini --also tests/fixtures/electra_disc --scale 1.5 --out screenshots/parameters-families.png
DISPLAY=:97 "$BIN" --backend cpu --model tests/fixtures/roberta_seqcls --tab prediction --text "$GENRE" \
    --screenshot screenshots/roberta-classifier.png
# the Corpus tab after a run, as the app test renders it headless (egui_kittest; the status bar,
# masked there, is cut off)
if python3 -c "import PIL" 2>/dev/null && [ -f tests/snapshots/corpus_tab.png ]; then
    python3 - <<'PY'
from PIL import Image
for src, dst in [("tests/snapshots/corpus_tab.png", "screenshots/corpus.png"),
                 ("tests/snapshots/corpus_query_key.png", "screenshots/corpus-query-key.png")]:
    im = Image.open(src).convert("RGB")
    im.crop((0, 0, im.width, im.height - 30)).save(dst)
PY
fi
# the newest families on their random-weight fixtures: ModernBERT's local layer (the band) and
# DeBERTa-v3's walk-through (no position rows; the disentangled scores further down)
"$BIN" render --backend cpu --model tests/fixtures/modernbert_mlm --view model \
    --text "Attention lets every token look at every other token in the sentence, and the band shows it." \
    --scale 1.2 --out screenshots/modernbert-model.png
DISPLAY=:97 "$BIN" --backend cpu --model tests/fixtures/deberta_mlm --tab explain \
    --text "The quick brown fox jumps over the lazy dog." --screenshot screenshots/deberta-explain.png
