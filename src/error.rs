//! The one error type of the library. Every message names the file (or input) and the problem in
//! words a user of the app understands; the UI and the CLI show it once, as it is.

use std::path::PathBuf;

/// A tensor whose shape differs from what the config implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub name: String,
    pub expected: Vec<usize>,
    pub found: Vec<usize>,
}

/// What is wrong with a checkpoint's tensors, all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightMismatch {
    pub dir: PathBuf,
    pub model_type: String,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub misshaped: Vec<ShapeMismatch>,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LensError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{dir} is not a model folder: {what}")]
    NotAModelFolder { dir: PathBuf, what: String },

    /// files given without a folder (picked in a web page) that do not make a model
    #[error("the files given as {name} are not a whole model: {what}")]
    NotAModel { name: PathBuf, what: String },

    #[error("{path}: {msg}")]
    Config { path: PathBuf, msg: String },

    #[error("{path}: model_type is {found:?}; albert-lens opens these model types: {supported}")]
    UnknownModelType {
        path: PathBuf,
        found: String,
        supported: String,
    },

    #[error("{path} is not a valid safetensors file: {msg}")]
    Safetensors { path: PathBuf, msg: String },

    #[error("{path} is not a readable PyTorch checkpoint: {msg}")]
    TorchCheckpoint { path: PathBuf, msg: String },

    #[error("{}", weight_mismatch_message(.0))]
    WeightMismatch(Box<WeightMismatch>),

    #[error("{path}: tokenizer problem: {msg}")]
    Tokenizer { path: PathBuf, msg: String },

    #[error("the tokenizer in {path} uses {tokenizer_size} token ids but the model's vocabulary has only {model_size} rows (config.json vocab_size): they do not belong together")]
    TokenizerVocab {
        path: PathBuf,
        tokenizer_size: usize,
        model_size: usize,
    },

    #[error("the input text is empty: type some text to run the model on")]
    EmptyInput,

    #[error("{0}")]
    Unsupported(String),

    #[error("trace file {path}: {msg}")]
    TraceFile { path: PathBuf, msg: String },

    #[error("labelled data {path}: {msg}")]
    LabelledData { path: PathBuf, msg: String },

    #[error("computation failed: {0}")]
    Compute(String),

    #[error("{0}")]
    Gpu(String),

    #[error("Hugging Face Hub: {0}")]
    Hub(String),

    #[error("cancelled: {0}")]
    Cancelled(String),

    #[error("analysis: {0}")]
    Analysis(String),

    #[error("export: {0}")]
    Export(String),

    #[error("{0}")]
    Internal(String),
}

impl From<candle_core::Error> for LensError {
    fn from(e: candle_core::Error) -> Self {
        LensError::Compute(e.to_string())
    }
}

pub type Result<T, E = LensError> = std::result::Result<T, E>;

/// What a file of `len` bytes is told when its kind is never longer than `limit`: one message
/// for files on disk and files held in memory ([`crate::model::ModelFiles`]).
pub fn over_limit(len: u64, limit: u64) -> String {
    format!("it is {len} bytes, more than the {limit} such a file can plausibly be")
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| LensError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole regular file of at most `limit` bytes. A folder, a device (`/dev/zero`), a
/// symbolic-link loop or a file over the limit is an error naming the file and the problem,
/// found before anything is allocated.
pub fn read_file_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| LensError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(picked) = crate::picked::lookup(path) {
        let (bytes, _) = picked.map_err(io)?;
        if bytes.len() as u64 > limit {
            return Err(io(std::io::Error::other(over_limit(
                bytes.len() as u64,
                limit,
            ))));
        }
        return Ok(bytes.to_vec());
    }
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other(if meta.is_dir() {
            "it is a folder, not a file"
        } else {
            "it is not a regular file (a device, pipe or socket)"
        })));
    }
    if meta.len() > limit {
        return Err(io(std::io::Error::other(over_limit(meta.len(), limit))));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .map_err(io)?
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(io(std::io::Error::other(format!(
            "it grew past {limit} bytes while being read"
        ))));
    }
    Ok(buf)
}

/// Turns an I/O error while writing `path` into [`LensError::Write`] naming it (for `map_err`).
pub fn write_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> LensError + '_ {
    move |source| LensError::Write {
        path: path.to_path_buf(),
        source,
    }
}

thread_local! {
    /// Set while [`catch_panic`] runs: the panic hook then records the message quietly.
    static CAUGHT: std::cell::RefCell<Option<Option<String>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, turning a panic inside it (in third-party code too) into an error: `what` says what
/// was being done, and the panic's own message and place follow. The process and the calling
/// thread go on; nothing is printed for a panic caught here.
pub fn catch_panic<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let quiet = CAUGHT.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown cause".into());
                        let place = info
                            .location()
                            .map(|l| format!(" at {}:{}", l.file(), l.line()))
                            .unwrap_or_default();
                        *slot = Some(format!("{msg}{place}"));
                        true
                    }
                    None => false,
                }
            });
            if !quiet {
                previous(info);
            }
        }));
    });
    let outer = CAUGHT.with(|c| c.borrow_mut().replace(None));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let message = CAUGHT.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    match result {
        Ok(r) => r,
        Err(_) => Err(LensError::Internal(format!(
            "{what} failed inside a library it uses: {}",
            message.flatten().unwrap_or_else(|| "unknown cause".into())
        ))),
    }
}

/// At most this many names are listed per category; the rest are counted.
const LIST_LIMIT: usize = 12;

fn list_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LIST_LIMIT)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LIST_LIMIT {
        s.push_str(&format!(" and {} more", names.len() - LIST_LIMIT));
    }
    s
}

fn weight_mismatch_message(w: &WeightMismatch) -> String {
    let WeightMismatch {
        dir,
        model_type,
        missing,
        unexpected,
        misshaped,
        hint,
    } = w;
    let mut parts = vec![format!(
        "the weights in {} do not fit the {model_type} model its config.json describes",
        dir.display()
    )];
    if !missing.is_empty() {
        parts.push(format!(
            "missing tensors ({}): {}",
            missing.len(),
            list_names(missing)
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "unexpected tensors ({}): {}",
            unexpected.len(),
            list_names(unexpected)
        ));
    }
    if !misshaped.is_empty() {
        let shown: Vec<String> = misshaped
            .iter()
            .take(LIST_LIMIT)
            .map(|m| format!("{} is {:?}, expected {:?}", m.name, m.found, m.expected))
            .collect();
        let mut s = shown.join("; ");
        if misshaped.len() > LIST_LIMIT {
            s.push_str(&format!(" and {} more", misshaped.len() - LIST_LIMIT));
        }
        parts.push(format!("wrong shapes ({}): {s}", misshaped.len()));
    }
    if let Some(h) = hint {
        parts.push(h.clone());
    }
    parts.join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_catch_panic_is_an_error_and_the_thread_goes_on() {
        let e = catch_panic::<()>("reading x.bin", || panic!("index out of bounds")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("reading x.bin") && msg.contains("index out of bounds"),
            "{msg}"
        );
        // nested: the inner panic is reported by the inner guard, the outer sees an Ok
        let r = catch_panic("outer", || {
            let inner = catch_panic::<()>("inner", || panic!("deep"));
            assert!(inner.unwrap_err().to_string().contains("deep"));
            Ok(7)
        });
        assert_eq!(r.unwrap(), 7);
    }
}
