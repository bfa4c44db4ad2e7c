//! Corpus mode: many texts through the model in padded batches, reduced on the fly to what every
//! head does ([`stats`]), with bounded memory for any corpus size.
//!
//! A corpus file holds one text per line; a TAB separates a sentence pair; empty lines are
//! skipped. A `.jsonl` file (any case of the extension) holds one JSON object per line with
//! `text` (and optionally `pair`). Lines whose 0-based index ≡ i (mod n) make shard i/n. Texts
//! are tokenized and truncated as `trace` does.
//!
//! A corpus is read once, front to back, in bounded memory: a pipe (`<(cmd)`, a FIFO) works as
//! well as a file; a line is never held past [`MAX_LINE_BYTES`] (the rest of a longer line is
//! read past, not kept); its identity (content hash) is made during the run.

mod cache;
pub mod search;
mod shards;
pub mod statistic;
pub mod stats;

pub(crate) use cache::cached;
pub use cache::{cache_dir, cache_key, cached_run, set_cache_dir, MAX_CACHE_BYTES};
pub use shards::{merge_files, parse_shard, split_limit, ShardSet, MAX_SHARDS};
pub use stats::{CorpusMeta, HeadStats, STATS};

use crate::backend::Backend;
use crate::error::{LensError, Result};
use crate::model::{EncodedInput, LoadedModel};
use sha2::Digest;
use std::io::BufRead;
use std::path::PathBuf;
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

    /// A cheap key for caches, read from the file system without reading the corpus: the
    /// built-in corpus's name, or a regular file's full path, size, modification time and
    /// inode. None for a pipe (read once, it cannot be cached).
    pub fn fingerprint(&self) -> Option<String> {
        match self {
            CorpusSource::Builtin => Some(BUILTIN_NAME.into()),
            CorpusSource::File(p) => {
                if let Some(picked) = crate::picked::lookup(p) {
                    return picked.ok().map(|(_, hex)| format!("{} {hex}", p.display()));
                }
                let m = std::fs::metadata(p).ok().filter(|m| m.is_file())?;
                let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                Some(format!("{} {}", full.display(), crate::files::stamp(&m)))
            }
        }
    }

    /// The size in bytes when it is known before reading (a regular file, the built-in).
    fn size(&self) -> u64 {
        match self {
            CorpusSource::Builtin => BUILTIN.len() as u64,
            CorpusSource::File(p) => match crate::picked::lookup(p) {
                Some(picked) => picked.map_or(0, |(b, _)| b.len() as u64),
                None => std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map_or(0, |m| m.len()),
            },
        }
    }

    fn reader(&self) -> Result<Box<dyn BufRead + Send>> {
        match self {
            CorpusSource::Builtin => Ok(Box::new(std::io::Cursor::new(BUILTIN.as_bytes()))),
            CorpusSource::File(p) => match crate::picked::lookup(p) {
                Some(picked) => {
                    let (bytes, _) = picked.map_err(|e| self.io(e))?;
                    Ok(Box::new(std::io::Cursor::new(bytes)))
                }
                None => Ok(Box::new(std::io::BufReader::with_capacity(
                    1 << 16,
                    crate::files::open_stream(p)?,
                ))),
            },
        }
    }

    fn is_jsonl(&self) -> bool {
        matches!(self, CorpusSource::File(p)
            if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl")))
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
    /// pair, or why it was skipped. Empty lines are passed over silently; a line with no
    /// visible character (blanks, NULs, zero-width spaces) is skipped with a message.
    pub fn lines(&self, shard: (usize, usize)) -> Result<Lines> {
        Ok(Lines {
            reader: self.reader()?,
            jsonl: self.is_jsonl(),
            index: 0,
            shard,
            source: self.clone(),
            hash: sha2::Sha256::new(),
            bytes: 0,
            size: self.size(),
            ended: false,
            newline: false,
        })
    }
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

/// The lines of one shard, read as they are needed, hashed as they go by.
pub struct Lines {
    reader: Box<dyn BufRead + Send>,
    jsonl: bool,
    index: u64,
    shard: (usize, usize),
    source: CorpusSource,
    hash: sha2::Sha256,
    bytes: u64,
    size: u64,
    ended: bool,
    /// whether the last line read ended with a newline
    newline: bool,
}

impl Lines {
    /// Bytes read so far, and the whole input's size (0 when unknown: a pipe).
    pub fn bytes(&self) -> (u64, u64) {
        (self.bytes, self.size)
    }

    /// The corpus's name in statistics files and caches: the built-in corpus's name, or the
    /// file's name and the first 16 hex digits of the SHA-256 of what was read — the whole
    /// content when the reading reached the end, else marked as the first lines only.
    pub fn identity(&self) -> String {
        let CorpusSource::File(p) = &self.source else {
            return BUILTIN_NAME.into();
        };
        let hex: String = self.hash.clone().finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = p
            .file_name()
            .map(|n| crate::files::printable(&n.to_string_lossy(), 200))
            .unwrap_or_default();
        if self.ended {
            format!("{name}@{hex}")
        } else {
            format!("{name}@{hex}:first-{}-lines", self.index)
        }
    }

    /// Reads one line into `buf`, keeping at most `MAX_LINE_BYTES + 1` of its bytes; returns
    /// the line's whole length with its end (0 at the end of the input).
    fn read_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        let mut total = 0usize;
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(total);
            }
            let (take, end) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            self.hash.update(&avail[..take]);
            let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
            buf.extend_from_slice(&avail[..take.min(room)]);
            total = total.saturating_add(take);
            self.reader.consume(take);
            self.bytes += take as u64;
            self.newline = end;
            if end {
                return Ok(total);
            }
        }
    }
}

