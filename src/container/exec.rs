//! `exec`: a new process in a running container, never visible there while
//! it is still in the host's mount or network namespace. The runtime (re-
//! executed from a sealed copy first when `seal` asks for it) opens a pidfd
//! of the init (so the container cannot be swapped for another between
//! lookups) and, in the common case, visits the container's pid (for its
//! children), mount, network, ipc and uts namespaces (visit.rs), clones the
//! exec child there, straight into the container's cgroup on cgroup v2
//! (CLONE_INTO_CGROUP), and comes back at once; the child, non-dumpable from
//! birth, joins the user, cgroup and time namespaces itself. One clone, no
//! middle process to reap, the host pid from clone3.
//!
//! Two steps where one is not safe or not allowed: no mount namespace (the
//! child would show the host's root until its chroot), a container process
//! that may hold CAP_SYS_PTRACE over ours (it could reach the runtime's
//! descriptors the child holds for a moment), or a rootless runtime (it
//! could not come back to its own pid namespace). A middle process in the
//! host's pid namespace then joins every namespace through the pidfd, takes
//! the init's root when there is no mount namespace, forks the exec child as
//! the runtime's child (CLONE_PARENT), reports its pid and exits.
//!
//! Either way the child moves itself into the v1 cgroups, the runtime relays
//! a seccomp notify fd if the filter has one, and the child applies
//! `process` as the init does and execs. The sync channel is close-on-exec:
//! EOF tells the runtime the exec happened.

use super::sync::{self, Msg};
use super::{clone3, visit, write_pid_file};
use crate::error::{Context, Error, Result};
use crate::namespaces::flag;
use crate::process::{self, fds, terminal};
use crate::state::State;
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType as NS, Process};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub struct ExecOptions<'a> {
    pub process: Process,
    pub pid_file: Option<&'a Path>,
    pub console: crate::process::terminal::Console<'a>,
    pub preserve_fds: u32,
    /// Sub-cgroups of the container's (`--cgroup`).
    pub sub_cgroup: &'a [String],
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    /// The container's `linux.personality`, which exec'd processes share.
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
}

