//! The attention analyses on small hand-made inputs with values worked out by hand, and the
//! value-weighted norms (Kobayashi et al.) against an independent computation with candle.
#![allow(clippy::unwrap_used)]

use albert_lens::analysis::{self, HeadSel};
use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::colormap::{Colormap, Scale};
use albert_lens::model::{ModelWeights, Trace};
use candle_core::{IndexOp, Tensor};

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

mod common;

fn trace_of(attentions: Vec<Vec<f32>>, heads: usize, n: usize) -> Trace {
    let hidden = vec![vec![0.0; n * 2]; attentions.len() + 1];
    common::hand_trace(hidden, attentions, n, 2, heads)
}

#[test]
fn mean_and_max_over_heads_elementwise() {
    // two heads of a 2-token layer
    let layer = [0.2, 0.8, 0.6, 0.4, /* head 2 */ 1.0, 0.0, 0.3, 0.7];
    assert!(close(
        &analysis::mean_heads(&layer, 2, 2),
        &[0.6, 0.4, 0.45, 0.55],
        1e-7
    ));
    assert!(close(
        &analysis::max_heads(&layer, 2, 2),
        &[1.0, 0.8, 0.6, 0.7],
        0.0
    ));
    assert_eq!(
        analysis::select_heads(&layer, 2, 2, HeadSel::Head(1)),
        vec![1.0, 0.0, 0.3, 0.7]
    );
}

#[test]
fn rollout_of_two_layers_worked_by_hand() {
    // A1 = [[1,0],[.5,.5]] -> (A1 + I)/2 = [[1,0],[.25,.75]]
    // A2 = [[0,1],[1,0]]   -> (A2 + I)/2 = [[.5,.5],[.5,.5]]
    // R2 = Â2 · R1 = [[.625,.375],[.625,.375]]
    let t = trace_of(
        vec![vec![1.0, 0.0, 0.5, 0.5], vec![0.0, 1.0, 1.0, 0.0]],
        1,
        2,
    );
    let r = analysis::rollout(&t).unwrap();
    assert!(close(&r[0], &[1.0, 0.0, 0.25, 0.75], 1e-7), "{:?}", r[0]);
    assert!(
        close(&r[1], &[0.625, 0.375, 0.625, 0.375], 1e-7),
        "{:?}",
        r[1]
    );
}

#[test]
fn restricting_to_kept_tokens_and_renormalising_rows() {
    let m = [
        0.5, 0.25, 0.25, //
        0.1, 0.6, 0.3, //
        0.2, 0.2, 0.6,
    ];
    let kept = analysis::restrict(&m, 3, &[1, 2], false);
    assert!(close(&kept, &[0.6, 0.3, 0.2, 0.6], 0.0));
    let renorm = analysis::restrict(&m, 3, &[1, 2], true);
    assert!(
        close(&renorm, &[2.0 / 3.0, 1.0 / 3.0, 0.25, 0.75], 1e-7),
        "{renorm:?}"
    );
}

