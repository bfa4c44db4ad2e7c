//! Opening models from the Hugging Face Hub, end to end against a local HTTP server that serves
//! fixture models in the Hub's URL layout (`/{id}/resolve/{revision}/{file}`, with the headers
//! and redirects the Hub sends: ETag / X-Linked-Etag / X-Linked-Size / X-Repo-Commit, 302 to a
//! CDN for LFS files, 307 for renamed repositories), and as a hostile or flaky server (cut,
//! stalled and endless bodies, forged commit ids and ETags). Tests never reach the real Hub.
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
use std::sync::{Arc, Mutex};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the fake Hub misbehaves for one file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// the body stops halfway and the connection closes
    Cut,
    /// the first GET stops halfway; later ones are whole
    CutOnce,
    /// half the body, then nothing while the connection stays open
    Stall,
    /// no size announced anywhere, and bytes without end
    Endless,
    /// the body in small slices with pauses (a slow link)
    Slow,
    /// one byte every 400 ms: each read beats the read timeout, the download never ends
    Drip,
}

/// Files by (model id, file name), with what the Hub does around them.
#[derive(Default, Clone)]
struct Repo {
    files: HashMap<(String, String), Vec<u8>>,
    faults: HashMap<(String, String), Fault>,
    /// old id -> new id: the Hub answers 307 with a relative Location (a renamed repository)
    renamed: HashMap<String, String>,
    /// LFS files (weights) answer 302 to this CDN endpoint, as huggingface.co does
    cdn: Option<String>,
    /// replaces the X-Repo-Commit header (hostile servers)
    commit: Option<String>,
    /// replaces the ETag headers (hostile servers)
    etag: Option<String>,
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
    fn fault(&mut self, id: &str, file: &str, f: Fault) {
        self.faults.insert((id.into(), file.into()), f);
    }
}

struct Server {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    /// "METHOD path authorization?" of every request, in order
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the Hub sends as an LFS file's X-Linked-Etag: the sha256 of its content.
fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// What the Hub sends as a regular file's ETag: git's blob id.
fn git_sha1(bytes: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

fn is_lfs(file: &str) -> bool {
    file.ends_with(".safetensors") || file.ends_with(".bin")
}

/// Reads one request head: (method, path, authorization header).
fn read_request(s: &mut std::net::TcpStream) -> (String, String, Option<String>) {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        req.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let mut words = text.lines().next().unwrap_or("").split(' ');
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let auth = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: ")
                .or(l.strip_prefix("Authorization: "))
        })
        .map(str::to_string);
    (method, path, auth)
}

/// Sends `body` as the Hub would, misbehaving as `fault` says.
fn send_body(s: &mut std::net::TcpStream, body: &[u8], fault: Option<Fault>, first_get: bool) {
    match fault {
        Some(Fault::Cut) => {
            let _ = s.write_all(&body[..body.len() / 2]);
        }
        Some(Fault::CutOnce) if first_get => {
            let _ = s.write_all(&body[..body.len() / 2]);
        }
        Some(Fault::Stall) => {
            let _ = s.write_all(&body[..body.len() / 2]);
            let _ = s.flush();
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        Some(Fault::Endless) => {
            let chunk = vec![b'x'; 1 << 16];
            while s.write_all(&chunk).is_ok() {}
        }
        Some(Fault::Drip) => {
            for b in body {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                let _ = s.flush();
                std::thread::sleep(std::time::Duration::from_millis(400));
            }
        }
        Some(Fault::Slow) => {
            for part in body.chunks(body.len().div_ceil(20).max(1)) {
                if s.write_all(part).is_err() {
                    return;
                }
                let _ = s.flush();
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
        }
        _ => {
            let _ = s.write_all(body);
        }
    }
}

fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

/// A CDN: serves `/blob/{sha256}` from the repo's LFS files, with an ETag of its own.
fn serve_cdn(repo: Repo, listener: TcpListener, log: Arc<Mutex<Vec<String>>>) {
    let blobs: HashMap<String, (Vec<u8>, Option<Fault>)> = repo
        .files
        .iter()
        .map(|(k, b)| (sha256(b), (b.clone(), repo.faults.get(k).copied())))
        .collect();
    let gets = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let blobs = blobs.clone();
            let log = log.clone();
            let gets = gets.clone();
            std::thread::spawn(move || {
                let (method, path, auth) = read_request(&mut s);
                log.lock()
                    .unwrap()
                    .push(format!("CDN {method} {path} {auth:?}"));
                let Some((body, fault)) = path.strip_prefix("/blob/").and_then(|h| blobs.get(h))
                else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let first = gets.fetch_add(1, Ordering::SeqCst) == 0;
                let length = if *fault == Some(Fault::Endless) {
                    String::new()
                } else {
                    format!("Content-Length: {}\r\n", body.len())
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\n{length}ETag: \"cdn-{}\"\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                if method == "GET" {
                    send_body(&mut s, body, *fault, first);
                }
            });
        }
    });
}

