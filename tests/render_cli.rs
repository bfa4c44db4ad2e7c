//! `albert-lens render` end to end, headless: every view writes an SVG that parses as SVG and a
//! PNG of the promised size at 1x/2x/4x; the matrices it writes as CSV, NPY and safetensors
//! hold transformers' own attention weights; bad requests fail with a message that names the
//! problem and leave no file behind.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn render(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .arg("render")
        .args(["--backend", "cpu"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The fields of one CSV line (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn svg_size(svg: &str) -> (f32, f32) {
    let tree = albert_lens::figures::parse_svg(svg).unwrap();
    (tree.size().width(), tree.size().height())
}

/// Every view as SVG (valid: usvg parses it, with text and shapes inside) and as PNG at
/// scale 2 whose pixel size is twice the SVG's.
#[test]
fn every_view_renders_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let mask = "The capital of the United [MASK] is Washington.";
    let views: &[(&str, &[&str])] = &[
        ("head", &["--layer", "2", "--head", "3"]),
        ("model", &[]),
        ("rollout", &[]),
        ("figure1", &["--compare", "bert-mini", "--repeats", "8,12"]),
        (
            "parameters",
            &[
                "--compare",
                "bert-mini",
                "--also",
                "tests/fixtures/distilbert_mlm",
            ],
        ),
        ("projection", &["--color-by", "segment"]),
        ("projection", &["--tsne", "--color-by", "position"]),
        ("lens", &["--text", mask]),
        ("js", &["--theme", "presentation"]),
        (
            "explain",
            &["--layer", "3", "--head", "2", "--temperature", "0.5"],
        ),
        ("mixing", &["--model", "bert-mini", "--method", "flow"]),
        (
            "mixing",
            &["--method", "norm", "--layer", "2", "--compare", "bert-mini"],
        ),
        (
            "mixing",
            &[
                "--method",
                "value-zeroing",
                "--layer",
                "rollout",
                "--hide-special",
            ],
        ),
    ];
    for (view, extra) in views {
        let svg_path = dir.path().join(format!("{view}{}.svg", extra.len()));
        let mut args = vec!["--view", view];
        args.extend_from_slice(extra);
        ok(&render(&args, &svg_path));
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>")
        );
        assert!(svg.contains("<text"), "{view}: no text");
        let (w, h) = svg_size(&svg);
        assert!(w > 100.0 && h > 100.0, "{view}: {w} x {h}");

        let png_path = dir.path().join(format!("{view}{}.png", extra.len()));
        args.extend_from_slice(&["--scale", "2"]);
        ok(&render(&args, &png_path));
        let img = image::open(&png_path).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            ((w * 2.0).round() as u32, (h * 2.0).round() as u32),
            "{view}"
        );
    }
}

/// The same figure at 1x, 2x and 4x: the pixel size scales, and the picture is the same
/// drawing (the 4x image averaged down 4 x 4 is close to the 1x image).
#[test]
fn png_scales_1_2_4_are_the_same_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for s in ["1", "2", "4"] {
        let p = dir.path().join(format!("x{s}.png"));
        ok(&render(&["--view", "head", "--scale", s], &p));
        sizes.push(image::open(&p).unwrap().to_rgb8());
    }
    let (w1, h1) = sizes[0].dimensions();
    assert_eq!(sizes[1].dimensions(), (w1 * 2, h1 * 2));
    assert_eq!(sizes[2].dimensions(), (w1 * 4, h1 * 4));
    let small = image::imageops::resize(&sizes[2], w1, h1, image::imageops::FilterType::Triangle);
    let diff: f64 = small
        .pixels()
        .zip(sizes[0].pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|c| (a[c] as f64 - b[c] as f64).abs())
                .sum::<f64>()
        })
        .sum::<f64>()
        / (w1 * h1 * 3) as f64;
    assert!(diff < 12.0, "mean channel difference {diff}");
}