#[test]
fn value_weighted_norms_match_an_independent_candle_computation() {
    let cfg = albert_lens::bench::preset_config("albert-base").unwrap();
    let weights = ModelWeights::random(&cfg, 3).unwrap();
    let input = albert_lens::bench::synthetic_input(&cfg, 6);
    let trace = CpuBackend::new().forward(&cfg, &weights, &input).unwrap();
    let j = 4;
    let (per_head, all) = analysis::value_weighted(&cfg, &weights, &trace, j).unwrap();
    let (n, h, d, heads) = (6, cfg.hidden_size, cfg.head_dim(), cfg.num_attention_heads);
    let layer = &weights.groups[0][0];
    let x = Tensor::from_slice(&trace.hidden_states[j], (n, h), &candle_core::Device::Cpu).unwrap();
    // V = x W_v + b_v with W_v the last third of the fused QKV columns
    let wv = layer.qkv.w.i((.., 2 * h..3 * h)).unwrap();
    let bv = layer.qkv.b.i(2 * h..3 * h).unwrap();
    let v = x.matmul(&wv).unwrap().broadcast_add(&bv).unwrap();
    let mut f = Vec::new(); // f[head] : [n, h]
    for hd in 0..heads {
        let vh = v.i((.., hd * d..(hd + 1) * d)).unwrap();
        let wo = layer.attn_out.w.i((hd * d..(hd + 1) * d, ..)).unwrap();
        f.push(vh.matmul(&wo).unwrap().to_vec2::<f32>().unwrap());
    }
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    let att = &trace.attentions[j];
    for hd in 0..heads {
        for q in 0..n {
            for k in 0..n {
                let a = att[(hd * n + q) * n + k];
                let want = a * norm(&f[hd][k]);
                let got = per_head[(hd * n + q) * n + k];
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{got} vs {want}"
                );
            }
        }
    }
    for q in 0..n {
        for k in 0..n {
            let mut sum = vec![0.0f32; h];
            for hd in 0..heads {
                let a = att[(hd * n + q) * n + k];
                sum.iter_mut().zip(&f[hd][k]).for_each(|(s, v)| *s += a * v);
            }
            let want = norm(&sum);
            let got = all[q * n + k];
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
}

#[test]
fn colormaps_hit_their_defining_stops_and_scales_invert() {
    assert_eq!(Colormap::Viridis.at(0.0), [0x44, 0x01, 0x54]);
    assert_eq!(Colormap::Viridis.at(1.0), [0xfd, 0xe7, 0x25]);
    assert_eq!(Colormap::Magma.at(0.0), [0x00, 0x00, 0x04]);
    // the centre stop falls between table entries 127 and 128: within 2 levels of #f7f7f7
    let mid = Colormap::Diverging.at(0.5);
    assert!(mid.iter().all(|&c| (c as i32 - 0xf7).abs() <= 2), "{mid:?}");
    let log = Scale {
        lo: 1e-4,
        hi: 1.0,
        log: true,
    };
    assert!((log.normalise(1e-2) - 0.5).abs() < 1e-6);
    assert!((log.value_at(0.5) - 1e-2).abs() < 1e-6);
    let div = Scale {
        lo: -0.5,
        hi: 0.25,
        log: false,
    };
    assert_eq!(div.normalise(0.0), 0.5);
    assert_eq!(div.normalise(-0.5), 0.0);
    assert!((div.value_at(0.75) - 0.25).abs() < 1e-6);
    let symlog = Scale {
        lo: -1.0,
        hi: 1.0,
        log: true,
    };
    for v in [-0.3f32, -1e-3, 0.0, 2e-4, 0.7] {
        let t = symlog.normalise(v);
        assert!(
            (symlog.value_at(t) - v).abs() <= 1e-4 * v.abs().max(1.0),
            "{v}"
        );
    }
}

// ---- the Explain walk-through against transformers (tests/fixtures/internals) ----

/// Every number the Explain tab shows for (map, head, token) equals transformers': the word,
/// position + type sum and LayerNorm rows, q/k/v, the neuron view's products (summing to the
/// score), α at T = 1 (the model's) and T = 2 (softmax(s/2) in torch), the context, the
/// feed-forward and the masked-LM head's top-k. Tolerances: 1e-5 * max(1, |ref|) (scores with
/// the dot-product scale of common::assert_internals_match), probabilities 1e-5 absolute.
#[test]
fn explain_walk_numbers_equal_transformers_hooks() {
    use albert_lens::insight::explain::{Selection, Step, Walk};
    use albert_lens::model::{Capture, LoadedModel};
    let rel = |a: &[f32], b: &[f32], what: &str| {
        let w = common::worst_relative(a, b, 1e-5);
        assert!(w <= 1.0, "{what}: off by {w:.2}x the tolerance");
    };
    let abs = |a: &[f32], b: &[f32], what: &str| {
        let d = common::max_abs_diff(a, b);
        assert!(d <= 1e-5, "{what}: max abs diff {d:e}");
    };
    for c in common::internals_cases() {
        if ![
            "albert-mini/example",
            "bert-mini/example",
            "albert_grouped/plain",
            "modernbert_mlm/plain",
            "deberta_mlm/plain",
        ]
        .contains(&c.name.as_str())
        {
            continue;
        }
        let model = LoadedModel::open(&c.folder).unwrap();
        let input = model.encode(&c.text, c.pair.as_deref()).unwrap();
        let g = &c.golden;
        let int = g.internals.as_ref().unwrap();
        let (n, e) = (g.num_tokens(), int.embedding_size);
        let (heads, hs) = (g.num_heads, g.hidden_size);
        let d = hs / heads;
        let maps = g.attentions.len();
        for (map, head, pos) in [(0, 0, 1), (maps - 1, heads - 1, n - 2), (1, 1, 4)] {
            let what = format!("{} map {map} head {head} token {pos}", c.name);
            let trace = CpuBackend::new()
                .forward_capture(
                    &model.config,
                    &model.weights,
                    &input,
                    &Capture::Maps(vec![map]),
                )
                .unwrap();
            let walk = Walk::new(&model, &trace, Selection { map, head, pos }).unwrap();
            let at = |v: &[f32], w: usize| v[pos * w..(pos + 1) * w].to_vec();
            let sum = common::file_tensor(&c.path, "embeddings.sum").unwrap();
            rel(&walk.word, &at(&int.word, e), &format!("{what}: word row"));
            rel(
                &walk.sum,
                &at(&sum, e),
                &format!("{what}: word + position + type"),
            );
            rel(
                &walk.embedded,
                &at(&int.embedded, e),
                &format!("{what}: LayerNorm"),
            );
            let m = int.map(map).unwrap();
            let block = |v: &[f32]| v[head * n * d..(head + 1) * n * d].to_vec();
            rel(
                &walk.query,
                &at(&block(&m.queries), d),
                &format!("{what}: query"),
            );
            rel(&walk.keys, &block(&m.keys), &format!("{what}: keys"));
            rel(&walk.values, &block(&m.values), &format!("{what}: values"));
            let scores = &m.scores[(head * n + pos) * n..][..n];
            // the score is the neuron view's sum over √d (DeBERTa: over √(3d), plus its
            // content-to-position and position-to-content terms, computed by the walk from the
            // weights)
            let root = if c.name.starts_with("deberta") {
                (3.0 * d as f32).sqrt()
            } else {
                (d as f32).sqrt()
            };
            assert_eq!(walk.score_scale, root, "{what}");
            if c.name.starts_with("deberta") {
                assert_eq!((walk.c2p.len(), walk.p2c.len()), (n, n), "{what}");
            }
            for (k, s) in scores.iter().enumerate() {
                let products = walk.neuron(k);
                let size: f32 = products.iter().map(|x| x.abs()).sum::<f32>() / root;
                let relative = walk.c2p.get(k).unwrap_or(&0.0) + walk.p2c.get(k).unwrap_or(&0.0);
                let got = products.iter().sum::<f32>() / root + relative;
                assert!(
                    (got - s).abs() <= 1e-5 * size.max(s.abs()).max(1.0),
                    "{what}: neuron view of key {k} sums to {got}, the score is {s}"
                );
            }
            let alpha = &g.head(map, head)[pos * n..(pos + 1) * n];
            abs(&walk.alpha_at(1.0), alpha, &format!("{what}: α at T = 1"));
            abs(&walk.alpha, alpha, &format!("{what}: the model's α"));
            let t2 = common::file_tensor(&c.path, &format!("attention_t2.{map}")).unwrap();
            let t2 = &t2[(head * n + pos) * n..][..n];
            abs(&walk.alpha_at(2.0), t2, &format!("{what}: α at T = 2"));
            let softmax = walk.matrix(Step::Softmax, 2.0);
            let col: Vec<f32> = (0..n).map(|k| softmax.values[k * 3 + 2]).collect();
            abs(
                &col,
                t2,
                &format!("{what}: the softmax step's α(T=2) column"),
            );
            rel(
                walk.head_context(),
                &at(&m.context, hs)[head * d..(head + 1) * d],
                &what,
            );
            rel(&walk.attention_output, &at(&m.attention_output, hs), &what);
            let inter = m.intermediate.len() / n;
            rel(&walk.intermediate, &at(&m.intermediate, inter), &what);
            rel(
                &walk.output,
                &g.hidden_states[map + 1][pos * hs..(pos + 1) * hs],
                &what,
            );
            match common::file_tensor(&c.path, "mlm_logits") {
                Some(logits) => {
                    let v = logits.len() / n;
                    let probs = albert_lens::insight::softmax(&logits[pos * v..(pos + 1) * v]);
                    let mut order: Vec<usize> = (0..v).collect();
                    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
                    assert_eq!(walk.prediction.len(), 8, "{what}: top 8");
                    for ((tok, p), &id) in walk.prediction.iter().zip(&order) {
                        assert_eq!(Some(tok.clone()), model.tokenizer.id_to_token(id as u32));
                        assert!((p - probs[id]).abs() <= 1e-5, "{what}: p({tok})");
                    }
                    assert!(walk.steps().contains(&Step::Prediction));
                }
                None => assert!(!walk.steps().contains(&Step::Prediction)),
            }
        }
    }
}

/// The sharing step says which stored layer each depth applies: one for albert-mini, the
/// group's inner layers for albert_grouped (4 layers, 2 groups of 2), a new one per depth for
/// BERT.
#[test]
fn explain_sharing_names_the_stored_layer_of_every_depth() {
    use albert_lens::insight::explain::{Selection, Walk};
    use albert_lens::model::{Capture, LoadedModel};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (folder, want) in [
        (root.join("assets/models/albert-mini"), vec![0, 0, 0, 0]),
        (
            common::fixture("albert_grouped"),
            vec![0, 1, 0, 1, 2, 3, 2, 3],
        ),
        (root.join("assets/models/bert-mini"), vec![0, 1, 2, 3]),
    ] {
        let model = LoadedModel::open(&folder).unwrap();
        let input = model.encode("The quick brown fox.", None).unwrap();
        let trace = CpuBackend::new()
            .forward_capture(
                &model.config,
                &model.weights,
                &input,
                &Capture::Maps(vec![0]),
            )
            .unwrap();
        let walk = Walk::new(&model, &trace, Selection::default()).unwrap();
        assert_eq!(walk.sharing.stored_of_map, want, "{}", folder.display());
        let stored = want.iter().max().unwrap() + 1;
        assert_eq!(walk.sharing.stored_layers, stored);
        assert_eq!(
            walk.sharing.thumbs.len(),
            stored,
            "a thumbnail per stored layer"
        );
        // a map that was not captured is an error naming it, not a panic
        let err = Walk::new(
            &model,
            &trace,
            Selection {
                map: 1,
                head: 0,
                pos: 0,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("map 1"), "{err}");
    }
}

// ---- gradient attributions against torch autograd (tests/fixtures/attribution) ----

/// grad × input, the gradient norm and integrated gradients of the MLM logit equal torch
/// autograd's (fp32) within 1e-4 of each vector's largest magnitude, for ALBERT with 2 groups
/// × 2 inner layers, BERT and albert-mini (the model's own top-1, and a chosen target); the
/// default target and the logit are transformers'.
#[test]
fn attributions_match_torch_autograd() {
    use albert_lens::insight::attribution::{attribute, Method, Target};
    use albert_lens::insight::Control;
    use albert_lens::model::LoadedModel;
    let cases = common::golden_cases(
        "attribution",
        &["albert_grouped_mlm", "bert_mlm", "albert-mini"],
    );
    assert_eq!(cases.len(), 4);
    for (name, folder, path, meta) in cases {
        let model = LoadedModel::open(&folder).unwrap();
        let input = model.encode(&meta["text"], None).unwrap();
        let pos: usize = meta["position"].parse().unwrap();
        let steps: usize = meta["steps"].parse().unwrap();
        let want_id: u32 = meta["target_id"].parse().unwrap();
        // the target named by its token when the fixture chose one, else the model's top-1
        let target = (name.ends_with("target"))
            .then(|| model.tokenizer.token_to_id(&meta["target"]).unwrap());
        let at = Target::Token {
            position: pos,
            token: target,
        };
        let a = attribute(&model, &input, at, steps, &Control::default()).unwrap();
        assert_eq!(a.target, want_id, "{name}: target");
        assert_eq!(a.target_token, meta["target"], "{name}");
        let logit: f32 = meta["logit"].parse().unwrap();
        assert!(
            (a.logit - logit).abs() <= 1e-4 * logit.abs().max(1.0),
            "{name}: logit {} vs {logit}",
            a.logit
        );
        for m in Method::ALL {
            let want = common::file_tensor(&path, m.key()).unwrap();
            let got = a.values(m);
            let scale = want.iter().fold(0f32, |x, v| x.max(v.abs()));
            let d = common::max_abs_diff(got, &want);
            assert!(
                d <= 1e-4 * scale,
                "{name} {}: max diff {d:e}, largest {scale}",
                m.name()
            );
        }
    }
}

/// Attribution without an MLM head, past the end, or cancelled: a clear error each.
#[test]
fn attribution_refuses_what_it_cannot_do() {
    use albert_lens::insight::attribution::{attribute, Target};
    use albert_lens::insight::Control;
    use albert_lens::model::LoadedModel;
    let bare = LoadedModel::open(&common::fixture("albert_single")).unwrap();
    let input = bare.encode("hello world", None).unwrap();
    let e = attribute(
        &bare,
        &input,
        Target::Token {
            position: 1,
            token: None,
        },
        5,
        &Control::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no masked-LM head"), "{e}");
    let mlm = LoadedModel::open(&common::fixture("bert_mlm")).unwrap();
    let input = mlm.encode("hello world", None).unwrap();
    let e = attribute(
        &mlm,
        &input,
        Target::Token {
            position: 99,
            token: None,
        },
        5,
        &Control::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("past the end"), "{e}");
    let ctl = Control::default();
    ctl.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    let e = attribute(
        &mlm,
        &input,
        Target::Token {
            position: 1,
            token: None,
        },
        5,
        &ctl,
    )
    .unwrap_err();
    assert!(e.to_string().contains("cancelled"), "{e}");
}

/// With heads switched off, the attributed logit is the ablated model's: equal to the MLM head
/// on the last hidden state of the ablated CPU run (itself equal to transformers with those
/// heads zeroed, tests/hf_parity.rs), and the gradients change.
#[test]
fn attribution_of_an_ablated_model_attributes_the_ablated_logit() {
    use albert_lens::insight::attribution::{attribute, attribute_with, Target};
    use albert_lens::insight::Control;
    use albert_lens::model::{Ablation, ForwardOptions, LoadedModel};
    let model = LoadedModel::open(&common::model_folder("albert-mini")).unwrap();
    let input = model
        .encode("The capital of the United [MASK] is Washington.", None)
        .unwrap();
    let ablate = Ablation::parse("1:1,2:3,4:2").unwrap();
    let (pos, target) = (6, model.tokenizer.token_to_id("states"));
    let a = attribute_with(
        &model,
        (&input, &ablate),
        Target::Token {
            position: pos,
            token: target,
        },
        4,
        &Control::default(),
    )
    .unwrap();
    let opts = ForwardOptions {
        ablate,
        ..ForwardOptions::default()
    };
    let t = CpuBackend::new()
        .forward_with(&model.config, &model.weights, &input, &opts)
        .unwrap();
    let last = t.hidden_states.len() - 1;
    let logits = model
        .weights
        .mlm
        .as_ref()
        .unwrap()
        .logits(&model.config, t.hidden(last, pos))
        .unwrap();
    let want = logits[target.unwrap() as usize];
    assert!(
        (a.logit - want).abs() <= 1e-4 * want.abs().max(1.0),
        "{} vs {want}",
        a.logit
    );
    let at = Target::Token {
        position: pos,
        token: target,
    };
    let intact = attribute(&model, &input, at, 4, &Control::default()).unwrap();
    assert_ne!(intact.grad_x_input, a.grad_x_input);
}

/// Attention per word equals the fixture made from transformers' attentions with the fast
/// tokenizer's word_ids() (tests/fixtures/words: albert-mini's WordPiece on the example, and a
/// SentencePiece ALBERT on a sentence pair), every row still sums to 1, and the groups agree.
#[test]
fn word_level_attention_matches_transformers_word_ids() {
    use albert_lens::analysis::words;
    use albert_lens::model::LoadedModel;
    for (name, folder, path, meta) in
        common::golden_cases("words", &["albert-mini", "albert_single"])
    {
        let model = LoadedModel::open(&folder).unwrap();
        let pair = meta
            .get("pair")
            .filter(|p| !p.is_empty())
            .map(String::as_str);
        let input = model.encode(&meta["text"], pair).unwrap();
        let trace = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let want: Vec<Vec<usize>> = serde_json::from_str(&meta["groups"]).unwrap();
        assert_eq!(words::groups(&trace), want, "{name}: word groups");
        let w = words::word_trace(&trace);
        let m = want.len();
        assert_eq!(w.num_tokens(), m);
        for (j, a) in w.attentions.iter().enumerate() {
            let golden = common::file_tensor(&path, &format!("word_attentions.{j}")).unwrap();
            let d = common::max_abs_diff(a, &golden);
            assert!(d <= 1e-5, "{name}: word_attentions.{j} max diff {d:e}");
            for row in a.chunks(m) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
        // a trace read from a file has no word ids: the pieces' markers give the same words
        let mut bare = trace.clone();
        bare.word_ids.clear();
        if name.starts_with("albert-mini") {
            assert_eq!(words::groups(&bare), want, "{name}: words from ## markers");
        }
        assert!(
            w.tokens.iter().any(|t| t == "tired" || t == "tired."),
            "{:?}",
            w.tokens
        );
    }
}

/// The corpus head map (MDS of the heads' JS divergences, each head labelled "layer-head"): no
/// two labels overlap and no label covers a point; the scatter carries tick numbers on both
/// axes (statistics of the grouped ALBERT fixture, made by transformers).
#[test]
fn head_map_labels_sit_apart_and_its_axes_have_tick_numbers() {
    use albert_lens::figures::{corpus, Anchor, Item, Theme};
    let stats = albert_lens::corpus::HeadStats::read(
        &common::fixtures().join("corpus/albert_grouped.safetensors"),
    )
    .unwrap();
    let theme = Theme::LIGHT;
    let fig = corpus::head_map((&stats, "albert_grouped"), Colormap::Viridis, &theme).unwrap();
    let label_size = theme.font * 0.75;
    let mut labels = Vec::new();
    let mut dots = Vec::new();
    let mut ticks = 0;
    for item in &fig.items {
        match item {
            Item::Text {
                x,
                y,
                text,
                size,
                anchor,
                ..
            } if (*size - label_size).abs() < 1e-3 => {
                assert_eq!(*anchor, Anchor::Start);
                let w = text.chars().count() as f32 * size * 0.56;
                labels.push([*x, y - size * 0.8, x + w, y + size * 0.2]);
            }
            Item::Text { size, .. } if (*size - theme.font * 0.7).abs() < 1e-3 => ticks += 1,
            Item::Circle { x, y, r, .. } => dots.push([x - r, y - r, x + r, y + r]),
            _ => {}
        }
    }
    let overlap = |a: &[f32; 4], b: &[f32; 4]| {
        (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0)
    };
    assert_eq!(
        labels.len(),
        stats.maps * stats.heads,
        "every head labelled"
    );
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            assert!(overlap(a, b) < 1.0, "labels overlap: {a:?} {b:?}");
        }
        for d in &dots {
            assert!(overlap(a, d) < 1.0, "a label covers a point: {a:?} {d:?}");
        }
    }
    assert!(ticks >= 4, "tick numbers on both axes ({ticks})");
}

/// Figure 1 leaves headroom above its highest point (no point on the frame), for albert-mini
/// and bert-mini on the example sentence.
#[test]
fn figure1_points_sit_inside_their_frames() {
    use albert_lens::figures::{scenes, Item, Theme};
    let run = |name: &str| {
        let m = albert_lens::model::LoadedModel::open(
            &albert_lens::model::builtin::folder(name).unwrap(),
        )
        .unwrap();
        let input = m.encode(albert_lens::app::EXAMPLE_TEXT, None).unwrap();
        CpuBackend::new()
            .forward(&m.config, &m.weights, &input)
            .unwrap()
    };
    let (a, b) = (run("albert-mini"), run("bert-mini"));
    let lines = scenes::figure1_lines(
        ("albert-mini", &a),
        Some(("bert-mini", &b)),
        &[],
        &[],
        false,
    );
    let (fig, _) = scenes::figure1(albert_lens::app::EXAMPLE_TEXT, &lines, &Theme::LIGHT);
    let frames: Vec<(f32, f32, f32, f32)> = fig
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Rect {
                x,
                y,
                w,
                h,
                fill: None,
                stroke: Some(_),
                ..
            } => Some((*x, *y, *w, *h)),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 2, "two panels");
    let mut points = 0;
    for item in &fig.items {
        if let Item::Circle { x, y, r, .. } = item {
            let (_, fy, _, _) = frames
                .iter()
                .copied()
                .find(|(fx, _, fw, _)| (*fx..=fx + fw).contains(x))
                .expect("a point outside both panels");
            assert!(
                y - r > fy + 1.0,
                "a point touches its frame's top: {y} vs {fy}"
            );
            points += 1;
        }
    }
    assert!(points >= 16, "{points} points");
}

/// The differentiable f64 forward that attribution, head importance and the what-ifs run is the
/// model's own for the families with their own attention: ModernBERT (pre-norm, rotary,
/// windowed, GeGLU) and DeBERTa-v3 (the disentangled relative terms) — the attributed MLM logit
/// equals transformers' at every position of the pair case, within 1e-4 · max(1, |logit|).
#[test]
fn the_f64_forward_of_modernbert_and_deberta_gives_transformers_logits() {
    use albert_lens::insight::attribution::{attribute, Target};
    use albert_lens::insight::Control;
    use albert_lens::model::LoadedModel;
    for name in ["modernbert_mlm", "deberta_mlm"] {
        let model = LoadedModel::open(&common::fixture(name)).unwrap();
        let g = common::goldens(name)
            .into_iter()
            .find(|g| g.case == "pair")
            .unwrap();
        let input = model.encode(&g.text, g.pair.as_deref()).unwrap();
        let want = g.mlm_logits.as_ref().unwrap();
        let v = model.config.vocab_size;
        for position in [1, input.len() / 2, input.len() - 2] {
            let token = (position * 37 % v) as u32;
            let target = Target::Token {
                position,
                token: Some(token),
            };
            let a = attribute(&model, &input, target, 1, &Control::default()).unwrap();
            let w = want[position * v + token as usize];
            assert!(
                (a.logit - w).abs() <= 1e-4 * w.abs().max(1.0),
                "{name} position {position}: {} vs {w}",
                a.logit
            );
        }
    }
}

/// The walk-through explains each family's own steps: ModernBERT's local layer (the window,
/// the rotation, the GeGLU; no position-sum step) and DeBERTa-v3's disentangled scores.
#[test]
fn explain_says_what_modernbert_and_deberta_do_differently() {
    use albert_lens::insight::explain::{Selection, Step, Walk};
    use albert_lens::model::{Capture, LoadedModel};
    let walk = |name: &str, map: usize| {
        let model = LoadedModel::open(&common::fixture(name)).unwrap();
        let input = model
            .encode("The quick brown fox jumps over the lazy dog.", None)
            .unwrap();
        let trace = CpuBackend::new()
            .forward_capture(
                &model.config,
                &model.weights,
                &input,
                &Capture::Maps(vec![map]),
            )
            .unwrap();
        Walk::new(
            &model,
            &trace,
            Selection {
                map,
                head: 1,
                pos: 3,
            },
        )
        .unwrap()
    };
    let w = walk("modernbert_mlm", 1);
    assert!(!w.steps().contains(&Step::Sum));
    let scores = w.text(Step::Scores, 1.0).paragraph;
    assert!(
        scores.contains("local layer") && scores.contains("exactly 0"),
        "{scores}"
    );
    assert!(w.text(Step::Qkv, 1.0).paragraph.contains("RoPE"));
    assert!(w.text(Step::FeedForward, 1.0).title.contains("GeGLU"));
    // keys beyond the window have weight 0 at any temperature
    let far = w.alpha_at(2.0);
    assert!(far[9..].iter().all(|&a| a == 0.0), "{far:?}");
    let w = walk("deberta_mlm", 2);
    let s = w.text(Step::Scores, 1.0);
    assert!(
        s.paragraph.contains("content to position"),
        "{}",
        s.paragraph
    );
    assert!(s.formula.contains("P_k"), "{}", s.formula);
}
