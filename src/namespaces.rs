//! `linux.namespaces` (and `linux.timeOffsets`, `uidMappings`, `gidMappings`):
//! which namespaces are created at clone time, which are joined by path, and
//! in which process each of those steps happens.
//!
//! New namespaces are created by the one clone3 that makes the container
//! init, so the common case costs a single process. pid and time are special:
//! they apply to children of the caller, so the runtime itself switches its
//! `*_for_children` namespace around the clone and then switches back.

use crate::error::{Context, Error, Result};
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType as T, Spec};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

pub struct Join {
    pub typ: T,
    pub index: usize,
    pub fd: OwnedFd,
}

pub struct Plan {
    /// Namespaces the clone creates.
    pub clone_flags: CloneFlags,
    pub new_time: bool,
    pub joins: Vec<Join>,
}

pub fn flag(t: T) -> CloneFlags {
    match t {
        T::Mount => CloneFlags::CLONE_NEWNS,
        T::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        T::Uts => CloneFlags::CLONE_NEWUTS,
        T::Ipc => CloneFlags::CLONE_NEWIPC,
        T::User => CloneFlags::CLONE_NEWUSER,
        T::Pid => CloneFlags::CLONE_NEWPID,
        T::Network => CloneFlags::CLONE_NEWNET,
        T::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Whether `spec` gives the container a new namespace of type `t` (listed
/// without a path), without opening anything.
pub fn creates(spec: &Spec, t: T) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
}

fn name(t: T) -> &'static str {
    match t {
        T::Mount => "mount",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "network",
        T::Time => "time",
    }
}

// From <linux/nsfs.h>: _IO(0xb7, 0x3).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan {
            clone_flags: CloneFlags::empty(),
            new_time: false,
            joins: Vec::new(),
        };
        let nss = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for (i, ns) in nss.iter().enumerate() {
            let t = ns.typ();
            match ns.path() {
                None if t == T::Time => plan.new_time = true,
                None => plan.clone_flags |= flag(t),
                Some(p) => {
                    let field = format!("linux.namespaces[{i}].path {}", p.display());
                    let f = File::open(p).map_err(|e| Error::io(&field, e))?;
                    let fd = OwnedFd::from(f);
                    // SAFETY: NS_GET_NSTYPE takes no argument and only queries fd.
                    let kind =
                        unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), NS_GET_NSTYPE) };
                    if kind < 0 {
                        return Err(Error::new(format!("{field}: not a namespace file")));
                    }
                    if kind as i32 != flag(t).bits() {
                        return Err(Error::new(format!("{field}: not a {} namespace", name(t))));
                    }
                    plan.joins.push(Join {
                        typ: t,
                        index: i,
                        fd,
                    });
                }
            }
        }
        if !plan.has(T::Mount) {
            check_host_mount_ns(spec)?;
        }
        if let Some(linux) = spec.linux() {
            if linux.time_offsets().is_some() && !plan.new_time {
                return Err(Error::new(
                    "linux.timeOffsets: needs a new time namespace (one without a path)",
                ));
            }
            if spec.hostname().is_some() && !plan.has(T::Uts) {
                return Err(Error::new(
                    "hostname: needs a uts namespace in linux.namespaces",
                ));
            }
        }
        Ok(plan)
    }

    /// Whether namespaces must be joined before new ones are created: a
    /// namespace joined by path belongs to another user namespace than the
    /// one a clone would create, and a joined user namespace must own the
    /// new ones. Then a middle process joins, unshares and forks the init.
    pub fn two_step(&self) -> bool {
        self.joined(T::User)
            || (self.creates(T::User)
                && self
                    .joins
                    .iter()
                    .any(|j| !matches!(j.typ, T::Pid | T::Time)))
    }

    /// A joined pid namespace (a pod's) is entered only after pivot_root:
    /// until then the init would be visible to the other containers there
    /// while its root is still the host's, and one with CAP_SYS_PTRACE could
    /// reach host files through /proc/<pid>/root. Then proc is mounted after
    /// pivot_root too, so the containers must not place other mounts under
    /// /proc (they would be mounted before, and hidden by, proc); and a
    /// two-step launch keeps the early join.
    pub fn defers_pid_join(&self, spec: &Spec) -> bool {
        if !self.joined(T::Pid) || self.two_step() {
            return false;
        }
        let mounts = spec.mounts().clone().unwrap_or_default();
        mounts.iter().all(|m| {
            let under_proc = m.destination().starts_with("/proc");
            !under_proc
                || (m.typ().as_deref() == Some("proc")
                    && m.destination() == std::path::Path::new("/proc"))
        })
    }

    pub fn creates(&self, t: T) -> bool {
        if t == T::Time {
            return self.new_time;
        }
        self.clone_flags.contains(flag(t))
    }

    pub fn joined(&self, t: T) -> bool {
        self.joins.iter().any(|j| j.typ == t)
    }

    pub fn has(&self, t: T) -> bool {
        self.creates(t) || self.joined(t)
    }
}

/// Without a mount namespace the container is set up in the runtime's own
/// (the host's) and entered with chroot, as runc does. What would change
/// the host's mounts is refused: masked and read-only paths (runc's rule),
/// and linux.rootfsPropagation, which would apply to the host's `/` (runc
/// applies it there; kist refuses).
fn check_host_mount_ns(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let why = "unable to restrict paths without a private mount namespace (add {\"type\": \"mount\"} to linux.namespaces)";
    if linux.masked_paths().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(Error::new(format!("linux.maskedPaths: {why}")));
    }
    if linux
        .readonly_paths()
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(Error::new(format!("linux.readonlyPaths: {why}")));
    }
    if linux
        .rootfs_propagation()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::new(
            "linux.rootfsPropagation: needs a private mount namespace (without one it would change the propagation of the host's /)",
        ));
    }
    Ok(())
}

