//! Round three's hostile inputs (issue 31), each a case that once failed: corpus streams read
//! once and in bounded memory, statistics files validated before use, files never written
//! through planted links, scenes checked by the command line's own rules, options ranged at
//! parse time. Every command runs the release-style binary under an address-space limit, and
//! each test states the exit status and the words of the message it expects.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::corpus::{CorpusSource, Line};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The address space every command runs in (1 GiB, mappings and thread stacks included): the
/// inputs below are up to gigabytes, a 400 MB line among them, which a reader that buffered
/// lines whole could not hold (its buffer grows to 512 MiB while the 256 MiB one is copied).
const ADDRESS_SPACE_KIB: u64 = 1 << 20;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_albert-lens")
}

/// A small ALBERT fixture (fast on the CPU).
fn model() -> PathBuf {
    common::fixture("albert_single")
}

/// Runs the binary with `args` under the address-space limit, with a private runtime folder.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let out: Output = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "a panic: {text}");
    assert!(!text.contains("memory allocation"), "an abort: {text}");
    (out.status.code(), text, t.elapsed())
}

fn run(args: &[&str]) -> (Option<i32>, String, Duration) {
    run_env(args, &[])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `corpus` of the fixture model over `corpus` into `out`.
fn corpus(corpus: &str, out: &Path, extra: &[&str]) -> (Option<i32>, String, Duration) {
    let m = model();
    let mut args = vec![
        "corpus",
        "--model",
        s(&m),
        "--backend",
        "cpu",
        "--corpus",
        corpus,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn metadata(path: &Path) -> HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    m.metadata().clone().unwrap_or_default()
}

fn lines_of(n: usize) -> String {
    (0..n)
        .map(|i| format!("sentence number {i} of the corpus.\n"))
        .collect()
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

// ---- 1. streams read once, bounded ----

#[test]
fn a_fifo_fed_once_runs_every_text_in_one_pass_and_hashes_like_the_file() {
    let d = tempfile::tempdir().unwrap();
    let text = lines_of(50);
    let file = d.path().join("c.txt");
    std::fs::write(&file, &text).unwrap();
    let fifo = d.path().join("p");
    mkfifo(&fifo);
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        })
    };
    let (out_p, out_f) = (
        d.path().join("p.safetensors"),
        d.path().join("f.safetensors"),
    );
    let (code, msg, _) = corpus(s(&fifo), &out_p, &[]);
    writer.join().unwrap();
    assert_eq!(code, Some(0), "{msg}");
    let (code, msg, _) = corpus(s(&file), &out_f, &[]);
    assert_eq!(code, Some(0), "{msg}");
    let (mp, mf) = (metadata(&out_p), metadata(&out_f));
    assert_eq!(mp["lines"], "50");
    assert_eq!(mp["lines"], mf["lines"]);
    let hash = |m: &HashMap<String, String>| m["corpus"].split('@').nth(1).unwrap().to_string();
    assert_eq!(
        hash(&mp),
        hash(&mf),
        "one pass hashes what a file read hashes"
    );
}

#[test]
fn a_pipe_on_standard_input_runs_like_process_substitution() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.safetensors");
    let m = model();
    let mut child = Command::new(bin())
        .args(["corpus", "--model", s(&m), "--backend", "cpu"])
        .args(["--corpus", "/dev/stdin", "--out", s(&out)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines_of(7).as_bytes())
        .unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_eq!(metadata(&out)["lines"], "7");
}