/// Layer 2, head 3 of albert-mini on the example sentence as CSV, NPY and safetensors: each
/// holds transformers' attention weights for that head (1e-5), with the tokens as labels.
#[test]
fn matrix_exports_hold_transformers_attention() {
    let g = goldens("albert-mini")
        .into_iter()
        .find(|g| g.case == "example")
        .unwrap();
    let n = g.trace.num_tokens();
    let want = &g.trace.attentions[1][2 * n * n..3 * n * n];
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--view",
        "head",
        "--layer",
        "2",
        "--head",
        "3",
        "--text",
        g.text.as_str(),
    ];

    let csv_path = dir.path().join("m.csv");
    ok(&render(&args, &csv_path));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), n + 1);
    let header = csv_fields(lines[0]);
    assert_eq!(header[0], "albert-mini: attention, layer 2, head 3");
    assert_eq!(header[1..], g.trace.tokens[..]);
    let mut got = Vec::new();
    for (i, l) in lines[1..].iter().enumerate() {
        let cells = csv_fields(l);
        assert_eq!(cells[0], g.trace.tokens[i]);
        got.extend(cells[1..].iter().map(|c| c.parse::<f32>().unwrap()));
    }
    assert!(max_abs_diff(&got, want) <= ATTENTION_TOL);

    let npy_path = dir.path().join("m.npy");
    ok(&render(&args, &npy_path));
    let npy = std::fs::read(&npy_path).unwrap();
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "header padded to 64 bytes");
    let header = std::str::from_utf8(&npy[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains(&format!("'shape': ({n}, {n})")),
        "{header}"
    );
    let vals: Vec<f32> = npy[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert!(max_abs_diff(&vals, want) <= ATTENTION_TOL);

    let st_path = dir.path().join("m.safetensors");
    ok(&render(&args, &st_path));
    let bytes = std::fs::read(&st_path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let labels: Vec<String> =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["row_labels"]).unwrap();
    assert_eq!(labels, g.trace.tokens);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, t) = st.tensors().into_iter().next().unwrap();
    assert_eq!(t.shape(), &[n, n]);
    let vals: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert!(max_abs_diff(&vals, want) <= ATTENTION_TOL);
}

/// Figure 1 as CSV: one row per layer with the L2 distance and angle, and the what-if with the
/// shared layer applied 8 times shares its first 4 layers with the model itself (the same
/// weights on the same input) and then goes on.
#[test]
fn figure1_csv_and_the_repetition_what_if() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f1.csv");
    ok(&render(&["--view", "figure1", "--repeats", "8"], &p));
    let csv = std::fs::read_to_string(&p).unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(
        rows[0][1..],
        [
            "albert-mini L2",
            "albert-mini angle (deg)",
            "albert-mini x8 L2",
            "albert-mini x8 angle (deg)"
        ]
    );
    assert_eq!(rows.len(), 1 + 8);
    for r in &rows[1..5] {
        assert_eq!(r[1], r[3], "the first 4 layers are the same computation");
        assert_eq!(r[2], r[4]);
    }
    for r in &rows[5..] {
        assert_eq!(r[1], "NaN");
        assert!(r[3].parse::<f64>().unwrap() > 0.0);
    }
}

/// `--also` puts more models beside --model and --compare: any family, in the parameter table
/// (counted as the loaded weights count) and as Figure 1's lines (equal to their own run's).
#[test]
fn more_models_of_any_family_join_the_parameter_table_and_figure1() {
    use albert_lens::backend::Backend;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("params.csv");
    let distil = "tests/fixtures/distilbert_mlm";
    let also = ["--also", distil, "--also", "tests/fixtures/electra_disc"];
    let args = [
        &["--view", "parameters", "--compare", "bert-mini"][..],
        &also[..],
    ]
    .concat();
    ok(&render(&args, &p));
    let csv = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<Vec<String>> = csv.lines().map(csv_fields).collect();
    assert_eq!(
        lines[0][1..],
        ["albert-mini", "bert-mini", "distilbert_mlm", "electra_disc"]
    );
    let m = albert_lens::model::LoadedModel::open(std::path::Path::new(distil)).unwrap();
    let own = albert_lens::params::Loaded::of(&m.config, &m.weights).backbone();
    let total = lines.last().unwrap();
    assert_eq!(total[3].parse::<f64>().unwrap() as usize, own);
    let p = dir.path().join("f1.csv");
    ok(&render(&["--view", "figure1", "--also", distil], &p));
    let csv = std::fs::read_to_string(&p).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().map(csv_fields).collect();
    assert_eq!(rows[0][3], "distilbert_mlm L2");
    let input = m.encode(albert_lens::app::EXAMPLE_TEXT, None).unwrap();
    let t = albert_lens::backend::CpuBackend::new()
        .forward(&m.config, &m.weights, &input)
        .unwrap();
    let want = albert_lens::insight::figure1(&t, &t.kept_tokens(false));
    for (layer, tr) in want.iter().enumerate() {
        let got: f64 = rows[1 + layer][3].parse().unwrap();
        assert!(
            (got - tr.l2).abs() <= 1e-4 * tr.l2.max(1.0),
            "layer {layer}"
        );
    }
    // a model that is not there is named, and nothing is written
    let p = dir.path().join("none.csv");
    let o = render(&["--view", "parameters", "--also", "/no/such/model"], &p);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/model"));
    assert!(!p.exists());
}

