//! The desktop app driven headless with egui_kittest (wgpu on lavapipe): open a fixture model,
//! pick layers and heads, hover cells, hide special tokens, switch aggregation, open a broken
//! folder; expected values come from transformers' golden traces of the same fixture and text.
//! Snapshots of each view are kept under tests/snapshots/ (UPDATE_SNAPSHOTS=1 rewrites them).
#![allow(clippy::unwrap_used)]

mod app_common;
mod common;

use app_common::{mask_status_bar, step_until, wait};

use albert_lens::analysis::{HeadSel, Measure};
use albert_lens::app::tabs::attention::{AttentionTab, DiffMode};
use albert_lens::app::worker::ModelSlot;
use albert_lens::app::{AppOptions, AttnView, LensApp};
use albert_lens::backend::BackendChoice;
use albert_lens::model::ModelSource;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// The app on `model`, with the grouped ALBERT fixture as the comparison model (a relative
/// path: the side panel, and so the snapshots, are the same on every machine).
fn harness(model: ModelSource, text: &str) -> Harness<'static, LensApp> {
    app_common::harness(
        model,
        ModelSource::Folder("tests/fixtures/albert_grouped".into()),
        text,
    )
}

/// Hovers the centre of displayed cell (row, col) and returns the tooltip text.
fn hover_cell(h: &mut Harness<'static, LensApp>, row: usize, col: usize) -> String {
    let (rect, n) = {
        let tab = attention(h);
        let data = tab.map.as_ref().unwrap().as_ref().unwrap();
        (tab.heatmap_rect.unwrap(), data.matrix.rows)
    };
    let cell = rect.width() / n as f32;
    let pos = rect.min + egui::vec2((col as f32 + 0.5) * cell, (row as f32 + 0.5) * cell);
    h.hover_at(pos);
    h.run_steps(4);
    attention(h)
        .hover_text
        .clone()
        .expect("no tooltip for the hovered cell")
}

fn attention<'a>(h: &'a Harness<'static, LensApp>) -> &'a AttentionTab {
    h.state().tab::<AttentionTab>().unwrap()
}

/// The error the status bar shows.
fn shown_error(h: &Harness<'static, LensApp>) -> String {
    let error = h.state().session.status.error.clone();
    error.expect("no error shown")
}

fn attention_mut<'a>(h: &'a mut Harness<'static, LensApp>) -> &'a mut AttentionTab {
    h.state_mut().tab_mut::<AttentionTab>().unwrap()
}

fn value_of(tooltip: &str) -> f32 {
    tooltip
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in tooltip {tooltip:?}"))
}

fn golden_plain(model: &str) -> common::Golden {
    common::goldens(model)
        .into_iter()
        .find(|g| g.case == "plain" && g.pair.is_none())
        .unwrap()
}

/// Printed to 4 decimals: within 5e-5 of the reference plus the backends' 1e-5.
const TOOLTIP_TOL: f32 = 6e-5;

#[test]
fn hovering_a_cell_shows_its_tokens_and_the_weight_transformers_computes() {
    let g = golden_plain("albert_single");
    let mut h = harness(
        ModelSource::Folder(common::fixture("albert_single")),
        &g.text,
    );
    let error = &h.state().session.status.error;
    assert!(error.is_none(), "{error:?}");
    // pick layer 2 with the slider's keyboard, head 2 with the combo box
    h.state_mut().session.settings.layer = 1;
    h.get_by_label("Heads").click();
    h.run_steps(2);
    h.get_by_label("Head 2").click();
    h.run_steps(3);
    assert_eq!(attention(&h).settings.head, HeadSel::Head(1));
    let n = g.trace.num_tokens();
    for (q, k) in [(0, 0), (1, 2), (n - 1, 1), (2, n - 2)] {
        let tip = hover_cell(&mut h, q, k);
        let want = g.trace.attention(1, 1, q, k);
        assert!(
            tip.contains(&format!("query #{q} “{}”", g.trace.tokens[q])),
            "{tip}"
        );
        assert!(
            tip.contains(&format!("key #{k} “{}”", g.trace.tokens[k])),
            "{tip}"
        );
        assert!(
            (value_of(&tip) - want).abs() <= TOOLTIP_TOL,
            "{tip} but transformers says {want}"
        );
    }
    // the tooltip is really on screen
    assert!(h.query_all_by_label_contains("query #").next().is_some());
}