/// The fake Hub: `/{id}/resolve/{main or COMMIT}/{file}` with the headers huggingface.co sends
/// (X-Repo-Commit; ETag = git sha1 for regular files; X-Linked-Etag = sha256 and X-Linked-Size
/// for LFS files, on a 302 to the CDN when one is set), 307 for renamed repositories, 404
/// otherwise. Each connection has its own thread, so a stalled one blocks no other.
fn serve(repo: Repo) -> Server {
    let (listener, endpoint) = listen();
    let requests = Arc::new(AtomicUsize::new(0));
    let log: Arc<Mutex<Vec<String>>> = Default::default();
    let count = requests.clone();
    let log2 = log.clone();
    let gets: Arc<Mutex<HashMap<(String, String), usize>>> = Default::default();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let repo = repo.clone();
            let log = log2.clone();
            let gets = gets.clone();
            std::thread::spawn(move || {
                let (method, path, auth) = read_request(&mut s);
                log.lock()
                    .unwrap()
                    .push(format!("HUB {method} {path} {auth:?}"));
                let parsed = path
                    .trim_start_matches('/')
                    .split_once("/resolve/")
                    .and_then(|(id, rest)| {
                        let (rev, file) = rest.split_once('/')?;
                        Some((id.to_string(), rev.to_string(), file.to_string()))
                    });
                let Some((id, rev, file)) = parsed.filter(|(_, r, _)| r == "main" || r == COMMIT)
                else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                if let Some(new) = repo.renamed.get(&id) {
                    let head = format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: /{new}/resolve/{rev}/{file}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(head.as_bytes());
                    return;
                }
                let key = (id, file.clone());
                let Some(body) = repo.files.get(&key) else {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let fault = repo.faults.get(&key).copied();
                let commit = repo.commit.clone().unwrap_or_else(|| COMMIT.to_string());
                let endless = fault == Some(Fault::Endless);
                let lfs = is_lfs(&file);
                let etag = repo.etag.clone().unwrap_or_else(|| {
                    if lfs {
                        sha256(body)
                    } else {
                        git_sha1(body)
                    }
                });
                let size = if endless {
                    String::new()
                } else if lfs {
                    format!("X-Linked-Size: {}\r\n", body.len())
                } else {
                    String::new()
                };
                let (status, extra, send) = match (&repo.cdn, lfs) {
                    (Some(cdn), true) => (
                        "302 Found",
                        format!(
                            "Location: {cdn}/blob/{}\r\nX-Linked-Etag: \"{etag}\"\r\n",
                            sha256(body)
                        ),
                        false,
                    ),
                    (None, true) => ("200 OK", format!("X-Linked-Etag: \"{etag}\"\r\n"), true),
                    _ => ("200 OK", format!("ETag: \"{etag}\"\r\n"), true),
                };
                let length = if endless {
                    String::new()
                } else if send {
                    format!("Content-Length: {}\r\n", body.len())
                } else {
                    "Content-Length: 0\r\n".into()
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{length}{size}{extra}X-Repo-Commit: {commit}\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes());
                if send && method == "GET" {
                    let first = {
                        let mut g = gets.lock().unwrap();
                        let n = g.entry(key).or_insert(0);
                        *n += 1;
                        *n == 1
                    };
                    send_body(&mut s, body, fault, first);
                }
            });
        }
    });
    Server {
        endpoint,
        requests,
        log,
    }
}