#[test]
fn a_fifo_that_no_program_writes_is_an_error_within_seconds() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("lonely");
    mkfifo(&fifo);
    let (code, msg, took) = corpus(s(&fifo), &d.path().join("o.safetensors"), &[]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(
        msg.contains("lonely") && msg.contains("named pipe"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn endless_devices_are_refused_by_name_at_once() {
    let d = tempfile::tempdir().unwrap();
    for dev in ["/dev/urandom", "/dev/zero"] {
        let (code, msg, took) = corpus(dev, &d.path().join("o.safetensors"), &["--limit", "5"]);
        assert_eq!(code, Some(1), "{msg}");
        assert!(msg.contains(dev) && msg.contains("a device"), "{msg}");
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
}

#[test]
fn a_line_of_hundreds_of_megabytes_is_skipped_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("long.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..400 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\nthe one short line.\n").unwrap();
    }
    let out = d.path().join("o.safetensors");
    let (code, msg, _) = run_env(
        &[
            "corpus",
            "--model",
            s(&model()),
            "--backend",
            "cpu",
            "--corpus",
            s(&file),
            "--out",
            s(&out),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{msg}");
    assert!(msg.contains("more than the 100000"), "{msg}");
    let m = metadata(&out);
    assert_eq!((m["lines"].as_str(), m["skipped"].as_str()), ("1", "1"));
}

#[test]
fn a_file_without_a_newline_is_read_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("zeros.txt");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let (code, msg, _) = corpus(s(&file), &d.path().join("o.safetensors"), &[]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("no texts to run"), "{msg}");
}

#[test]
fn the_limit_bounds_the_reading_and_says_so_in_the_identity() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("many.txt");
    std::fs::write(&file, lines_of(5000)).unwrap();
    let out = d.path().join("o.safetensors");
    let (code, msg, _) = corpus(s(&file), &out, &["--limit", "5"]);
    assert_eq!(code, Some(0), "{msg}");
    let m = metadata(&out);
    assert_eq!(m["lines"], "5");
    assert!(m["corpus"].contains(":first-"), "{}", m["corpus"]);
}

#[test]
fn a_text_file_of_100_mb_is_cut_before_tokenizing_with_a_note() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("big.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for _ in 0..(100 << 20) / 10 {
            f.write_all(b"the word. ").unwrap();
        }
    }
    let out = d.path().join("t.safetensors");
    let (code, msg, took) = run(&[
        "trace",
        "--model",
        s(&model()),
        "--backend",
        "cpu",
        "--text-file",
        s(&file),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(0), "{msg}");
    assert!(msg.contains("only its start was read"), "{msg}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn corpus_lines_with_nothing_visible_are_skipped_and_jsonl_is_read_in_any_case_with_a_bom() {
    let d = tempfile::tempdir().unwrap();
    let txt = d.path().join("c.txt");
    std::fs::write(&txt, "\0\0\0\n\u{200b}\u{200b}\nreal text\n \u{feff} \n").unwrap();
    let lines: Vec<Line> = CorpusSource::File(txt)
        .lines((0, 1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let texts: Vec<&Line> = lines
        .iter()
        .filter(|l| matches!(l, Line::Text { .. }))
        .collect();
    assert_eq!(texts.len(), 1, "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let upper = d.path().join("c.JSONL");
    std::fs::write(
        &upper,
        "\u{feff}{\"text\": \"first record\"}\n{\"text\": \"second\", \"pair\": \"b\"}\n",
    )
    .unwrap();
    let lines: Vec<Line> = CorpusSource::File(upper)
        .lines((0, 1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        lines,
        vec![
            Line::Text {
                index: 0,
                text: "first record".into(),
                pair: None
            },
            Line::Text {
                index: 1,
                text: "second".into(),
                pair: Some("b".into())
            }
        ]
    );
}

// ---- 2. statistics files validated ----

/// A real statistics file (the fixture model on 3 built-in sentences), made once.
fn good_stats() -> &'static Path {
    static FILE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &FILE
        .get_or_init(|| {
            let d = tempfile::tempdir().unwrap();
            let out = d.path().join("good.safetensors");
            let (code, msg, _) = corpus("builtin", &out, &["--limit", "3"]);
            assert_eq!(code, Some(0), "{msg}");
            (d, out)
        })
        .1
}

/// The good file rewritten: `edit` changes its tensors (name -> (dtype, shape, bytes)) and
/// metadata.
fn crafted(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(
        &mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>,
        &mut HashMap<String, String>,
    ),
) -> PathBuf {
    let bytes = std::fs::read(good_stats()).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = metadata(good_stats());
    edit(&mut tensors, &mut meta);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, sh, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, sh.clone(), b).unwrap(),
            )
        })
        .collect();
    let out = dir.join(name);
    std::fs::write(&out, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
    out
}

fn set_f32(t: &mut [(String, safetensors::Dtype, Vec<usize>, Vec<u8>)], name: &str, v: f32) {
    let e = t.iter_mut().find(|e| e.0 == name).unwrap();
    e.3[..4].copy_from_slice(&v.to_le_bytes());
}

fn set_rows(t: &mut [(String, safetensors::Dtype, Vec<usize>, Vec<u8>)], rows: i64) {
    let e = t.iter_mut().find(|e| e.0 == "rows").unwrap();
    e.3 = rows.to_le_bytes().to_vec();
}

fn figure(stats: &Path, out: &Path, view: &str) -> (Option<i32>, String, Duration) {
    run(&[
        "corpus",
        "figure",
        s(stats),
        "--view",
        view,
        "--out",
        s(out),
    ])
}

fn merge(files: &[&Path], out: &Path) -> (Option<i32>, String, Duration) {
    let mut args = vec!["corpus", "merge"];
    args.extend(files.iter().map(|f| s(f)));
    args.extend(["--out", s(out)]);
    run(&args)
}

#[test]
fn non_finite_statistics_are_refused_by_merge_and_figure() {
    let d = tempfile::tempdir().unwrap();
    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
        .into_iter()
        .enumerate()
    {
        let f = crafted(d.path(), &format!("bad{i}.safetensors"), |t, _| {
            set_f32(t, "cls", v)
        });
        let (code, msg, _) = merge(&[&f], &d.path().join("m.safetensors"));
        assert_eq!(code, Some(1), "{msg}");
        assert!(
            msg.contains("not a finite number") && msg.contains("cls"),
            "{msg}"
        );
        let (code, msg, _) = figure(&f, &d.path().join("f.png"), "layers");
        assert_eq!(code, Some(1), "{msg}");
        assert!(msg.contains(s(&f)), "{msg}");
    }
}

#[test]
fn impossible_row_counts_and_metadata_are_refused() {
    let d = tempfile::tempdir().unwrap();
    for rows in [0, -5, i64::MAX] {
        let f = crafted(d.path(), &format!("r{rows}.safetensors"), |t, _| {
            set_rows(t, rows)
        });
        let (code, msg, _) = merge(&[&f, &f, &f], &d.path().join("m.safetensors"));
        assert_eq!(code, Some(1), "{msg}");
        assert!(msg.contains("rows is"), "{msg}");
    }
    let f = crafted(d.path(), "lots.safetensors", |_, m| {
        m.insert("lines".into(), "lots".into());
    });
    let (code, msg, _) = figure(&f, &d.path().join("f.png"), "layers");
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("\"lines\"") && msg.contains("lots"), "{msg}");
    let f = crafted(d.path(), "fmt.safetensors", |_, m| {
        m.insert("format".into(), "a trace file".into());
    });
    let (code, msg, _) = figure(&f, &d.path().join("f.png"), "layers");
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("format"), "{msg}");
}

