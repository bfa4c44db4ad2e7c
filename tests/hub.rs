//! Opening models from the Hugging Face Hub, end to end against a local HTTP server that serves
//! fixture models in the Hub's URL layout (`/{id}/resolve/{revision}/{file}`, with the ETag and
//! X-Repo-Commit headers the Hub sends). Tests never reach the real Hub.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use albert_lens::backend::{Backend, CpuBackend};
use albert_lens::model::hub::{self, DownloadProgress, HubOptions};
use albert_lens::model::LoadedModel;
use albert_lens::LensError;
use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Files by (model id, file name); `cut` files are sent only halfway, then the connection closes.
#[derive(Default, Clone)]
struct Repo {
    files: HashMap<(String, String), Vec<u8>>,
    cut: Vec<(String, String)>,
}

impl Repo {
    fn add_dir(&mut self, id: &str, dir: &Path) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            self.files
                .insert((id.into(), name), std::fs::read(&p).unwrap());
        }
    }
}

struct Server {
    endpoint: String,
    requests: Arc<AtomicUsize>,
}

fn etag(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn serve(repo: Repo) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let mut req = Vec::new();
            let mut byte = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                req.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            // /{id...}/resolve/main/{file}
            let found = path.split_once("/resolve/main/").and_then(|(id, file)| {
                let key = (id.trim_start_matches('/').to_string(), file.to_string());
                repo.files.get(&key).map(|b| (key, b.clone()))
            });
            match found {
                Some((key, body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
                        body.len(),
                        etag(&body)
                    );
                    let _ = s.write_all(head.as_bytes());
                    let send = if repo.cut.contains(&key) {
                        &body[..body.len() / 2]
                    } else {
                        &body[..]
                    };
                    let _ = s.write_all(send);
                }
                None => {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    Server { endpoint, requests }
}

fn options(endpoint: &str, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: endpoint.into(),
        cache_dir: cache.to_path_buf(),
        token: None,
        revision: "main".into(),
        offline: false,
    }
}

fn no_progress() -> impl FnMut(DownloadProgress) -> bool {
    |_| true
}

fn repo_with(id: &str, fixture_name: &str) -> Repo {
    let mut r = Repo::default();
    r.add_dir(id, &fixture(fixture_name));
    r
}

#[test]
fn a_hub_model_downloads_into_the_hf_cache_layout_and_matches_hf() {
    let server = serve(repo_with("test-org/albert-tiny", "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.endpoint, cache.path());
    let mut seen: Vec<DownloadProgress> = Vec::new();
    let mut progress = |p: DownloadProgress| {
        seen.push(p);
        true
    };
    let dir = hub::open("test-org/albert-tiny", &opts, &mut progress).unwrap();

    let repo = cache.path().join("models--test-org--albert-tiny");
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(dir, repo.join("snapshots").join(COMMIT));
    let link = std::fs::read_link(dir.join("model.safetensors")).unwrap();
    assert!(link.starts_with("../../blobs"), "{}", link.display());
    assert!(seen
        .iter()
        .any(|p| p.file == "model.safetensors" && Some(p.bytes_done) == p.bytes_total));

    let model = LoadedModel::open(&dir).unwrap();
    let golden = goldens("albert_single")
        .into_iter()
        .find(|g| g.case == "plain")
        .unwrap();
    let input = model.encode(&golden.text, None).unwrap();
    let trace = CpuBackend::new()
        .forward(&model.config, &model.weights, &input)
        .unwrap();
    assert_trace_matches(&trace, &golden.trace, "hub download");
}

#[test]
fn a_cached_model_opens_without_the_network() {
    let server = serve(repo_with("albert-tiny", "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let first = hub::open(
        "albert-tiny",
        &options(&server.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap();
    let before = server.requests.load(Ordering::SeqCst);
    // nothing listens on port 1
    let again = hub::open(
        "albert-tiny",
        &options("http://127.0.0.1:1", cache.path()),
        &mut no_progress(),
    )
    .unwrap();
    assert_eq!(first, again);
    let mut offline = options(&server.endpoint, cache.path());
    offline.offline = true;
    assert_eq!(
        hub::open("albert-tiny", &offline, &mut no_progress()).unwrap(),
        first
    );
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        before,
        "no request once cached"
    );
}

#[test]
fn sharded_weights_and_a_vocab_txt_only_bert_download() {
    let mut repo = repo_with("org/albert-sharded", "albert_mlm_sharded_f16");
    repo.add_dir("org/bert-vocab", &fixture("bert_vocab_only"));
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.endpoint, cache.path());
    let dir = hub::open("org/albert-sharded", &opts, &mut no_progress()).unwrap();
    assert!(dir.join("model-00005-of-00005.safetensors").exists());
    assert!(LoadedModel::open(&dir).unwrap().weights.mlm.is_some());
    let dir = hub::open("org/bert-vocab", &opts, &mut no_progress()).unwrap();
    assert!(dir.join("vocab.txt").exists());
    LoadedModel::open(&dir).unwrap();
}

#[test]
fn an_unknown_id_is_a_clear_error() {
    let server = serve(Repo::default());
    let cache = tempfile::tempdir().unwrap();
    let e = hub::open(
        "nobody/nothing",
        &options(&server.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("nobody/nothing") && msg.contains("no such model"),
        "{msg}"
    );
    let e = hub::open(
        "../etc",
        &options(&server.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a valid model id"), "{e}");
}

#[test]
fn a_model_that_is_neither_albert_nor_bert_is_refused_before_its_weights() {
    let mut repo = Repo::default();
    repo.files.insert(
        ("gpt2".into(), "config.json".into()),
        br#"{"model_type":"gpt2"}"#.to_vec(),
    );
    repo.files
        .insert(("gpt2".into(), "model.safetensors".into()), vec![0; 64]);
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let e = hub::open(
        "gpt2",
        &options(&server.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(matches!(e, LensError::UnknownModelType { .. }), "{e}");
    assert!(e.to_string().contains("gpt2"));
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        1,
        "only config.json was asked for"
    );
}

#[test]
fn no_network_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let e = hub::open(
        "albert-base-v2",
        &options("http://127.0.0.1:1", cache.path()),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot reach"), "{e}");
}

fn nothing_cached(cache: &Path, id: &str) {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    assert!(!repo.join("refs/main").exists(), "no revision recorded");
    assert!(!repo.join("snapshots").exists(), "no snapshot");
    if let Ok(blobs) = std::fs::read_dir(repo.join("blobs")) {
        for b in blobs {
            let name = b.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".incomplete"), "partial file left: {name}");
        }
    }
    assert!(hub::cached(&options("http://127.0.0.1:1", cache), id).is_none());
}

#[test]
fn a_download_cut_off_halfway_leaves_nothing_corrupt_and_can_be_retried() {
    let id = "org/albert-cut";
    let mut repo = repo_with(id, "albert_single");
    repo.cut.push((id.into(), "model.safetensors".into()));
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let e = hub::open(
        id,
        &options(&server.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    nothing_cached(cache.path(), id);
    // the weights blob must not be there complete either
    let blob = cache
        .path()
        .join("models--org--albert-cut/blobs")
        .join(etag(
            &std::fs::read(fixture("albert_single/model.safetensors")).unwrap(),
        ));
    assert!(!blob.exists());

    let good = serve(repo_with(id, "albert_single"));
    let dir = hub::open(
        id,
        &options(&good.endpoint, cache.path()),
        &mut no_progress(),
    )
    .unwrap();
    LoadedModel::open(&dir).unwrap();
}

#[test]
fn a_cancelled_download_leaves_nothing_behind() {
    let server = serve(repo_with("albert-tiny", "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let mut cancel = |p: DownloadProgress| p.file != "model.safetensors";
    let e = hub::open(
        "albert-tiny",
        &options(&server.endpoint, cache.path()),
        &mut cancel,
    )
    .unwrap_err();
    assert!(matches!(e, LensError::Cancelled(_)), "{e}");
    nothing_cached(cache.path(), "albert-tiny");
}

#[test]
fn hub_settings_come_from_hf_environment_variables() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let o = HubOptions::from_lookup(env(&[("HOME", "/home/u")]));
    assert_eq!(o.endpoint, "https://huggingface.co");
    assert_eq!(o.cache_dir, PathBuf::from("/home/u/.cache/huggingface/hub"));
    assert!(!o.offline);
    let o = HubOptions::from_lookup(env(&[
        ("HF_HOME", "/data/hf"),
        ("HF_ENDPOINT", "http://mirror.local/"),
        ("HF_HUB_OFFLINE", "1"),
        ("HF_TOKEN", "secret"),
    ]));
    assert_eq!(o.cache_dir, PathBuf::from("/data/hf/hub"));
    assert_eq!(o.endpoint, "http://mirror.local");
    assert!(o.offline);
    assert_eq!(o.token.as_deref(), Some("secret"));
    let o = HubOptions::from_lookup(env(&[
        ("HF_HOME", "/data/hf"),
        ("HF_HUB_CACHE", "/fast/cache"),
    ]));
    assert_eq!(o.cache_dir, PathBuf::from("/fast/cache"));
}

#[test]
fn the_cli_traces_a_hub_model_through_hf_endpoint_and_hf_home() {
    let server = serve(repo_with("org/bert-tiny", "bert_mlm"));
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("t.safetensors");
    let res = std::process::Command::new(env!("CARGO_BIN_EXE_albert-lens"))
        .args([
            "trace",
            "--model",
            "hub:org/bert-tiny",
            "--text",
            "hello world",
            "--backend",
            "cpu",
            "--out",
        ])
        .arg(&out)
        .env("HF_ENDPOINT", &server.endpoint)
        .env("HF_HOME", home.path())
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(home
        .path()
        .join("hub/models--org--bert-tiny/refs/main")
        .exists());
    let trace = albert_lens::model::Trace::read_safetensors(&out).unwrap();
    assert_eq!(trace.model_type.as_str(), "bert");
}