/// The Hub and a CDN that its LFS files redirect to; both log into the Hub's log.
fn serve_with_cdn(mut repo: Repo) -> Server {
    let (cdn_listener, cdn) = listen();
    repo.cdn = Some(cdn);
    let server = serve(repo.clone());
    serve_cdn(repo, cdn_listener, server.log.clone());
    server
}

fn options(endpoint: &str, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: endpoint.into(),
        cache_dir: cache.to_path_buf(),
        token: None,
        revision: "main".into(),
        offline: false,
        etag_timeout: std::time::Duration::from_secs(5),
        read_timeout: std::time::Duration::from_secs(1),
    }
}

fn no_progress() -> impl FnMut(DownloadProgress) -> bool {
    |_| true
}

/// `hub::open(id)` from `server` into `cache`, with default options and no progress callback.
fn open_at(server: &Server, id: &str, cache: &Path) -> Result<PathBuf, LensError> {
    hub::open(id, &options(&server.endpoint, cache), &mut no_progress())
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
    let first = open_at(&server, "albert-tiny", cache.path()).unwrap();
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

/// The other families download as transformers' save_pretrained writes them: a RoBERTa with
/// tokenizer.json, one with only vocab.json + merges.txt (both fetched), an XLM-R with only
/// sentencepiece.bpe.model, a DistilBERT, a ModernBERT (tokenizer.json only), a DeBERTa-v3
/// with only spm.model; a vocab.json
/// without its merges is named, and a ModernBERT without tokenizer.json.
#[test]
fn the_other_families_download_with_their_own_tokenizer_files() {
    let mut repo = Repo::default();
    for (id, name) in [
        ("FacebookAI/roberta-tiny", "roberta_mlm"),
        ("org/roberta-vocab", "roberta_vocab_only"),
        ("org/xlmr-spm", "xlmr_spm_only"),
        ("distilbert/tiny", "distilbert_mlm"),
        ("answerdotai/modernbert-tiny", "modernbert_hubcfg"),
        ("microsoft/deberta-v3-tiny", "deberta_spm_only"),
    ] {
        repo.add_dir(id, &fixture(name));
    }
    let mut no_json = repo_with("org/modernbert-no-tokenizer", "modernbert_mlm");
    for ((id, file), bytes) in std::mem::take(&mut no_json.files) {
        if file != "tokenizer.json" {
            repo.files.insert((id, file), bytes);
        }
    }
    let mut broken = repo_with("org/no-merges", "roberta_vocab_only");
    for ((id, file), bytes) in std::mem::take(&mut broken.files) {
        if file != "merges.txt" {
            repo.files.insert((id, file), bytes);
        }
    }
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.endpoint, cache.path());
    for (id, file) in [
        ("FacebookAI/roberta-tiny", "tokenizer.json"),
        ("org/roberta-vocab", "merges.txt"),
        ("org/xlmr-spm", "sentencepiece.bpe.model"),
        ("distilbert/tiny", "tokenizer.json"),
        ("answerdotai/modernbert-tiny", "tokenizer.json"),
        ("microsoft/deberta-v3-tiny", "spm.model"),
    ] {
        let dir = hub::open(id, &opts, &mut no_progress()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(dir.join(file).exists(), "{id}: {file}");
        let m = LoadedModel::open(&dir).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(m.warnings.is_empty(), "{id}: {:?}", m.warnings);
    }
    let e = hub::open("org/no-merges", &opts, &mut no_progress()).unwrap_err();
    assert!(e.to_string().contains("merges.txt"), "{e}");
    let e = hub::open("org/modernbert-no-tokenizer", &opts, &mut no_progress()).unwrap_err();
    assert!(
        e.to_string().contains("no tokenizer (tokenizer.json)"),
        "{e}"
    );
}

#[test]
fn an_unknown_id_is_a_clear_error() {
    let server = serve(Repo::default());
    let cache = tempfile::tempdir().unwrap();
    let e = open_at(&server, "nobody/nothing", cache.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("nobody/nothing") && msg.contains("no such model"),
        "{msg}"
    );
    let e = open_at(&server, "../etc", cache.path()).unwrap_err();
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
    let e = open_at(&server, "gpt2", cache.path()).unwrap_err();
    assert!(matches!(e, LensError::UnknownModelType { .. }), "{e}");
    assert!(e.to_string().contains("gpt2"));
    assert_eq!(
        server.count("model.safetensors"),
        0,
        "only config.json was asked for"
    );
    assert!(server.count("config.json") > 0);
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
    repo.fault(id, "model.safetensors", Fault::Cut);
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let e = open_at(&server, id, cache.path()).unwrap_err();
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    nothing_cached(cache.path(), id);
    // the weights blob must not be there complete either
    let blob = cache
        .path()
        .join("models--org--albert-cut/blobs")
        .join(sha256(
            &std::fs::read(fixture("albert_single/model.safetensors")).unwrap(),
        ));
    assert!(!blob.exists());

    let good = serve(repo_with(id, "albert_single"));
    let dir = open_at(&good, id, cache.path()).unwrap();
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
    assert_eq!(o.read_timeout, std::time::Duration::from_secs(10));
    let o = HubOptions::from_lookup(env(&[
        ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"),
        ("HF_HUB_ETAG_TIMEOUT", "nonsense"),
    ]));
    assert_eq!(o.read_timeout, std::time::Duration::from_millis(2500));
    assert_eq!(o.etag_timeout, std::time::Duration::from_secs(10));
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

/// Every file under `root`, relative to it.
fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_download_through_a_302_to_a_cdn_leaves_the_cache_huggingface_hub_writes() {
    let id = "org/albert-tiny";
    let server = serve_with_cdn(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(&server.endpoint, cache.path());
    opts.token = Some("secret".into());
    let dir = hub::open(id, &opts, &mut no_progress()).unwrap();

    let repo = cache.path().join("models--org--albert-tiny");
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(dir, repo.join("snapshots").join(COMMIT));
    // blobs named by the Hub's hashes: sha256 for LFS files, git's sha1 for the others
    let mut want_blobs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(fixture("albert_single").join(&name)).unwrap();
        let blob = if is_lfs(&name) {
            sha256(&bytes)
        } else {
            git_sha1(&bytes)
        };
        assert_eq!(
            std::fs::read_link(&p).unwrap(),
            Path::new("../../blobs").join(&blob),
            "{name}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name}");
        want_blobs.push(format!("blobs/{blob}"));
    }
    assert!(want_blobs.len() >= 4, "{want_blobs:?}");
    want_blobs.sort();
    let blobs: Vec<String> = files_under(&repo)
        .into_iter()
        .filter(|f| f.starts_with("blobs"))
        .collect();
    assert_eq!(
        blobs, want_blobs,
        "exactly one blob per file, nothing partial"
    );
    // the weights came from the CDN, and the token went to the Hub only
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.starts_with("CDN GET") && l.contains("/blob/")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .filter(|l| l.starts_with("HUB"))
            .all(|l| l.contains("Bearer secret")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .filter(|l| l.starts_with("CDN"))
            .all(|l| l.ends_with("None")),
        "the token must never reach the CDN: {log:?}"
    );
    LoadedModel::open(&dir).unwrap();
}

#[test]
fn a_renamed_repository_is_followed_through_its_relative_307() {
    let mut repo = repo_with("albert/albert-tiny", "albert_single");
    repo.renamed
        .insert("albert-tiny".into(), "albert/albert-tiny".into());
    let server = serve_with_cdn(repo);
    let cache = tempfile::tempdir().unwrap();
    let dir = open_at(&server, "albert-tiny", cache.path()).unwrap();
    // cached under the name asked for, as huggingface_hub does
    assert!(dir.starts_with(cache.path().join("models--albert-tiny")));
    assert!(server.count("HUB HEAD /albert/albert-tiny/resolve/") > 0);
    LoadedModel::open(&dir).unwrap();
}

#[test]
fn forged_commit_ids_etags_and_shard_names_write_nothing_outside_the_cache() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("hub");
    for commit in ["/some/absolute/path", "../../x", "..", "", "main", "0123"] {
        let mut repo = repo_with("org/m", "albert_single");
        repo.commit = Some(commit.into());
        let server = serve(repo);
        let e = open_at(&server, "org/m", &cache).unwrap_err();
        assert!(e.to_string().contains("commit"), "{commit:?}: {e}");
    }
    for etag in ["../../evil", "/etc/passwd", "zz", ""] {
        let mut repo = repo_with("org/m", "albert_single");
        repo.etag = Some(etag.into());
        let server = serve(repo);
        let e = open_at(&server, "org/m", &cache).unwrap_err();
        assert!(e.to_string().contains("ETag"), "{etag:?}: {e}");
    }
    let mut repo = repo_with("org/s", "albert_mlm_sharded_f16");
    let index = br#"{"weight_map": {"a": "../../escape.safetensors"}}"#;
    repo.files.insert(
        ("org/s".into(), "model.safetensors.index.json".into()),
        index.to_vec(),
    );
    let server = serve(repo);
    let e = open_at(&server, "org/s", &cache).unwrap_err();
    assert!(e.to_string().contains("outside the repository"), "{e}");
    // nothing beside the cache, and in it no snapshot, ref or file named by the server
    let outside: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outside, vec!["hub".to_string()]);
    for f in files_under(&cache) {
        assert!(
            f.starts_with(".locks/") || f.contains("/blobs/"),
            "unexpected file {f}"
        );
        assert!(!f.contains("escape") && !f.contains("evil"), "{f}");
    }
}