#[test]
fn shards_merge_once_each_from_one_split_and_a_partial_merge_says_so() {
    let d = tempfile::tempdir().unwrap();
    let shard = |name: &str, spec: &str| {
        crafted(d.path(), name, |_, m| {
            m.insert("shard".into(), spec.into());
        })
    };
    let (a0, a1, b0) = (
        shard("a0.safetensors", "0/2"),
        shard("a1.safetensors", "1/2"),
        shard("b0.safetensors", "0/3"),
    );
    let out = d.path().join("m.safetensors");
    let (code, msg, _) = merge(&[&a0, &a0], &out);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("shard 0/2 is in the merge twice"), "{msg}");
    let (code, msg, _) = merge(&[&a0, &b0], &out);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("split"), "{msg}");
    let whole = good_stats();
    let (code, msg, _) = merge(&[whole, whole], &out);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("whole corpus is in the merge twice"), "{msg}");
    // one shard of two: written as partial, and the figure says it
    let (code, msg, _) = merge(&[&a0], &out);
    assert_eq!(code, Some(0), "{msg}");
    assert_eq!(metadata(&out)["shard"], "0/2");
    let svg = d.path().join("partial.svg");
    let (code, msg, _) = figure(&out, &svg, "layers");
    assert_eq!(code, Some(0), "{msg}");
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("Partial: shards 0 of 2"));
    // both: the whole corpus again
    let (code, msg, _) = merge(&[&a0, &a1], &out);
    assert_eq!(code, Some(0), "{msg}");
    assert_eq!(metadata(&out)["shard"], "");
}

/// A safetensors file with only a header: `tensors` as JSON, no data.
fn header_only(path: &Path, tensors: &str) {
    let header = format!(
        "{{\"__metadata__\":{{\"format\":\"albert-lens corpus statistics 1\",\"lines\":\"1\",\"truncated\":\"0\",\"skipped\":\"0\"}},{tensors}}}"
    );
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.resize(1024, b' ');
    std::fs::write(path, b).unwrap();
}