/// Bad requests: an unknown extension, a lens without [MASK], the what-if on a BERT, a layer
/// that does not exist, a step outside the Explain view or unknown, an empty neighbours query,
/// a difference of value-weighted maps, overlaid heads off the links view, past the model's
/// heads or on a difference. Each fails, names the problem, and writes nothing.
#[test]
fn bad_render_requests_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--view", "head"], "out.jpg", ".png, .svg"),
        (&["--view", "lens"], "lens.png", "[MASK]"),
        (
            &[
                "--view",
                "figure1",
                "--model",
                "bert-mini",
                "--repeats",
                "6",
            ],
            "f.png",
            "needs an ALBERT",
        ),
        (
            &["--view", "head", "--layer", "9"],
            "h.png",
            "layer 9 does not exist",
        ),
        (&["--view", "model"], "m.csv", "no matrix"),
        (
            &["--view", "explain", "--head", "mean"],
            "e.png",
            "one head",
        ),
        (
            &["--view", "explain", "--temperature", "0"],
            "e.png",
            "positive",
        ),
        (
            &["--view", "explain", "--position", "99"],
            "e.png",
            "outside this input",
        ),
        (
            &["--view", "figure1", "--repeats", "500"],
            "r.png",
            "1 to 96",
        ),
        (
            &["--view", "mixing", "--method", "saliency"],
            "x.png",
            "unknown --method \"saliency\" for the mixing view: use attention, norm, globenc, alti, value-zeroing, flow",
        ),
        (
            &["--view", "mixing", "--method", "norm"],
            "x.png",
            "norm has no aggregate",
        ),
        (
            &["--view", "mixing", "--layer", "9"],
            "x.png",
            "layer 9 does not exist",
        ),
        (
            &["--view", "mixing", "--position", "99"],
            "x.png",
            "outside this input",
        ),
        (
            &["--view", "head", "--layer", "rollout"],
            "x.png",
            "--layer rollout is the mixing view's aggregate",
        ),
        (
            &["--view", "mixing", "--layer", "0"],
            "x.png",
            "or \"rollout\"",
        ),
        (
            &["--view", "head", "--step", "scores"],
            "x.png",
            "use it with --view explain",
        ),
        (
            &["--view", "explain", "--step", "nosuchstep"],
            "x.png",
            "queries-keys-values",
        ),
        (
            &["--view", "neighbours", "--query", "  "],
            "x.png",
            "give --query WORD",
        ),
        (
            &["--view", "value-norm", "--compare", "bert-mini"],
            "x.png",
            "not value-weighted maps",
        ),
        (
            &["--view", "js", "--head", "9"],
            "x.png",
            "head 9 does not exist",
        ),
        (
            &["--view", "head", "--overlay-heads", "1"],
            "x.png",
            "use it with --view links",
        ),
        (
            &["--view", "links", "--overlay-heads", "1,9"],
            "x.png",
            "--overlay-heads 9: albert-mini has 4 heads",
        ),
        (
            &["--view", "links", "--overlay-heads", "2", "--compare", "bert-mini"],
            "x.png",
            "not a difference",
        ),
        (
            &["--view", "query-key", "--head", "mean"],
            "x.png",
            "follows one head",
        ),
        (
            &["--view", "query-key", "--layer", "9"],
            "x.png",
            "layer 9 does not exist",
        ),
        (
            &["--view", "query-key", "--data", "/no/such/corpus.txt"],
            "x.png",
            "/no/such/corpus.txt",
        ),
        (
            &["--view", "head", "--mask", "99"],
            "x.png",
            "--mask 99: the text has",
        ),
        (
            &["--view", "head", "--mask", "0"],
            "x.png",
            "--mask 0: token 0 is the special token [CLS]",
        ),
        (
            &["--view", "projection", "--label-all", "maybe"],
            "x.png",
            "--label-all",
        ),
        (
            &["--view", "model", "--diff-text", "A cat."],
            "x.png",
            "use them with --view head, rollout or links",
        ),
        (
            &["--view", "head", "--diff-intervention"],
            "x.png",
            "give --ablate or --mask",
        ),
        (
            &["--view", "head", "--diff-text", "A cat.", "--compare", "bert-mini"],
            "x.png",
            "cannot be used with",
        ),
        (
            &["--view", "head", "--diff-text", "A cat."],
            "x.png",
            "tokenize to different lengths",
        ),
    ];
    for (args, file, msg) in cases {
        let p = dir.path().join(file);
        let o = render(args, &p);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!p.exists(), "{args:?} left {}", p.display());
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial files"
    );
}

