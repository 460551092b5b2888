//! Directory-level operations shared by v1 and v2: creating a cgroup path
//! level by level, removing a cgroup with its sub-cgroups, and listing the
//! processes of a subtree.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directories from `mount` (exclusive) down to `leaf` (inclusive).
pub fn levels(mount: &Path, leaf: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rel) = leaf.strip_prefix(mount) {
        let mut cur = mount.to_path_buf();
        for c in rel.components() {
            cur.push(c);
            out.push(cur.clone());
        }
    }
    out
}

/// mkdir that accepts an existing directory; returns whether it created it.
pub fn mkdir(dir: &Path) -> Result<bool> {
    match nix::unistd::mkdir(dir, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) => Ok(true),
        Err(Errno::EEXIST) => Ok(false),
        Err(e) => Err(Error::os(format!("mkdir {}", dir.display()), e)),
    }
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("read directory {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.with_context(|| format!("read directory {}", dir.display()))?;
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(ent.path());
        }
    }
    Ok(out)
}

/// Removes `dir` and every cgroup below it, deepest first. EBUSY (a process
/// still exiting, a css still being released) is retried for about 300 ms
/// like runc does; a directory that is already gone is fine.
///
/// The rmdir comes first: a container's cgroup usually has no sub-cgroups,
/// and listing the directory of each hierarchy before removing it cost
/// five syscalls a hierarchy on every `delete`. Only a refused rmdir (EBUSY
/// for a cgroup with children, ENOTEMPTY elsewhere) looks below.
pub fn remove_recursive(dir: &Path) -> Result<()> {
    let rmdir = || nix::unistd::unlinkat(None, dir, nix::unistd::UnlinkatFlags::RemoveDir);
    match rmdir() {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EBUSY) | Err(Errno::ENOTEMPTY) => {}
        Err(e) => return Err(Error::os(format!("remove cgroup {}", dir.display()), e)),
    }
    for sub in subdirs(dir)? {
        remove_recursive(&sub)?;
    }
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match rmdir() {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) if attempt < 5 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(Error::os(format!("remove cgroup {}", dir.display()), e)),
        }
    }
    Ok(())
}

/// Every pid in `cgroup.procs` of `dir` and of all cgroups below it.
pub fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match std::fs::read_to_string(&procs) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::io(format!("read {}", procs.display()), e)),
    }
    for sub in subdirs(dir)? {
        pids_recursive(&sub, out)?;
    }
    Ok(())
}
