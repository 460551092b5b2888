//! Finding the user program the way execvp would, but before `create`
//! returns, so a missing binary fails `create` (as with runc) rather than
//! `start`.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Resolves `args[0]` inside the container (called after pivot_root) using
/// the PATH from `process.env`.
pub fn resolve(arg0: &str, env: &[String]) -> Result<PathBuf> {
    resolve_with(arg0, env, |p| {
        let md = std::fs::metadata(p).map_err(|e| Error::io("stat", e))?;
        check_mode(md.is_dir(), md.permissions().mode())
    })
}

/// `resolve` with `check` telling whether a path is an executable file
/// (`kist check` looks inside a rootfs it has not entered).
pub fn resolve_with(
    arg0: &str,
    env: &[String],
    check_executable: impl Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = Path::new(arg0);
        check_executable(p).map_err(|e| e.context(format!("process.args[0] {arg0:?}")))?;
        return Ok(p.to_path_buf());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if check_executable(&cand).is_ok() {
            return Ok(cand);
        }
    }
    Err(Error::new(format!(
        "process.args[0]: exec: {arg0:?}: executable file not found in $PATH ({path})"
    )))
}

pub fn check_mode(is_dir: bool, mode: u32) -> Result<()> {
    if is_dir {
        return Err(Error::new("is a directory"));
    }
    if mode & 0o111 == 0 {
        return Err(Error::new("permission denied: not executable"));
    }
    Ok(())
}

/// Argument and environment vectors for execve, built before the point of no
/// return so that a NUL byte in the config is an error, not a panic.
pub fn cstrings(items: &[String], field: &str) -> Result<Vec<CString>> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::new(format!("{field}[{i}]: contains a NUL byte")))
        })
        .collect()
}