/// `render --scene` says the scene as a command line, and that command, run by a shell, draws
/// the same file byte for byte (a scene with a masked token, a head switched off, special tokens
/// hidden and a text a shell must quote); `--mask` shows the token as [MASK] in the figure.
#[test]
fn a_scene_as_a_command_draws_the_same_figure() {
    let dir = tempfile::tempdir().unwrap();
    let scene = serde_json::json!({
        "format": "albert-lens scene",
        "version": 1,
        "main": {"Builtin": "albert-mini"},
        "compare": null,
        "session": {"text": "The cat's toy isn't \"here\" $HOME", "open_tab": "attention",
                    "hide_special": true, "layer": 2},
        "intervention": {"ablate": [[1, 0]], "masked": [2]},
        "tabs": {"attention": {"head": {"Head": 1}}},
        "figure": ["attention", "attention"],
        "scale": 1.0
    });
    let path = dir.path().join("s.json");
    std::fs::write(&path, serde_json::to_vec(&scene).unwrap()).unwrap();
    let out = dir.path().join("scene.svg");
    let o = render(&["--scene", path.to_str().unwrap()], &out);
    ok(&o);
    let said = String::from_utf8_lossy(&o.stderr);
    let line = said
        .lines()
        .find_map(|l| l.strip_prefix("note: the scene as a command: albert-lens "))
        .unwrap_or_else(|| panic!("no command: {said}"));
    assert!(
        line.contains("--mask 2") && line.contains("--ablate 2:1"),
        "{line}"
    );
    let again = dir.path().join("command.svg");
    let sh = format!("\"$BIN\" {line} --backend cpu --scale 1 --out \"$OUT\"");
    let o = Command::new("sh")
        .args(["-c", &sh])
        .env("BIN", env!("CARGO_BIN_EXE_albert-lens"))
        .env("OUT", &again)
        .output()
        .unwrap();
    ok(&o);
    let (a, b) = (
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&again).unwrap(),
    );
    assert!(a == b, "the command's figure differs from the scene's");
    assert!(a.contains("[MASK]"), "the masked token is drawn as [MASK]");
}

/// `render --view explain` draws every step of the walk-through in one column, with the
/// model's own numbers: the α printed for each key equals transformers' attention weight
/// (tests/fixtures/internals/albert-mini/example), and the poster names all 14 steps.
#[test]
fn explain_poster_shows_every_step_with_transformers_numbers() {
    let case = internals_cases()
        .into_iter()
        .find(|c| c.name == "albert-mini/example")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("explain.svg");
    let (map, head, pos) = (1, 2, 4);
    ok(&render(
        &[
            "--view",
            "explain",
            "--text",
            &case.text,
            "--layer",
            &(map + 1).to_string(),
            "--head",
            &(head + 1).to_string(),
            "--position",
            &pos.to_string(),
        ],
        &out,
    ));
    let svg = std::fs::read_to_string(&out).unwrap();
    for title in [
        "1. The token",
        "6. Query, keys and values",
        "7. Scores",
        "8. Softmax",
        "13. Next layer: the same weights again",
        "14. Prediction",
    ] {
        assert!(svg.contains(title), "no step {title:?}");
    }
    let g = &case.golden;
    let n = g.num_tokens();
    let alpha = &g.head(map, head)[pos * n..(pos + 1) * n];
    for a in alpha {
        let shown = format!(">{:.1}%<", a * 100.0);
        assert!(svg.contains(&shown), "α {shown} is not in the figure");
    }
    let tree = albert_lens::figures::parse_svg(&svg).unwrap();
    assert!(tree.size().height() > 2000.0, "one tall column");
}

