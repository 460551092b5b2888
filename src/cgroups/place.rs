//! Placing a new process in the container's cgroup without writing its pid
//! into another process's `cgroup.procs`: that write takes the kernel's
//! global threadgroup rwsem for writing, which waits for an RCU grace period
//! (milliseconds on an idle machine, the bulk of a cold start). Cheap paths
//! instead, on every hierarchy:
//! - cgroup2: the process is created in its cgroup, clone3(CLONE_INTO_CGROUP)
//!   with the fd from [`Cgroup::placement`];
//! - v1: the process writes `0` (itself, one thread) into each hierarchy's
//!   `tasks` file, which the kernel does without that lock. The files are
//!   opened by the runtime on the host, so the process can write them from
//!   inside its new namespaces; the kernel checks the opener's credentials.

use super::Cgroup;
use crate::error::{Context, Error, Result};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The v1 `tasks` files a new process writes itself into (see
/// [`SelfPlacement::join`]); close-on-exec.
pub struct SelfPlacement {
    tasks: Vec<(PathBuf, std::fs::File)>,
}

impl Cgroup {
    /// Opens what places a new process in this cgroup: the cgroup2
    /// directory's fd for clone3(CLONE_INTO_CGROUP) (None without cgroup2)
    /// and the v1 `tasks` files the process then writes itself into.
    ///
    /// systemd driver, at create: nothing, the unit does not exist yet;
    /// [`Cgroup::attach`] places the first process when it starts the unit.
    pub fn placement(&self) -> Result<(Option<OwnedFd>, SelfPlacement)> {
        if !self.driver.is_cgroupfs() && !self.dirs().iter().any(|d| d.exists()) {
            return Ok((None, SelfPlacement { tasks: Vec::new() }));
        }
        let unified = self.unified_fd()?;
        Ok((unified, self.v1_placement()?))
    }

    /// The v1 half of [`Self::placement`]: the `tasks` files, opened here.
    pub fn v1_placement(&self) -> Result<SelfPlacement> {
        let paths = self.tasks_paths();
        let mut tasks: Vec<(PathBuf, std::fs::File)> = Vec::with_capacity(paths.len());
        for path in paths {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .with_context(|| format!("cgroup: open {}", path.display()))?;
            tasks.push((path, f));
        }
        Ok(SelfPlacement { tasks })
    }

    /// Each v1 hierarchy's `tasks` file, once, in a fixed order (the order
    /// [`SelfPlacement::into_fds`] sends them in and [`SelfPlacement::adopt`]
    /// takes them back).
    fn tasks_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::with_capacity(self.v1.len());
        for d in &self.v1 {
            let path = d.path.join("tasks");
            if !out.contains(&path) {
                out.push(path);
            }
        }
        out
    }
}

impl SelfPlacement {
    /// The open files, to hand to a process that exists already (an early
    /// launch sends them with Go), in the order of `Cgroup::tasks_paths`.
    pub fn into_fds(self) -> Vec<OwnedFd> {
        self.tasks
            .into_iter()
            .map(|(_, f)| OwnedFd::from(f))
            .collect()
    }

    /// In the process that received [`Self::into_fds`] of `cgroup`'s
    /// placement: the same placement again.
    pub fn adopt(cgroup: &Cgroup, fds: Vec<OwnedFd>) -> Result<SelfPlacement> {
        let paths = cgroup.tasks_paths();
        if paths.len() != fds.len() {
            return Err(Error::new(format!(
                "cgroup: got {} v1 tasks files from the runtime, expected {}",
                fds.len(),
                paths.len()
            )));
        }
        let tasks = paths
            .into_iter()
            .zip(fds)
            .map(|(p, fd)| (p, std::fs::File::from(fd)))
            .collect();
        Ok(SelfPlacement { tasks })
    }

    /// In the new process: moves the calling thread (the process: it has one)
    /// into every v1 hierarchy's cgroup. Drop it then, to close the files.
    /// Allocates nothing unless it fails.
    pub fn join(&self) -> Result<()> {
        for (path, f) in &self.tasks {
            let mut f: &std::fs::File = f;
            let n = f
                .write(b"0")
                .with_context(|| format!("cgroup: move into {}", path.display()))?;
            if n != 1 {
                return Err(Error::new(format!(
                    "cgroup: move into {}: short write",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}
