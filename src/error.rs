//! One error type for the whole runtime.
//!
//! Every failure a user sees must say which step failed, which config field or
//! path was involved and what the OS said. Errors are built at the point of
//! failure with that context and then wrapped by callers with the step, so the
//! final message reads outermost step first: `create: mounts[2].destination
//! "/proc": mount proc: Operation not permitted (os error 1)`.

use std::fmt;

#[derive(Debug)]
pub struct Error {
    msg: String,
    /// Raw OS errno when the root cause was a syscall, so callers can branch
    /// on it (e.g. ENOENT vs EPERM) without parsing text.
    errno: Option<i32>,
    /// Set where the failure is one a library caller may want to match.
    kind: Option<ErrorKind>,
}

/// What went wrong, for a caller that must branch on it (an engine or shim
/// embedding the library); the message says the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No container with that id in that state root.
    NotFound,
    /// A container with that id exists already.
    AlreadyExists,
    /// config.json is malformed or inconsistent; `field` is the path of the
    /// field at fault (`mounts[3].destination`), empty for the document.
    InvalidConfig { field: String },
    /// The operation needs a live container and this one is not (stopped,
    /// or for `resume` not paused).
    NotRunning,
    /// A system call failed with `errno`.
    Os { errno: i32 },
    /// Anything else.
    Other,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            errno: None,
            kind: None,
        }
    }

    /// The same error, matchable as `kind`.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The kind given where the error was made; else `Os` when a syscall
    /// failed, else `Other`.
    pub fn kind(&self) -> ErrorKind {
        match (&self.kind, self.errno) {
            (Some(k), _) => k.clone(),
            (None, Some(errno)) => ErrorKind::Os { errno },
            (None, None) => ErrorKind::Other,
        }
    }

    /// An OS error with what was being done when it happened.
    pub fn os(what: impl fmt::Display, errno: nix::errno::Errno) -> Self {
        Error {
            msg: format!(
                "{what}: {}",
                std::io::Error::from_raw_os_error(errno as i32)
            ),
            errno: Some(errno as i32),
            kind: None,
        }
    }

    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error {
            errno: err.raw_os_error(),
            msg: format!("{what}: {err}"),
            kind: None,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// Prefix the message with the step or field that was being handled.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            msg: format!("{what}: {}", self.msg),
            errno: self.errno,
            kind: self.kind,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Adds context to any error on its way up.
pub trait Context<T> {
    fn context<D: fmt::Display>(self, what: D) -> Result<T>;
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context<D: fmt::Display>(self, what: D) -> Result<T> {
        self.map_err(|e| e.context(what))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn context<D: fmt::Display>(self, what: D) -> Result<T> {
        self.map_err(|e| Error::os(what, e))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::os(f(), e))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context<D: fmt::Display>(self, what: D) -> Result<T> {
        self.map_err(|e| Error::io(what, e))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}

/// Shorthand for returning a formatted error.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::new(format!($($arg)*)))
    };
}