/// `render --view attribution` as CSV: per token, integrated gradients equal torch autograd's
/// (tests/fixtures/attribution/albert-mini/mask, 1e-4 of the largest) beside the attention
/// rollout and value-weighted attention from the [MASK]; `--ablate` changes the head map's
/// numbers to the ablated run's (transformers with those heads zeroed).
#[test]
fn attribution_csv_holds_torch_gradients_and_ablate_changes_the_run() {
    let (_, _, path, meta) = golden_cases("attribution", &["albert-mini"])
        .into_iter()
        .find(|c| c.0.ends_with("mask"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("attr.csv");
    ok(&render(
        &["--view", "attribution", "--text", &meta["text"]],
        &out,
    ));
    let csv = std::fs::read_to_string(&out).unwrap();
    let want = file_tensor(&path, "integrated_gradients").unwrap();
    let got: Vec<f32> = csv
        .lines()
        .skip(1)
        .map(|l| csv_fields(l)[1].parse().unwrap())
        .collect();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&got, &want) <= 1e-4 * scale, "{csv}");
    assert_eq!(
        csv_fields(csv.lines().next().unwrap())[1..],
        [
            "integrated gradients",
            "attention rollout",
            "value-weighted attention"
        ]
    );

    // --ablate: layer 3 head 4's map in the ablated run is transformers' (all zero)
    let (_, _, apath, ameta) = golden_cases("ablation", &["albert-mini"]).remove(0);
    let golden = albert_lens::model::Trace::read_safetensors(&apath).unwrap();
    let out = dir.path().join("abl.csv");
    ok(&render(
        &[
            "--view",
            "head",
            "--layer",
            "4",
            "--head",
            "1",
            "--ablate",
            &ameta["ablate"],
            "--text",
            &ameta["text"],
        ],
        &out,
    ));
    let csv = std::fs::read_to_string(&out).unwrap();
    let got: Vec<f32> = csv
        .lines()
        .skip(1)
        .flat_map(|l| {
            csv_fields(l)[1..]
                .iter()
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        max_abs_diff(&got, golden.head(3, 0)) <= 1e-5,
        "the ablated run's layer 4, head 1"
    );

    // --ablate reaches the attribution's gradients too: the ablated model's (the library's
    // attribution of the ablated model, itself checked against the ablated logit in
    // tests/analysis.rs), not the intact one's
    let out = dir.path().join("attr-ablated.csv");
    ok(&render(
        &[
            "--view",
            "attribution",
            "--steps",
            "8",
            "--ablate",
            "1:1,2:3",
            "--text",
            &meta["text"],
        ],
        &out,
    ));
    let ig = |csv: &str| -> Vec<f32> {
        csv.lines()
            .skip(1)
            .map(|l| csv_fields(l)[1].parse().unwrap())
            .collect()
    };
    let got = ig(&std::fs::read_to_string(&out).unwrap());
    use albert_lens::insight::attribution::{attribute_with, Target};
    let m = albert_lens::model::LoadedModel::open(&model_folder("albert-mini")).unwrap();
    let input = m.encode(&meta["text"], None).unwrap();
    let ablate = albert_lens::model::Ablation::parse("1:1,2:3").unwrap();
    let pos: usize = meta["position"].parse().unwrap();
    let target = Target::Token {
        position: pos,
        token: None,
    };
    let ctl = albert_lens::insight::Control::default();
    let want = attribute_with(&m, (&input, &ablate), target, 8, &ctl).unwrap();
    let intact = albert_lens::insight::attribution::attribute(&m, &input, target, 8, &ctl).unwrap();
    assert!(max_abs_diff(&got, &want.integrated_gradients) <= 1e-6);
    assert!(max_abs_diff(&got, &intact.integrated_gradients) > 1e-3);
}

/// `render --words` merges word pieces (to a word: the sum over its pieces; from a word: the
/// mean): the CSV of one head equals the map made from transformers' attentions with its
/// tokenizer's word_ids() (tests/fixtures/words/albert-mini), labelled by whole words.
#[test]
fn words_merge_pieces_like_transformers_word_ids() {
    let (_, _, path, meta) = golden_cases("words", &["albert-mini"]).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("words.csv");
    ok(&render(
        &[
            "--view",
            "head",
            "--layer",
            "2",
            "--head",
            "3",
            "--words",
            "--text",
            &meta["text"],
        ],
        &out,
    ));
    let csv = std::fs::read_to_string(&out).unwrap();
    let header = csv_fields(csv.lines().next().unwrap());
    assert!(header.iter().any(|h| h == "tired"), "{header:?}");
    let got: Vec<f32> = csv
        .lines()
        .skip(1)
        .flat_map(|l| {
            csv_fields(l)[1..]
                .iter()
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let groups: Vec<Vec<usize>> = serde_json::from_str(&meta["groups"]).unwrap();
    let m = groups.len();
    let all = file_tensor(&path, "word_attentions.1").unwrap();
    let want = &all[2 * m * m..3 * m * m];
    assert!(max_abs_diff(&got, want) <= 1e-5);
}

/// `render --view links` (BertViz's head view as a figure): with `--position` only that
/// query's lines, one per key whose weight is at least a tenth of the map's largest, each as
/// opaque as the square of that fraction — the weights transformers computed (golden file).
#[test]
fn token_links_figure_draws_transformers_weights() {
    let golden = goldens_builtin_example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("links.svg");
    let (layer, head, pos) = (2, 1, 4);
    ok(&render(
        &[
            "--view",
            "links",
            "--layer",
            &(layer + 1).to_string(),
            "--head",
            &(head + 1).to_string(),
            "--position",
            &pos.to_string(),
        ],
        &out,
    ));
    let svg = std::fs::read_to_string(&out).unwrap();
    let n = golden.num_tokens();
    let map = golden.head(layer, head);
    let max = map.iter().fold(0f32, |m, v| m.max(*v));
    let mut want: Vec<f32> = map[pos * n..(pos + 1) * n]
        .iter()
        .map(|w| w / max)
        .filter(|t| *t >= 0.1)
        .map(|t| t * t)
        .collect();
    let mut got: Vec<f32> = svg
        .lines()
        .filter(|l| l.starts_with("<polyline"))
        .map(|l| {
            l.split("opacity=\"")
                .nth(1)
                .map_or(1.0, |r| r.split('"').next().unwrap().parse().unwrap())
        })
        .collect();
    want.sort_by(f32::total_cmp);
    got.sort_by(f32::total_cmp);
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 0.01, "{got:?} vs {want:?}");
    }
}

/// albert-mini's golden trace of the example sentence (transformers).
fn goldens_builtin_example() -> albert_lens::model::Trace {
    let p = fixtures().join("golden/albert-mini/example.safetensors");
    albert_lens::model::Trace::read_safetensors(&p).unwrap()
}

/// `render --animate apng`: one lossless frame per layer, each the same picture as the still
/// PNG of that layer; `--animate gif` loops forever with one frame per layer (colours
/// quantised); a mismatched extension is refused.
#[test]
fn animations_have_one_frame_per_layer_equal_to_the_stills() {
    use image::AnimationDecoder;
    let dir = tempfile::tempdir().unwrap();
    let apng = dir.path().join("rollout.png");
    ok(&render(
        &[
            "--view",
            "rollout",
            "--animate",
            "apng",
            "--scale",
            "1",
            "--fps",
            "4",
        ],
        &apng,
    ));
    let file = std::io::BufReader::new(std::fs::File::open(&apng).unwrap());
    let frames = image::codecs::png::PngDecoder::new(file)
        .unwrap()
        .apng()
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 4, "albert-mini has 4 layers");
    for (l, frame) in frames.iter().enumerate() {
        assert_eq!(
            frame.delay().numer_denom_ms(),
            (250, 1),
            "4 frames a second"
        );
        let still = dir.path().join(format!("still{l}.png"));
        ok(&render(
            &[
                "--view",
                "rollout",
                "--layer",
                &(l + 1).to_string(),
                "--scale",
                "1",
                // an animation puts every frame on one colour scale
                "--shared-scale",
            ],
            &still,
        ));
        let want = image::open(&still).unwrap().to_rgba8();
        assert!(
            frame.buffer().as_raw() == want.as_raw(),
            "frame {l} is the still of layer {}",
            l + 1
        );
    }
    let gif = dir.path().join("model.gif");
    ok(&render(
        &["--view", "model", "--animate", "gif", "--scale", "1"],
        &gif,
    ));
    let file = std::io::BufReader::new(std::fs::File::open(&gif).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 4);
    let bad = render(
        &["--view", "head", "--animate", "gif"],
        &dir.path().join("x.png"),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".gif file"));
}

