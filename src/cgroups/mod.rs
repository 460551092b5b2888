//! cgroups: host layout detection, placement and resources (v1, v2, hybrid).
//!
//! A [`Cgroup`] is the container's cgroup manager: computed once from linux.cgroupsPath and the host layout
//! (no filesystem change), stored in the container's state, and used by every
//! later command. On v1 and hybrid hosts the container gets a directory in
//! every mounted v1 hierarchy (plus the cgroup2 one on hybrid hosts, as runc
//! does); on v2 hosts one directory. Resources go to a v1 controller's
//! directory when the controller is on v1, else to the cgroup2 directory when
//! the controller is available there (with the v1 → v2 conversions runc uses).

mod common;
mod devices;
mod fsio;
mod layout;
mod manager;
mod notify;
mod path;
mod place;
mod resources;
mod stats;
mod sub;
pub mod systemd;
mod tree;
mod v1;
mod v2;

pub use layout::{parse_proc_cgroup, Mode, OwnCgroup};
pub use manager::Driver;
pub use place::SelfPlacement;

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    pub controllers: Vec<String>,
    pub mount: PathBuf,
    pub path: PathBuf,
}

/// The container's directory in the cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Dir {
    pub mount: PathBuf,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// Who creates and destroys the cgroup (see [`Driver`]); absent in
    /// state files of kist before the seam, which were all cgroupfs.
    #[serde(default, skip_serializing_if = "Driver::is_cgroupfs")]
    pub driver: Driver,
    pub mode: Mode,
    #[serde(default)]
    pub v1: Vec<V1Dir>,
    #[serde(default)]
    pub unified: Option<V2Dir>,
}

