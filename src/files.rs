//! Files from outside, handled so that a hostile or odd path cannot hurt: every file this
//! program writes is made new (never opened through a planted symbolic link) and renamed into
//! place, and every input stream is checked for its kind before it is opened (a pipe with no
//! writer, a device or a socket is named, not waited on forever).

use crate::error::{LensError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `O_NOFOLLOW`: open fails on a symbolic link at the last path component.
#[cfg(unix)]
const NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// Creates `path` as a new regular file for writing, refusing to follow a symbolic link there
/// and to reuse anything that exists (create-new semantics).
pub fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(NOFOLLOW).mode(0o644);
    }
    o.open(path)
}

/// Opens (creating it if needed) a regular file for writing without following a symbolic link
/// at `path`, without truncating it: for lock files, which several processes share.
pub fn open_lock(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(NOFOLLOW);
    }
    let f = o.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok(f)
}

/// A temporary name beside `path` that no other writer (process or thread) uses.
pub fn temp_beside(path: &Path, tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALL: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let nanos = web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    dir.join(format!(
        ".{name}.{}-{}-{nanos:x}.{tag}",
        process_id(),
        CALL.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes `bytes` to `path` through a new temporary file in the same folder (made new, never
/// through a link planted there), then renames it into place: a failed write never leaves half
/// a file where an earlier good one was, and never writes anywhere but `path`.
///
/// An output that exists and is not a regular file is not replaced: a folder is an error, and
/// a device or pipe (`/dev/stdout`, `/dev/null`, a FIFO) is written in place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = crate::error::write_err(path);
    if let Ok(m) = std::fs::metadata(path) {
        match kind_of(&m) {
            Kind::File => {}
            Kind::Folder => return Err(err(std::io::Error::other("it is a folder"))),
            _ => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(&err)?;
                return f.write_all(bytes).and_then(|_| f.flush()).map_err(err);
            }
        }
    }
    let tmp = temp_beside(path, "partial");
    let written = {
        // closed at the end of this block, before the rename
        let mut f = create_new(&tmp).map_err(&err)?;
        f.write_all(bytes).and_then(|_| f.flush())
    };
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// How long [`open_stream`] waits for a program to open a named pipe for writing.
pub const PIPE_WAIT: Duration = Duration::from_secs(10);

/// Opens an input that is read once, front to back: a regular file, or a pipe (`<(cmd)`, a
/// FIFO with a writer). A folder, a device (`/dev/zero`, `/dev/urandom`: endless) or a socket
/// is refused by name; a named pipe that no program opens for writing within [`PIPE_WAIT`] is
/// an error instead of a wait without end.
pub fn open_stream(path: &Path) -> Result<std::fs::File> {
    let io = |source| LensError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let kind = kind_of(&meta);
    match kind {
        Kind::File => std::fs::File::open(path).map_err(io),
        Kind::Pipe => open_pipe(path, PIPE_WAIT).map_err(io),
        other => Err(io(std::io::Error::other(format!(
            "it is {}, not a file that can be read to its end",
            other.words()
        )))),
    }
}

/// Opens a pipe for reading, waiting at most `wait` for its writer (opening a FIFO blocks
/// until one appears; the open runs on a helper thread that is left behind if none does).
fn open_pipe(path: &Path, wait: Duration) -> std::io::Result<std::fs::File> {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("open-pipe".into())
        .spawn(move || {
            let _ = tx.send(std::fs::File::open(p));
        })?;
    match rx.recv_timeout(wait) {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::other(format!(
            "it is a named pipe and no program opened it for writing within {} s",
            wait.as_secs()
        ))),
    }
}

/// Reads the start of a text input ([`open_stream`]'s rules): at most `max` bytes, cut back to
/// a whole UTF-8 character. Returns the text and whether there was more.
pub fn read_text_start(path: &Path, max: usize) -> Result<(String, bool)> {
    use std::io::Read;
    let io = |source| LensError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut buf = Vec::new();
    open_stream(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let more = buf.len() > max;
    buf.truncate(max);
    match String::from_utf8(buf) {
        Ok(s) => Ok((s, more)),
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            // a character cut by the limit is dropped; anything else is not text
            if more && e.utf8_error().error_len().is_none() {
                let mut b = e.into_bytes();
                b.truncate(good);
                Ok((String::from_utf8(b).unwrap_or_default(), more))
            } else {
                Err(LensError::Unsupported(format!(
                    "{} is not UTF-8 text (invalid bytes at byte {good})",
                    path.display()
                )))
            }
        }
    }
}

/// What kind of thing a path is, in the words a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
    Pipe,
    Device,
    Socket,
    Other,
}

impl Kind {
    pub fn words(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Folder => "a folder",
            Kind::Pipe => "a pipe",
            Kind::Device => "a device",
            Kind::Socket => "a socket",
            Kind::Other => "not a regular file",
        }
    }
}