#[test]
fn max_of_heads_and_hidden_special_tokens_match_the_reference() {
    let g = golden_plain("albert_single");
    let mut h = harness(
        ModelSource::Folder(common::fixture("albert_single")),
        &g.text,
    );
    h.get_by_label("Heads").click();
    h.run_steps(2);
    h.get_by_label("Max of heads").click();
    h.run_steps(2);
    h.get_by_label("Hide special tokens").click();
    h.run_steps(3);
    let app = h.state();
    assert!(app.session.settings.hide_special);
    let data = attention(&h).map.as_ref().unwrap().as_ref().unwrap();
    let ours = app.session.trace().unwrap();
    assert_eq!(ours.tokens, g.trace.tokens);
    let kept: Vec<usize> = (0..g.trace.num_tokens())
        .filter(|&i| !ours.special[i])
        .collect();
    assert_eq!(
        kept.len(),
        g.trace.num_tokens() - 2,
        "[CLS] and [SEP] are special"
    );
    let data = &data.matrix;
    assert_eq!(data.rows, kept.len());
    assert!(!data.row_labels.iter().any(|t| t == "[CLS]" || t == "[SEP]"));
    // each row: max over heads of the kept keys, renormalised to sum to 1 (tolerance 1e-5)
    for (r, &q) in kept.iter().enumerate() {
        let raw: Vec<f32> = kept
            .iter()
            .map(|&k| {
                (0..g.trace.num_heads)
                    .map(|hd| g.trace.attention(0, hd, q, k))
                    .fold(f32::MIN, f32::max)
            })
            .collect();
        let sum: f32 = raw.iter().sum();
        for (c, v) in raw.iter().enumerate() {
            let got = data.values[r * data.cols + c];
            assert!(
                (got - v / sum).abs() <= 1e-5,
                "row {r} col {c}: {got} vs {}",
                v / sum
            );
        }
    }
    let tip = hover_cell(&mut h, 0, 0);
    assert!(tip.contains(&format!("query #{} ", kept[0])), "{tip}");
}

#[test]
fn difference_of_two_texts_is_a_minus_b_on_the_diverging_map() {
    let mut h = harness(
        ModelSource::Folder(common::fixture("bert_mlm")),
        "the cat sat on the mat",
    );
    attention_mut(&mut h).settings.diff = DiffMode::SecondText;
    attention_mut(&mut h).settings.diff_text = "the dog sat on the mat".into();
    h.state_mut().session.request_run();
    wait(&mut h);
    h.run_steps(3);
    let a = h.state().session.trace().cloned().unwrap();
    let b = attention(&h).diff_trace().cloned().unwrap();
    assert_eq!(a.num_tokens(), b.num_tokens());
    let map = attention(&h).map.as_ref().unwrap().as_ref().unwrap();
    assert!(map.diverging);
    let data = &map.matrix;
    assert!(data.name.starts_with("difference"));
    let n = a.num_tokens();
    let mean = |t: &albert_lens::model::Trace, q: usize, k: usize| {
        (0..t.num_heads)
            .map(|hd| t.attention(0, hd, q, k))
            .sum::<f32>()
            / t.num_heads as f32
    };
    for q in 0..n {
        for k in 0..n {
            let want = mean(&a, q, k) - mean(&b, q, k);
            assert!((data.values[q * n + k] - want).abs() <= 1e-6);
        }
    }
    // "a/b" marks the tokens that differ (this fixture's small vocabulary splits the words)
    assert!(
        data.row_labels.iter().any(|l| l == "ca/do"),
        "{:?}",
        data.row_labels
    );
    assert!(
        data.row_labels.iter().any(|l| l == "the"),
        "{:?}",
        data.row_labels
    );
}

