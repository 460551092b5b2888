//! Performing `spec.mounts`, in order, onto destinations resolved inside the
//! rootfs (see resolve.rs). Bind mounts use the new mount API (open_tree +
//! move_mount onto the destination fd); other filesystems are mounted with
//! mount(2) on `/proc/self/fd/N` of the resolved destination, so no path
//! string inside the container is ever walked by mount(2) itself.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use super::resolve::{self, Kind};
use super::sys;
use super::RootfsConfig;
use crate::error::{Context, Error, Result};

/// Paths below /proc that may be mounted over (lxcfs-style overrides), as in
/// runc's checkProcMount.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// The mutually exclusive atime modes.
const ATIME_ENUM: libc::c_ulong = libc::MS_NOATIME | libc::MS_RELATIME | libc::MS_STRICTATIME;

/// Flags the kernel locks on mounts inherited into a less privileged user
/// namespace (MNT_LOCK_*); a remount must keep them.
const LOCKABLE: libc::c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | ATIME_ENUM
    | libc::MS_NODIRATIME;

/// `spec.mounts` in order (but for proc when `defer_proc` holds it back).
pub fn mount_all(cfg: &RootfsConfig, root: BorrowedFd<'_>) -> Result<()> {
    let Some(mounts) = cfg.spec.mounts() else {
        return Ok(());
    };
    for (i, m) in mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| !(cfg.defer_proc && is_proc(m)))
    {
        let field = format!("mounts[{i}].destination {:?}", m.destination());
        mount_one(cfg, root, i, m).context(field)?;
    }
    Ok(())
}

pub fn is_proc(m: &Mount) -> bool {
    m.typ().as_deref() == Some("proc")
}

/// The effective source of a bind mount: relative sources are relative to
/// the bundle directory.
pub fn bind_source(bundle: &Path, source: &Path) -> PathBuf {
    if source.is_absolute() {
        source.to_path_buf()
    } else {
        bundle.join(source)
    }
}

fn mount_one(cfg: &RootfsConfig, root: BorrowedFd<'_>, i: usize, m: &Mount) -> Result<()> {
    let dest = resolve::clean(m.destination());
    let typ = m.typ().as_deref().filter(|t| !t.is_empty());
    let empty = Vec::new();
    let mut opts = options::parse(typ, m.options().as_ref().unwrap_or(&empty));
    check_proc_mount(&dest, typ, m.source().as_deref())?;

    if opts.is_bind() {
        let Some(src) = m.source() else {
            return Err(Error::new(format!(
                "mounts[{i}].source: missing for a bind mount"
            )));
        };
        let src = bind_source(cfg.bundle, src);
        // Opened (and id-mapped) by the runtime on the host: see sources.rs.
        let tree = cfg.sources.take_bind(i)?;
        let target = bind_target(root, &dest, &tree)?;
        check_resolved(root, target.as_fd(), typ, Some(&src))?;
        return attach_bind_at(tree, target, &opts);
    }

    let typ = typ.unwrap_or("none");
    if typ == "cgroup" {
        let target = resolve::ensure(root, &dest, Kind::Dir).context("resolve destination")?;
        check_resolved(root, target.as_fd(), Some(typ), m.source().as_deref())?;
        return super::cgroupfs::mount_cgroup(cfg, root, &dest, &opts);
    }
    // /dev is populated with devices and a tmpfs may get mount points for
    // later mounts, so like runc they are mounted read-write here and
    // remounted read-only in finish() (see delayed_readonly).
    if delayed_readonly(&dest, typ) {
        opts.flags &= !libc::MS_RDONLY;
    }
    let mut data = opts.data();
    let target = if typ == "proc" || typ == "sysfs" {
        real_dir(root, &dest, typ)?
    } else {
        if typ == "tmpfs" {
            // Like runc, a tmpfs over an existing directory keeps that
            // directory's mode unless the options say otherwise.
            if let Ok(fd) = resolve::open_in_root(root, &dest, libc::O_PATH) {
                if let Ok(st) = resolve::fstat(fd.as_fd()) {
                    let mode = format!("mode={:04o}", st.st_mode & 0o7777);
                    data = if data.is_empty() {
                        mode
                    } else {
                        format!("{mode},{data}")
                    };
                }
            }
        }
        resolve::ensure(root, &dest, Kind::Dir).context("resolve destination")?
    };
    check_resolved(root, target.as_fd(), Some(typ), m.source().as_deref())?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    match mount_fs(&source, target.as_fd(), typ, opts.flags, &data) {
        // A user namespace that does not own the network namespace may not
        // mount sysfs: like runc, bind the host's /sys read-only instead.
        Err(e) if typ == "sysfs" && cfg.in_new_userns && e.errno() == Some(libc::EPERM) => {
            let tree = clone_tree(Path::new("/sys"), true)
                .context("sysfs in a user namespace: open_tree /sys")?;
            let mut ro = opts.clone();
            ro.flags |= libc::MS_RDONLY;
            return attach_bind_at(tree, target, &ro);
        }
        r => r?,
    }
    if opts.tmpcopyup && typ == "tmpfs" {
        // The fd we mounted on is the directory *under* the new tmpfs.
        let top = resolve::open_in_root(root, &dest, libc::O_PATH | libc::O_DIRECTORY)
            .context("reopen destination after mount")?;
        super::copyup::copy_dir(target.as_fd(), top.as_fd()).context("tmpcopyup")?;
    }
    if !opts.propagation.is_empty() || !opts.rec_attr.is_empty() {
        let top = resolve::open_in_root(root, &dest, libc::O_PATH)
            .context("reopen destination after mount")?;
        set_propagation_and_attrs(top.as_fd(), &opts)?;
    }
    Ok(())
}

