//! `--log FILE` and `--log-format text|json`, as runc writes them: engines read
//! the last `"level":"error"` line of the file to explain a failure to their
//! user, so every fatal error ends up here with its full context.

use crate::cli::LogFormat;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(file: Option<PathBuf>, format: LogFormat, debug: bool) {
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
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
    match &l.file {
        Some(path) => {
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
        None => eprint!("{line}"),
    }
}
