//! Corpus mode: many texts through the model in padded batches, reduced on the fly to what every
//! head does ([`stats`]), with bounded memory for any corpus size.
//!
//! A corpus file holds one text per line; a TAB separates a sentence pair; empty lines are
//! skipped. A `.jsonl` file holds one JSON object per line with `text` (and optionally `pair`).
//! Lines whose 0-based index ≡ i (mod n) make shard i/n. Texts are tokenized and truncated as
//! `trace` does.

pub mod search;
pub mod stats;

pub use stats::{CorpusMeta, HeadStats, STATS};

use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::{EncodedInput, LoadedModel};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The built-in corpus: the Brown documents the built-in models never trained on
/// (assets/corpus, made by tools/corpus/make_builtin_corpus.py).
pub const BUILTIN: &str = include_str!("../../assets/corpus/brown-heldout.txt");
pub const BUILTIN_NAME: &str = "builtin:brown-heldout";

/// A line longer than this is skipped with a message (a model sees at most a few thousand
/// characters of it; tokenizing megabytes would only stall the run).
pub const MAX_LINE_BYTES: usize = 100_000;

/// Where the texts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusSource {
    Builtin,
    File(PathBuf),
}

impl CorpusSource {
    /// "builtin" or a file path.
    pub fn parse(spec: &str) -> Self {
        if spec == "builtin" || spec == BUILTIN_NAME {
            CorpusSource::Builtin
        } else {
            CorpusSource::File(PathBuf::from(spec))
        }
    }

    /// The name stored in the statistics file and used for the cache: the built-in corpus's
    /// name, or the file's name and the first 16 hex digits of its content's SHA-256.
    pub fn identity(&self) -> Result<String> {
        Ok(self.scan()?.identity)
    }

    /// One pass over the corpus: its [`identity`](Self::identity) and its number of lines (for
    /// the progress bar and its ETA).
    pub fn scan(&self) -> Result<Scan> {
        use sha2::Digest;
        let mut r = self.reader()?;
        let mut h = sha2::Sha256::new();
        let (mut lines, mut buf) = (0u64, Vec::new());
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).map_err(|e| self.io(e))? == 0 {
                break;
            }
            h.update(&buf);
            lines += 1;
        }
        let identity = match self {
            CorpusSource::Builtin => BUILTIN_NAME.into(),
            CorpusSource::File(p) => {
                let hex: String = h.finalize()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                format!("{name}@{hex}")
            }
        };
        Ok(Scan { identity, lines })
    }

    fn reader(&self) -> Result<Box<dyn BufRead + Send>> {
        match self {
            CorpusSource::Builtin => Ok(Box::new(std::io::Cursor::new(BUILTIN.as_bytes()))),
            CorpusSource::File(p) => {
                let f = std::fs::File::open(p).map_err(|source| LensError::Io {
                    path: p.clone(),
                    source,
                })?;
                Ok(Box::new(std::io::BufReader::new(f)))
            }
        }
    }

    fn is_jsonl(&self) -> bool {
        matches!(self, CorpusSource::File(p) if p.extension().is_some_and(|e| e == "jsonl"))
    }

    fn io(&self, source: std::io::Error) -> LensError {
        LensError::Io {
            path: match self {
                CorpusSource::Builtin => PathBuf::from(BUILTIN_NAME),
                CorpusSource::File(p) => p.clone(),
            },
            source,
        }
    }

    /// Streams the texts of shard `shard.0` of `shard.1`: each line's index and its text and
    /// pair, or why it was skipped. Empty lines are passed over silently; a line of only
    /// blanks is a text that fails to tokenize (skipped with a message).
    pub fn lines(&self, shard: (usize, usize)) -> Result<Lines> {
        Ok(Lines {
            reader: self.reader()?,
            jsonl: self.is_jsonl(),
            index: 0,
            shard,
            source: self.clone(),
        })
    }
}

/// What one pass over a corpus finds ([`CorpusSource::scan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub identity: String,
    pub lines: u64,
}

/// One line of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Text {
        index: u64,
        text: String,
        pair: Option<String>,
    },
    Skipped {
        index: u64,
        why: String,
    },
}

/// The lines of one shard, read as they are needed.
pub struct Lines {
    reader: Box<dyn BufRead + Send>,
    jsonl: bool,
    index: u64,
    shard: (usize, usize),
    source: CorpusSource,
}