/// Figures draw CJK, Korean and emoji tokens: each character rasterises to its own glyph, not
/// to the empty box of a character no font has (a private-use code point).
#[test]
fn figures_draw_cjk_korean_and_emoji_glyphs() {
    use albert_lens::figures::{Anchor, Figure, Theme};
    let raster = |c: &str| {
        let mut fig = Figure::new(60.0, 60.0, &Theme::LIGHT);
        fig.text(30.0, 40.0, c, 32.0, Anchor::Middle, [0, 0, 0]);
        fig.to_rgba(1.0).unwrap().2
    };
    let missing = raster("\u{E000}");
    for c in ["東", "京", "は", "서", "울", "🍕", "é"] {
        let px = raster(c);
        let ink = px.chunks(4).filter(|p| p[0] < 128).count();
        assert!(
            ink > 20 && px != missing,
            "{c:?} has no glyph ({ink} dark pixels)"
        );
    }
}

/// Figure 1 and the projection's trajectories animate too: Figure 1 one frame per layer of its
/// deepest line (the what-if's 8), the projection one per hidden state, every frame the same
/// size (the axes of the whole figure).
#[test]
fn figure1_and_trajectories_animate_on_fixed_axes() {
    use image::AnimationDecoder;
    let dir = tempfile::tempdir().unwrap();
    for (args, frames) in [
        (vec!["--view", "figure1", "--repeats", "8"], 8),
        (vec!["--view", "projection"], 5),
    ] {
        let out = dir.path().join("a.png");
        let mut a = args.clone();
        a.extend(["--animate", "apng", "--scale", "1"]);
        ok(&render(&a, &out));
        let file = std::io::BufReader::new(std::fs::File::open(&out).unwrap());
        let got = image::codecs::png::PngDecoder::new(file)
            .unwrap()
            .apng()
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(got.len(), frames, "{args:?}");
        let size = got[0].buffer().dimensions();
        assert!(got.iter().all(|f| f.buffer().dimensions() == size));
        assert!(
            got[0].buffer() != got[frames - 1].buffer(),
            "{args:?}: the frames differ"
        );
    }
}