/// Mounts that are made read-write in prepare() and only remounted
/// read-only (when requested) in finish().
pub fn delayed_readonly(dest: &Path, typ: &str) -> bool {
    typ == "tmpfs" || dest == Path::new("/dev")
}

/// proc and sysfs only go on a real directory: never a symlink (CVE-2019-19921),
/// never a file. The final component is opened without following it.
pub(super) fn real_dir(root: BorrowedFd<'_>, dest: &Path, typ: &str) -> Result<OwnedFd> {
    match resolve::open_in_root(root, dest, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => {
            let st = resolve::fstat(fd.as_fd()).context("fstat destination")?;
            if !resolve::is_dir(&st) {
                return Err(Error::new(format!(
                    "{typ} must be mounted on an ordinary directory, destination is a symlink or non-directory"
                )));
            }
            Ok(fd)
        }
        Err(Errno::ENOENT) => {
            resolve::mkdir_all(root, dest, 0o755).context("create destination directory")
        }
        Err(e) => Err(Error::os("resolve destination", e)),
    }
}

/// runc's checkProcMount: nothing may be mounted over /proc or inside it,
/// except procfs on /proc itself and a short list of overridable files.
fn check_proc_mount(dest: &Path, typ: Option<&str>, source: Option<&Path>) -> Result<()> {
    if dest == Path::new("/proc") {
        if typ == Some("proc") {
            return Ok(());
        }
        // A bind of a procfs onto /proc is fine too.
        if let Some(src) = source {
            if let Ok(st) = nix::sys::statfs::statfs(src) {
                if st.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC {
                    return Ok(());
                }
            }
        }
        return Err(Error::new("only a procfs may be mounted on /proc"));
    }
    if dest.starts_with("/proc") && !PROC_ALLOWED.iter().any(|p| dest == Path::new(p)) {
        return Err(Error::new(
            "mounting inside /proc is not allowed (only procfs on /proc and a few overridable files)",
        ));
    }
    Ok(())
}

/// A detached copy of the mount tree at `src` (recursive for rbind).
pub fn clone_tree(src: &Path, recursive: bool) -> std::result::Result<OwnedFd, Errno> {
    let mut flags = sys::OPEN_TREE_CLONE;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    sys::open_tree(None, src, flags)
}

/// The checks of check_proc_mount again, on where the destination actually
/// resolved to (an image symlink such as `/data -> /proc` must not let a
/// mount land on /proc), like runc does on its securejoin'ed path. Also a
/// last line of defence: a target outside the rootfs is refused.
fn check_resolved(
    root: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    typ: Option<&str>,
    source: Option<&Path>,
) -> Result<()> {
    // Compare the kernel's view of both paths, so a caller-supplied rootfs
    // path that differs textually (symlinks, bind mounts) cannot confuse it.
    let rootfs = std::fs::read_link(sys::fd_path(root)).context("readlink rootfs fd")?;
    let real = std::fs::read_link(sys::fd_path(target)).context("readlink destination fd")?;
    let Ok(rel) = real.strip_prefix(&rootfs) else {
        return Err(Error::new(format!(
            "destination resolved to {real:?}, outside the rootfs"
        )));
    };
    let in_root = Path::new("/").join(rel);
    check_proc_mount(&in_root, typ, source)
        .with_context(|| format!("destination resolves to {in_root:?}"))
}

/// Resolves (creating it if missing) the destination of a bind mount of
/// `tree`: a directory for a directory source, a file otherwise.
fn bind_target(root: BorrowedFd<'_>, dest: &Path, tree: &OwnedFd) -> Result<OwnedFd> {
    let st = resolve::fstat(tree.as_fd()).context("fstat bind source")?;
    let kind = if resolve::is_dir(&st) {
        Kind::Dir
    } else {
        Kind::File
    };
    resolve::ensure(root, dest, kind).context("resolve destination")
}