impl Iterator for Lines {
    type Item = Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(self.source.io(e))),
            }
            let index = self.index;
            self.index += 1;
            let (i, n) = self.shard;
            if n > 1 && index % n as u64 != i as u64 {
                continue;
            }
            while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                buf.pop();
            }
            if buf.is_empty() {
                continue;
            }
            let line_no = index + 1;
            if buf.len() > MAX_LINE_BYTES {
                return Some(Ok(Line::Skipped {
                    index,
                    why: format!(
                        "line {line_no}: {} bytes, more than the {MAX_LINE_BYTES} a line may have",
                        buf.len()
                    ),
                }));
            }
            let Ok(s) = std::str::from_utf8(&buf) else {
                return Some(Ok(Line::Skipped {
                    index,
                    why: format!("line {line_no}: not valid UTF-8"),
                }));
            };
            return Some(Ok(if self.jsonl {
                parse_json_line(index, s)
            } else {
                let (text, pair) = match s.split_once('\t') {
                    Some((a, b)) => (a, Some(b.to_string())),
                    None => (s, None),
                };
                Line::Text {
                    index,
                    text: text.to_string(),
                    pair,
                }
            }));
        }
    }
}

fn parse_json_line(index: u64, s: &str) -> Line {
    let line_no = index + 1;
    let skipped = |why: String| Line::Skipped { index, why };
    let v: serde_json::Value = match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => return skipped(format!("line {line_no}: not a JSON object ({e})")),
    };
    let Some(text) = v.get("text").and_then(|t| t.as_str()) else {
        return skipped(format!("line {line_no}: no \"text\" string"));
    };
    Line::Text {
        index,
        text: text.to_string(),
        pair: v.get("pair").and_then(|p| p.as_str()).map(str::to_string),
    }
}

/// How to run a corpus.
#[derive(Debug, Clone)]
pub struct CorpusOptions {
    /// Texts per forward pass.
    pub batch: usize,
    /// (i, n): lines whose index ≡ i (mod n); (0, 1) for all.
    pub shard: (usize, usize),
    /// Stop after this many texts.
    pub limit: Option<u64>,
    /// The model's name for the file's metadata.
    pub model_name: String,
    /// The corpus's [`Scan`] when the caller has made it already (one pass less over a big
    /// file); None: the run makes it.
    pub scanned: Option<Scan>,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            batch: 16,
            shard: (0, 1),
            limit: None,
            model_name: String::new(),
            scanned: None,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Lines read (of this shard's part of the file).
    pub lines: u64,
    /// Lines in the whole file (0 when unknown).
    pub total_lines: u64,
    pub texts: u64,
    pub tokens: u64,
    pub seconds: f64,
}

impl Progress {
    /// The fraction done, from the lines read.
    pub fn fraction(&self, shard_count: usize) -> f32 {
        if self.total_lines == 0 {
            return 0.0;
        }
        let mine = self.total_lines as f64 / shard_count.max(1) as f64;
        (self.lines as f64 / mine).min(1.0) as f32
    }
}

/// Texts are bucketed by length within windows of this many batches, so that a batch pads
/// little while memory stays bounded.
pub const WINDOW_BATCHES: usize = 16;

/// One window of texts as batches of `batch`: sorted by length first, so that each batch pads
/// little.
pub fn buckets(window: &mut [EncodedInput], batch: usize) -> std::slice::Chunks<'_, EncodedInput> {
    window.sort_by_key(EncodedInput::len);
    window.chunks(batch.max(1))
}

