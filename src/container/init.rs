//! The container init, child side: the order of container setup, top to
//! bottom. Runs in the clone3 child (already in its new namespaces) and never
//! returns: it execs the user program or exits.

use super::sync::{Channel, Msg};
use crate::error::{Context, Error, Result};
use crate::namespaces::{self, Plan};
use crate::process::{self, terminal, ExecPlan};
use crate::rootfs;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use oci_spec::runtime::{LinuxNamespaceType as NS, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub id: &'a str,
    pub plan: &'a Plan,
    pub channel: Channel,
    /// O_PATH fd of the state dir's FIFO that `start` opens (see
    /// `wait_for_start`); in an early launch set when it comes with Go.
    pub start_fifo: std::cell::OnceCell<OwnedFd>,
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The state-dir lock inherited from the parent.
    pub close_first: Option<RawFd>,
    pub stdio: Option<[RawFd; 3]>,
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// Mount sources the runtime opened on the host (rootfs::Sources).
    pub sources: &'a rootfs::Sources,
    /// linux.memoryPolicy.
    pub memory_policy: Option<&'a process::mempolicy::Policy>,
    /// Namespaces are joined and created by a middle process that forked
    /// this init (see `middle`): Go, maps and joins are already done.
    pub via_middle: bool,
    /// The v1 cgroups the init moves itself into once told to go on
    /// (cgroups/place.rs); taken then, so the files are closed at once.
    /// None when a middle process did it.
    pub cgroup: std::cell::Cell<Option<crate::cgroups::SelfPlacement>>,
    /// The container's cgroup2 directory on the host, if it has one (a
    /// `cgroup` mount that cannot be made fresh binds it instead).
    pub cgroup2_dir: Option<&'a Path>,
    /// Early launch (`container::launch`): the init was cloned before the
    /// rest of this cgroup existed and without its new network namespace,
    /// which it makes itself before Go; the start FIFO and the v1 `tasks`
    /// files of this cgroup come with Go.
    pub early: Option<&'a crate::cgroups::Cgroup>,
}

pub fn run(args: InitArgs) -> ! {
    if let Some(fd) = args.close_first {
        let _ = nix::unistd::close(fd);
    }
    let channel = &args.channel;
    if let Some(fds) = args.stdio {
        if let Err(e) = process::stdio::install(fds) {
            let _ = channel.send(&Msg::Failed(e.to_string()));
            // SAFETY: see below.
            unsafe { libc::_exit(1) }
        }
    }
    let err = match setup(&args) {
        Ok(prepared) => {
            // From here the runtime may exit: the init must outlive it.
            if let Err(e) = nix::sys::prctl::set_pdeathsig(None) {
                exit_with(Error::os("init: clear pdeathsig", e));
            }
            if let Err(e) = channel.send(&Msg::Ready) {
                exit_with(e);
            }
            match prepared {
                Prepared::NoProcess => wait_forever(),
                Prepared::Exec(p) => {
                    let conn = wait_for_start(&p.fifo);
                    exec_user(&args, *p, conn)
                }
            }
        }
        Err(e) => e,
    };
    let _ = channel.send(&Msg::Failed(err.to_string()));
    // SAFETY: _exit ends this process without running the parent's atexit
    // handlers or destructors that belong to the parent's copy of the state.
    unsafe { libc::_exit(1) }
}

fn exit_with(e: Error) -> ! {
    crate::logger::error(&e.to_string());
    // SAFETY: see above.
    unsafe { libc::_exit(1) }
}

enum Prepared {
    NoProcess,
    Exec(Box<Ready>),
}

/// A process set up and waiting for `start`.
struct Ready {
    plan: ExecPlan,
    /// Host pid, for the startContainer hooks' state.
    host_pid: i32,
    /// /proc/self/fd/N of the start FIFO, built before the seccomp filter.
    fifo: std::ffi::CString,
}