#[test]
fn a_stalled_download_fails_within_seconds_and_caches_nothing() {
    let id = "org/stall";
    let mut repo = repo_with(id, "albert_single");
    repo.fault(id, "model.safetensors", Fault::Stall);
    let server = serve_with_cdn(repo);
    let cache = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let e = open_at(&server, id, cache.path()).unwrap_err();
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    let msg = e.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("broke off"),
        "{msg}"
    );
    nothing_cached(cache.path(), id);
}

#[test]
fn an_endless_body_is_cut_at_the_size_the_config_allows() {
    let id = "org/endless";
    let mut repo = repo_with(id, "albert_single");
    repo.fault(id, "model.safetensors", Fault::Endless);
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let mut most = 0u64;
    let mut progress = |p: DownloadProgress| {
        most = most.max(p.bytes_done);
        true
    };
    let e = hub::open(id, &options(&server.endpoint, cache.path()), &mut progress).unwrap_err();
    assert!(t.elapsed().as_secs() < 30, "took {:?}", t.elapsed());
    assert!(e.to_string().contains("more of model.safetensors"), "{e}");
    assert!(most < 1 << 30, "wrote {most} bytes");
    nothing_cached(cache.path(), id);
}

#[test]
fn two_downloads_at_once_leave_one_good_blob_and_a_cancelled_waiter_changes_nothing() {
    let id = "org/albert-slow";
    let mut repo = repo_with(id, "albert_single");
    repo.fault(id, "model.safetensors", Fault::Slow);
    let server = serve_with_cdn(repo);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.endpoint, cache.path());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let first = {
        let opts = opts.clone();
        std::thread::spawn(move || {
            let mut told = false;
            let mut progress = |p: DownloadProgress| {
                if p.file == "model.safetensors" && p.bytes_done > 0 && !told {
                    told = true;
                    let _ = started_tx.send(());
                }
                true
            };
            hub::open(id, &opts, &mut progress)
        })
    };
    started_rx.recv().unwrap();
    // a second download while the first holds the weights: it waits; this one gives up (Ctrl-C)
    let mut waited = false;
    let mut cancel = |p: DownloadProgress| {
        if p.file.contains("waiting") {
            waited = true;
            return false;
        }
        true
    };
    let e = hub::open(id, &opts, &mut cancel).unwrap_err();
    assert!(matches!(e, LensError::Cancelled(_)), "{e}");
    assert!(waited, "the second download must wait for the first");
    // and one more that waits to the end
    let third = {
        let opts = opts.clone();
        std::thread::spawn(move || hub::open(id, &opts, &mut no_progress()))
    };
    let a = first.join().unwrap().unwrap();
    let b = third.join().unwrap().unwrap();
    assert_eq!(a, b);
    assert_eq!(
        server.count("CDN GET"),
        1,
        "the weights were downloaded once"
    );
    let bytes = std::fs::read(fixture("albert_single/model.safetensors")).unwrap();
    let blob = cache
        .path()
        .join("models--org--albert-slow/blobs")
        .join(sha256(&bytes));
    assert_eq!(std::fs::read(blob).unwrap(), bytes);
    LoadedModel::open(&a).unwrap();
}

