//! `exec`: a new process in a running container, in two steps so that no
//! process of ours is ever in the container's pid namespace while it is
//! still in the host's others. The runtime (re-executed from a sealed copy
//! first when `seal` asks for it) clones a middle process in the host's pid
//! namespace, straight into the container's cgroup on cgroup v2
//! (CLONE_INTO_CGROUP). The middle process turns non-dumpable, joins every
//! namespace of the container at once through a pidfd of its init (so the
//! container cannot be swapped for another between lookups), takes the
//! init's root when there is no mount namespace to join, forks the exec
//! child as the runtime's child (CLONE_PARENT), reports its pid and exits.
//! The runtime moves the child into the v1 cgroups, lets it go, and relays
//! a seccomp notify fd if the filter has one; the child applies `process`
//! as the init does and execs. The sync channel is close-on-exec: EOF tells
//! the runtime the exec happened.

use super::sync::{self, Msg};
use super::{clone3, write_pid_file};
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
    super::seal::ensure(&st.config, Some(&opts.process), running.as_deref())?;
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
    if nss.contains(&NS::Pid) {
        child_flags |= CloneFlags::CLONE_NEWPID;
    }
    // Created in the cgroup2 directory (the middle process already); the
    // exec child moves itself into the v1 ones (cgroups/place.rs).
    let (cgroup_fd, placement) = cgroup.placement()?;
    // Two steps, so that no process of ours is ever visible in the
    // container's pid namespace while it is still in the host's other
    // namespaces: a container process with CAP_SYS_PTRACE could read and
    // write host files through its /proc/<pid>/root, or ptrace it. The
    // middle process, in the host's pid namespace, joins every namespace,
    // forks the exec child as our child (CLONE_PARENT), reports its pid and
    // exits.
    let mut middle = clone3(0, cgroup_fd.as_ref());
    if cgroup_fd.is_some()
        && crate::rootless::active()
        && matches!(
            middle.as_ref().map_err(|e| e.errno()),
            Err(Some(libc::EACCES | libc::EPERM))
        )
    {
        // Moving into a cgroup needs write access to the common ancestor of
        // the caller's cgroup and the container's: a rootless caller outside
        // the subtree delegated to the user (the user's systemd instance)
        // has none. runc leaves the process where the caller is, then.
        crate::logger::warn(
            "exec: the container's cgroup is not reachable from the caller's (not in the user's delegated subtree): the process stays in the caller's cgroup",
        );
        middle = clone3(0, None);
    }
    if middle.as_ref().is_ok_and(|p| *p == 0) {
        // No host directory fd may stay open below (CVE-2024-21626).
        drop(parent_ch);
        drop(cgroup_fd);
        let err = match join_and_fork(&pidfd, child_flags, root) {
            Ok(0) => match child(
                &child_ch,
                console.as_ref(),
                opts,
                seccomp.as_ref(),
                mempolicy.as_ref(),
                placement,
            ) {
                Ok(plan) => plan.exec(),
                Err(e) => e,
            },
            Ok(pid) => {
                let _ = child_ch.send(&Msg::InitPid(pid));
                // SAFETY: _exit skips destructors of the parent's copied state.
                unsafe { libc::_exit(0) }
            }
            Err(e) => e,
        };
        let _ = child_ch.send(&Msg::Failed(err.to_string()));
        // SAFETY: as above.
        unsafe { libc::_exit(127) }
    }
    let middle = Pid::from_raw(middle?);
    drop(placement);
    drop(child_ch);
    drop(console);
    drop(cgroup_fd);
    // Go is queued at once (the middle process never reads): the exec
    // child goes on as soon as it exists instead of waiting for this
    // process to hear of it, reap the middle and answer; three scheduling
    // hand-offs fewer. The child checks that our end is still open instead.
    let go = parent_ch.send(&Msg::Go);
    let first = go.and_then(|()| parent_ch.recv());
    let _ = waitpid(middle, None);
    let pid = match first? {
        Some(Msg::InitPid(p)) => p,
        Some(Msg::Failed(e)) => {
            // With Go queued at once the child can fail before the middle
            // has reported its pid. It is our child (CLONE_PARENT): reap
            // it, or it stays a zombie in the container's pid namespace,
            // whose init then cannot finish exiting, so `delete` finds the
            // cgroup busy. The middle has exited, so its report (or EOF)
            // is already queued.
            if let Ok(Some(Msg::InitPid(p))) = parent_ch.recv() {
                let _ = waitpid(Pid::from_raw(p), None);
            }
            return Err(Error::new(e).context("exec"));
        }
        Some(m) => return Err(Error::new(format!("exec: sync: unexpected {m:?}"))),
        None => {
            return Err(Error::new(
                "exec: the process joining the container's namespaces exited",
            ))
        }
    };
    parent_ch.set_peer(pid);
    crate::timing::mark("clone+join namespaces+fork");
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
