//! Labelled data for a fine-tuned classifier: what accuracy, the confusion matrix and head
//! importance are measured on. A file is one of
//!
//! - tab-separated lines `text<TAB>label` or `text<TAB>pair<TAB>label` (blank lines skipped; a
//!   first line whose label column reads `label` is a header);
//! - `.jsonl`: one object per line with `text`, optional `pair` and `label`;
//! - for a token classifier, CoNLL: one word per line, its tag in the last whitespace-separated
//!   column, a blank line between sentences (`-DOCSTART-` lines skipped).
//!
//! The path `builtin:genres` is the held-out genre file that ships with the app.
//!
//! A label is one of the model's label names (`id2label`) or its number. Every problem (a line
//! with the wrong number of fields, a label the model does not have, an empty text, a file that
//! is not UTF-8 text) is an error naming the line.

use crate::error::{LensError, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// the line it came from (1-based)
    pub line: usize,
    pub text: String,
    pub pair: Option<String>,
    /// the gold label's index (a sentence)
    pub label: usize,
    /// a CoNLL sentence: its words and each word's gold tag (empty for a sentence example)
    pub words: Vec<String>,
    pub tags: Vec<usize>,
}

/// A labelled file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub path: PathBuf,
    pub examples: Vec<Example>,
    /// sha256 of the file's bytes, first 16 hex digits
    pub identity: String,
}

/// The largest labelled file read (a few million short examples).
pub const MAX_BYTES: u64 = 256 << 20;

/// The labelled held-out sentences that ship with the app (their genres are the built-in
/// classifiers' labels; tools/train/finetune_genre.py wrote them), read as the path
/// [`BUILTIN_NAME`].
pub const BUILTIN: &str = include_str!("../../assets/corpus/brown-genre-heldout.tsv");
pub const BUILTIN_NAME: &str = "builtin:genres";

/// Reads a labelled file for a model with these `labels` (CoNLL for a token classifier when
/// `conll`), keeping the first `limit` examples.
pub fn read(path: &Path, labels: &[String], conll: bool, limit: Option<usize>) -> Result<Labelled> {
    let bytes = if path == Path::new(BUILTIN_NAME) {
        BUILTIN.as_bytes().to_vec()
    } else {
        crate::error::read_file_limited(path, MAX_BYTES)?
    };
    let err = |msg: String| LensError::LabelledData {
        path: path.to_path_buf(),
        msg,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        err(format!(
            "it is not UTF-8 text (invalid byte at offset {}): give a .tsv or .jsonl file",
            e.valid_up_to()
        ))
    })?;
    let jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let examples = if conll {
        parse_conll(text, labels, limit)
    } else {
        parse(text, jsonl, labels, limit)
    }
    .map_err(err)?;
    if examples.is_empty() {
        return Err(err("it holds no examples".into()));
    }
    let digest = sha2::Sha256::digest(&bytes);
    let identity = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(Labelled {
        path: path.to_path_buf(),
        examples,
        identity,
    })
}

/// The label index of a label's text: a name of `labels`, or a number below their count.
fn label_of(s: &str, labels: &[String]) -> Option<usize> {
    let s = s.trim();
    labels
        .iter()
        .position(|l| l == s)
        .or_else(|| s.parse().ok().filter(|&i: &usize| i < labels.len()))
}

fn unknown(line: usize, label: &str, labels: &[String]) -> String {
    format!(
        "line {line}: the label {label:?} is not one of the model's labels ({}) nor a label number below {}",
        labels.join(", "),
        labels.len()
    )
}

/// Parses a file's text (JSON lines or tab-separated), stopping after `limit` examples.
pub fn parse(
    text: &str,
    jsonl: bool,
    labels: &[String],
    limit: Option<usize>,
) -> std::result::Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if out.len() >= limit.unwrap_or(usize::MAX) {
            break;
        }
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() {
            continue;
        }
        let (text, pair, label) = if jsonl {
            let v: serde_json::Value = serde_json::from_str(raw)
                .map_err(|e| format!("line {line} is not a JSON object: {e}"))?;
            let field = |k: &str| v.get(k).filter(|x| !x.is_null());
            let text = field("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| format!("line {line} has no \"text\" string"))?;
            let pair = match field("pair") {
                Some(p) => Some(
                    p.as_str()
                        .ok_or_else(|| format!("line {line}: \"pair\" is not a string"))?,
                ),
                None => None,
            };
            let label = match field("label") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => return Err(format!("line {line} has no \"label\" (a name or a number)")),
            };
            (text.to_string(), pair.map(str::to_string), label)
        } else {
            let fields: Vec<&str> = raw.split('\t').collect();
            match fields[..] {
                [t, l] => (t.to_string(), None, l.to_string()),
                [t, p, l] => (t.to_string(), Some(p.to_string()), l.to_string()),
                _ => {
                    return Err(format!(
                        "line {line} has {} tab-separated fields; each line is text<TAB>label or text<TAB>pair<TAB>label",
                        fields.len()
                    ))
                }
            }
        };
        let Some(gold) = label_of(&label, labels) else {
            if out.is_empty() && label.trim().eq_ignore_ascii_case("label") {
                continue; // a header line
            }
            return Err(unknown(line, &label, labels));
        };
        if text.trim().is_empty() {
            return Err(format!("line {line}: the text is empty"));
        }
        out.push(Example {
            line,
            text,
            pair: pair.filter(|p| !p.trim().is_empty()),
            label: gold,
            words: Vec::new(),
            tags: Vec::new(),
        });
    }
    Ok(out)
}