/// Starts the process; returns its host pid once it has exec'd.
pub fn spawn(st: &State, opts: &ExecOptions) -> Result<i32> {
    fds::check_preserved(opts.preserve_fds)?;
    // Before anything is opened: may restart the command.
    let running = st.pids().ok();
    let may_ptrace = super::seal::ensure(&st.config, Some(&opts.process), running.as_deref())?;
    crate::timing::mark("seal check");
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && !opts.console.is_some() {
        return Err(Error::new(
            "exec: a terminal needs --console-socket when detached",
        ));
    }
    let pidfd = pidfd_open(st.pid)?;
    let shares_mount_ns = !st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| v.iter().any(|n| n.typ() == NS::Mount));
    // Without a mount namespace there is no setns to give the process the
    // container's root: take the init's (its chroot) instead. runc 1.1
    // leaves the exec'd process at the host's root.
    let root = if shares_mount_ns {
        Some(open_init_root(st.pid)?)
    } else {
        None
    };
    // The pidfd pins the process: if it is still the container's init now,
    // every setns through the pidfd reaches the container's namespaces (and
    // the root opened above is its root).
    if !st.is_alive() {
        return Err(Error::new(format!("container {} is not running", st.id)));
    }
    crate::timing::mark("pidfd+init root");
    let nss: Vec<NS> = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect();
    let mut child_flags = CloneFlags::empty();
    for t in &nss {
        if *t != NS::Pid {
            child_flags |= flag(*t);
        }
    }
    let cgroup = st.cgroup.sub(opts.sub_cgroup)?;
    let seccomp = match st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    // Exec'd processes share the container's NUMA policy, as its init's
    // children would.
    let mempolicy = crate::process::mempolicy::from_spec(&st.config)?;
    crate::timing::mark("sub-cgroup+seccomp compile+mempolicy");
    let console = opts.console.connect()?;
    let (parent_ch, child_ch) = sync::pair()?;
    // Go is queued before the clone: nothing of the runtime's has to happen
    // before the exec child goes on (it moves itself into the v1 cgroups),
    // so it never waits to be scheduled after us. It reads Go once its
    // pdeathsig is set, then checks that our end is still open.
    parent_ch.send(&Msg::Go)?;
    if nss.contains(&NS::Pid) {
        child_flags |= CloneFlags::CLONE_NEWPID;
    }
    // Created in the cgroup2 directory (the middle process already); the
    // exec child moves itself into the v1 ones (cgroups/place.rs).
    let (cgroup_fd, placement) = cgroup.placement()?;
    // Read now: /proc/self is not the runtime's inside the visit.
    let rootless = crate::rootless::active();
    let spawned = Spawn {
        pidfd: &pidfd,
        cgroup_fd,
        rootless,
        parent_ch: Some(parent_ch),
        child_ch,
        console,
        placement,
        opts,
        seccomp: seccomp.as_ref(),
        mempolicy: mempolicy.as_ref(),
    };
    // One step needs a mount namespace to visit (without one the child
    // would be in the container's pid namespace with the host's root until
    // its chroot), no container process that may ptrace the runtime's
    // (the child holds the runtime's descriptors for a moment after its
    // birth), and a runtime that may enter the container's namespaces and
    // surely come back: root in the initial user namespace. Rootless (uid
    // 0 in a user namespace too, as under rootless podman) it may enter a
    // pid namespace owned by its user namespace but never go back to its
    // own, owned by the host's.
    let visit = if shares_mount_ns || may_ptrace || rootless {
        None
    } else {
        match visit::Visit::enter(pidfd.as_fd(), child_flags & visit::VISITED) {
            Ok(v) => Some(v),
            Err(e) => {
                crate::logger::debug(&format!(
                    "exec: the runtime cannot enter the container's namespaces ({e}); a middle process joins them"
                ));
                None
            }
        }
    };
    let (pid, parent_ch) = match visit {
        Some(v) => {
            let r = spawned.one_step(v, child_flags - visit::VISITED)?;
            crate::timing::mark("visit namespaces+clone");
            r
        }
        None => {
            let r = spawned.two_steps(child_flags, root)?;
            crate::timing::mark("clone+join namespaces+fork");
            r
        }
    };
    parent_ch.set_peer(pid);
    let res = (|| loop {
        match parent_ch.recv()? {
            None => return Ok(()),
            Some(Msg::SeccompFd(fd)) => {
                if let Some(f) = seccomp.as_ref() {
                    super::forward_notify_fd(f, &fd, st)?;
                }
            }
            Some(Msg::Failed(e)) => return Err(Error::new(e)),
            Some(m) => return Err(Error::new(format!("sync: unexpected {m:?}"))),
        }
    })();
    if let Err(e) = res {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(e.context("exec"));
    }
    crate::timing::mark("process setup+execve");
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}

/// What the clone of the exec child needs, in either shape.
struct Spawn<'a> {
    pidfd: &'a OwnedFd,
    cgroup_fd: Option<OwnedFd>,
    rootless: bool,
    /// The runtime's end; None in the processes forked here.
    parent_ch: Option<sync::Channel>,
    child_ch: sync::Channel,
    console: Option<UnixStream>,
    placement: crate::cgroups::SelfPlacement,
    opts: &'a ExecOptions<'a>,
    seccomp: Option<&'a crate::seccomp::Filter>,
    mempolicy: Option<&'a process::mempolicy::Policy>,
}

