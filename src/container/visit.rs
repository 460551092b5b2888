//! The runtime stepping into a running container's namespaces for the one
//! clone3 of `exec`, and straight back out.
//!
//! A pid namespace can only be given to a process at its birth, so without
//! this an exec needs a middle process that joins and forks. Instead the
//! runtime joins the container's pid (for its children), mount, network,
//! ipc and uts namespaces itself, clones the exec child, which is born in
//! all of them with the container's root, and returns to its own. It is
//! never visible in the container (its own pid namespace does not change),
//! and the child is never visible there with the host's root, mounts
//! (`/proc/<pid>/mountinfo`) or network (`/proc/<pid>/net`): those files
//! need no ptrace access.
//!
//! Left to the child: the user namespace (the runtime could not come back
//! from it), the cgroup namespace (with cgroup2's `nsdelegate`, clone3's
//! CLONE_INTO_CGROUP from inside it is refused for a source cgroup outside
//! it) and the time namespace (its own clocks; nothing shows it).

use crate::error::{Error, Result};
use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// The namespaces the runtime visits: those of `flags` it can come back
/// from.
pub const VISITED: CloneFlags = CloneFlags::CLONE_NEWPID
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS);

/// While it lives, the runtime is in the container's namespaces: nothing
/// but the clone may happen then (no path is opened, nothing is logged,
/// nothing else is forked). `leave` in the parent, `stay` in the child.
pub struct Visit {
    own: Vec<(OwnedFd, CloneFlags)>,
    root: Option<OwnedFd>,
    cwd: Option<OwnedFd>,
}

fn own_ns(name: &str) -> Result<OwnedFd> {
    let path = format!("/proc/self/ns/{name}");
    File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))
}

fn dir(path: &str) -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))
}

impl Visit {
    /// Joins the namespaces of `flags` (a subset of `VISITED`) of the
    /// process `pidfd` in one setns, which is all or nothing: on error
    /// nothing has changed. EPERM: a rootless caller, or a namespace owned
    /// by a user namespace the caller has no privilege over.
    pub fn enter(pidfd: BorrowedFd<'_>, flags: CloneFlags) -> Result<Visit> {
        let mut own = Vec::with_capacity(5);
        for (f, name) in [
            // pid_for_children: the one setns changes.
            (CloneFlags::CLONE_NEWPID, "pid_for_children"),
            (CloneFlags::CLONE_NEWNS, "mnt"),
            (CloneFlags::CLONE_NEWNET, "net"),
            (CloneFlags::CLONE_NEWIPC, "ipc"),
            (CloneFlags::CLONE_NEWUTS, "uts"),
        ] {
            if flags.contains(f) {
                own.push((own_ns(name)?, f));
            }
        }
        // setns into a mount namespace moves root and cwd to its root; so
        // does coming back: both are put back as they were.
        let (root, cwd) = if flags.contains(CloneFlags::CLONE_NEWNS) {
            (Some(dir("/")?), Some(dir(".")?))
        } else {
            (None, None)
        };
        setns(pidfd, flags & VISITED).map_err(|e| Error::os("setns", e))?;
        Ok(Visit { own, root, cwd })
    }

    /// Back in the runtime's own namespaces, root and cwd. On error the
    /// runtime may still be in the container's: the caller must not go on
    /// (see `abandon`).
    pub fn leave(mut self) -> Result<()> {
        self.restore()
    }

    fn restore(&mut self) -> Result<()> {
        for (fd, f) in self.own.drain(..) {
            setns(fd.as_fd(), f).map_err(|e| {
                Error::os(format!("exec: back to the runtime's namespace {f:?}"), e)
            })?;
        }
        if let Some(root) = self.root.take() {
            nix::unistd::fchdir(root.as_raw_fd())
                .and_then(|()| nix::unistd::chroot("."))
                .map_err(|e| Error::os("exec: back to the runtime's root", e))?;
        }
        if let Some(cwd) = self.cwd.take() {
            nix::unistd::fchdir(cwd.as_raw_fd())
                .map_err(|e| Error::os("exec: back to the runtime's working directory", e))?;
        }
        Ok(())
    }

    /// In the cloned child: stays in the container's namespaces and closes
    /// the runtime's descriptors of its own (the host's mount namespace,
    /// root and cwd) at once, not just on exec.
    pub fn stay(mut self) {
        self.own.clear();
        self.root = None;
        self.cwd = None;
    }
}

impl Drop for Visit {
    fn drop(&mut self) {
        if self.own.is_empty() && self.root.is_none() && self.cwd.is_none() {
            return;
        }
        if let Err(e) = self.restore() {
            abandon(&e);
        }
    }
}

/// The runtime could not come back from the container's namespaces: it
/// says so on stderr (no log file is opened by path in there) and exits
/// without doing anything else.
pub fn abandon(e: &Error) -> ! {
    eprintln!("kist: {e}: exiting");
    // SAFETY: _exit ends the process at once; nothing of ours runs in the
    // container's namespaces after this.
    unsafe { libc::_exit(1) }
}