fn setup(a: &InitArgs) -> Result<Prepared> {
    let spec = a.spec;
    crate::timing::begin("init");
    // The runtime may run with signals blocked (`run` forwards them): the
    // user program must start with a clean mask.
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .context("init: reset signal mask")?;
    // Die with the runtime while it still supervises setup.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("init: set pdeathsig")?;
    // Others in the container must not ptrace this process or open its
    // /proc/<pid>/exe (the runtime binary) while it runs runtime code.
    // Rootless: an unprivileged runtime writes the id maps (and setgroups)
    // of a dumpable process only; nothing of the container runs before Go,
    // and the init turns non-dumpable right after it.
    let maps_later = !a.via_middle && a.plan.creates(NS::User) && crate::rootless::euid_rootless();
    if !maps_later {
        nix::sys::prctl::set_dumpable(false).context("init: set non-dumpable")?;
    }

    if a.early.is_some() {
        // While the runtime makes the rest of the cgroup and the limits:
        // only kist code runs here until Go (this unshare, then the wait),
        // so nothing of the container's runs outside its cgroups or limits.
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("{}: create the network namespace", netns_field(spec)))?;
        crate::timing::mark("network namespace");
    }

    if a.via_middle {
        if a.plan.has(NS::User) {
            become_root_in_userns()?;
        }
    } else {
        let mut placement = a.cgroup.take();
        match a.early {
            Some(cgroup) => {
                let mut files = a
                    .channel
                    .expect_go_with()
                    .context("init: wait for the runtime")?
                    .into_iter();
                let fifo = files
                    .next()
                    .ok_or_else(|| Error::new("init: no start FIFO came with Go"))?;
                let _ = a.start_fifo.set(fifo);
                placement = Some(crate::cgroups::SelfPlacement::adopt(
                    cgroup,
                    files.collect(),
                )?);
            }
            None => a
                .channel
                .expect(Msg::Go)
                .context("init: wait for the runtime")?,
        }
        if maps_later {
            nix::sys::prctl::set_dumpable(false).context("init: set non-dumpable")?;
        }
        // Before anything of the container's runs, as runc places its init.
        crate::timing::mark("wait for Go");
        if let Some(p) = placement {
            p.join()?;
        }
        crate::timing::mark("v1 cgroups");
        if a.plan.creates(NS::User) {
            become_root_in_userns()?;
        }
        namespaces::join_in_child(a.plan)?;
    }
    if a.plan.creates(NS::Cgroup) {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .context("linux.namespaces: create cgroup namespace")?;
    }
    process::sched::apply_initial_affinity(spec.process().as_ref())?;
    nix::unistd::setsid().context("init: setsid")?;
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        // /proc is still the host's here: no container-planted procfs.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).with_context(|| {
            format!("process.oomScoreAdj {adj}: write /proc/self/oom_score_adj (lowering it needs CAP_SYS_RESOURCE)")
        })?;
    }
    if !a.no_new_keyring {
        join_session_keyring(a.id)?;
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).with_context(|| format!("hostname {h:?}: sethostname"))?;
    }
    if let Some(d) = spec.domainname() {
        set_domainname(d)?;
    }
    crate::timing::mark("namespaces+session+hostname");

    let rcfg = rootfs::RootfsConfig {
        spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        no_pivot: a.no_pivot,
        host_mount_ns: !a.plan.has(NS::Mount),
        joined_mount_ns: a.plan.joined(NS::Mount),
        in_new_userns: a.plan.has(NS::User),
        cgroupns: a.plan.creates(NS::Cgroup),
        defer_proc: a.plan.defers_pid_join(spec),
        sources: a.sources,
        cgroup2_dir: a.cgroup2_dir,
    };
    rootfs::prepare(&rcfg).context("rootfs")?;
    crate::timing::mark("rootfs prepare");

    let hooks = spec.hooks().as_ref();
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if runtime_hooks {
        a.channel.send(&Msg::RunHooks)?;
        a.channel.expect(Msg::HooksDone)?;
        crate::timing::mark("runtime hooks");
    }
    let pid = host_pid();
    if let Some(cc) = hooks.and_then(|h| h.create_container().as_ref()) {
        // runc runs them from the root filesystem (hooks use relative paths).
        std::env::set_current_dir(a.rootfs)
            .with_context(|| format!("hooks.createContainer: chdir {}", a.rootfs.display()))?;
        crate::hooks::run_all("createContainer", Some(cc), &hook_state(a, "created", pid))?;
    }
    crate::timing::mark("host pid+createContainer hooks");

    rootfs::enter(&rcfg).context("rootfs: enter")?;
    crate::timing::mark("pivot_root");
    if rcfg.defer_proc {
        join_pid_namespace_late(a)?;
        rootfs::mount_deferred_proc(&rcfg).context("rootfs")?;
    }
    if let Some(c) = &a.console {
        let size = spec
            .process()
            .as_ref()
            .and_then(|p| p.console_size())
            .map(|b| (b.height() as u16, b.width() as u16));
        terminal::setup(c.as_raw_fd(), size, true)?;
    }
    rootfs::finish(&rcfg).context("rootfs: finish")?;
    rootfs::apply_sysctl(spec)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        process::sched::apply_personality(p)?;
    }

    if let Some(mp) = a.memory_policy {
        mp.apply()?;
    }

    crate::timing::mark("console+masked paths+sysctl+mempolicy");
    let Some(proc_) = spec.process() else {
        crate::timing::report();
        return Ok(Prepared::NoProcess);
    };
    let fifo = start_fifo_path(
        a.start_fifo
            .get()
            .ok_or_else(|| Error::new("init: no start FIFO"))?,
    )?;
    let plan = process::prepare(proc_, a.preserve_fds, a.seccomp)?;
    // The seccomp filter goes in where runc 1.1 installs it. Without
    // no_new_privs: here, before the capability drop, so the init waits for
    // `start` under it (as runc's does). With it: right before the
    // startContainer hooks and execve, after `start`; a NOTIFY filter is
    // the exception, its fd must reach the runtime before `create` returns.
    // Everything the process does after the filter is listed in
    // docs/architecture.md.
    // (Boxed first: nothing after the filter allocates.)
    let ready = Box::new(Ready {
        plan,
        host_pid: pid,
        fifo,
    });
    crate::timing::mark("process");
    // Logged before the seccomp filter, which may forbid what logging needs.
    crate::timing::report();
    let mut notify = ready.plan.credentials()?;
    if ready.plan.notify() && ready.plan.no_new_privileges() {
        notify = ready.plan.late_filter()?;
    }
    if let Some(fd) = notify {
        a.channel.send(&Msg::SeccompFd(fd))?;
    }
    Ok(Prepared::Exec(ready))
}