impl Spawn<'_> {
    /// clone3 into the container's cgroup2 directory. A rootless caller
    /// outside the subtree delegated to the user (the user's systemd
    /// instance) may not move a process there (that needs write access to
    /// the common ancestor of both cgroups): runc leaves the process where
    /// the caller is, then. The bool says so, to be logged by the caller
    /// (nothing may be logged inside a visit).
    fn clone(&self, flags: u64) -> (Result<i32>, bool) {
        let res = clone3(flags, self.cgroup_fd.as_ref());
        if self.cgroup_fd.is_some()
            && self.rootless
            && matches!(
                res.as_ref().map_err(|e| e.errno()),
                Err(Some(libc::EACCES | libc::EPERM))
            )
        {
            return (clone3(flags, None), true);
        }
        (res, false)
    }

    fn warn_outside_cgroup(outside: bool) {
        if outside {
            crate::logger::warn(
                "exec: the container's cgroup is not reachable from the caller's (not in the user's delegated subtree): the process stays in the caller's cgroup",
            );
        }
    }

    /// In the forked exec child, already in the container's namespaces but
    /// `join` (those only a process of its own may join): never returns.
    fn run_child(mut self, join: CloneFlags) -> ! {
        // No host directory fd may stay open below (CVE-2024-21626), and
        // only the runtime may hold its end (the child watches it close).
        self.cgroup_fd = None;
        self.parent_ch = None;
        let err = match join_in_child(self.pidfd, join).and_then(|()| {
            child(
                &self.child_ch,
                self.console.as_ref(),
                self.opts,
                self.seccomp,
                self.mempolicy,
                self.placement,
            )
        }) {
            Ok(plan) => plan.exec(),
            Err(e) => e,
        };
        let _ = self.child_ch.send(&Msg::Failed(err.to_string()));
        // SAFETY: _exit skips destructors of the parent's copied state.
        unsafe { libc::_exit(127) }
    }

    /// One clone: the runtime visits the container's namespaces (`v`, see
    /// visit.rs), clones the exec child there and comes back at once; the
    /// child joins `join` itself. Returns its host pid, straight from
    /// clone3.
    fn one_step(mut self, v: visit::Visit, join: CloneFlags) -> Result<(i32, sync::Channel)> {
        // Inherited by the child from its first instruction on: it is
        // visible in the container's pid namespace from its birth.
        let dumpable = nix::sys::prctl::get_dumpable().unwrap_or(false);
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            drop(v);
            return Err(Error::os("exec: set non-dumpable", e));
        }
        let (forked, outside) = self.clone(0);
        if forked.as_ref().is_ok_and(|p| *p == 0) {
            v.stay();
            self.run_child(join);
        }
        if let Err(e) = v.leave() {
            if let Ok(p) = forked {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(p), None);
            }
            visit::abandon(&e);
        }
        if dumpable {
            // Only the runtime's own: the child has its own copy of the
            // flag. Failing would only leave the runtime non-dumpable.
            let _ = nix::sys::prctl::set_dumpable(true);
        }
        Self::warn_outside_cgroup(outside);
        let pid = forked?;
        let parent_ch = self.parent_end()?;
        drop(self);
        Ok((pid, parent_ch))
    }

    fn parent_end(&mut self) -> Result<sync::Channel> {
        self.parent_ch
            .take()
            .ok_or_else(|| Error::new("exec: sync: the runtime's end is gone"))
    }

    /// The fallback: a middle process in the host's pid namespace joins
    /// every namespace of the container (`flags`), takes the init's `root`
    /// when there is no mount namespace, forks the exec child as the
    /// runtime's child (CLONE_PARENT), reports its pid and exits. Returns
    /// the child's host pid.
    fn two_steps(
        mut self,
        flags: CloneFlags,
        root: Option<OwnedFd>,
    ) -> Result<(i32, sync::Channel)> {
        let (middle, outside) = self.clone(0);
        Self::warn_outside_cgroup(outside);
        if middle.as_ref().is_ok_and(|p| *p == 0) {
            // No host directory fd may stay open below (CVE-2024-21626).
            self.cgroup_fd = None;
            self.parent_ch = None;
            match join_and_fork(self.pidfd, flags, root) {
                Ok(0) => self.run_child(CloneFlags::empty()),
                Ok(pid) => {
                    let _ = self.child_ch.send(&Msg::InitPid(pid));
                    // SAFETY: _exit skips destructors of the parent's copied state.
                    unsafe { libc::_exit(0) }
                }
                Err(e) => {
                    let _ = self.child_ch.send(&Msg::Failed(e.to_string()));
                    // SAFETY: as above.
                    unsafe { libc::_exit(127) }
                }
            }
        }
        let middle = Pid::from_raw(middle?);
        drop(root);
        let parent_ch = self.parent_end()?;
        drop(self);
        // Go was queued before the clone (the middle process never reads):
        // the exec child goes on as soon as it exists instead of waiting for
        // this process to hear of it, reap the middle and answer.
        let first = parent_ch.recv();
        let _ = waitpid(middle, None);
        match first? {
            Some(Msg::InitPid(p)) => Ok((p, parent_ch)),
            Some(Msg::Failed(e)) => {
                // With Go queued early the child can fail before the middle
                // has reported its pid. It is our child (CLONE_PARENT): reap
                // it, or it stays a zombie in the container's pid namespace,
                // whose init then cannot finish exiting, so `delete` finds the
                // cgroup busy. The middle has exited, so its report (or EOF)
                // is already queued.
                if let Ok(Some(Msg::InitPid(p))) = parent_ch.recv() {
                    let _ = waitpid(Pid::from_raw(p), None);
                }
                Err(Error::new(e).context("exec"))
            }
            Some(m) => Err(Error::new(format!("exec: sync: unexpected {m:?}"))),
            None => Err(Error::new(
                "exec: the process joining the container's namespaces exited",
            )),
        }
    }
}

