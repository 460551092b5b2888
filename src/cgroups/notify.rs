//! OOM notifications without threads: an fd to poll that becomes readable
//! when the container's memory cgroup hits its limit. v1: an eventfd
//! registered for memory.oom_control through cgroup.event_control; v2:
//! inotify on memory.events (the kernel signals a modification on every
//! counter change). Either way the counters decide whether it was an OOM.

use super::{fsio, Backend, Cgroup};
use crate::error::{Context, Error, Result};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

enum Kind {
    /// The eventfd, and memory.oom_control kept open: the registration
    /// lives as long as both fds do.
    V1 {
        _control: File,
    },
    V2,
}

pub struct OomWatch {
    fd: OwnedFd,
    kind: Kind,
    dir: PathBuf,
    /// (oom, oom_kill) as last seen.
    last: (u64, u64),
}

fn counters(dir: &std::path::Path, v1: bool) -> (u64, u64) {
    let file = if v1 {
        "memory.oom_control"
    } else {
        "memory.events"
    };
    let kv = fsio::read_kv(&dir.join(file)).unwrap_or_default();
    let get = |k: &str| {
        kv.iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    // v1 has no "oom" counter; under_oom is a state, not a count
    (if v1 { 0 } else { get("oom") }, get("oom_kill"))
}

impl Cgroup {
    /// A watch on the container's memory cgroup, or None when no memory
    /// controller is available to it (no OOM can be attributed then).
    pub fn oom_watch(&self) -> Result<Option<OomWatch>> {
        match self.backend_no_enable("memory") {
            Some(Backend::V1(d)) => v1_watch(d).map(Some),
            Some(Backend::V2(d)) => v2_watch(d).map(Some),
            None => Ok(None),
        }
    }

    /// The memory limit in force (bytes), None when unlimited or unknown.
    pub fn memory_limit(&self) -> Option<u64> {
        let v = match self.backend_no_enable("memory")? {
            Backend::V1(d) => fsio::read_u64(&d.join("memory.limit_in_bytes")).ok()?,
            Backend::V2(d) => fsio::read_u64(&d.join("memory.max")).ok()?,
        };
        // v1 says "unlimited" with a huge page-rounded number
        (v < i64::MAX as u64 / 2).then_some(v)
    }
}

fn v1_watch(dir: &std::path::Path) -> Result<OomWatch> {
    let what = || format!("watch OOM events of {}", dir.display());
    let control = File::open(dir.join("memory.oom_control")).with_context(what)?;
    // SAFETY: eventfd takes an initial value and flags and returns a new fd
    // or -1; nothing is passed by pointer.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(Error::io(what(), std::io::Error::last_os_error()));
    }
    // SAFETY: eventfd just returned this fd and nothing else owns it.
    let efd = unsafe { OwnedFd::from_raw_fd(raw) };
    fsio::write(
        "events: register an OOM eventfd",
        &dir.join("cgroup.event_control"),
        &format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )?;
    Ok(OomWatch {
        fd: efd,
        kind: Kind::V1 { _control: control },
        dir: dir.to_path_buf(),
        last: counters(dir, true),
    })
}

fn v2_watch(dir: &std::path::Path) -> Result<OomWatch> {
    let what = || format!("watch OOM events of {}", dir.display());
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(Error::io(what(), std::io::Error::last_os_error()));
    }
    // SAFETY: inotify_init1 just returned this fd and nothing else owns it.
    let ifd = unsafe { OwnedFd::from_raw_fd(raw) };
    let path = dir.join("memory.events");
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::new(format!("{}: path contains NUL", path.display())))?;
    // SAFETY: a valid inotify fd and a NUL-terminated path that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(ifd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(Error::io(
            format!("{}: inotify_add_watch {}", what(), path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(OomWatch {
        fd: ifd,
        kind: Kind::V2,
        dir: dir.to_path_buf(),
        last: counters(dir, false),
    })
}

impl OomWatch {
    /// Poll this for POLLIN.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Consumes pending notifications and returns how many OOM events
    /// happened since the last call (0 for unrelated counter changes).
    pub fn check(&mut self) -> u64 {
        let mut buf = [0u8; 4096];
        let mut notified = false;
        // Non-blocking: EAGAIN ends the drain.
        while let Ok(n) = nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            notified = true;
        }
        let v1 = matches!(self.kind, Kind::V1 { .. });
        let now = counters(&self.dir, v1);
        let (doom, dkill) = (
            now.0.saturating_sub(self.last.0),
            now.1.saturating_sub(self.last.1),
        );
        self.last = now;
        let n = doom.max(dkill);
        // A v1 eventfd also fires when the cgroup is removed and more than
        // once per kill; a notification without a kill counts only while
        // the cgroup is under OOM (the killer is disabled).
        if n == 0 && v1 && notified {
            let under = fsio::kv_get(&self.dir.join("memory.oom_control"), "under_oom");
            return u64::from(matches!(under, Ok(Some(1))));
        }
        n
    }
}