/// Runs the corpus through `model` on `backend` and reduces every attention map to the head
/// statistics. Skipped lines are reported through `skipped` (and counted); `cancel` stops the
/// run between batches with [`LensError::Cancelled`].
pub fn run(
    model: &LoadedModel,
    backend: &mut dyn Backend,
    source: &CorpusSource,
    opts: &CorpusOptions,
    progress: &mut dyn FnMut(Progress),
    skipped: &mut dyn FnMut(&str),
    cancel: &AtomicBool,
) -> Result<HeadStats> {
    let (i, n) = opts.shard;
    if n == 0 || i >= n {
        return Err(LensError::Unsupported(format!(
            "shard {i}/{n}: give i/n with 0 ≤ i < n"
        )));
    }
    let scan = match &opts.scanned {
        Some(s) => s.clone(),
        None => source.scan()?,
    };
    let cfg = &model.config;
    let mut total = HeadStats::new(cfg.num_attention_maps(), cfg.num_attention_heads);
    total.meta = CorpusMeta {
        model: opts.model_name.clone(),
        corpus: scan.identity,
        shard: if n > 1 {
            format!("{i}/{n}")
        } else {
            String::new()
        },
        ..CorpusMeta::default()
    };
    let batch = opts.batch.max(1);
    let start = std::time::Instant::now();
    let mut at = Progress {
        lines: 0,
        total_lines: scan.lines,
        texts: 0,
        tokens: 0,
        seconds: 0.0,
    };
    let mut window: Vec<EncodedInput> = Vec::with_capacity(batch * WINDOW_BATCHES);
    let mut lines = source.lines(opts.shard)?;
    let limit = opts.limit.unwrap_or(u64::MAX);
    let mut taken = 0u64;
    loop {
        let line = if taken < limit { lines.next() } else { None };
        let done = line.is_none();
        match line.transpose()? {
            Some(Line::Text { index, text, pair }) => {
                at.lines = index / n as u64 + 1;
                taken += 1;
                match model.encode(&text, pair.as_deref()) {
                    Ok(e) => {
                        if e.truncated.is_some() {
                            total.meta.truncated += 1;
                        }
                        window.push(e);
                    }
                    Err(e) => {
                        total.meta.skipped += 1;
                        skipped(&format!("line {}: {e}", index + 1));
                    }
                }
            }
            Some(Line::Skipped { index, why }) => {
                at.lines = index / n as u64 + 1;
                total.meta.skipped += 1;
                skipped(&why);
            }
            None => {}
        }
        if window.len() >= batch * WINDOW_BATCHES || (done && !window.is_empty()) {
            for chunk in buckets(&mut window, batch) {
                if cancel.load(Ordering::Relaxed) {
                    return Err(LensError::Cancelled(format!(
                        "the corpus run stopped after {} texts",
                        at.texts
                    )));
                }
                let part = reduce_batch(model, backend, chunk)?;
                total.merge(&part)?;
                at.texts += chunk.len() as u64;
                at.tokens += chunk.iter().map(|e| e.len() as u64).sum::<u64>();
                at.seconds = start.elapsed().as_secs_f64();
                progress(at);
            }
            window.clear();
        }
        if done {
            break;
        }
    }
    total.meta.lines = at.texts;
    Ok(total)
}

/// One batch: the forward pass, then every text's statistics, texts in parallel.
pub fn reduce_batch(
    model: &LoadedModel,
    backend: &mut dyn Backend,
    inputs: &[EncodedInput],
) -> Result<HeadStats> {
    use rayon::prelude::*;
    let cfg = &model.config;
    let traces = backend.forward_batch(cfg, &model.weights, inputs, true)?;
    let empty = || HeadStats::new(cfg.num_attention_maps(), cfg.num_attention_heads);
    traces
        .par_iter()
        .map(|t| -> Result<HeadStats> {
            let norms = stats::value_norms(cfg, &model.weights, t)?;
            let mut s = empty();
            s.add_trace(t, &norms);
            Ok(s)
        })
        .try_reduce(empty, |mut a, b| {
            a.merge(&b)?;
            Ok(a)
        })
}

/// Merges statistics files of shards of one corpus run on one model into one.
pub fn merge_files(paths: &[PathBuf]) -> Result<HeadStats> {
    let mut it = paths.iter();
    let first = it
        .next()
        .ok_or_else(|| LensError::Unsupported("merge needs at least one statistics file".into()))?;
    let mut out = HeadStats::read(first)?;
    for p in it {
        let s = HeadStats::read(p)?;
        for (what, a, b) in [
            ("model", &out.meta.model, &s.meta.model),
            ("corpus", &out.meta.corpus, &s.meta.corpus),
        ] {
            if a != b {
                return Err(LensError::Unsupported(format!(
                    "{} has {what} {b:?} but {} has {a:?}: only shards of one run merge",
                    p.display(),
                    first.display()
                )));
            }
        }
        out.merge(&s)?;
    }
    out.meta.shard = String::new();
    Ok(out)
}