/// Switches the runtime's pid/time namespace for its next child; dropping
/// the guard switches back, so hooks the runtime runs later stay in the
/// host's namespaces.
pub struct ChildNamespaces {
    restore: Vec<(OwnedFd, CloneFlags)>,
}

pub fn prepare_children(plan: &Plan, spec: &Spec) -> Result<ChildNamespaces> {
    let mut guard = ChildNamespaces {
        restore: Vec::new(),
    };
    let defer_pid = plan.defers_pid_join(spec);
    for j in plan
        .joins
        .iter()
        .filter(|j| j.typ == T::Time || (j.typ == T::Pid && !defer_pid))
    {
        let own = own_ns(j.typ)?;
        setns(j.fd.as_fd(), flag(j.typ))
            .with_context(|| format!("linux.namespaces[{}]: setns", j.index))?;
        guard.restore.push((own, flag(j.typ)));
    }
    if plan.new_time {
        let own = own_ns(T::Time)?;
        unshare(flag(T::Time)).context("linux.namespaces: create time namespace")?;
        guard.restore.push((own, flag(T::Time)));
        let offsets = spec
            .linux()
            .as_ref()
            .and_then(|l| l.time_offsets().clone())
            .unwrap_or_default();
        let mut text = String::new();
        for (clock, off) in &offsets {
            if clock != "monotonic" && clock != "boottime" {
                return Err(Error::new(format!(
                    "linux.timeOffsets.{clock}: unknown clock (monotonic or boottime)"
                )));
            }
            text.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        if !text.is_empty() {
            std::fs::write("/proc/self/timens_offsets", text)
                .context("linux.timeOffsets: write /proc/self/timens_offsets")?;
        }
    }
    Ok(guard)
}

fn own_ns(t: T) -> Result<OwnedFd> {
    let path = match t {
        T::Pid => "/proc/self/ns/pid",
        _ => "/proc/self/ns/time",
    };
    File::open(path)
        .map(OwnedFd::from)
        .with_context(|| format!("open {path}"))
}

impl Drop for ChildNamespaces {
    fn drop(&mut self) {
        for (fd, f) in self.restore.drain(..).rev() {
            if let Err(e) = setns(fd.as_fd(), f) {
                crate::logger::warn(&format!("restore runtime namespace {f:?}: {e}"));
            }
        }
    }
}

/// In the init process (or the middle one): join the namespaces given by
/// path that the runtime could not join for its children (all but pid and
/// time). As runc does, each is tried before the user namespace and, if
/// refused, again after it: a namespace owned by a parent of the joined
/// user namespace (a pod's network namespace made by the host's CNI,
/// joined by a container of a user-namespaced pod) can only be entered
/// with the host's privileges, one owned by the joined user namespace may
/// need to be entered from inside it.
pub fn join_in_child(plan: &Plan) -> Result<()> {
    let joins: Vec<&Join> = plan
        .joins
        .iter()
        .filter(|j| !matches!(j.typ, T::Pid | T::Time))
        .collect();
    let mut later = Vec::new();
    for j in joins.iter().filter(|j| j.typ != T::User) {
        match setns(j.fd.as_fd(), flag(j.typ)) {
            Ok(()) => {}
            Err(nix::errno::Errno::EPERM) => later.push(*j),
            Err(e) => {
                return Err(Error::os(
                    format!("linux.namespaces[{}]: setns", j.index),
                    e,
                ))
            }
        }
    }
    for j in joins
        .iter()
        .filter(|j| j.typ == T::User)
        .chain(later.iter())
    {
        setns(j.fd.as_fd(), flag(j.typ))
            .with_context(|| format!("linux.namespaces[{}]: setns", j.index))?;
    }
    Ok(())
}

/// Writes uid_map/gid_map of a process in a new user namespace, directly
/// when we may, through newuidmap/newgidmap otherwise.
pub fn write_id_maps(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    if crate::rootless::euid_rootless() {
        return crate::rootless::write_id_maps(pid, uids, gids);
    }
    let fmt = |m: &[LinuxIdMapping]| {
        m.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    for (file, maps, helper, field) in [
        ("gid_map", gids, "newgidmap", "linux.gidMappings"),
        ("uid_map", uids, "newuidmap", "linux.uidMappings"),
    ] {
        if maps.is_empty() {
            continue;
        }
        let path = format!("/proc/{pid}/{file}");
        match std::fs::write(&path, fmt(maps)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let mut cmd = std::process::Command::new(helper);
                cmd.arg(pid.to_string());
                for m in maps {
                    cmd.args([m.container_id(), m.host_id(), m.size()].map(|v| v.to_string()));
                }
                let st = cmd.status().map_err(|e2| {
                    Error::io(format!("{field}: write {path} ({e}); run {helper}"), e2)
                })?;
                if !st.success() {
                    return Err(Error::new(format!("{field}: {helper} failed: {st}")));
                }
            }
            Err(e) => return Err(Error::io(format!("{field}: write {path}"), e)),
        }
    }
    Ok(())
}