/// The path through which the init reopens the start FIFO for writing
/// (blocking until `start` opens it for reading), checked now: it needs
/// procfs at /proc in the container, as runc's exec.fifo does.
fn start_fifo_path(fd: &OwnedFd) -> Result<std::ffi::CString> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let want = nix::sys::stat::fstat(fd.as_raw_fd()).context("init: stat the start FIFO")?;
    let same = nix::sys::stat::stat(path.as_str())
        .is_ok_and(|st| st.st_dev == want.st_dev && st.st_ino == want.st_ino);
    if !same {
        return Err(Error::new(format!(
            "init: {path} does not lead to the start FIFO: waiting for `start` needs procfs mounted at /proc in the container"
        )));
    }
    std::ffi::CString::new(path).map_err(|_| Error::new("init: start FIFO path"))
}

/// After pivot_root, joins the pid namespace given by path and forks the
/// real init there as the runtime's child (CLONE_PARENT); this process
/// exits. Returns only in the new init, which has told the runtime its pid.
fn join_pid_namespace_late(a: &InitArgs) -> Result<()> {
    let j = a
        .plan
        .joins
        .iter()
        .find(|j| j.typ == NS::Pid)
        .ok_or_else(|| Error::new("linux.namespaces: no pid namespace to join"))?;
    nix::sched::setns(std::os::fd::AsFd::as_fd(&j.fd), CloneFlags::CLONE_NEWPID)
        .with_context(|| format!("linux.namespaces[{}]: setns", j.index))?;
    if super::clone3(CLONE_PARENT, None)? != 0 {
        // SAFETY: this process's part is done; _exit skips destructors of
        // state shared with the new init.
        unsafe { libc::_exit(0) }
    }
    // A fork clears the death signal; the session must be ours for a tty.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("init: set pdeathsig")?;
    nix::unistd::setsid().context("init: setsid")?;
    a.channel.send(&Msg::InitPid(0))
}

/// Our pid as the host sees it: valid only before pivot_root, while /proc is
/// the host's.
fn host_pid() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_string_lossy().parse().ok())
        .unwrap_or(0)
}

fn hook_state(a: &InitArgs, status: &str, pid: i32) -> Vec<u8> {
    crate::state::hook_state(a.id, status, pid, a.bundle, a.spec)
}

/// `linux.namespaces[i]` of the new network namespace, for its errors.
fn netns_field(spec: &Spec) -> String {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| {
            ns.iter()
                .position(|n| n.typ() == NS::Network && n.path().is_none())
        })
        .map_or_else(
            || "linux.namespaces".into(),
            |i| format!("linux.namespaces[{i}]"),
        )
}

