//! After pivot_root: `linux.readonlyPaths`, `linux.maskedPaths`, the
//! read-only root and a read-only /dev.
//!
//! Paths are resolved inside the new root with openat2(RESOLVE_IN_ROOT) and
//! mounts go onto the resolved fds. The /dev/null used for masking is opened
//! once, verified to be the real char device 1:3 and cloned from that very
//! fd, so a container-planted /dev/null symlink or file cannot turn masking
//! into an arbitrary bind mount (CVE-2025-31133).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::{devices, mounts, resolve, sys};
use crate::error::{Context, Error, Result};

/// Opens a path of the (already entered) container root, or None if missing.
fn open_opt(root: BorrowedFd<'_>, p: &Path) -> Result<Option<OwnedFd>> {
    match resolve::open_in_root(root, p, libc::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(Error::os("resolve", e)),
    }
}

/// Bind `p` onto itself recursively and make the whole tree read-only.
/// Missing paths are skipped, as runc does.
pub fn readonly_path(root: BorrowedFd<'_>, p: &Path) -> Result<()> {
    let Some(fd) = open_opt(root, p)? else {
        return Ok(());
    };
    let tree = sys::open_tree(
        Some(fd.as_fd()),
        Path::new(""),
        sys::OPEN_TREE_CLONE | libc::AT_RECURSIVE as u32,
    )
    .context("open_tree")?;
    let attr = sys::MountAttr {
        set: libc::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(tree.as_fd(), true, attr).context("mount_setattr ro")?;
    sys::move_mount(tree.as_fd(), fd.as_fd()).context("move_mount")
}

/// Masks `p`: a read-only empty tmpfs over directories, the verified
/// /dev/null over anything else. Missing paths are skipped.
pub fn mask_path(root: BorrowedFd<'_>, p: &Path, null: BorrowedFd<'_>) -> Result<()> {
    let Some(fd) = open_opt(root, p)? else {
        return Ok(());
    };
    let st = resolve::fstat(fd.as_fd()).context("fstat")?;
    if resolve::is_dir(&st) {
        // An empty read-only tmpfs, created detached and attached by fd so
        // this does not depend on the container having /proc mounted.
        return match sys::fresh_fs(c"tmpfs", libc::MOUNT_ATTR_RDONLY) {
            Ok(tmp) => sys::move_mount(tmp.as_fd(), fd.as_fd()).context("move_mount tmpfs"),
            Err(_) => mounts::mount_fs("tmpfs", fd.as_fd(), "tmpfs", libc::MS_RDONLY, ""),
        };
    }
    let tree = sys::open_tree(Some(null), Path::new(""), sys::OPEN_TREE_CLONE)
        .context("open_tree /dev/null")?;
    sys::move_mount(tree.as_fd(), fd.as_fd()).context("bind /dev/null")
}

/// Opens and verifies /dev/null of the container root.
pub fn open_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = resolve::open_in_root(
        root,
        Path::new("/dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
    )
    .context("open /dev/null")?;
    devices::verify_dev_null(fd.as_fd())?;
    Ok(fd)
}

pub fn apply(spec: &oci_spec::runtime::Spec, root: BorrowedFd<'_>) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(ro) = linux.readonly_paths() {
        for (i, p) in ro.iter().enumerate() {
            readonly_path(root, Path::new(p))
                .with_context(|| format!("linux.readonlyPaths[{i}] {p:?}"))?;
        }
    }
    if let Some(masked) = linux.masked_paths().as_ref().filter(|m| !m.is_empty()) {
        let null = open_dev_null(root).context("linux.maskedPaths")?;
        for (i, p) in masked.iter().enumerate() {
            mask_path(root, Path::new(p), null.as_fd())
                .with_context(|| format!("linux.maskedPaths[{i}] {p:?}"))?;
        }
    }
    Ok(())
}

/// Remount the mount at `p` read-only, non-recursively, keeping its other
/// flags (mount_setattr changes only what it is told to).
pub fn remount_ro(root: BorrowedFd<'_>, p: &Path) -> Result<()> {
    let fd = resolve::open_in_root(root, p, libc::O_PATH | libc::O_DIRECTORY).context("resolve")?;
    let attr = sys::MountAttr {
        set: libc::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(fd.as_fd(), false, attr).context("remount read-only")
}