/// Where one controller's files for this container live.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// Detects the host layout and computes the container's cgroup paths.
    /// No filesystem changes.
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let placement = path::resolve(cgroups_path, id)?;
        let l = layout::Layout::detect()?;
        let join = |mount: &Path, root: &str, own: &str, v2_parent: bool| -> PathBuf {
            match &placement {
                path::Placement::Absolute(p) => mount.join(p),
                path::Placement::Relative(p) => {
                    // The runtime's own cgroup, seen through the mount.
                    let mut base = path::clean_rooted(own);
                    let root = path::clean_rooted(root);
                    if !root.is_empty() {
                        if base == root {
                            base.clear();
                        } else if let Some(rest) = base.strip_prefix(&format!("{root}/")) {
                            base = rest.to_string();
                        }
                    }
                    let mut dir = mount.join(&base);
                    // runc on pure v2 starts from the parent of its own cgroup:
                    // its own usually holds processes, so it cannot enable
                    // controllers for a child (no internal processes rule).
                    if v2_parent && !base.is_empty() {
                        dir.pop();
                    }
                    dir.join(p)
                }
            }
        };
        let v1 =
            l.v1.iter()
                .map(|h| V1Dir {
                    controllers: h.controllers.clone(),
                    mount: h.mountpoint.clone(),
                    path: join(&h.mountpoint, &h.mount_root, &h.own, false),
                })
                .collect();
        let unified = l.unified.as_ref().map(|m| V2Dir {
            mount: m.clone(),
            path: join(m, "/", &l.unified_own, l.mode == Mode::V2),
        });
        Ok(Cgroup {
            driver: Driver::Cgroupfs,
            mode: l.mode,
            v1,
            unified,
        })
    }

    /// The container's directory in the v1 hierarchy holding `controller`.
    pub fn v1_path(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// The container's cgroup2 directory, if the host has cgroup2.
    pub fn unified_path(&self) -> Option<&Path> {
        self.unified.as_ref().map(|u| u.path.as_path())
    }

    /// Every directory of the container, one per hierarchy.
    fn dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = self.v1.iter().map(|d| d.path.as_path()).collect();
        if let Some(u) = self.unified_path() {
            out.push(u);
        }
        out
    }

    /// Where `controller`'s files are: its v1 hierarchy, else cgroup2 if the
    /// controller is available to the container's cgroup2 directory (enabled
    /// on the way down first, on hybrid hosts lazily). None if neither.
    pub(crate) fn backend(&self, controller: &str) -> Option<Backend<'_>> {
        if let Some(p) = self.v1_path(controller) {
            return Some(Backend::V1(p));
        }
        let u = self.unified.as_ref()?;
        v2::enable_controller(u, controller).then_some(Backend::V2(u.path.as_path()))
    }

    /// cgroupfs: creates the container's directory in every hierarchy.
    fn fs_create(&self) -> Result<()> {
        self.create_v1()?;
        self.create_unified()
    }

    /// cgroupfs: only the cgroup2 directory (if the host has cgroup2), the
    /// one clone3(CLONE_INTO_CGROUP) needs: an early launch (see
    /// `container::launch`) clones the init there and makes the v1
    /// directories with [`Self::create_v1`] while the init makes its
    /// network namespace.
    pub fn create_unified(&self) -> Result<()> {
        if let Some(u) = &self.unified {
            v2::create(u, self.mode == Mode::V2).context("create cgroup")?;
        }
        Ok(())
    }

    /// cgroupfs: the container's directory in every v1 hierarchy.
    pub fn create_v1(&self) -> Result<()> {
        for d in &self.v1 {
            v1::create(d).context("create cgroup")?;
        }
        Ok(())
    }

    /// cgroupfs `create` that leaves out, in rootless mode, each hierarchy
    /// the user may not write (nothing delegated to it), as runc's rootless
    /// cgroup manager does when no cgroupsPath was asked for: the container
    /// then has no cgroup there, and a limit asked for in it fails in
    /// `apply` naming its field. True if something was left out (the
    /// caller records the smaller cgroup). A real root pays nothing: the
    /// rootless check only runs on a permission error.
    pub fn create_reachable(&mut self, explicit_path: bool) -> Result<bool> {
        let denied = |e: &Error| {
            matches!(
                e.errno(),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
            ) && !explicit_path
                && crate::rootless::active()
        };
        let before = self.v1.len() + usize::from(self.unified.is_some());
        let mut kept = Vec::with_capacity(self.v1.len());
        for d in std::mem::take(&mut self.v1) {
            match v1::create(&d) {
                Ok(()) => kept.push(d),
                Err(e) if denied(&e) => crate::logger::debug(&format!(
                    "rootless: no cgroup in {}: {e}",
                    d.mount.display()
                )),
                Err(e) => {
                    self.v1 = kept;
                    return Err(e.context("create cgroup"));
                }
            }
        }
        self.v1 = kept;
        if let Some(u) = &self.unified {
            match v2::create(u, self.mode == Mode::V2) {
                Ok(()) => {}
                Err(e) if denied(&e) => {
                    crate::logger::debug(&format!(
                        "rootless: no cgroup in {}: {e}",
                        u.mount.display()
                    ));
                    self.unified = None;
                }
                Err(e) => return Err(e.context("create cgroup")),
            }
        }
        Ok(self.v1.len() + usize::from(self.unified.is_some()) != before)
    }

    /// No directory in any hierarchy (rootless without delegation).
    pub fn is_empty(&self) -> bool {
        self.v1.is_empty() && self.unified.is_none()
    }

    /// An fd of the cgroup2 directory for clone3(CLONE_INTO_CGROUP), None
    /// without cgroup2. The child lands in the cgroup2 directory only: see
    /// `placement` for the v1 hierarchies.
    pub fn unified_fd(&self) -> Result<Option<OwnedFd>> {
        use std::os::unix::fs::OpenOptionsExt;
        let Some(u) = self.unified_path() else {
            return Ok(None);
        };
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(u)
            .map(|f| Some(OwnedFd::from(f)))
            .with_context(|| format!("cgroup: open {}", u.display()))
    }

    /// Moves `pid` into the container's cgroup in every hierarchy: the
    /// costly way (a global lock and an RCU grace period, see place.rs).
    /// `create` and `exec` place their processes the cheap way; the
    /// systemd driver uses this for what its unit does not hold.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for d in self.dirs() {
            fsio::write(
                &format!("add pid {pid} to cgroup"),
                &d.join("cgroup.procs"),
                &pid.to_string(),
            )?;
        }
        Ok(())
    }

    fn freezer(&self) -> Option<Backend<'_>> {
        if let Some(p) = self.v1_path("freezer") {
            return Some(Backend::V1(p));
        }
        // cgroup2's freezer is core (cgroup.freeze), no controller to enable.
        self.unified_path()
            .filter(|p| p.join("cgroup.freeze").exists())
            .map(Backend::V2)
    }

    fn no_freezer(&self) -> Error {
        if self.is_empty() {
            return Error::new(
                "cgroup freezer: the container has no cgroup (created rootless, and no cgroup was delegated to the user)",
            );
        }
        Error::new(format!(
            "cgroup freezer: no v1 freezer hierarchy and no cgroup.freeze in {}",
            self.unified_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "cgroup2 (not mounted)".into())
        ))
    }

    pub fn freeze(&self) -> Result<()> {
        match self.freezer() {
            Some(Backend::V1(p)) => v1::freezer::freeze(p),
            Some(Backend::V2(p)) => v2::freezer::freeze(p),
            None => Err(self.no_freezer()),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer() {
            Some(Backend::V1(p)) => v1::freezer::thaw(p),
            Some(Backend::V2(p)) => v2::freezer::thaw(p),
            None => Err(self.no_freezer()),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        match self.freezer() {
            Some(Backend::V1(p)) => v1::freezer::is_frozen(p),
            Some(Backend::V2(p)) => v2::freezer::is_frozen(p),
            None => Ok(false),
        }
    }

    /// The hierarchy whose membership is authoritative for "the container's
    /// processes": the one the freezer acts on, so that kill --all freezes
    /// exactly what it signals.
    fn primary(&self) -> Option<&Path> {
        match self.freezer() {
            Some(Backend::V1(p)) | Some(Backend::V2(p)) => Some(p),
            None => self.dirs().into_iter().next(),
        }
    }

    /// Every process in the container's cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(p) = self.primary() {
            tree::pids_recursive(p, &mut out).context("list cgroup processes")?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Signals every process of the container. The cgroup is frozen around
    /// it (like runc) so that no process can fork a child that escapes the
    /// signal; without a freezer the processes are signalled as they are.
    /// `None` is signal 0: a liveness probe that only checks the pids.
    pub fn signal_all(&self, sig: impl Into<Option<nix::sys::signal::Signal>>) -> Result<()> {
        use nix::sys::signal::Signal;
        let sig = sig.into();
        let name = sig.map_or("0", |s| s.as_str());
        if sig == Some(Signal::SIGKILL) && self.mode == Mode::V2 {
            // cgroup.kill (Linux 5.14+) kills the whole subtree atomically,
            // frozen or not, with no pid list to race against.
            if let Some(k) = self.unified_path().map(|p| p.join("cgroup.kill")) {
                if k.exists() {
                    return fsio::write("kill --all", &k, "1");
                }
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze =
            sig.is_some() && !was_frozen && self.freezer().is_some() && self.freeze().is_ok();
        let res = self.pids().and_then(|pids| {
            for pid in pids {
                match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => {
                        return Err(Error::os(
                            format!("kill --all: signal {name} to pid {pid}"),
                            e,
                        ))
                    }
                }
            }
            Ok(())
        });
        // Thaw what we froze; a paused container is thawed for SIGKILL too
        // (runc thaws always), or a v1 frozen task would not die until
        // resumed and delete --force would wait forever.
        if froze || (was_frozen && sig == Some(Signal::SIGKILL)) {
            self.thaw().context("kill --all: thaw")?;
        }
        res
    }

    /// Before a container is placed in a cgroup that may exist already
    /// (a shared `linux.cgroupsPath`): a frozen one would stop the init
    /// for good, so it is refused as runc does; one with processes only
    /// gets runc's warning.
    pub fn check_existing(&self) -> Result<()> {
        self.check_unit()?;
        if self.is_frozen().unwrap_or(false) {
            let dir = self
                .primary()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Err(Error::new(format!(
                "linux.cgroupsPath: container's cgroup {dir} unexpectedly frozen (thaw it or use another path)"
            )));
        }
        let n = self.pids().map(|p| p.len()).unwrap_or(0);
        if n > 0 {
            crate::logger::warn(&format!(
                "container's cgroup is not empty: {n} process(es) found"
            ));
        }
        Ok(())
    }

    /// cgroupfs: removes the container's cgroup (and any sub-cgroups) from
    /// every hierarchy. Already-removed directories are fine.
    fn fs_remove(&self) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut seen: Vec<&Path> = Vec::new();
        for d in self.dirs() {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            if let Err(e) = tree::remove_recursive(d) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A pure cgroup v2 host (only cgroup2 at /sys/fs/cgroup), as runc's
/// `IsCgroup2UnifiedMode`.
pub fn host_is_v2() -> bool {
    layout::is_cgroup2(layout::CGROUP_ROOT)
}

/// The `linux.cgroup` object of the runtime's `features` output: what kist
/// really supports (the systemd driver on the system instance, and on a
/// rootless user's own instance on cgroup v2).
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "v1": true,
        "v2": true,
        "systemd": true,
        "systemdUser": true,
        "rdma": true,
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
