//! `--log FILE` and `--log-format text|json`, as runc writes them: engines read
//! the last `"level":"error"` line of the file to explain a failure to their
//! user, so every fatal error ends up here with its full context.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

struct Logger {
    file: Option<PathBuf>,
    /// The file opened once at start-up (as runc does): the container init
    /// inherits it and still reaches it after pivot_root, where the path
    /// means nothing. Close-on-exec, so no container process gets it.
    fd: Option<File>,
    format: LogFormat,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// `first_free`: the lowest fd number that is not handed to a container
/// (3 + systemd's and --preserve-fds' fds): the log fd is placed at or
/// above it so that it can never fill a gap in the preserved range.
pub fn init(file: Option<PathBuf>, format: LogFormat, debug: bool, first_free: i32) {
    let fd = file.as_ref().and_then(|p| open_above(p, first_free));
    if debug {
        crate::timing::enable();
    }
    let _ = LOGGER.set(Logger {
        file,
        fd,
        format,
        debug,
    });
}

fn open_above(path: &std::path::Path, first_free: i32) -> Option<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let raw = f.into_raw_fd();
    // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own into a new one
    // at or above first_free; no memory is touched.
    let high = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, first_free.max(3)) };
    // SAFETY: raw is ours (from into_raw_fd) and not used after this.
    unsafe { libc::close(raw) };
    // SAFETY: a fresh descriptor that nothing else owns.
    (high >= 0).then(|| unsafe { File::from_raw_fd(high) })
}

/// True when log lines go to a file rather than stderr.
pub fn to_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("{level}: {msg}");
        return;
    };
    let time = crate::time::now();
    let line = match l.format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}\n"),
    };
    match (&l.fd, &l.file) {
        // One write of a whole line with O_APPEND: lines of concurrent
        // invocations sharing the file do not interleave.
        (Some(f), _) => {
            let mut f: &File = f;
            if f.write_all(line.as_bytes()).is_err() {
                eprint!("{line}");
            }
        }
        (None, Some(path)) => {
            // The file may be shared with other invocations: append whole lines.
            let res = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if res.is_err() {
                eprint!("{line}");
            }
        }
        (None, None) => eprint!("{line}"),
    }
}