pub fn kind_of(meta: &std::fs::Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_file() {
        return Kind::File;
    }
    if t.is_dir() {
        return Kind::Folder;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Kind::Pipe;
        }
        if t.is_char_device() || t.is_block_device() {
            return Kind::Device;
        }
        if t.is_socket() {
            return Kind::Socket;
        }
    }
    Kind::Other
}

/// What identifies a file's bytes on disk without reading them: its size, modification time
/// (nanoseconds) and inode. A file rewritten in place gets another stamp.
pub fn stamp(m: &std::fs::Metadata) -> String {
    let age = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let ino = 0u64;
    format!("{} {age} {ino}", m.len())
}

/// Whether two paths name the same file (same device and inode); false when either is missing.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|x| std::fs::canonicalize(b).ok() == Some(x))
    }
}

/// A string from a file, made safe to print and to draw: control characters (terminal escape
/// sequences among them) written as escapes, and at most `max` characters (an ellipsis marks a
/// cut).
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// This process's id (a page has none: std's panics there).
fn process_id() -> u32 {
    #[cfg(target_arch = "wasm32")]
    return 0;
    #[cfg(not(target_arch = "wasm32"))]
    std::process::id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_never_writes_through_a_link_planted_at_the_temporary_name() {
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let out = d.path().join("fig.png");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, d.path().join(".fig.png.partial")).expect("link");
        write_atomic(&out, b"figure").expect("write");
        assert_eq!(std::fs::read(&out).expect("out"), b"figure");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    }

    #[test]
    fn create_new_refuses_a_symbolic_link() {
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"x").expect("victim");
        let link = d.path().join("link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &link).expect("link");
        assert!(create_new(&link).is_err());
        assert!(open_lock(&link).is_err());
        assert_eq!(std::fs::read(&victim).expect("victim"), b"x");
    }

    #[test]
    fn printable_escapes_terminal_sequences_and_shortens() {
        assert_eq!(printable("a\u{1b}[31mb", 100), "a\\u{1b}[31mb");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn a_device_is_written_in_place_never_replaced_and_a_folder_is_refused() {
        write_atomic(Path::new("/dev/null"), b"nothing").expect("/dev/null");
        let m = std::fs::metadata("/dev/null").expect("meta");
        assert_eq!(kind_of(&m), Kind::Device, "/dev/null was replaced");
        if Path::new("/dev/full").exists() {
            let e = write_atomic(Path::new("/dev/full"), b"x").expect_err("full");
            assert!(e.to_string().starts_with("cannot write /dev/full"), "{e}");
            let m = std::fs::metadata("/dev/full").expect("meta");
            assert_eq!(kind_of(&m), Kind::Device, "/dev/full was replaced");
        }
        let d = tempfile::tempdir().expect("tempdir");
        let e = write_atomic(d.path(), b"x").expect_err("folder");
        assert!(e.to_string().contains("it is a folder"), "{e}");
    }

    #[test]
    fn a_device_is_refused_by_name() {
        let e = open_stream(Path::new("/dev/zero")).expect_err("device");
        assert!(e.to_string().contains("/dev/zero") && e.to_string().contains("a device"));
    }
}
