//! Switching the process root to the prepared rootfs: pivot_root (default) or
//! MS_MOVE + chroot (--no-pivot), then detaching the old root; or a plain
//! chroot when the container has no mount namespace of its own.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::sys;
use nix::errno::Errno;

use crate::error::{Context, Error, Result};

fn open_dir(p: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(sys::own_raw)
    .with_context(|| format!("open {p:?}"))
}

/// pivot_root(".", ".") trick: stacks the old root on top of the new one at
/// the same place, so no put_old directory is needed in the image; the old
/// root is then made a slave (so the unmount does not propagate to the host)
/// and lazily detached.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = open_dir(Path::new("/"))?;
    let new = open_dir(rootfs)?;
    nix::unistd::fchdir(new.as_raw_fd()).context("fchdir to rootfs")?;
    nix::unistd::pivot_root(".", ".").context("pivot_root")?;
    nix::unistd::fchdir(old.as_raw_fd()).context("fchdir to old root")?;
    nix::mount::mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("make old root rslave")?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).context("detach old root")?;
    nix::unistd::chdir("/").context("chdir /")
}

/// --no-pivot: like runc, detach every host proc and sysfs mount outside the
/// rootfs (the old root stays reachable with chroot, and leaving them would
/// also make the kernel refuse fresh proc/sysfs mounts as "too revealing"
/// in nested setups), then move the rootfs onto / and chroot into it. Mounts
/// that cannot be detached are covered by an empty tmpfs.
pub fn move_root(rootfs: &Path) -> Result<()> {
    let mut points: Vec<PathBuf> = crate::mountinfo::read()?
        .into_iter()
        .filter(|e| (e.fstype == "proc" || e.fstype == "sysfs") && e.root == Path::new("/"))
        .map(|e| e.mount_point)
        .filter(|p| !p.starts_with(rootfs) && !rootfs.starts_with(p))
        .collect();
    // Deepest first so children go before parents.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        // Make it a slave first so the detach does not propagate to the host.
        match nix::mount::mount(
            None::<&str>,
            &p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            // Already gone with a detached parent.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::os(format!("make {p:?} rslave"), e)),
        }
        match nix::mount::umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL) | Err(Errno::EPERM) => nix::mount::mount(
                Some("tmpfs"),
                &p,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .with_context(|| format!("cover {p:?} with tmpfs"))?,
            Err(e) => return Err(Error::os(format!("detach {p:?}"), e)),
        }
    }
    nix::unistd::chdir(rootfs).context("chdir to rootfs")?;
    nix::mount::mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .context("move rootfs onto /")?;
    nix::unistd::chroot(".").context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")
}

/// Without a mount namespace: chroot into the prepared rootfs, leaving
/// every mount where it is.
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    let new = open_dir(rootfs)?;
    nix::unistd::fchdir(new.as_raw_fd()).context("fchdir to rootfs")?;
    nix::unistd::chroot(".").context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")
}

/// If stdin/stdout/stderr are the host's /dev/null, point them at the
/// container's /dev/null instead (runc's reOpenDevNull), so the container
/// does not keep a handle on a host device node. The container's node is
/// verified to be the real 1:3 device first.
pub fn reopen_dev_null() -> Result<()> {
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(sys::own_raw)
    .context("open /dev/null")?;
    super::devices::verify_dev_null(std::os::fd::AsFd::as_fd(&null))?;
    let null_st = nix::sys::stat::fstat(null.as_raw_fd()).context("fstat /dev/null")?;
    for fd in 0..3 {
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == null_st.st_rdev {
            nix::unistd::dup2(null.as_raw_fd(), fd)
                .with_context(|| format!("dup2 /dev/null onto fd {fd}"))?;
        }
    }
    Ok(())
}