#[test]
fn a_broken_folder_shows_its_path_and_reason_in_the_status_bar() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), b"{ this is not json").unwrap();
    let mut h = harness(ModelSource::Folder(dir.path().to_path_buf()), "hello");
    let err = shown_error(&h);
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("config.json"), "{err}");
    let path = dir.path().display().to_string();
    assert_eq!(err.matches(&path).count(), 1, "the path once: {err}");
    h.run_steps(2);
    assert!(h.query_by_label_contains("config.json").is_some());
    assert!(h.state().session.trace().is_none());
}

#[test]
fn a_corrupt_tokenizer_is_named_in_the_status_bar_and_the_worker_goes_on() {
    // albert_single with a precompiled character map whose trie points far outside itself (the
    // tokenizer library indexed past its end on this, in the worker thread)
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::fixture("albert_single")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join("tokenizer.json");
    let json = std::fs::read_to_string(&path).unwrap();
    let at = json.find("\"precompiled_charsmap\"").unwrap();
    let start = at + json[at..].find(": \"").unwrap() + 3;
    let end = start + json[start..].find('"').unwrap();
    // [4, 0, 0, 0] [0x7fffffff] "a\0"
    let bad = format!("{}BAAAAP///39hAA=={}", &json[..start], &json[end..]);
    std::fs::write(&path, bad).unwrap();
    let mut h = harness(ModelSource::Folder(dir.path().to_path_buf()), "hello");
    let err = shown_error(&h);
    assert!(
        err.contains("tokenizer.json") && err.contains("character map"),
        "{err}"
    );
    assert!(h.state().session.trace().is_none());
    // the same worker then opens a good model and runs it
    h.state_mut().session.open(
        ModelSlot::Main,
        ModelSource::Folder(common::fixture("albert_single")),
    );
    app_common::wait(&mut h);
    let cx = &h.state().session;
    assert!(cx.trace().is_some(), "{:?}", cx.status.error);
}

#[test]
fn clicking_a_thumbnail_in_the_model_view_opens_that_layer_and_head() {
    let mut h = harness(
        ModelSource::Folder(common::fixture("albert_grouped")),
        "a short sentence to look at",
    );
    h.get_by_label("Model view").click();
    h.run_steps(3);
    let (origin, pitch) = attention(&h)
        .grid_origin
        .expect("the model view was not drawn");
    // layer 2, head 3
    h.hover_at(origin + egui::vec2(2.5 * pitch, 1.5 * pitch));
    h.run_steps(2);
    h.event(egui::Event::PointerButton {
        pos: origin + egui::vec2(2.5 * pitch, 1.5 * pitch),
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Default::default(),
    });
    h.event(egui::Event::PointerButton {
        pos: origin + egui::vec2(2.5 * pitch, 1.5 * pitch),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Default::default(),
    });
    h.run_steps(3);
    let s = &attention(&h).settings;
    assert_eq!(s.view, AttnView::Heatmap);
    assert_eq!(
        (h.state().session.settings.layer, s.head),
        (1, HeadSel::Head(2))
    );
}

#[test]
fn snapshots_of_each_attention_view() {
    let mut h = harness(
        ModelSource::Folder("tests/fixtures/bert_mlm".into()),
        "the quick brown fox jumps over the lazy dog",
    );
    for (name, view, measure) in [
        ("heatmap", AttnView::Heatmap, Measure::Attention),
        ("rollout", AttnView::Heatmap, Measure::Rollout),
        ("model_view", AttnView::Model, Measure::Attention),
        ("token_links", AttnView::Links, Measure::Attention),
    ] {
        {
            let s = &mut attention_mut(&mut h).settings;
            s.view = view;
            s.measure = measure;
        }
        h.run_steps(4);
        mask_status_bar(&mut h);
        h.snapshot(name);
    }
}