/// Attaches a detached bind tree at `dest` (created as file or directory to
/// match the source) and applies the options.
pub fn attach_bind(
    root: BorrowedFd<'_>,
    dest: &Path,
    tree: OwnedFd,
    opts: &MountOptions,
) -> Result<()> {
    let target = bind_target(root, dest, &tree)?;
    attach_bind_at(tree, target, opts)
}

fn attach_bind_at(tree: OwnedFd, target: OwnedFd, opts: &MountOptions) -> Result<()> {
    sys::move_mount(tree.as_fd(), target.as_fd()).context("move_mount bind")?;
    // After move_mount the tree fd refers to the now attached mount, so the
    // remount below cannot hit anything else.
    if opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT) != 0 || opts.cleared != 0 {
        remount_bind(tree.as_fd(), opts.flags, opts.cleared)?;
    }
    set_propagation_and_attrs(tree.as_fd(), opts)
}

/// MS_BIND|MS_REMOUNT with exactly the requested flags; if that hits locked
/// flags (EPERM in a user namespace), retry keeping the mount's current
/// flags that were not explicitly cleared, as runc does.
pub fn remount_bind(
    mnt: BorrowedFd<'_>,
    flags: libc::c_ulong,
    cleared: libc::c_ulong,
) -> Result<()> {
    let base = libc::MS_BIND | libc::MS_REMOUNT;
    let want = (flags & !libc::MS_REC) | base;
    match mount_raw(None, &sys::fd_path(mnt), None, want, None) {
        Ok(()) => Ok(()),
        Err(e) => {
            let cur = nix::sys::statvfs::fstatvfs(mnt)
                .map(|s| st_to_ms(s.flags().bits() as libc::c_ulong))
                .unwrap_or(0)
                & LOCKABLE;
            // Requests that contradict a locked flag cannot be honoured;
            // report the original error rather than silently differ.
            if cur & cleared != 0
                || (flags & ATIME_ENUM != 0 && flags & ATIME_ENUM != cur & ATIME_ENUM)
            {
                return Err(Error::os("remount bind (flags locked)", e));
            }
            let want = if flags & ATIME_ENUM != 0 {
                want | (cur & !ATIME_ENUM)
            } else {
                want | cur
            };
            mount_raw(None, &sys::fd_path(mnt), None, want, None).context("remount bind")
        }
    }
}

/// statvfs(2) ST_* flags to the MS_* flags of mount(2) (the values differ
/// for relatime and nosymfollow).
pub fn st_to_ms(st: libc::c_ulong) -> libc::c_ulong {
    const ST_NOSYMFOLLOW: libc::c_ulong = 0x2000;
    let map = [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_SYNCHRONOUS, libc::MS_SYNCHRONOUS),
        (libc::ST_MANDLOCK, libc::MS_MANDLOCK),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
        (ST_NOSYMFOLLOW, libc::MS_NOSYMFOLLOW),
    ];
    let mut ms = map
        .iter()
        .filter(|(s, _)| st & s == *s)
        .fold(0, |acc, (_, m)| acc | m);
    // Strictatime is not reported: it is the absence of the other modes.
    if ms & ATIME_ENUM == 0 {
        ms |= libc::MS_STRICTATIME;
    }
    ms
}

/// Applies propagation options in order, then the recursive attributes.
pub fn set_propagation_and_attrs(mnt: BorrowedFd<'_>, opts: &MountOptions) -> Result<()> {
    for p in &opts.propagation {
        mount_raw(None, &sys::fd_path(mnt), None, *p, None).context("set mount propagation")?;
    }
    if !opts.rec_attr.is_empty() {
        sys::mount_setattr(mnt, true, opts.rec_attr).context("mount_setattr(AT_RECURSIVE)")?;
    }
    Ok(())
}

/// Mounts a filesystem onto the object `target` refers to.
pub fn mount_fs(
    source: &str,
    target: BorrowedFd<'_>,
    typ: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<()> {
    mount_raw(
        Some(Path::new(source)),
        &sys::fd_path(target),
        Some(typ),
        flags,
        Some(data).filter(|d| !d.is_empty()),
    )
    .with_context(|| format!("mount {typ}"))
}

fn mount_raw(
    source: Option<&Path>,
    target: &Path,
    typ: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::result::Result<(), Errno> {
    nix::mount::mount(source, target, typ, MsFlags::from_bits_retain(flags), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_flags_convert() {
        assert_eq!(
            st_to_ms(libc::ST_NOSUID | libc::ST_RELATIME | 0x2000),
            libc::MS_NOSUID | libc::MS_RELATIME | libc::MS_NOSYMFOLLOW
        );
        assert_eq!(
            st_to_ms(libc::ST_RDONLY),
            libc::MS_RDONLY | libc::MS_STRICTATIME
        );
        assert_eq!(st_to_ms(libc::ST_NOATIME), libc::MS_NOATIME);
    }
}