/// Whether a text has nothing a tokenizer would keep: only blanks, NULs, other control
/// characters or zero-width characters.
pub fn is_invisible(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{00ad}'
            )
    })
}

impl Iterator for Lines {
    type Item = Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let len = match self.read_line(&mut buf) {
                Ok(0) => {
                    self.ended = true;
                    return None;
                }
                Ok(n) => n,
                Err(e) => return Some(Err(self.source.io(e))),
            };
            let index = self.index;
            self.index += 1;
            let (i, n) = self.shard;
            if n > 1 && index % n as u64 != i as u64 {
                continue;
            }
            if index == 0 && buf.starts_with(b"\xef\xbb\xbf") {
                buf.drain(..3);
            }
            while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                buf.pop();
            }
            if buf.is_empty() {
                continue;
            }
            let line_no = index + 1;
            if buf.len() > MAX_LINE_BYTES {
                // the line's own bytes, without its end
                let len = len - usize::from(self.newline);
                return Some(Ok(Line::Skipped {
                    index,
                    why: format!(
                        "line {line_no}: {len} bytes, more than the {MAX_LINE_BYTES} a line may have"
                    ),
                }));
            }
            let Ok(s) = std::str::from_utf8(&buf) else {
                return Some(Ok(Line::Skipped {
                    index,
                    why: format!("line {line_no}: not valid UTF-8"),
                }));
            };
            let line = if self.jsonl {
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
            };
            return Some(Ok(match line {
                Line::Text { ref text, ref pair, .. }
                    if is_invisible(text) && pair.as_deref().is_none_or(is_invisible) =>
                {
                    Line::Skipped {
                        index,
                        why: format!(
                            "line {line_no}: the input text is empty (no visible characters: only blanks, NULs or zero-width characters)"
                        ),
                    }
                }
                other => other,
            }));
        }
    }
}

/// One JSONL record: `text` (and `pair`) strings.
pub fn parse_json_line(index: u64, s: &str) -> Line {
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
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            batch: 16,
            shard: (0, 1),
            limit: None,
            model_name: String::new(),
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes of the input read.
    pub bytes: u64,
    /// The input's size in bytes (0 when unknown: a pipe).
    pub total_bytes: u64,
    pub texts: u64,
    pub tokens: u64,
    pub seconds: f64,
    /// The run's text limit, if any.
    pub limit: Option<u64>,
}