#[test]
fn first_start_opens_the_built_in_albert_mini_and_shows_the_example_attention() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| {
            LensApp::new(
                cc,
                AppOptions {
                    backend: BackendChoice::Cpu,
                    restore: false,
                    ..AppOptions::default()
                },
            )
        });
    wait(&mut h);
    let app = h.state();
    let cx = &app.session;
    assert!(cx.status.error.is_none(), "{:?}", cx.status.error);
    let main = cx.info(ModelSlot::Main).unwrap();
    assert_eq!(main.source, ModelSource::Builtin("albert-mini".into()));
    assert_eq!(main.model_type, albert_lens::model::ModelType::Albert);
    assert_eq!(
        cx.info(ModelSlot::Compare).unwrap().source,
        ModelSource::Builtin("bert-mini".into())
    );
    let trace = cx.trace().unwrap();
    assert_eq!(cx.settings.text, albert_lens::app::EXAMPLE_TEXT);
    assert!(
        trace.tokens.iter().any(|t| t == "animal"),
        "{:?}",
        trace.tokens
    );
    let tab = attention(&h);
    let data = tab.map.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(data.matrix.rows, trace.num_tokens());
    assert!(tab.heatmap_rect.is_some(), "the heatmap was not drawn");
    h.get_by_label_contains("albert-mini (built in)");
}

/// A long error in the status bar: the label is cut to the window (egui elides it), the whole
/// text is in its tooltip, and a click copies it.
#[test]
fn a_long_error_shows_in_full_on_hover_and_copies_on_click() {
    let mut h = harness(ModelSource::Builtin("albert-mini".into()), "hello");
    let long = format!(
        "opening /some/folder: {} the end",
        "a very long reason ".repeat(30)
    );
    h.state_mut().session.status.error = Some(long.clone());
    h.ctx.all_styles_mut(|s| s.interaction.tooltip_delay = 0.0);
    h.run_steps(2);
    let label = h.get_by_label_contains("opening /some/folder");
    assert!(
        label.rect().max.x <= 1281.0,
        "the label stays inside the window"
    );
    label.hover();
    h.run_steps(5);
    assert!(
        h.query_all_by_label_contains("(click to copy)")
            .next()
            .is_some(),
        "the tooltip has the whole text"
    );
    h.get_all_by_label_contains("opening /some/folder")
        .find(|n| n.rect().min.y > 760.0)
        .unwrap()
        .click();
    // the frame that handles the click puts the text on the clipboard
    let mut copied = false;
    for _ in 0..3 {
        h.step();
        copied |= h.output().platform_output.commands.iter().any(|c| {
            matches!(c, egui::OutputCommand::CopyText(t)
                if t.ends_with("the end") && t.starts_with("Error: opening"))
        });
    }
    assert_eq!(
        h.state().session.status.notice.as_deref(),
        Some("the error message was copied")
    );
    assert!(copied, "the whole message went to the clipboard");
}

/// Tokens in every script draw: the window's fonts have glyphs for Chinese, Japanese, Korean,
/// accented Latin and emoji (before Droid Sans Fallback, the CJK ones were boxes).
#[test]
fn the_window_has_glyphs_for_cjk_korean_and_emoji_tokens() {
    let mut h = harness(ModelSource::Builtin("albert-mini".into()), "hello");
    h.run_steps(1);
    for family in [
        egui::FontId::proportional(13.0),
        egui::FontId::monospace(13.0),
    ] {
        for text in [
            "東京は日本の首都",
            "北京是中国的首都",
            "서울은 한국의",
            "🍕☕👍",
            "Crème brûlée",
        ] {
            let ok = h.ctx.fonts_mut(|f| f.has_glyphs(&family, text));
            assert!(ok, "{family:?} has no glyphs for {text:?}");
        }
    }
}