/// A difference map names A and B in its title (not just "A − B"); `render` opens on layer 1,
/// as the window does.
#[test]
fn a_difference_names_its_operands_and_render_defaults_to_the_first_layer() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("d.svg");
    let o = render(
        &[
            "--model",
            "albert-mini",
            "--compare",
            "albert-mini",
            "--view",
            "head",
            "--text",
            "a short text",
        ],
        &svg,
    );
    ok(&o);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("A − B, A = albert-mini, B = albert-mini"),
        "the title names A and B"
    );
    assert!(text.contains("layer 1,"), "the first layer by default");
}

/// Explain's softmax step: at T = 1 no what-if outlines over identical bars; at T ≠ 1 the
/// number beside each bar is the model's α, the what-if's following it, marked.
#[test]
fn the_explain_what_if_is_drawn_only_when_it_differs_and_its_numbers_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let svg = |t: &str| {
        let out = dir.path().join(format!("e{t}.svg"));
        ok(&render(
            &[
                "--view",
                "explain",
                "--head",
                "1",
                "--text",
                "the cat sat on the mat",
                "--temperature",
                t,
            ],
            &out,
        ));
        std::fs::read_to_string(&out).unwrap()
    };
    let model = svg("1");
    assert!(!model.contains("(what-if)") && !model.contains("what-if</text>"));
    let hot = svg("2");
    assert!(hot.contains("(what-if)"), "the legend names the outlines");
    assert!(
        hot.contains("% → ") && hot.contains("% what-if"),
        "marked what-if numbers"
    );
}

/// Figure 1's legend lists the what-ifs in their order (x6, x12, x24), not sorted as text.
#[test]
fn figure1_lists_the_what_ifs_in_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("f1.svg");
    ok(&render(
        &[
            "--view",
            "figure1",
            "--repeats",
            "24,6,12",
            "--text",
            "a short text",
        ],
        &svg,
    ));
    let text = std::fs::read_to_string(&svg).unwrap();
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at(">albert-mini x24<") < at(">albert-mini x6<"));
    assert!(
        at(">albert-mini x6<") < at(">albert-mini x12<"),
        "as asked: 24, 6, 12"
    );
}

/// `render --list-views` names every view `--view` takes (the corpus statistics views among
/// them), and each draws on a masked sentence with its defaults (explain: one head; the corpus
/// views and query-key on 10 texts of the built-in corpus).
#[test]
fn list_views_names_every_view_and_each_renders() {
    let out = Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(["render", "--list-views"])
        .output()
        .unwrap();
    ok(&out);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let ids: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    for v in [
        "head",
        "model",
        "links",
        "rollout",
        "figure1",
        "projection",
        "lens",
        "js",
    ] {
        assert!(ids.contains(&v), "{v} is not listed: {listed}");
    }
    for v in [
        "explain",
        "attribution",
        "layers",
        "grid",
        "head-map",
        "prediction",
        "value-norm",
        "params",
        "neighbours",
        "query-key",
    ] {
        assert!(ids.contains(&v), "{v} is not listed: {listed}");
    }
    let dir = tempfile::tempdir().unwrap();
    for line in listed.lines().filter(|l| !l.contains("corpus figure")) {
        let id = line.split('\t').next().unwrap();
        let svg = dir.path().join(format!("{id}.svg"));
        let mut args = vec![
            "--view",
            id,
            "--text",
            "The capital of the United [MASK] is Washington.",
        ];
        if id == "explain" {
            args.extend(["--head", "1"]);
        }
        if id == "prediction" {
            // a fine-tuned classifier: albert-mini is a masked LM
            args.extend(["--model", "albert-mini-genre"]);
        }
        if ["importance", "pruning", "confusion"].contains(&id) {
            args.extend([
                "--model",
                "tests/fixtures/tasks/albert_seqcls",
                "--data",
                "tests/fixtures/tasks/albert_seqcls/data.tsv",
            ]);
        }
        let corpus = ["layers", "sep-norm", "grid", "entropy-distance", "head-map"];
        if id == "query-key" || corpus.contains(&id) {
            args.extend(["--limit", "10"]);
        }
        if id == "fine-tuning" {
            args.extend([
                "--model",
                "albert-mini-genre",
                "--compare",
                "albert-mini",
                "--limit",
                "3",
            ]);
        }
        ok(&render(&args, &svg));
        assert!(
            std::fs::read_to_string(&svg).unwrap().contains("<svg"),
            "{id}"
        );
    }
}