#[test]
fn a_download_cut_off_while_another_waits_is_redone_whole_by_the_other() {
    let id = "org/albert-cut-once";
    let mut repo = repo_with(id, "albert_single");
    repo.fault(id, "model.safetensors", Fault::CutOnce);
    let server = serve_with_cdn(repo);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.endpoint, cache.path());
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let opts = opts.clone();
            std::thread::spawn(move || hub::open(id, &opts, &mut no_progress()))
        })
        .collect();
    let results: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let ok: Vec<&PathBuf> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("off after"), "{failed:?}");
    let dir = ok[0];
    let bytes = std::fs::read(fixture("albert_single/model.safetensors")).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), bytes);
    LoadedModel::open(dir).unwrap();
}

/// [`options`] with `HF_HUB_OFFLINE` set.
fn offline_at(endpoint: &str, cache: &Path) -> HubOptions {
    HubOptions {
        offline: true,
        ..options(endpoint, cache)
    }
}

/// The weights file's blob name (its sha256) in the fixture `name`.
fn weights_sha(name: &str) -> String {
    sha256(&std::fs::read(fixture(name).join("model.safetensors")).unwrap())
}

#[test]
fn a_link_planted_at_the_partial_download_is_replaced_and_its_target_untouched() {
    let id = "org/planted";
    let server = serve(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"another user's file").unwrap();
    let blobs = cache.path().join("models--org--planted/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let sha = weights_sha("albert_single");
    std::os::unix::fs::symlink(&victim, blobs.join(format!("{sha}.incomplete"))).unwrap();
    let dir = open_at(&server, id, cache.path()).unwrap();
    assert!(LoadedModel::open(&dir).is_ok());
    assert_eq!(std::fs::read(&victim).unwrap(), b"another user's file");
}

#[test]
fn a_link_planted_at_the_lock_file_is_refused_and_creates_nothing_outside() {
    let id = "org/lockplant";
    let server = serve(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("created-through-the-link");
    let locks = cache.path().join(".locks/models--org--lockplant");
    std::fs::create_dir_all(&locks).unwrap();
    let sha = weights_sha("albert_single");
    std::os::unix::fs::symlink(&target, locks.join(format!("{sha}.lock"))).unwrap();
    let e = open_at(&server, id, cache.path()).unwrap_err();
    assert!(e.to_string().contains(".lock"), "{e}");
    assert!(
        !target.exists(),
        "a file was created through the planted link"
    );
}

#[test]
fn a_blob_changed_on_disk_is_refused_offline_and_downloaded_again_online() {
    let id = "org/flipped";
    let server = serve(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let dir = open_at(&server, id, cache.path()).unwrap();
    let blob = cache
        .path()
        .join("models--org--flipped/blobs")
        .join(weights_sha("albert_single"));
    let good = std::fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(&blob, &bad).unwrap();
    let offline = offline_at(&server.endpoint, cache.path());
    let e = hub::open(id, &offline, &mut no_progress()).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    assert!(hub::cached(&offline, id).is_none());
    // online: the damaged blob is fetched again
    assert_eq!(open_at(&server, id, cache.path()).unwrap(), dir);
    assert_eq!(std::fs::read(&blob).unwrap(), good);
    // and a verified blob opens offline again
    assert_eq!(hub::open(id, &offline, &mut no_progress()).unwrap(), dir);
}

#[test]
fn a_snapshot_link_leading_outside_the_cache_is_refused() {
    let id = "org/outside";
    let server = serve(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let dir = open_at(&server, id, cache.path()).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let evil = outside.path().join("config.json");
    std::fs::copy(dir.join("config.json"), &evil).unwrap();
    std::fs::remove_file(dir.join("config.json")).unwrap();
    std::os::unix::fs::symlink(&evil, dir.join("config.json")).unwrap();
    let offline = offline_at(&server.endpoint, cache.path());
    let e = hub::open(id, &offline, &mut no_progress()).unwrap_err();
    assert!(e.to_string().contains("outside the repository"), "{e}");
}

#[test]
fn a_snapshot_file_that_is_a_folder_is_named_as_the_damage() {
    let id = "org/folder";
    let server = serve(repo_with(id, "albert_single"));
    let cache = tempfile::tempdir().unwrap();
    let dir = open_at(&server, id, cache.path()).unwrap();
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    std::fs::create_dir(dir.join("tokenizer.json")).unwrap();
    let offline = offline_at(&server.endpoint, cache.path());
    let e = hub::open(id, &offline, &mut no_progress()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.contains("is a folder"),
        "{msg}"
    );
    assert!(!msg.contains("HF_HUB_OFFLINE forbids"), "{msg}");
}

#[test]
fn a_revision_file_that_is_a_pipe_is_refused_at_once() {
    let id = "org/fifo";
    let cache = tempfile::tempdir().unwrap();
    let refs = cache.path().join("models--org--fifo/refs");
    std::fs::create_dir_all(&refs).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(refs.join("main"))
        .status()
        .unwrap();
    assert!(made.success());
    let offline = offline_at("http://127.0.0.1:1", cache.path());
    let t = std::time::Instant::now();
    let e = hub::open(id, &offline, &mut no_progress()).unwrap_err();
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    assert!(
        e.to_string().contains("a pipe") || e.to_string().contains("not a regular file"),
        "{e}"
    );
}

#[test]
fn a_server_that_drips_a_byte_at_a_time_is_abandoned_by_the_rate_floor() {
    let id = "org/drip";
    let mut repo = repo_with(id, "albert_single");
    repo.fault(id, "model.safetensors", Fault::Drip);
    let server = serve(repo);
    let cache = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let e = open_at(&server, id, cache.path()).unwrap_err();
    assert!(t.elapsed().as_secs() < 15, "took {:?}", t.elapsed());
    assert!(e.to_string().contains("too slow"), "{e}");
    nothing_cached(cache.path(), id);
}

#[test]
fn out_of_range_timeouts_in_the_environment_are_an_error_naming_the_variable() {
    for (name, value) in [
        ("HF_HUB_DOWNLOAD_TIMEOUT", "1e20"),
        ("HF_HUB_ETAG_TIMEOUT", "1e300"),
        ("HF_HUB_ETAG_TIMEOUT", "-3"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let out = home.path().join("t.safetensors");
        let res = std::process::Command::new(env!("CARGO_BIN_EXE_albert-lens"))
            .args([
                "trace",
                "--model",
                "hub:org/x",
                "--text",
                "hi",
                "--backend",
                "cpu",
                "--out",
            ])
            .arg(&out)
            .env("HF_HOME", home.path())
            .env("HF_ENDPOINT", "http://127.0.0.1:1")
            .env(name, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(1), "{err}");
        assert!(err.contains(name) && !err.contains("panicked"), "{err}");
    }
}