/// Compute > Fast GPU matmuls: on a backend without cooperative matrices (here the CPU) the
/// status bar says the numbers stay exact f32, the text runs again, and its attention is
/// still transformers'; switching back clears the notice.
#[test]
fn the_fast_gpu_switch_says_when_there_are_no_tensor_cores_and_keeps_the_exact_numbers() {
    let golden = golden_plain("albert_single");
    let mut h = harness(
        ModelSource::Folder(common::fixture("albert_single")),
        &golden.text,
    );
    let before = h.state().session.input.seq;
    h.get_by_label("Compute").click();
    h.run_steps(2);
    h.get_by_label("Fast GPU matmuls (tensor cores)").click();
    h.run_steps(2);
    wait(&mut h);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let name = loop {
        h.step();
        let n = h
            .state()
            .session
            .worker
            .backend_name
            .lock()
            .unwrap()
            .clone();
        if n.contains("cooperative") || std::time::Instant::now() > deadline {
            break n;
        }
    };
    assert!(
        name.contains("cooperative matrices") && name.contains("f32"),
        "{name}"
    );
    let cx = &h.state().session;
    assert!(cx.fast_gpu && cx.input.seq > before);
    let trace = cx.trace().unwrap();
    common::assert_trace_matches(trace, &golden.trace, "fast switch on the CPU");
    h.state_mut().session.set_fast_gpu(false);
    wait(&mut h);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h
        .state()
        .session
        .worker
        .backend_name
        .lock()
        .unwrap()
        .contains("cooperative")
    {
        h.step();
        assert!(std::time::Instant::now() < deadline, "the notice stayed");
    }
}

/// Every family beside ALBERT and BERT opens in the window (against the grouped ALBERT), and
/// every tab draws for it without an error: RoBERTa with a classifier, XLM-R with a tagger,
/// DistilBERT and the ELECTRA generator with their masked-LM heads, the ELECTRA discriminator
/// with its replaced-token head. The attention view shows
/// transformers' weights for the family's own tokens.
#[test]
fn every_family_opens_and_every_tab_draws() {
    const TABS: [&str; 9] = [
        "Attention",
        "Projection",
        "Shared vs unshared",
        "Layer lens",
        "Explain",
        "Attribution",
        "Mixing",
        "Prediction",
        "Corpus",
    ];
    for name in [
        "roberta_seqcls",
        "xlmr_tokcls",
        "distilbert_mlm",
        "electra_mlm",
        "electra_disc",
        "modernbert_mlm",
        "modernbert_seqcls",
        "deberta_mlm",
        "deberta_seqcls",
    ] {
        let g = golden_plain(name);
        let mut h = harness(ModelSource::Folder(common::fixture(name)), &g.text);
        let cx = &h.state().session;
        assert!(cx.status.error.is_none(), "{name}: {:?}", cx.status.error);
        let trace = cx.trace().expect("a trace");
        assert_eq!(trace.tokens, g.trace.tokens, "{name}: tokens");
        let d = common::max_abs_diff(&trace.attentions[1], &g.trace.attentions[1]);
        assert!(d <= common::ATTENTION_TOL, "{name}: attention off by {d}");
        // these small vocabularies hold conjoining Hangul jamo (BERT's lower-casing decomposes
        // Hangul; bert-base-uncased's vocabulary has them too), which no bundled font draws:
        // the window shows a box for them, as it does by default
        h.ctx
            .set_missing_glyph_policy(egui::MissingGlyphPolicy::Tofu);
        for tab in TABS {
            h.get_by_label(tab).click();
            h.run_steps(3);
            wait(&mut h);
            h.run_steps(2);
            let error = &h.state().session.status.error;
            assert!(error.is_none(), "{name}, tab {tab}: {error:?}");
        }
    }
}

fn slide_titles(h: &Harness<'static, LensApp>) -> Vec<String> {
    h.state()
        .deck
        .deck
        .slides
        .iter()
        .map(|s| s.title.clone())
        .collect()
}