#[test]
fn huge_shapes_in_a_tiny_file_and_a_huge_file_are_refused_before_allocating() {
    let d = tempfile::tempdir().unwrap();
    let names = albert_lens::corpus::STATS;
    for (i, shape) in ["[40000, 1]", "[1099511627776, 0]", "[1, 1099511627776]"]
        .iter()
        .enumerate()
    {
        let tensors: Vec<String> = names
            .iter()
            .map(|n| {
                format!("\"{n}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,0]}}")
            })
            .collect();
        let f = d.path().join(format!("shape{i}.safetensors"));
        header_only(&f, &tensors.join(","));
        let (code, msg, took) = figure(&f, &d.path().join("f.png"), "layers");
        assert_eq!(code, Some(1), "{msg}");
        assert!(msg.contains(s(&f)), "{msg}");
        assert!(took < Duration::from_secs(20));
    }
    // a statistics file that is a pipe no program writes: refused at once, not waited on
    let fifo = d.path().join("stats-fifo.safetensors");
    mkfifo(&fifo);
    let (code, msg, took) = figure(&fifo, &d.path().join("f.png"), "layers");
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("stats-fifo") && msg.contains("pipe"), "{msg}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let big = d.path().join("big.safetensors");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(30 << 30)
        .unwrap();
    let (code, msg, took) = merge(&[&big], &d.path().join("m.safetensors"));
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("more than the"), "{msg}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn strings_from_a_statistics_file_are_escaped_and_shortened() {
    let d = tempfile::tempdir().unwrap();
    let ansi = crafted(d.path(), "ansi.safetensors", |_, m| {
        m.insert("model".into(), "\u{1b}[2J\u{1b}[31mowned".into());
    });
    let (code, msg, _) = figure(&ansi, &d.path().join("a.png"), "layers");
    assert_eq!(code, Some(0), "{msg}");
    assert!(
        !msg.contains('\u{1b}'),
        "a raw escape reached the terminal: {msg:?}"
    );
    let long = crafted(d.path(), "long.safetensors", |_, m| {
        m.insert("model".into(), "M".repeat(5 << 20));
    });
    let svg = d.path().join("l.svg");
    let (code, msg, took) = figure(&long, &svg, "layers");
    assert_eq!(code, Some(0), "{msg}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(std::fs::metadata(&svg).unwrap().len() < 1 << 20);
}

#[test]
fn a_y_range_one_ulp_wide_still_draws() {
    let d = tempfile::tempdir().unwrap();
    let f = crafted(d.path(), "ulp.safetensors", |t, _| {
        for name in ["cls", "sep", "punct"] {
            let e = t.iter_mut().find(|e| e.0 == name).unwrap();
            for (k, c) in e.3.chunks_mut(4).enumerate() {
                let v = if k == 0 {
                    -1e17f32
                } else {
                    f32::from_bits((-1e17f32).to_bits() - 1)
                };
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
    });
    let (code, msg, took) = figure(&f, &d.path().join("u.png"), "layers");
    assert_eq!(code, Some(0), "{msg}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

// ---- 3. no writing through planted links; no leftovers ----

#[test]
fn a_link_planted_beside_the_output_is_never_written_through() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    for (name, args) in [
        (
            "fig.png",
            vec![
                "render",
                "--model",
                "albert-mini",
                "--view",
                "head",
                "--text",
                "hi",
                "--backend",
                "cpu",
            ],
        ),
        (
            "grid.png",
            vec!["corpus", "figure", s(good_stats()), "--view", "grid"],
        ),
    ] {
        let out = d.path().join(name);
        std::os::unix::fs::symlink(&victim, d.path().join(format!(".{name}.partial"))).unwrap();
        let mut a = args.clone();
        a.extend(["--out", s(&out)]);
        let cache = d.path().join("cache");
        let (code, msg, _) = run_env(&a, &[("XDG_CACHE_HOME", s(&cache))]);
        assert_eq!(code, Some(0), "{msg}");
        assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"));
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}

#[test]
fn runtime_folders_left_by_dead_processes_are_removed_on_start() {
    let tmp = std::env::temp_dir();
    // a process id above any the kernel hands out (pid_max is at most 2^22)
    let stale = tmp.join("albert-lens-runtime-4999999");
    std::fs::create_dir_all(&stale).unwrap();
    let out = Command::new(bin())
        .args([
            "summary",
            "--model",
            "/nonexistent/model",
            "--backend",
            "cpu",
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stale.exists(), "the stale runtime folder is still there");
}

#[test]
fn the_corpus_statistics_cache_serves_only_intact_files_of_its_own_key() {
    use albert_lens::corpus;
    use std::sync::atomic::AtomicBool;
    let d = tempfile::tempdir().unwrap();
    corpus::set_cache_dir(Some(d.path().to_path_buf()));
    let m = albert_lens::model::LoadedModel::open(&model()).unwrap();
    let src = CorpusSource::Builtin;
    let never = AtomicBool::new(false);
    let go = |name: &str| {
        let mut cpu = albert_lens::backend::CpuBackend::new();
        corpus::cached_run((&m, name), (&src, Some(2)), &mut cpu, &mut |_| {}, &never).unwrap()
    };
    let (first, cached) = go("m");
    assert!(!cached);
    assert!(go("m").1, "the second run comes from the cache");
    let files: Vec<PathBuf> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // a flipped byte: not served, run again and rewritten
    let mut b = std::fs::read(&files[0]).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(&files[0], &b).unwrap();
    let (again, cached) = go("m");
    assert!(!cached, "a tampered cache file was served");
    assert_eq!(again, first);
    // a link planted at the cache file: replaced, its target untouched
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::remove_file(&files[0]).unwrap();
    std::os::unix::fs::symlink(&victim, &files[0]).unwrap();
    assert!(!go("m").1);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    corpus::set_cache_dir(None);
}

// ---- 4. scenes ----

fn scene_json(text: &str, edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut v = serde_json::json!({
        "format": "albert-lens scene",
        "version": 1,
        "main": {"Folder": s(&model())},
        "compare": null,
        "session": {"text": text, "open_tab": "attention"},
        "intervention": {"ablate": [], "masked": []},
        "tabs": {},
        "figure": ["attention", "attention"],
        "scale": 1.0
    });
    edit(&mut v);
    v
}

fn render_scene(v: &serde_json::Value, out: &str) -> (Option<i32>, String, Duration) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s.json");
    std::fs::write(&f, serde_json::to_vec(v).unwrap()).unwrap();
    let out = d.path().join(out);
    let r = run(&[
        "render",
        "--backend",
        "cpu",
        "--scene",
        s(&f),
        "--out",
        s(&out),
    ]);
    if r.0 == Some(0) {
        assert!(out.exists());
    }
    r
}

/// The page's scene files (picked in the browser, read from their bytes): a scene's bytes read
/// back equal it; bytes that are not JSON, JSON that is not a scene, an out-of-range field and
/// bytes over the limit are refused naming the file and the problem.
#[test]
fn a_scene_from_a_picked_files_bytes_is_checked_like_a_file() {
    use albert_lens::app::scene::{Scene, MAX_SCENE_BYTES};
    let v = scene_json("the cat sat on the mat", |_| {});
    let scene = Scene::from_bytes(&serde_json::to_vec(&v).unwrap(), "s.json").unwrap();
    let again = Scene::from_bytes(&scene.to_bytes().unwrap(), "again.json").unwrap();
    assert_eq!(again.to_bytes().unwrap(), scene.to_bytes().unwrap());
    assert_eq!(again.session.text, "the cat sat on the mat");
    let bad = |bytes: &[u8], why: &str| {
        let e = format!("{:#}", Scene::from_bytes(bytes, "picked.json").unwrap_err());
        assert!(e.contains("picked.json") && e.contains(why), "{e}");
    };
    bad(b"\x89PNG not json", "is not a scene file");
    bad(br#"{"format": "a deck", "version": 1}"#, "is not a scene");
    let far = scene_json("x", |v| v["session"]["layer"] = serde_json::json!(u64::MAX));
    bad(&serde_json::to_vec(&far).unwrap(), "session.layer");
    let huge = vec![b' '; MAX_SCENE_BYTES as usize + 1];
    bad(&huge, "more than the");
}

#[test]
fn a_scene_with_a_masked_token_renders_at_once() {
    let v = scene_json("the cat sat on the mat", |v| {
        v["intervention"]["masked"] = serde_json::json!([2]);
    });
    let (code, msg, took) = render_scene(&v, "m.png");
    assert_eq!(code, Some(0), "{msg}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn a_scene_field_out_of_its_flags_range_is_an_error_naming_it() {
    type Case<'a> = (&'a [&'a str], serde_json::Value, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            &["session", "layer"],
            serde_json::json!(u64::MAX),
            "session.layer",
        ),
        (
            &["session", "layer"],
            serde_json::json!(40),
            "session.layer",
        ),
        (
            &["tabs", "explain"],
            serde_json::json!({"head": -1}),
            "tabs.explain.head",
        ),
        (
            &["tabs", "explain"],
            serde_json::json!({"head": u64::MAX}),
            "tabs.explain.head",
        ),
        (
            &["tabs", "explain"],
            serde_json::json!({"temperature": 0.0}),
            "tabs.explain.temperature",
        ),
        (
            &["tabs", "explain"],
            serde_json::json!({"temperature": -1.0}),
            "tabs.explain.temperature",
        ),
        (
            &["tabs", "explain"],
            serde_json::json!({"temperature": 1e38}),
            "tabs.explain.temperature",
        ),
        (
            &["tabs", "attribution"],
            serde_json::json!({"steps": 0}),
            "tabs.attribution.steps",
        ),
        (
            &["tabs", "lens"],
            serde_json::json!({"position": 1e9}),
            "tabs.lens.position",
        ),
        (
            &["tabs", "lens"],
            serde_json::json!({"position": 1_000_000_000}),
            "tabs.lens.position",
        ),
        (
            &["tabs", "lens"],
            serde_json::json!({"k": 0}),
            "tabs.lens.k",
        ),
        (
            &["tabs", "lens"],
            serde_json::json!({"bogus": 1}),
            "tabs.lens.bogus",
        ),
        (
            &["tabs", "mixing"],
            serde_json::json!({"view": {"method": "Norm", "stage": "Aggregate"}}),
            "norm has no aggregate",
        ),
        (
            &["tabs", "mixing"],
            serde_json::json!({"view": {"method": "Alti", "stage": {"Layer": 99}}}),
            "tabs.mixing.view.stage",
        ),
        (
            &["tabs", "mixing"],
            serde_json::json!({"view": {"method": "Saliency"}}),
            "tabs.mixing.view",
        ),
        (
            &["tabs", "mixing"],
            serde_json::json!({"view": {"position": 999}}),
            "tabs.mixing.view.position",
        ),
        (
            &["figure"],
            serde_json::json!(["attention", "nonsense"]),
            "figure",
        ),
        (&["figure"], serde_json::json!(["nowhere", "x"]), "figure"),
        (&["scale"], serde_json::json!(1e9), "scale"),
        (
            &["intervention", "masked"],
            serde_json::json!([3, 1]),
            "intervention.masked",
        ),
        (
            &["intervention", "masked"],
            serde_json::json!([999]),
            "intervention.masked",
        ),
        (
            &["intervention", "ablate"],
            serde_json::json!([[0, 99]]),
            "intervention.ablate",
        ),
        (
            &["tabs", "attribution"],
            serde_json::json!({"steps": 1_000_000_000_000u64}),
            "tabs.attribution.steps",
        ),
        (
            &["session", "layer"],
            serde_json::json!(-1),
            "session.layer",
        ),
        (&["session", "text"], serde_json::json!(42), "session.text"),
        (
            &["intervention", "masked"],
            serde_json::json!(["x"]),
            "intervention.masked",
        ),
        (&["scale"], serde_json::json!("big"), "scale"),
        (
            &["intervention", "masked"],
            serde_json::json!((0..2_000_000).collect::<Vec<u64>>()),
            "intervention.masked",
        ),
    ];
    for (path, value, field) in cases {
        let v = scene_json("a short text", |v| {
            let (last, parents) = path.split_last().unwrap();
            let mut at = v;
            for k in parents {
                at = &mut at[*k];
            }
            at[*last] = value;
        });
        let (code, msg, took) = render_scene(&v, "x.png");
        assert_eq!(code, Some(1), "{field}: {msg}");
        assert!(msg.contains(field), "{field}: {msg}");
        assert!(took < Duration::from_secs(60), "{field}: took {took:?}");
    }
}

#[test]
fn a_scene_with_a_100_mb_text_renders_its_start_with_a_note() {
    let v = scene_json(&"word ".repeat(20 << 20), |_| {});
    let (code, msg, took) = render_scene(&v, "big.png");
    assert_eq!(code, Some(0), "{msg}");
    assert!(msg.contains("only its first"), "{msg}");
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

#[test]
fn animate_with_a_scene_says_it_does_not_combine() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s.json");
    std::fs::write(&f, serde_json::to_vec(&scene_json("hi", |_| {})).unwrap()).unwrap();
    let out = d.path().join("a.gif");
    let (code, msg, _) = run(&[
        "render",
        "--scene",
        s(&f),
        "--animate",
        "gif",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(
        msg.contains("--animate does not combine with --scene"),
        "{msg}"
    );
}

// ---- 5. options and outputs ----

#[test]
fn numeric_options_out_of_range_are_usage_errors_naming_the_option() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.safetensors");
    let m = model();
    for (args, flag) in [
        (
            vec![
                "corpus",
                "--model",
                s(&m),
                "--batch",
                "100000000000",
                "--out",
                s(&out),
            ],
            "--batch",
        ),
        (
            vec![
                "corpus",
                "--model",
                s(&m),
                "--batch",
                "18446744073709551615",
                "--out",
                s(&out),
            ],
            "--batch",
        ),
        (
            vec!["corpus", "--model", s(&m), "--batch", "0", "--out", s(&out)],
            "--batch",
        ),
        (
            vec!["corpus", "--model", s(&m), "--limit", "0", "--out", s(&out)],
            "--limit",
        ),
        (vec!["bench", "--tokens", "0"], "--tokens"),
        (vec!["render", "--steps", "0", "--out", "x.png"], "--steps"),
        (
            vec!["render", "--temperature", "1e38", "--out", "x.png"],
            "--temperature",
        ),
        (vec!["render", "--top-k", "0", "--out", "x.png"], "--top-k"),
        (
            vec!["render", "--scale", "1e9", "--out", "x.png"],
            "--scale",
        ),
        (vec!["render", "--layer", "0", "--out", "x.png"], "--layer"),
    ] {
        let (code, msg, _) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {msg}");
        assert!(msg.contains(flag), "{args:?}: {msg}");
    }
}

#[test]
fn outputs_keep_their_format_and_never_overwrite_the_input() {
    let d = tempfile::tempdir().unwrap();
    let texts = d.path().join("texts.txt");
    std::fs::write(&texts, lines_of(3)).unwrap();
    let m = model();
    let (code, msg, _) = corpus(s(&texts), &texts, &[]);
    assert_eq!(code, Some(2), "{msg}");
    assert_eq!(std::fs::read_to_string(&texts).unwrap(), lines_of(3));
    // a corpus that happens to end in .safetensors is still not its own output
    let odd = d.path().join("odd.safetensors");
    std::fs::write(&odd, lines_of(3)).unwrap();
    let (code, msg, _) = corpus(s(&odd), &odd, &[]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("is the corpus being read"), "{msg}");
    assert_eq!(std::fs::read_to_string(&odd).unwrap(), lines_of(3));
    for args in [
        vec!["corpus", "--model", s(&m), "--out", "stats.png"],
        vec!["trace", "--model", s(&m), "--text", "hi", "--out", "t.png"],
    ] {
        let (code, msg, _) = run(&args);
        assert_eq!(code, Some(2), "{msg}");
        assert!(msg.contains("safetensors"), "{msg}");
    }
}

#[test]
fn positions_and_heads_out_of_range_are_refused_and_counted_as_the_flags_count() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.png");
    let m = model();
    let (code, msg, _) = run(&[
        "render",
        "--model",
        s(&m),
        "--backend",
        "cpu",
        "--view",
        "links",
        "--text",
        "hi there",
        "--position",
        "999",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(
        msg.contains("--position 999 is outside this input"),
        "{msg}"
    );
    let (code, msg, _) = run(&[
        "render",
        "--model",
        s(&m),
        "--backend",
        "cpu",
        "--view",
        "explain",
        "--text",
        "hi there",
        "--head",
        "99",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("head 99 does not exist"), "{msg}");
}

// ---- property tests: every parser of untrusted bytes ends in Ok or an error, never a panic,
// within a time bound; fixed seeds (deterministic in CI) ----

mod parsers {
    use super::*;
    use albert_lens::corpus::HeadStats;
    use albert_lens::model::config::ModelConfig;
    use albert_lens::model::tensors::{read_safetensors_bytes, TensorMap};
    use albert_lens::model::torch_pickle::read_torch_bytes;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    /// A runner with a fixed seed, `cases` cases, no persistence files.
    fn runner(cases: u32, seed: u8) -> TestRunner {
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new_with_rng(
            config,
            TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
        )
    }

    /// Bytes near `valid`: a few overwritten, inserted or removed bytes, or noise (at most
    /// 64 KB, or `valid`'s length if longer).
    fn near(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let max = valid.len().max(64 << 10);
        let len = valid.len().max(1);
        let edits = proptest::collection::vec((0..len, any::<u8>(), 0u8..4), 1..8);
        prop_oneof![
            8 => edits.prop_map(move |e| {
                let mut b = valid.clone();
                for (pos, byte, kind) in e {
                    let p = pos.min(b.len().saturating_sub(1));
                    match kind {
                        0 | 1 if !b.is_empty() => b[p] = byte,
                        2 => b.insert(p, byte),
                        _ if !b.is_empty() => {
                            b.remove(p);
                        }
                        _ => b.push(byte),
                    }
                }
                b.truncate(max);
                b
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..4096),
        ]
    }

    /// Runs `check` on every case, each within `seconds`.
    fn holds(
        name: &str,
        cases: u32,
        seed: u8,
        strategy: impl Strategy<Value = Vec<u8>>,
        check: impl Fn(&[u8]),
    ) {
        let mut r = runner(cases, seed);
        let t0 = Instant::now();
        r.run(&strategy, |b| {
            let t = Instant::now();
            check(&b);
            prop_assert!(
                t.elapsed() < Duration::from_secs(5),
                "{name}: one case took {:?}",
                t.elapsed()
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{name} took {:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn statistics_files() {
        let valid = std::fs::read(good_stats()).unwrap();
        holds("statistics", 1500, 1, near(valid), |b| {
            let _ = HeadStats::from_safetensors_bytes(b, Path::new("s.safetensors"));
        });
    }

    #[test]
    fn scene_files() {
        let valid = serde_json::to_vec(&scene_json("the cat [MASK] here", |v| {
            v["tabs"]["explain"] =
                serde_json::json!({"head": 1, "temperature": 2.0, "position": 3});
            v["tabs"]["lens"] = serde_json::json!({"k": 5});
            v["intervention"]["masked"] = serde_json::json!([1, 2]);
        }))
        .unwrap();
        holds("scene", 2000, 2, near(valid), |b| {
            if let Ok(scene) = serde_json::from_slice::<albert_lens::app::scene::Scene>(b) {
                let _ = albert_lens::app::scene::check::check(&scene, None);
            }
        });
    }

    #[test]
    fn corpus_jsonl_lines() {
        let valid = br#"{"text": "a sentence", "pair": "another one"}"#.to_vec();
        holds("jsonl", 3000, 3, near(valid), |b| {
            let s = String::from_utf8_lossy(b);
            let _ = albert_lens::corpus::parse_json_line(0, &s);
        });
        // whole files through the line reader: bounded lines, any bytes
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.jsonl");
        holds(
            "jsonl files",
            300,
            4,
            proptest::collection::vec(any::<u8>(), 0..8192),
            |b| {
                std::fs::write(&f, b).unwrap();
                for l in CorpusSource::File(f.clone()).lines((0, 1)).unwrap() {
                    let _ = l.unwrap();
                }
            },
        );
    }

    #[test]
    fn config_json() {
        let valid = std::fs::read(common::fixture("albert_grouped/config.json")).unwrap();
        holds("config", 2000, 5, near(valid), |b| {
            let _ = ModelConfig::from_json_bytes(b, Path::new("config.json"));
        });
    }

    #[test]
    fn safetensors_headers() {
        let mut valid = std::fs::read(common::fixture("albert_single/model.safetensors")).unwrap();
        valid.truncate(64 << 10);
        holds("safetensors", 1000, 6, near(valid), |b| {
            let mut map = TensorMap::with_budget(1 << 22);
            let _ = read_safetensors_bytes(b, Path::new("model.safetensors"), &mut map);
        });
    }

    #[test]
    fn pickle_reader() {
        let valid =
            std::fs::read(common::fixture("albert_pretraining_bin/pytorch_model.bin")).unwrap();
        let head = valid[..valid.len().min(64 << 10)].to_vec();
        holds("pickle", 1000, 7, near(head), |b| {
            let mut map = TensorMap::with_budget(1 << 22);
            let _ = read_torch_bytes(b, Path::new("pytorch_model.bin"), &mut map);
        });
    }

    #[test]
    fn tokenizer_files() {
        let valid = std::fs::read(common::fixture("albert_single/tokenizer.json")).unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::copy(
            common::fixture("albert_single/config.json"),
            d.path().join("config.json"),
        )
        .unwrap();
        let config = ModelConfig::from_file(&d.path().join("config.json")).unwrap();
        holds("tokenizer", 300, 8, near(valid), |b| {
            std::fs::write(d.path().join("tokenizer.json"), b).unwrap();
            if let Ok(t) = albert_lens::model::LensTokenizer::load(d.path(), &config) {
                let _ = t.encode("Ünïcödé text, 日本語 🙂", Some("pair"), 64);
            }
        });
    }
}
