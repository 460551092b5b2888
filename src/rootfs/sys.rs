//! The mount syscalls rootfs uses (from `crate::sys::mount`, where the raw
//! calls live), plus the two helpers only rootfs needs.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

pub use crate::sys::mount::{
    fresh_fs, fresh_fs_with, mount_setattr, mount_setattr_idmap, move_mount, open_tree, openat2,
    MountAttr, OPEN_TREE_CLONE,
};
pub use crate::sys::own_raw;

/// A private procfs instance (see fresh_fs); used for sysctl writes so that
/// nothing the container mounted over its /proc is involved.
pub fn fresh_procfs() -> Result<OwnedFd, Errno> {
    fresh_fs(
        c"proc",
        libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC,
    )
}

/// `/proc/self/fd/N` for a descriptor: a magic link the kernel resolves to the
/// exact object the fd refers to, used as mount(2) target so no path in the
/// container is walked again.
pub fn fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