impl Progress {
    /// The fraction done: of the input read, or of the texts the limit allows, whichever is
    /// further (0 when neither is known).
    pub fn fraction(&self) -> f32 {
        let read = if self.total_bytes == 0 {
            0.0
        } else {
            self.bytes as f64 / self.total_bytes as f64
        };
        let taken = self
            .limit
            .map_or(0.0, |l| self.texts as f64 / l.max(1) as f64);
        read.max(taken).min(1.0) as f32
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
    let cfg = &model.config;
    let mut total = HeadStats::new(cfg.num_attention_maps(), cfg.num_attention_heads);
    total.meta = CorpusMeta {
        model: opts.model_name.clone(),
        shard: if n > 1 {
            format!("{i}/{n}")
        } else {
            String::new()
        },
        ..CorpusMeta::default()
    };
    let batch = opts.batch.max(1);
    let start = web_time::Instant::now();
    let mut lines = source.lines(opts.shard)?;
    let mut at = Progress {
        bytes: 0,
        total_bytes: lines.bytes().1,
        texts: 0,
        tokens: 0,
        seconds: 0.0,
        limit: opts.limit,
    };
    let mut window: Vec<EncodedInput> = Vec::with_capacity(batch * WINDOW_BATCHES);
    let limit = opts.limit.unwrap_or(u64::MAX);
    let mut taken = 0u64;
    loop {
        let line = if taken < limit { lines.next() } else { None };
        let done = line.is_none();
        match line.transpose()? {
            Some(Line::Text { index, text, pair }) => {
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
            Some(Line::Skipped { why, .. }) => {
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
                at.bytes = lines.bytes().0;
                progress(at);
            }
            window.clear();
        }
        if done {
            break;
        }
    }
    total.meta.lines = at.texts;
    total.meta.corpus = lines.identity();
    Ok(total)
}

/// One batch: its statistics reduced by the backend where the maps are (the GPU), or else the
/// forward pass and then every text's statistics, texts in parallel.
pub fn reduce_batch(
    model: &LoadedModel,
    backend: &mut dyn Backend,
    inputs: &[EncodedInput],
) -> Result<HeadStats> {
    use rayon::prelude::*;
    let cfg = &model.config;
    let empty = || HeadStats::new(cfg.num_attention_maps(), cfg.num_attention_heads);
    // where the backend reduces them where the maps are (the GPU), only the sums come back
    let classes: Vec<Vec<u8>> = inputs
        .iter()
        .map(|i| stats::token_classes(&i.tokens, &i.special))
        .collect();
    if let Some(sums) = backend.batch_statistics(cfg, &model.weights, inputs, &classes)? {
        let mut s = empty();
        s.add_sums(sums)?;
        return Ok(s);
    }
    let traces = backend.forward_batch(cfg, &model.weights, inputs, true)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus picked in a web page (held in its memory under `picked:NAME`) streams the
    /// texts, pairs and skips the same file on disk does, with the same content hash; picked
    /// again with other content, its cache key changes.
    #[test]
    fn a_corpus_picked_in_a_page_reads_as_the_file_on_disk() {
        let text = "The first text.\nA second\twith a pair\n\n \u{200b}\nThe last one.";
        let (_dir, disk, picked) = crate::picked::on_disk_and_picked("unit-texts.tsv", text);
        let read = |p: &std::path::Path| {
            let mut lines = CorpusSource::File(p.to_path_buf()).lines((0, 1)).unwrap();
            let got: Vec<Line> = lines.by_ref().map(|l| l.unwrap()).collect();
            let hash = lines.identity().split_once('@').unwrap().1.to_string();
            (got, hash, lines.bytes())
        };
        let (a, b) = (read(&picked), read(&disk));
        assert_eq!(a.0.len(), 4, "{:?}", a.0);
        assert_eq!(a, b);
        let key = CorpusSource::File(picked.clone()).fingerprint().unwrap();
        crate::picked::keep("unit-texts.tsv", b"Other texts.".to_vec());
        assert_ne!(CorpusSource::File(picked).fingerprint(), Some(key));
    }
}
