//! The explanatory metrics on small hand-made inputs with values worked out by hand (PCA of a
//! known decomposition, Figure 1's distances and angles, Jensen–Shannon distances), the layer
//! lens against transformers' masked-LM head applied to every layer, and the parameter counts
//! against HF transformers' own counts and the ALBERT paper's Tables 1, 3 and 4.
#![allow(clippy::unwrap_used)]

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::insight::{self, JsMode};
use albert_lens::model::{builtin, LoadedModel};
use albert_lens::params::{self, Arch, Loaded, Sharing};
use common::*;

/// Four points whose coordinates along three orthonormal axes are uncorrelated with variances
/// 4, 1 and 0.25, in a rotated 4-D frame with an offset: PCA must give back exactly those axes,
/// variances and coordinates (1e-6: the points are stored as f32).
#[test]
fn pca_recovers_a_known_decomposition() {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let axes = [[s, s, 0.0, 0.0], [s, -s, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
    let coords = [
        [2.0, 1.0, 0.5],
        [-2.0, 1.0, -0.5],
        [2.0, -1.0, -0.5],
        [-2.0, -1.0, 0.5],
    ];
    let offset = [3.0, -1.0, 0.5, 7.0];
    let data: Vec<f32> = coords
        .iter()
        .flat_map(|c| {
            (0..4).map(move |d| (offset[d] + (0..3).map(|k| c[k] * axes[k][d]).sum::<f64>()) as f32)
        })
        .collect();
    let p = insight::pca(&data, 4, 4, 3).unwrap();
    for (got, want) in p.variance.iter().zip([4.0, 1.0, 0.25]) {
        assert!((got - want).abs() < 1e-6, "variance {got} want {want}");
    }
    assert!((p.total_variance - 5.25).abs() < 1e-6);
    let explained = p.explained();
    assert!((explained[0] - 4.0 / 5.25).abs() < 1e-6);
    for (k, axis) in axes.iter().enumerate() {
        for (got, want) in p.axes[k].iter().zip(axis) {
            assert!((got - want).abs() < 1e-6, "axis {k}: {:?}", p.axes[k]);
        }
    }
    for (i, c) in coords.iter().enumerate() {
        for (k, want) in c.iter().enumerate() {
            let got = p.coords[i * 3 + k] as f64;
            assert!((got - want).abs() < 1e-6, "point {i} PC{}", k + 1);
        }
    }
}

#[test]
fn pca_refuses_a_matrix_of_the_wrong_size() {
    assert!(insight::pca(&[1.0, 2.0, 3.0], 2, 2, 1).is_err());
    assert!(insight::pca(&[], 0, 2, 1).is_err());
}

/// Token 0 goes from (1, 0) to (0, 2): L2 √5, 90°. Token 1 stays at (0, 1): 0 and 0°. The
/// means are √5 / 2 and 45°; keeping only token 0 gives √5 and 90°.
#[test]
fn figure1_averages_distance_and_angle_over_tokens() {
    let t = hand_trace(
        vec![vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 2.0, 0.0, 1.0]],
        vec![vec![0.5; 4]],
        2,
        2,
        1,
    );
    let f = insight::figure1(&t, &[]);
    assert_eq!(f.len(), 1);
    assert!((f[0].l2 - 5f64.sqrt() / 2.0).abs() < 1e-12);
    assert!((f[0].angle_deg - 45.0).abs() < 1e-9);
    let only0 = insight::figure1(&t, &[0]);
    assert!((only0[0].l2 - 5f64.sqrt()).abs() < 1e-12);
    assert!((only0[0].angle_deg - 90.0).abs() < 1e-9);
    assert!((insight::angle_between(&[1.0, 1.0], &[1.0, 0.0]) - 45.0).abs() < 1e-9);
}

/// Disjoint distributions are 1 apart; equal ones 0; (½, ½) against (1, 0) has
/// JS = H(¾, ¼) − ½ = 0.311278124459133 bits, so the distance is its square root.
#[test]
fn js_distance_has_the_textbook_values() {
    assert!((insight::js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
    assert!(insight::js_distance(&[0.3, 0.7], &[0.3, 0.7]).abs() < 1e-7);
    let want = 0.311_278_124_459_133f64.sqrt();
    assert!((insight::js_distance(&[0.5, 0.5], &[1.0, 0.0]) - want).abs() < 1e-9);
    // symmetric
    assert_eq!(
        insight::js_distance(&[0.2, 0.8], &[0.6, 0.4]),
        insight::js_distance(&[0.6, 0.4], &[0.2, 0.8])
    );
}

/// Two layers, one head, two tokens: row 0 moves from (1, 0) to (0, 1) (distance 1), row 1
/// stays (0): the mean is 0.5 off the diagonal, 0 on it.
#[test]
fn cross_layer_js_matrix_on_a_hand_made_trace() {
    let t = hand_trace(
        vec![vec![0.0; 2]; 3],
        vec![vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 1.0, 0.0, 1.0]],
        2,
        1,
        1,
    );
    for mode in [JsMode::MatchedHeads, JsMode::MeanOfHeads, JsMode::Head(0)] {
        let m = insight::cross_layer_js(&t, mode).unwrap();
        assert_eq!(m, vec![0.0, 0.5, 0.5, 0.0], "{mode:?}");
    }
    assert!(insight::cross_layer_js(&t, JsMode::Head(1)).is_err());
}

/// The layer lens decodes every hidden state with the masked-LM head: the probabilities equal
/// the softmax of transformers' head applied to the same layer's hidden state (1e-4 absolute),
/// and the top 5 tokens are the same, for both built-in models on the [MASK] fixture.
#[test]
fn layer_lens_matches_transformers_head_on_every_layer() {
    for name in ["albert-mini", "bert-mini"] {
        let model = LoadedModel::open(&builtin::folder(name).unwrap()).unwrap();
        let g = goldens(name)
            .into_iter()
            .find(|g| g.case == "mask")
            .unwrap();
        let input = model.encode(&g.text, None).unwrap();
        let trace = CpuBackend::new()
            .forward(&model.config, &model.weights, &input)
            .unwrap();
        let pos = trace.tokens.iter().position(|t| t == "[MASK]").unwrap();
        let head = model.weights.mlm.as_ref().unwrap();
        let rows = insight::layer_lens(&model.config, head, &trace, pos, 5).unwrap();
        assert_eq!(rows.len(), trace.hidden_states.len());
        let v = model.config.vocab_size;
        for row in &rows {
            let logits =
                golden_tensor(name, "mask", &format!("lens_logits.{}", row.state)).unwrap();
            let want = insight::softmax(&logits[pos * v..(pos + 1) * v]);
            let worst = max_abs_diff(&row.probs, &want);
            assert!(worst < 1e-4, "{name} state {}: {worst}", row.state);
            let mut order: Vec<usize> = (0..v).collect();
            order.sort_by(|&a, &b| want[b].total_cmp(&want[a]));
            let got: Vec<usize> = row.top.iter().map(|&(t, _)| t as usize).collect();
            assert_eq!(got, order[..5].to_vec(), "{name} state {}", row.state);
        }
    }
}

/// The six Table 1 configurations give HF transformers' own AlbertModel / BertModel counts to
/// the parameter (counted with transformers 5.24 from the same configs; BERT with its real
/// 30,522-token vocabulary).
#[test]
fn parameter_counts_equal_transformers_for_table1_models() {
    let bert = |e: usize, l: usize| Arch {
        vocab: 30_522,
        ..Arch::paper(e, e, l, Sharing::None)
    };
    let cases = [
        (bert(768, 12), 109_482_240),
        (bert(1024, 24), 335_141_888),
        (Arch::paper(128, 768, 12, Sharing::All), 11_683_584),
        (Arch::paper(128, 1024, 24, Sharing::All), 17_683_968),
        (Arch::paper(128, 2048, 24, Sharing::All), 58_724_864),
        (Arch::paper(128, 4096, 12, Sharing::All), 222_595_584),
    ];
    for (arch, hf) in cases {
        assert_eq!(arch.counts().total(), hf, "{arch:?}");
    }
}

/// Every row of the paper's Tables 1, 3 and 4 is our count rounded to the million, with the
/// paper's convention: rows with shared layers count the pooler, not-shared rows do not. The
/// two rows the paper misprints (ALBERT-xlarge 58.7M printed 60M; xxlarge 222.6M printed
/// 235M, where HF's albert-xxlarge-v2 also has 222.6M) are the only exceptions.
#[test]
fn parameter_tables_1_3_4_round_to_the_papers_figures() {
    let mut checked = 0;
    for row in params::table1()
        .into_iter()
        .chain(params::table3())
        .chain(params::table4())
    {
        let c = row.arch.counts();
        let ours = row.paper_convention() as f64 / 1e6;
        if row.label.contains("xlarge") {
            assert!(
                (ours - row.paper_millions).abs() > 1.0,
                "{} is no longer an exception",
                row.label
            );
            continue;
        }
        assert_eq!(
            ours.round(),
            row.paper_millions,
            "{} (E = {}, {:?}): {ours:.2}M",
            row.label,
            row.arch.embedding,
            row.arch.sharing
        );
        assert!(c.total() >= row.paper_convention());
        checked += 1;
    }
    assert_eq!(checked, 4 + 8 + 8);
    // ALBERT's two savings, for ALBERT-base: the embedding (V x E + E x H against V x H) and
    // the encoder (one layer against twelve)
    let c = Arch::paper(128, 768, 12, Sharing::All).counts();
    assert_eq!(
        c.word_embeddings + c.projection,
        30_000 * 128 + 128 * 768 + 768
    );
    assert_eq!(c.encoder_unshared, 12 * c.encoder);
}

/// The accounting of a loaded checkpoint counts its tensors: albert-mini and bert-mini hold
/// what their model cards (transformers' count, with pooler) say, less the pooler the app does
/// not load.
#[test]
fn loaded_accounting_matches_the_model_cards() {
    for (name, with_pooler) in [("albert-mini", 483_456usize), ("bert-mini", 1_330_304)] {
        let model = LoadedModel::open(&builtin::folder(name).unwrap()).unwrap();
        let loaded = Loaded::of(&model.config, &model.weights);
        let h = model.config.hidden_size;
        assert_eq!(loaded.backbone() + h * h + h, with_pooler, "{name}");
        assert_eq!(
            Arch::of_config(&model.config).counts().total(),
            with_pooler,
            "{name}"
        );
        assert_eq!(loaded.applied_layers, 4);
        assert_eq!(
            loaded.stored_layers,
            if name == "albert-mini" { 1 } else { 4 }
        );
    }
}

/// Three tight clusters of 8 points in 5-D, far apart: t-SNE keeps every point's nearest
/// neighbour in its own cluster, and the clusters well apart; the layout is the same on every
/// run (it starts from PCA), progress reaches the end, and a cancelled run says so.
#[test]
fn tsne_separates_clusters_deterministically_and_can_be_cancelled() {
    let centres = [
        [0.0f32, 0.0, 0.0, 0.0, 0.0],
        [10.0, 0.0, 5.0, 0.0, 0.0],
        [0.0, 10.0, 0.0, -5.0, 3.0],
    ];
    let mut data = Vec::new();
    for c in &centres {
        for i in 0..8 {
            for (d, v) in c.iter().enumerate() {
                data.push(v + ((i * 7 + d * 3) % 5) as f32 * 0.1);
            }
        }
    }
    let ctl = insight::Control::default();
    let y = insight::tsne(&data, 24, 5, 30.0, &ctl).unwrap();
    assert!((ctl.fraction() - 1.0).abs() < 1e-6);
    let dist =
        |a: usize, b: usize| ((y[a][0] - y[b][0]).powi(2) + (y[a][1] - y[b][1]).powi(2)).sqrt();
    let (mut within, mut between, mut nw, mut nb) = (0.0, 0.0, 0, 0);
    for a in 0..24 {
        let nearest = (0..24)
            .filter(|&b| b != a)
            .min_by(|&p, &q| dist(a, p).total_cmp(&dist(a, q)))
            .unwrap();
        assert_eq!(
            nearest / 8,
            a / 8,
            "point {a}'s nearest neighbour is in another cluster"
        );
        for b in 0..24 {
            if a != b {
                if a / 8 == b / 8 {
                    within += dist(a, b);
                    nw += 1;
                } else {
                    between += dist(a, b);
                    nb += 1;
                }
            }
        }
    }
    assert!(
        within / nw as f32 * 3.0 < between / nb as f32,
        "clusters not separated"
    );
    assert_eq!(
        insight::tsne(&data, 24, 5, 30.0, &insight::Control::default()).unwrap(),
        y
    );
    let stop = insight::Control::default();
    stop.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = insight::tsne(&data, 24, 5, 30.0, &stop).unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
}

/// Cosine nearest neighbours on a hand-made table: (0.9, 0.1) is at cos 0.9 / √0.82 from
/// (1, 0), (0, 1) at 0 and (−1, 0) at −1; the query itself is left out.
#[test]
fn nearest_rows_by_cosine_on_a_hand_made_table() {
    let table = [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, -1.0, 0.0];
    let got = insight::nearest_rows(&table, 2, 0, 3);
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!((got[0].1 as f64 - 0.9 / 0.82f64.sqrt()).abs() < 1e-6);
    assert!(got[1].1.abs() < 1e-7);
    assert!((got[2].1 + 1.0).abs() < 1e-7);
    assert!(insight::nearest_rows(&table, 2, 9, 3).is_empty());
}