/// The Deck panel builds a three-slide deck from the window (the heatmap, the model view,
/// the Shared tab's Figure 1), reorders it with ↓ Down, and presents it: PageDown and space
/// go forward (never past the last slide), PageUp back, B blanks the screen and brings it
/// back, the speaker notes name the next slide, an animated view (Figure 1) gets its frames,
/// and Esc leaves with that slide selected. The pages are made off the UI thread; the deck
/// saved and reopened is identical; Export PDF… writes one page per slide.
#[test]
fn a_deck_is_built_reordered_presented_with_keys_and_left_with_esc() {
    use albert_lens::app::deck::Deck;
    use egui::Key;
    let mut h = app_common::harness(
        ModelSource::Builtin("albert-mini".into()),
        ModelSource::Builtin("bert-mini".into()),
        albert_lens::app::EXAMPLE_TEXT,
    );
    wait(&mut h);
    h.get_by_label("View").click();
    h.run_steps(2);
    h.get_by_label("Deck panel (lessons and talks)").click();
    h.run_steps(2);
    // the menu closes on a click outside it
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.state().deck.open);
    let add = |h: &mut Harness<'static, LensApp>| {
        h.get_by_label("＋ Add the current view").click();
        h.run_steps(2);
    };
    add(&mut h);
    attention_mut(&mut h).settings.view = AttnView::Model;
    h.run_steps(2);
    add(&mut h);
    h.get_by_label("Shared vs unshared").click();
    h.run_steps(2);
    wait(&mut h);
    add(&mut h);
    assert_eq!(
        slide_titles(&h),
        ["Attention", "Attention", "Shared vs unshared: figure1"]
    );
    let slides = &h.state().deck.deck.slides;
    assert_eq!(slides[0].scene.tabs["attention"]["view"], "Heatmap");
    assert_eq!(slides[1].scene.tabs["attention"]["view"], "Model");
    for (i, t) in ["A", "B", "C"].into_iter().enumerate() {
        h.state_mut().deck.deck.slides[i].title = t.into();
    }
    h.state_mut().deck.deck.slides[1].notes = "say why B".into();
    h.run_steps(2);
    // select slide 1 (the window shows its scene) and move it down
    h.get_by_label("1. A").click();
    h.run_steps(2);
    wait(&mut h);
    h.get_by_label("↓ Down").click();
    h.run_steps(2);
    assert_eq!(slide_titles(&h), ["B", "A", "C"]);
    assert_eq!(h.state().deck.selected, 1);
    // saved and reopened: identical
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deck.json");
    h.state().deck.deck.write(&path).unwrap();
    assert_eq!(
        Deck::open(path.to_str().unwrap()).unwrap(),
        h.state().deck.deck
    );
    // present from slide 1
    h.get_by_label("1. B").click();
    h.run_steps(2);
    wait(&mut h);
    h.get_by_label("▶ Present").click();
    h.run_steps(2);
    let at = |h: &Harness<'static, LensApp>| h.state().deck.present.as_ref().map(|p| p.at);
    assert_eq!(at(&h), Some(0));
    let speaker = |h: &Harness<'static, LensApp>| {
        let app = h.state();
        app.deck.present.as_ref().unwrap().speaker(&app.deck.deck)
    };
    let [heading, _, notes, next] = speaker(&h);
    assert_eq!(
        (heading.as_str(), notes.as_str()),
        ("1 / 3: B", "say why B")
    );
    assert_eq!(next, "Next: A");
    step_until(&mut h, |a| {
        a.deck.present.as_ref().is_some_and(|p| p.ready(0))
    });
    for (key, want) in [
        (Key::PageDown, 1),
        (Key::Space, 2),
        (Key::PageDown, 2),
        (Key::PageUp, 1),
    ] {
        h.key_press(key);
        h.run_steps(2);
        assert_eq!(at(&h), Some(want), "after {key:?}");
    }
    assert_eq!(speaker(&h)[3], "Next: C");
    // Figure 1 (slide 3) animates: present mode plays it layer by layer
    step_until(&mut h, |a| {
        a.deck.present.as_ref().is_some_and(|p| p.ready(2))
    });
    assert!(h.state().deck.present.as_ref().unwrap().frames(2) > 1);
    h.key_press(Key::B);
    h.run_steps(2);
    assert!(h.state().deck.present.as_ref().unwrap().blank);
    h.key_press(Key::B);
    h.run_steps(2);
    assert!(!h.state().deck.present.as_ref().unwrap().blank);
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert!(h.state().deck.present.is_none());
    assert_eq!(h.state().deck.selected, 1);
    assert!(
        h.query_by_label("＋ Add the current view").is_some(),
        "the window is back"
    );
}