fn lens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args(args)
        .output()
        .unwrap()
}

fn tool(name: &str, args: &[&str]) -> String {
    let o = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} (Debian's poppler-utils, which .ci/run installs): {e}"));
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `deck render builtin:inside-albert --text T --out x.pdf`: one PDF page per slide, and the
/// PDF's text (pdftotext) holds every slide's title and every token of T (as `summary` lists
/// them: the `{tokens}` placeholder filled from the live run). A folder gets numbered PNGs of
/// 1600 x 900; a deck whose model folder is gone names it and writes nothing; a deck of a
/// later version is refused.
#[test]
fn deck_render_gives_a_pdf_page_per_slide_with_the_titles_and_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Penguins swim quickly in the cold water.";
    let pdf = dir.path().join("x.pdf");
    let o = lens(
        &["deck", "render", "builtin:inside-albert", "--text", text]
            .iter()
            .copied()
            .chain(["--out", pdf.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    ok(&o);
    // the slides, from the deck as a file
    let json = dir.path().join("deck.json");
    ok(&lens(&[
        "deck",
        "copy",
        "builtin:inside-albert",
        "--out",
        json.to_str().unwrap(),
    ]));
    let deck: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let titles: Vec<String> = deck["slides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_string())
        .collect();
    assert!(titles.len() >= 12);
    let info = tool("pdfinfo", &[pdf.to_str().unwrap()]);
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Pages:", &titles.len().to_string()]),
        "{info}"
    );
    let words = tool("pdftotext", &[pdf.to_str().unwrap(), "-"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for t in &titles {
        assert!(
            words.contains(t.as_str()),
            "the title {t:?} is not in the PDF's text"
        );
    }
    let summary = lens(&[
        "summary",
        "--backend",
        "cpu",
        "--model",
        "albert-mini",
        "--text",
        text,
    ]);
    ok(&summary);
    let out = String::from_utf8_lossy(&summary.stdout).into_owned();
    let tokens = out
        .lines()
        .find_map(|l| l.strip_prefix("tokens: "))
        .unwrap()
        .to_string();
    assert!(
        words.contains(&tokens),
        "the tokens {tokens:?} are not in the PDF's text"
    );
    // numbered PNG pages
    let pngs = dir.path().join("pages");
    ok(&lens(&[
        "deck",
        "render",
        "builtin:attention-explanation",
        "--out",
        pngs.to_str().unwrap(),
    ]));
    let mut names: Vec<String> = std::fs::read_dir(&pngs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.first().map(String::as_str), Some("slide-01.png"));
    assert!(names.len() >= 6);
    let img = image::open(pngs.join("slide-01.png")).unwrap();
    assert_eq!((img.width(), img.height()), (1600, 900));
    // a model folder that is gone, and a later version: refused, naming it, nothing written
    let bad = dir.path().join("bad.pdf");
    let refused = |deck: &serde_json::Value, says: &str| {
        std::fs::write(&json, serde_json::to_vec(deck).unwrap()).unwrap();
        let o = lens(&[
            "deck",
            "render",
            json.to_str().unwrap(),
            "--out",
            bad.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
        assert!(!bad.exists());
    };
    let mut gone = deck.clone();
    gone["slides"][3]["scene"]["main"] = serde_json::json!({"Folder": "/nonexistent/gone-model"});
    refused(&gone, "/nonexistent/gone-model");
    let mut later = deck;
    later["version"] = 2.into();
    refused(&later, "version 2");
}