/// In a one-step exec child: the namespaces the runtime could not visit.
fn join_in_child(pidfd: &OwnedFd, flags: CloneFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    // One call: user namespace first is the kernel's own order here.
    setns(pidfd.as_fd(), flags).context("exec: join the container's namespaces")
}

/// In the middle process: joins the container's namespaces (pid: for the
/// children) and forks the exec child as a child of the runtime. Returns 0
/// in the exec child, its host pid in the middle process.
fn join_and_fork(pidfd: &OwnedFd, flags: CloneFlags, root: Option<OwnedFd>) -> Result<i32> {
    // Inherited by the exec child from its first instruction on.
    nix::sys::prctl::set_dumpable(false).context("exec: set non-dumpable")?;
    if !flags.is_empty() {
        // One call: user namespace first is the kernel's own order here.
        setns(pidfd.as_fd(), flags).context("exec: join the container's namespaces")?;
    }
    if let Some(root) = root {
        nix::unistd::fchdir(root.as_raw_fd()).context("exec: enter the container's root")?;
        nix::unistd::chroot(".").context("exec: chroot to the container's root")?;
        nix::unistd::chdir("/").context("exec: chdir /")?;
    }
    clone3(libc::CLONE_PARENT as u64, None)
}

/// The root directory of the container's init, for a container that has
/// no mount namespace of its own.
fn open_init_root(pid: i32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/root");
    nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    // SAFETY: open returned a fresh descriptor we now own.
    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
    .with_context(|| format!("exec: open {path}"))
}

/// The exec child, already in every namespace of the container.
fn child(
    ch: &sync::Channel,
    console: Option<&UnixStream>,
    opts: &ExecOptions,
    seccomp: Option<&crate::seccomp::Filter>,
    mempolicy: Option<&process::mempolicy::Policy>,
    cgroup: crate::cgroups::SelfPlacement,
) -> Result<process::ExecPlan> {
    // The runtime is our parent now: die with it. If it died before the
    // pdeathsig was set, we were reparented already: stop here.
    let deathsig = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    ch.expect(Msg::Go)?;
    deathsig.context("exec: pdeathsig")?;
    if ch.peer_gone() {
        return Err(Error::new("exec: the runtime exited"));
    }
    cgroup.join().context("exec")?;
    // Host cgroup files: closed at once, not just on exec.
    drop(cgroup);
    if let Some(fds) = opts.stdio {
        process::stdio::install(fds)?;
    }
    process::sched::apply_initial_affinity(Some(&opts.process))?;
    if let Some(p) = opts.personality.as_ref() {
        process::sched::apply_personality(p)?;
    }
    if let Some(m) = mempolicy {
        m.apply()?;
    }
    if let Some(c) = console {
        nix::unistd::setsid().context("exec: setsid")?;
        let size = opts
            .process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        terminal::setup(c.as_raw_fd(), size, false)?;
    }
    let plan = process::prepare(&opts.process, opts.preserve_fds, seccomp)?;
    // The filter goes in where runc 1.1 puts it: before the capability drop
    // without no_new_privs, right before execve with it. From there on only
    // the syscalls listed in docs/architecture.md are made.
    let mut notify = plan.credentials()?;
    nix::sys::prctl::set_pdeathsig(None).context("exec: clear pdeathsig")?;
    if plan.no_new_privileges() {
        notify = plan.late_filter()?;
    }
    if let Some(fd) = notify {
        ch.send(&Msg::SeccompFd(fd))?;
    }
    Ok(plan)
}

fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    crate::sys::process::pidfd_open(pid)
        .map_err(|e| Error::io(format!("pidfd_open {pid}"), e.into()))
}
