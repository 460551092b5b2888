//! openat2(2) and the new mount API (open_tree, move_mount, mount_setattr,
//! fsopen/fsconfig/fsmount), which nix 0.29 does not wrap.
//!
//! Descriptors are taken as `BorrowedFd`s so a caller cannot pass a closed
//! one; new ones come back as `OwnedFd`s, close-on-exec.

use super::{check, owned};
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn cstr(path: &Path) -> nix::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

const EMPTY: &CStr = c"";

/// openat2(2) with the given open flags and RESOLVE_* flags.
pub fn openat2(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let path = cstr(path)?;
    // SAFETY: open_how is a plain-old-data struct; all-zero is a valid value
    // (it is what the kernel expects for unused fields).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = resolve;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // openat2 returns EAGAIN when a concurrent rename raced the
    // RESOLVE_IN_ROOT walk; the man page asks to retry. Bounded, so a
    // container renaming things in a loop cannot stall us forever.
    let mut tries = 0;
    loop {
        tries += 1;
        // SAFETY: path is a valid NUL-terminated string and `how` a valid
        // open_how whose size we pass; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match owned(r) {
            Err(Errno::EAGAIN) if tries < 128 => continue,
            other => return other,
        }
    }
}

pub const OPEN_TREE_CLONE: u32 = libc::OPEN_TREE_CLONE;

/// open_tree(2). With `path` empty the tree is taken from `dir` itself.
pub fn open_tree(dir: Option<BorrowedFd<'_>>, path: &Path, flags: u32) -> nix::Result<OwnedFd> {
    let p = cstr(path)?;
    let mut flags = flags | libc::OPEN_TREE_CLOEXEC;
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: p is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, p.as_ptr(), flags) };
    owned(r)
}

/// move_mount(2) of the detached or attached mount `from` onto the object
/// `to` refers to (both by descriptor, so no path is re-resolved).
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are the static empty string; the fds are borrowed
    // and therefore open for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            EMPTY.as_ptr(),
            to.as_raw_fd(),
            EMPTY.as_ptr(),
            flags,
        )
    };
    check(r).map(drop)
}

/// Attribute change for mount_setattr(2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    pub set: u64,
    pub clr: u64,
    pub propagation: u64,
}

impl MountAttr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0 && self.propagation == 0
    }
}

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: MountAttr) -> nix::Result<()> {
    setattr_raw(fd, recursive, attr, None)
}

/// mount_setattr(2) with MOUNT_ATTR_IDMAP: ids on the mount `fd` (which must
/// still be detached) are mapped through the user namespace `userns`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> nix::Result<()> {
    let attr = MountAttr {
        set: libc::MOUNT_ATTR_IDMAP,
        clr: 0,
        propagation: 0,
    };
    setattr_raw(fd, recursive, attr, Some(userns))
}

fn setattr_raw(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: MountAttr,
    userns: Option<BorrowedFd<'_>>,
) -> nix::Result<()> {
    // SAFETY: mount_attr is plain-old-data; zero is valid for every field.
    let mut a: libc::mount_attr = unsafe { std::mem::zeroed() };
    a.attr_set = attr.set;
    a.attr_clr = attr.clr;
    a.propagation = attr.propagation;
    if let Some(u) = userns {
        a.userns_fd = u.as_raw_fd() as u64;
    }
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is the static empty string, `a` is a valid mount_attr
    // whose exact size we pass, and the fds are borrowed (open).
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            flags,
            &a as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    check(r).map(drop)
}

/// Whether the running kernel has mount_setattr(2), hence MOUNT_ATTR_IDMAP
/// (both came in Linux 5.12): a probe on an invalid fd fails with EBADF
/// where it exists and ENOSYS where it does not.
pub fn mount_setattr_supported() -> bool {
    // SAFETY: fd -1 and a NULL attribute are rejected before anything is read.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0,
            std::ptr::null::<libc::mount_attr>(),
            0,
        )
    };
    r == 0 || Errno::last() != Errno::ENOSYS
}

/// fsopen(2): a new filesystem context for `fstype`.
pub fn fsopen(fstype: &CStr, flags: libc::c_uint) -> nix::Result<OwnedFd> {
    // SAFETY: fstype is a valid NUL-terminated string.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), flags) })
}

/// fsconfig(2) FSCONFIG_SET_STRING `key`=`value`.
pub fn fsconfig_set_string(ctx: BorrowedFd<'_>, key: &CStr, value: &CStr) -> nix::Result<()> {
    // SAFETY: fsconfig reads two NUL-terminated strings that outlive the
    // call; ctx is borrowed (open).
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    check(r).map(drop)
}

/// fsconfig(2) FSCONFIG_CMD_CREATE: creates the superblock.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value; ctx is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    check(r).map(drop)
}

/// fsmount(2): a detached mount of the created context `ctx`, with mount
/// attributes `attrs` (MOUNT_ATTR_*).
pub fn fsmount(ctx: BorrowedFd<'_>, flags: libc::c_uint, attrs: u64) -> nix::Result<OwnedFd> {
    // SAFETY: fsmount takes the context fd and flag words only.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), flags, attrs) })
}

/// A fresh, detached instance of filesystem `fstype` (fsopen + fsmount,
/// no options), returned as an fd on its root with mount attributes `attrs`
/// (MOUNT_ATTR_*). Nobody else can reach it until it is attached.
pub fn fresh_fs(fstype: &CStr, attrs: u64) -> nix::Result<OwnedFd> {
    fresh_fs_with(fstype, &[], attrs)
}

/// `fresh_fs` with string options (`fsconfig(FSCONFIG_SET_STRING)`), given
/// one at a time so that none is bound by mount(2)'s one page of data.
pub fn fresh_fs_with(fstype: &CStr, opts: &[(&CStr, &CStr)], attrs: u64) -> nix::Result<OwnedFd> {
    use std::os::fd::AsFd;
    let ctx = fsopen(fstype, libc::FSOPEN_CLOEXEC)?;
    for (key, value) in opts {
        fsconfig_set_string(ctx.as_fd(), key, value)?;
    }
    fsconfig_create(ctx.as_fd())?;
    fsmount(ctx.as_fd(), libc::FSMOUNT_CLOEXEC, attrs)
}