/// Parses CoNLL text: a word and its tag per line (the tag in the last column), sentences
/// separated by blank lines; `-DOCSTART-` lines are skipped.
pub fn parse_conll(
    text: &str,
    labels: &[String],
    limit: Option<usize>,
) -> std::result::Result<Vec<Example>, String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut first = 0;
    let mut flush = |words: &mut Vec<String>, tags: &mut Vec<usize>, first: usize| {
        if !words.is_empty() {
            out.push(Example {
                line: first,
                text: words.join(" "),
                pair: None,
                label: 0,
                words: std::mem::take(words),
                tags: std::mem::take(tags),
            });
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let cols: Vec<&str> = raw.split_whitespace().collect();
        if cols.first().is_some_and(|c| c.starts_with("-DOCSTART-")) {
            continue;
        }
        if cols.is_empty() {
            flush(&mut words, &mut tags, first);
            continue;
        }
        let [word, .., tag] = cols[..] else {
            return Err(format!(
                "line {line} has one column; a CoNLL line is a word and its tag (the tag last)"
            ));
        };
        let Some(t) = label_of(tag, labels) else {
            return Err(unknown(line, tag, labels));
        };
        if words.is_empty() {
            first = line;
        }
        words.push(word.to_string());
        tags.push(t);
    }
    flush(&mut words, &mut tags, first);
    if let Some(l) = limit {
        out.truncate(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        vec!["neg".into(), "pos".into()]
    }

    #[test]
    fn tab_separated_lines_with_pairs_numbers_and_a_header() {
        let text = "text\tlabel\nGood film.\tpos\n\nA\tB\t0\r\n";
        let ex = parse(text, false, &labels(), None).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[0].line, ex[0].label, ex[0].pair.as_deref()),
            (2, 1, None)
        );
        assert_eq!(
            (ex[1].line, ex[1].label, ex[1].pair.as_deref()),
            (4, 0, Some("B"))
        );
        assert_eq!(parse(text, false, &labels(), Some(1)).unwrap().len(), 1);
    }

    #[test]
    fn json_lines_take_names_or_numbers() {
        let text = "{\"text\": \"x\", \"label\": 1}\n{\"text\": \"y\", \"pair\": null, \"label\": \"neg\"}\n";
        let ex = parse(text, true, &labels(), None).unwrap();
        assert_eq!(ex.iter().map(|e| e.label).collect::<Vec<_>>(), [1, 0]);
    }

    #[test]
    fn conll_sentences_are_split_at_blank_lines() {
        let tags: Vec<String> = ["O", "B-PER"].map(String::from).to_vec();
        let text = "-DOCSTART- -X- O O\n\nAlice NNP B-PER\nran VBD O\n\n\nHi O\n";
        let ex = parse_conll(text, &tags, None).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!((ex[0].line, ex[0].text.as_str()), (3, "Alice ran"));
        assert_eq!(ex[0].tags, [1, 0]);
        assert_eq!(ex[1].words, ["Hi"]);
        let e = parse_conll("Alice B-LOC\n", &tags, None).unwrap_err();
        assert!(e.contains("line 1") && e.contains("B-LOC"), "{e}");
        let e = parse_conll("Alice\n", &tags, None).unwrap_err();
        assert!(e.contains("one column"), "{e}");
    }

    /// A file picked in a web page (held in its memory under `picked:NAME`) reads as the same
    /// file on disk does: the same examples (JSON lines, known by the name) and identity.
    #[test]
    fn a_file_picked_in_a_page_reads_as_the_file_on_disk() {
        let text = "{\"text\": \"x\", \"label\": 1}\n{\"text\": \"y\", \"label\": \"neg\"}\n";
        let (_dir, disk, picked) = crate::picked::on_disk_and_picked("reviews.jsonl", text);
        let (a, b) = (
            read(&picked, &labels(), false, None).unwrap(),
            read(&disk, &labels(), false, None).unwrap(),
        );
        assert_eq!(a.examples.len(), 2);
        let lines = |l: &Labelled| {
            l.examples
                .iter()
                .map(|e| (e.line, e.label))
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(a.identity, b.identity);
        assert_eq!(a.path, picked);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse("a\tpos\nb\tmaybe\n", false, &labels(), None).unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("maybe") && e.contains("neg, pos"),
            "{e}"
        );
        let e = parse("just text\n", false, &labels(), None).unwrap_err();
        assert!(e.contains("line 1 has 1 tab-separated fields"), "{e}");
        let e = parse("\tpos\n", false, &labels(), None).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = parse("{\"label\": 1}\n", true, &labels(), None).unwrap_err();
        assert!(e.contains("no \"text\""), "{e}");
        let e = parse("a\t5\n", false, &labels(), None).unwrap_err();
        assert!(e.contains("below 2"), "{e}");
    }
}