/// Parses "i/n" (0 ≤ i < n).
pub fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("shard {s:?}: write it i/n, e.g. 0/4"))?;
    let (i, n) = (a.trim().parse::<usize>(), b.trim().parse::<usize>());
    match (i, n) {
        (Ok(i), Ok(n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(format!(
            "shard {s:?}: i/n needs whole numbers with 0 ≤ i < n"
        )),
    }
}

/// The file name a run's statistics are cached under: the model folder, the name, size and
/// modification time of each of its files (so that a checkpoint rewritten in place is not served
/// stale statistics), and the corpus identity, hashed.
pub fn cache_key(model_dir: &Path, corpus: &str) -> String {
    use sha2::Digest;
    let mut files: Vec<String> = std::fs::read_dir(model_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let age = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!(
                "{:?} {} {}",
                e.file_name(),
                m.len(),
                age.as_nanos()
            ))
        })
        .collect();
    files.sort();
    let h = sha2::Sha256::digest(
        format!("{}\n{}\n{corpus}", model_dir.display(), files.join("\n")).as_bytes(),
    );
    let hex: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("corpus-{hex}.safetensors")
}

/// A corpus cache folder set by the program (tests keep theirs apart this way; changing
/// `XDG_CACHE_HOME` inside a running process would move other caches too).
static CACHE_OVERRIDE: std::sync::RwLock<Option<PathBuf>> = std::sync::RwLock::new(None);

/// Puts the corpus cache in `dir` for the rest of the process (None: the default again).
pub fn set_cache_dir(dir: Option<PathBuf>) {
    if let Ok(mut o) = CACHE_OVERRIDE.write() {
        *o = dir;
    }
}

/// Where the app caches corpus statistics: the folder [`set_cache_dir`] gave, else
/// `$XDG_CACHE_HOME/albert-lens/corpus`, else `~/.cache/albert-lens/corpus` (None without
/// either variable).
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = CACHE_OVERRIDE.read().ok().and_then(|o| o.clone()) {
        return Some(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("albert-lens").join("corpus"))
}

/// The statistics of `model` on `source` (at most `limit` texts): read from the cache when a
/// run with the same model folder, corpus content and limit is there, else run (CPU, batched)
/// and cached. `ctl_progress` gets (note, fraction); `cancel` stops the run.
pub fn cached_run(
    model: &LoadedModel,
    model_name: &str,
    source: &CorpusSource,
    limit: Option<u64>,
    progress: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<(HeadStats, bool)> {
    let scan = source.scan()?;
    let limit_tag = limit.map_or(String::new(), |l| format!(" limit {l}"));
    let tag = format!("{}{limit_tag}", scan.identity);
    let cfg = &model.config;
    cached(
        &model.dir,
        &tag,
        |f| {
            HeadStats::read(f).ok().filter(|s| {
                (s.maps, s.heads) == (cfg.num_attention_maps(), cfg.num_attention_heads)
            })
        },
        || {
            let opts = CorpusOptions {
                batch: 16,
                shard: (0, 1),
                limit,
                model_name: model_name.to_string(),
                scanned: Some(scan),
            };
            let mut backend = crate::backend::CpuBackend::new();
            run(
                model,
                &mut backend,
                source,
                &opts,
                progress,
                &mut |_| {},
                cancel,
            )
        },
        HeadStats::to_safetensors_bytes,
    )
}

/// A value from the corpus cache, the file named by the model folder and `tag`, when `read`
/// accepts what is there (true: it came from the cache); else `make`'s, written there as
/// `bytes` gives it. A cache that cannot be read or written costs a rerun, nothing more.
pub(crate) fn cached<T>(
    model_dir: &Path,
    tag: &str,
    read: impl FnOnce(&Path) -> Option<T>,
    make: impl FnOnce() -> Result<T>,
    bytes: impl FnOnce(&T) -> Result<Vec<u8>>,
) -> Result<(T, bool)> {
    let file = cache_dir().map(|d| d.join(cache_key(model_dir, tag)));
    if let Some(v) = file.as_deref().and_then(read) {
        return Ok((v, true));
    }
    let v = make()?;
    if let Some(f) = &file {
        let _ = f.parent().map(std::fs::create_dir_all);
        let _ = bytes(&v).and_then(|b| crate::error::write_file(f, &b));
    }
    Ok((v, false))
}