fn become_root_in_userns() -> Result<()> {
    let root = nix::unistd::Uid::from_raw(0);
    let rootg = nix::unistd::Gid::from_raw(0);
    nix::unistd::setresgid(rootg, rootg, rootg)
        .context("linux.gidMappings: become gid 0 in the user namespace (is 0 mapped?)")?;
    nix::unistd::setresuid(root, root, root)
        .context("linux.uidMappings: become uid 0 in the user namespace (is 0 mapped?)")?;
    Ok(())
}

fn set_domainname(d: &str) -> Result<()> {
    // SAFETY: setdomainname reads exactly len bytes from a buffer we own.
    let rc = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
    if rc != 0 {
        return Err(Error::io(
            format!("domainname {d:?}: setdomainname"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// A fresh session keyring so the container cannot read the host's keys.
fn join_session_keyring(id: &str) -> Result<()> {
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    match crate::sys::process::join_session_keyring(&name) {
        // Keyrings may be unavailable (old kernel, nested); runc tolerates only that.
        Ok(()) | Err(nix::errno::Errno::ENOSYS) => Ok(()),
        Err(e) => Err(Error::io(
            "init: join a new session keyring (use --no-new-keyring to skip)",
            e.into(),
        )),
    }
}

/// Blocks until `start` opens the FIFO for reading: opening it for writing
/// waits for a reader. openat is the only syscall here, as in runc (the
/// seccomp filter may be in place already). The fd is close-on-exec:
/// `start` reads EOF once exec succeeded, or the error written to it.
fn wait_for_start(path: &std::ffi::CStr) -> OwnedFd {
    loop {
        // SAFETY: open reads a NUL-terminated path; the fd it returns is ours.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: just returned by open, owned by nothing else.
            return unsafe { OwnedFd::from_raw_fd(fd) };
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            // `start` sees the init gone; the reason goes to the log.
            exit_with(Error::io(
                format!("init: wait for start: open {}", path.to_string_lossy()),
                e,
            ));
        }
    }
}

/// A container without `process` waits until it is killed: `start` refuses it.
fn wait_forever() -> ! {
    loop {
        nix::unistd::pause();
    }
}

fn exec_user(a: &InitArgs, r: Ready, conn: OwnedFd) -> ! {
    let res = (|| -> Result<()> {
        // runc 1.1 runs startContainer hooks under the filter: a profile
        // that denies mkdir denies it to them too.
        if !r.plan.notify() {
            r.plan.late_filter()?;
        }
        if let Some(sc) = a
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_ref())
        {
            let state = hook_state(a, "running", r.host_pid);
            crate::hooks::run_all("startContainer", Some(sc), &state)?;
        }
        Ok(())
    })();
    let err = match res {
        Ok(()) => r.plan.exec(),
        Err(e) => e,
    };
    let msg = err.to_string();
    // SAFETY: write reads msg.len() bytes from a buffer we own.
    let _ = unsafe { libc::write(conn.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
    // SAFETY: see run().
    unsafe { libc::_exit(127) }
}

/// The middle process of a two-step launch: joins the namespaces given by
/// path (in the order of namespaces::join_in_child), creates the new ones
/// (the runtime writes the id maps meanwhile), then forks the init as a sibling (CLONE_PARENT), so the
/// runtime is the init's parent as in a one-step launch, and exits. Returns
/// only in the init, which has told the runtime its pid.
pub fn middle(
    plan: &Plan,
    channel: &Channel,
    cgroup: Option<crate::cgroups::SelfPlacement>,
) -> Result<()> {
    channel
        .expect(Msg::Go)
        .context("middle: wait for the runtime")?;
    // The init it forks inherits the cgroups.
    if let Some(p) = cgroup {
        p.join()?;
    }
    namespaces::join_in_child(plan)?;
    let new = plan.clone_flags - CloneFlags::CLONE_NEWCGROUP;
    if !new.is_empty() {
        nix::sched::unshare(new).context("linux.namespaces: create namespaces")?;
    }
    if plan.creates(NS::User) {
        channel.send(&Msg::WriteMaps)?;
        channel.expect(Msg::MapsDone)?;
    }
    let pid = super::clone3(CLONE_PARENT, None)?;
    if pid != 0 {
        // SAFETY: the middle's work is done; _exit skips the destructors of
        // state copied from the runtime.
        unsafe { libc::_exit(0) }
    }
    channel.send(&Msg::InitPid(0))
}

const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;
