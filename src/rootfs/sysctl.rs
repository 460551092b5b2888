//! `linux.sysctl`: writes under /proc/sys, hardened against a container that
//! controls its /proc (CVE-2025-52881): writes go through a private, detached
//! procfs instance when the kernel lets us create one, else through /proc
//! after checking it is a procfs; the file is opened with openat2 confined
//! beneath /proc/sys without symlinks or mount crossings, and the opened fd is
//! checked with fstatfs to be on procfs before anything is written.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::sys;
use crate::error::{Context, Error, Result};

/// Converts a sysctl key into a path relative to /proc/sys. Like sysctl(8):
/// a key with a '/' is taken as slash-separated (dots are then literal, as
/// in "net/ipv4/conf/eth0.100/forwarding"); otherwise dots separate levels.
pub fn key_path(key: &str) -> Result<PathBuf> {
    let p = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    if p.is_empty() || p.starts_with('/') || p.contains('\0') {
        return Err(Error::new("invalid sysctl key"));
    }
    for c in p.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(Error::new(
                "invalid sysctl key (empty, \".\" or \"..\" component)",
            ));
        }
    }
    Ok(PathBuf::from(p))
}

fn is_proc(fd: std::os::fd::BorrowedFd<'_>) -> Result<bool> {
    Ok(fstatfs(fd).context("fstatfs")?.filesystem_type() == PROC_SUPER_MAGIC)
}

/// An fd on the root of a procfs we trust.
fn proc_root() -> Result<OwnedFd> {
    if let Ok(fd) = sys::fresh_procfs() {
        if is_proc(fd.as_fd())? {
            return Ok(fd);
        }
    }
    let fd = sys::openat2(
        None,
        Path::new("/proc"),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .context("open /proc")?;
    if !is_proc(fd.as_fd())? {
        return Err(Error::new("/proc is not a procfs"));
    }
    Ok(fd)
}

pub fn write_sysctl(proc: std::os::fd::BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    let rel = Path::new("sys").join(key_path(key)?);
    let fd = sys::openat2(
        Some(proc),
        &rel,
        libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_TRUNC,
        0,
        libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_SYMLINKS
            | libc::RESOLVE_NO_MAGICLINKS
            | libc::RESOLVE_NO_XDEV,
    )
    .with_context(|| format!("open /proc/{}", rel.display()))?;
    if !is_proc(fd.as_fd())? {
        return Err(Error::new(format!(
            "/proc/{} is not on procfs",
            rel.display()
        )));
    }
    let mut f = std::fs::File::from(fd);
    f.write_all(value.as_bytes())
        .with_context(|| format!("write {value:?} to /proc/{}", rel.display()))
}

pub fn apply(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if map.is_empty() {
        return Ok(());
    }
    let proc = proc_root().context("linux.sysctl")?;
    // Deterministic order, so errors are reproducible.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        write_sysctl(proc.as_fd(), k, &map[k]).with_context(|| format!("linux.sysctl {k:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            key_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("net/ipv4/ip_forward")
        );
        assert_eq!(
            key_path("net/ipv4/conf/eth0.100/forwarding").unwrap(),
            PathBuf::from("net/ipv4/conf/eth0.100/forwarding")
        );
        for bad in [
            "",
            "..",
            "a..b",
            "/etc/x",
            "net/../../x",
            "a//b",
            ".a",
            "kernel.",
        ] {
            assert!(key_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_through_trusted_proc() {
        // Reading is harmless; checks the open path works on this host.
        let proc = proc_root().unwrap();
        let fd = sys::openat2(
            Some(proc.as_fd()),
            Path::new("sys/kernel/ostype"),
            libc::O_RDONLY,
            0,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
        )
        .unwrap();
        assert!(is_proc(fd.as_fd()).unwrap());
    }
}
