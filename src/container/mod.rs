//! The container process model, parent side.
//!
//! `create` runs in the runtime process and makes the container init with a
//! single clone3 that creates every new namespace at once (and, on cgroup2,
//! lands it directly in its cgroup). Parent and init then talk over a
//! SOCK_SEQPACKET pair (see `sync`):
//!
//! ```text
//! parent                               init (container/init.rs)
//! clone3(new namespaces) ───────────▶  waits for Go
//! uid/gid maps
//! Go ───────────────────────────────▶  v1 cgroups (writes itself into
//!                                      `tasks`), joins namespaces by path,
//!                                      hostname,
//!                                      rootfs::prepare (mounts, devices)
//!                    ◀──────────────── RunHooks (only if hooks exist)
//! prestart + createRuntime hooks
//! HooksDone ────────────────────────▶  createContainer hooks, pivot_root,
//!                                      console, masked/ro paths, sysctl,
//!                                      process (see process::prepare);
//!                                      without noNewPrivileges: seccomp,
//!                                      then user and capabilities
//!                    ◀──────────────── Ready; then blocks opening the
//! state.json, pid file; exit           write end of <state>/start.sock
//! ```
//!
//! `start` opens the FIFO for reading: the init's open returns, it installs
//! a noNewPrivileges filter, runs startContainer hooks and execs the user
//! program; its end is close-on-exec, so `start` reads EOF on success and
//! an error message otherwise.

pub mod exec;
pub mod init;
pub mod seal;
pub mod sync;

use crate::cgroups::Cgroup;
use crate::config::{self, Bundle};
use crate::error::{Context, Error, Result};
use crate::namespaces::{self, Plan};
use crate::process::{capabilities, fds};
use crate::state::{self, Container, State};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use sync::Msg;

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console: crate::process::terminal::Console<'a>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Fds to install as the init's 0, 1, 2 (foreground `run`); None
    /// inherits the runtime's own.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    /// `--systemd-cgroup`: the cgroup is a systemd unit.
    pub systemd_cgroup: bool,
    /// `run`: the start FIFO is opened for reading as soon as the init
    /// exists ([`Created::start_fifo`]), so the init goes on to exec the
    /// moment it is ready instead of waiting for this process to come
    /// round to `start`. Ignored for a config without `process`.
    pub start_now: bool,
}

pub struct Created {
    pub container: Container,
    pub state: State,
    /// With [`CreateOptions::start_now`]: the read end of the start FIFO,
    /// for `lifecycle::start_opened`.
    pub start_fifo: Option<OwnedFd>,
}

/// Everything `create` does; on error nothing is left behind.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    state::validate_id(opts.id)?;
    let bundle = config::load_bundle(opts.bundle)?;
    crate::timing::mark("load config");
    create_from(opts, bundle)
}

/// `create` with the bundle already loaded (`run` looks at it first).
pub fn create_from(opts: &CreateOptions, mut bundle: Bundle) -> Result<Created> {
    // Socket activation: fds passed to us by systemd come first, then the
    // --preserve-fds ones, and the process is told about them (as runc).
    let listen = fds::listen_fds();
    if listen > 0 {
        if let Some(p) = bundle.spec.process_mut().as_mut() {
            let mut env = p.env().clone().unwrap_or_default();
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={listen}"));
            env.push("LISTEN_PID=1".into());
            p.set_env(Some(env));
        }
    }
    let preserve_fds = listen + opts.preserve_fds;
    fds::check_preserved(preserve_fds)?;
    let plan = Plan::from_spec(&bundle.spec)?;
    crate::rootless::check_config(&bundle.spec)?;
    crate::rootless::check_id_maps(&bundle.spec)?;
    crate::rootfs::validate_sysctl(&bundle.spec)?;
    check_process(&bundle, opts)?;
    let memory_policy = crate::process::mempolicy::from_spec(&bundle.spec)?;
    let net_devices = crate::netdev::from_spec(&bundle.spec)?;
    crate::timing::mark("validate");
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    crate::timing::mark("seccomp compile");
    let cgroups_path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let cgroup = if opts.systemd_cgroup {
        // rootless: the caller's own systemd instance, as runc
        Cgroup::new_systemd(cgroups_path.as_deref(), opts.id, crate::rootless::active())?
    } else {
        Cgroup::new(cgroups_path.as_deref(), opts.id)?
    };
    cgroup.check_existing()?;
    crate::timing::mark("cgroup layout");
    // Last step before anything exists: may restart the command.
    seal::ensure(&bundle.spec, None, Some(&[]))?;
    crate::timing::mark("seal check");
    // Before any namespace exists, with the runtime's own privileges.
    let sources = crate::rootfs::Sources::open(&bundle.spec, &bundle.dir, &bundle.rootfs)?;
    crate::timing::mark("open mount sources");

    let container = Container::create(opts.root, opts.id)?;
    crate::timing::mark("state dir");
    crash_point("state-dir");
    let mut cleanup = Cleanup {
        container: Some(container),
        cgroup: None,
        pid: None,
        host_rootfs: None,
    };
    // Recorded before anything else exists: if this process is killed from
    // here on (a shim's timeout, the OOM killer), the state names the
    // cgroups and, once cloned, the init, so `delete` can remove them. It
    // reads as stopped until the final save (see State::creating).
    let mut st = State {
        version: state::STATE_VERSION,
        id: opts.id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::rfc3339_nano(SystemTime::now()),
        owner: owner_name(),
        cgroup,
        config: bundle.spec.clone(),
        creating: true,
    };
    cleanup.save(&st)?;
    crash_point("recorded");
    crate::timing::mark("state.json");
    let start_fifo = launch(
        opts,
        preserve_fds,
        &bundle,
        &plan,
        seccomp.as_ref(),
        &mut st,
        sources,
        memory_policy,
        &net_devices,
        &mut cleanup,
    )?;
    let container = cleanup
        .disarm()
        .ok_or_else(|| Error::new("create: state directory handle lost"))?;
    Ok(Created {
        container,
        state: st,
        start_fifo,
    })
}

/// Test hook: `KIST_TEST_CRASH_CREATE=<step>` makes `create` SIGKILL itself
/// right after that step, as a shim's timeout or the OOM killer would. The
/// integration suite uses it to check that whatever a killed `create` left
/// can be listed and deleted.
fn crash_point(step: &str) {
    if std::env::var_os("KIST_TEST_CRASH_CREATE").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
    }
}

/// Undoes a half-done create when dropped armed.
struct Cleanup {
    container: Option<Container>,
    cgroup: Option<Cgroup>,
    pid: Option<Pid>,
    /// Without a mount namespace: root.path and the id of the mount it
    /// was on before the init stacked the container's mounts there.
    host_rootfs: Option<(PathBuf, u64)>,
}

impl Cleanup {
    fn save(&self, st: &State) -> Result<()> {
        match &self.container {
            Some(c) => c.save(st),
            None => Err(Error::new("create: state directory handle lost")),
        }
    }

    fn disarm(&mut self) -> Option<Container> {
        self.cgroup = None;
        self.pid = None;
        self.host_rootfs = None;
        self.container.take()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some((rootfs, below)) = self.host_rootfs.take() {
            if let Err(e) = crate::rootfs::hostns::detach_above(&rootfs, below) {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.remove() {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(c) = self.container.take() {
            if let Err(e) = c.remove() {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
    }
}

/// Checks that would otherwise only fail inside the init, where the error
/// costs a process and a cgroup.
fn check_process(bundle: &Bundle, opts: &CreateOptions) -> Result<()> {
    let Some(p) = bundle.spec.process() else {
        return Ok(());
    };
    if let Some(c) = p.capabilities() {
        capabilities::resolve(c)?;
    }
    if p.terminal().unwrap_or(false) && !opts.console.is_some() {
        return Err(Error::new(
            "process.terminal is true: --console-socket is required when detached",
        ));
    }
    if !p.terminal().unwrap_or(false) && opts.console.is_some() {
        return Err(Error::new(
            "--console-socket given but process.terminal is false",
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn launch(
    opts: &CreateOptions,
    preserve_fds: u32,
    bundle: &Bundle,
    plan: &Plan,
    seccomp: Option<&crate::seccomp::Filter>,
    st: &mut State,
    sources: crate::rootfs::Sources,
    memory_policy: Option<crate::process::mempolicy::Policy>,
    net_devices: &[crate::netdev::Device],
    cleanup: &mut Cleanup,
) -> Result<Option<OwnedFd>> {
    let dir = cleanup
        .container
        .as_ref()
        .map(|c| c.dir.clone())
        .unwrap_or_default();
    cleanup.cgroup = Some(st.cgroup.clone());
    if st.cgroup.driver.is_cgroupfs() {
        let explicit = bundle
            .spec
            .linux()
            .as_ref()
            .is_some_and(|l| l.cgroups_path().is_some());
        if st.cgroup.create_reachable(explicit)? {
            cleanup.cgroup = Some(st.cgroup.clone());
            cleanup.save(st)?;
        }
    } else {
        st.cgroup.create()?;
    }
    let cgroup = st.cgroup.clone();
    crate::timing::mark("cgroup create");
    crash_point("cgroup");
    // Limits are in place before the init enters the cgroup.
    if let Some(linux) = bundle.spec.linux() {
        let resources = linux.resources().clone().unwrap_or_default();
        cgroup.apply(&resources)?;
    }
    crate::timing::mark("cgroup limits");
    crash_point("limits");

    // The path of a unix socket is limited to 108 bytes; a long root or id
    // would not fit, so bind through a short /proc/self/fd path to the dir.
    let dir_fd = std::fs::File::open(&dir).with_context(|| format!("open {}", dir.display()))?;
    // The FIFO `start` opens: the init reopens this O_PATH fd for writing
    // through /proc/self/fd, which blocks until `start` is there (runc's
    // exec.fifo); a path short enough for any root, through the dir's fd.
    let fifo = fd_path(&dir_fd, state::START_SOCKET);
    let fifo_name = || dir.join(state::START_SOCKET).display().to_string();
    // Writable by all, as runc's: the init opens it after the user switch,
    // as any uid; only the 0700 state root guards the path.
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .with_context(|| format!("create FIFO {}", fifo_name()))?;
    nix::sys::stat::fchmodat(
        None,
        &fifo,
        nix::sys::stat::Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .with_context(|| format!("chmod {}", fifo_name()))?;
    let start_fifo: OwnedFd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(|fd| {
        // SAFETY: open just returned this fd and nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
    .with_context(|| format!("open {}", fifo_name()))?;
    drop(dir_fd);
    crate::timing::mark("start fifo");
    crash_point("listener");
    let console = opts.console.connect()?;
    let (parent_ch, child_ch) = sync::pair()?;

    // The init is created in its cgroup2 directory and moves itself into
    // its v1 ones (cgroups/place.rs): no pid written into another's cgroup.
    let (cgroup_fd, placement) = cgroup.placement()?;
    let mut placement = Some(placement);
    let child_ns = namespaces::prepare_children(plan, &bundle.spec)?;
    // The cgroup namespace is made by the init itself once it sits in its
    // cgroup, so that cgroup becomes the namespace's root.
    let two_step = plan.two_step();
    let flags = if two_step {
        CloneFlags::empty()
    } else {
        plan.clone_flags - CloneFlags::CLONE_NEWCGROUP
    };
    let defer_pid = plan.defers_pid_join(&bundle.spec);
    if two_step || defer_pid {
        parent_ch.pass_credentials()?;
    }
    if !plan.has(LinuxNamespaceType::Mount) {
        let below = crate::rootfs::hostns::mount_id(&bundle.rootfs)
            .context("root.path: no mount namespace")?;
        cleanup.host_rootfs = Some((bundle.rootfs.clone(), below));
    }
    let cwd = sources.enter_rootfs()?;
    crate::timing::mark("prepare clone");
    let pid = clone3(flags.bits() as u64, cgroup_fd.as_ref());
    if matches!(pid, Ok(0)) {
        drop(cwd);
    } else {
        crate::rootfs::Sources::leave_rootfs(cwd)?;
    }
    let pid = pid?;
    if pid == 0 {
        // The container init (after the middle process, if any): never returns.
        // It keeps no host directory fd: process.cwd /proc/self/fd/N would
        // lead there (CVE-2024-21626).
        drop(parent_ch);
        drop(cgroup_fd);
        if let Some(fd) = cleanup.container.as_ref().map(|c| c.lock_fd()) {
            let _ = nix::unistd::close(fd);
        }
        if two_step {
            if let Err(e) = init::middle(plan, &child_ch, placement.take()) {
                let _ = child_ch.send(&Msg::Failed(e.to_string()));
                // SAFETY: _exit skips destructors of the runtime's copied state.
                unsafe { libc::_exit(1) }
            }
        }
        init::run(init::InitArgs {
            spec: &bundle.spec,
            rootfs: &bundle.rootfs,
            bundle: &bundle.dir,
            id: opts.id,
            plan,
            channel: child_ch,
            start_fifo,
            console: console.map(OwnedFd::from),
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds,
            close_first: None,
            stdio: opts.stdio,
            via_middle: two_step,
            seccomp,
            sources: &sources,
            memory_policy: memory_policy.as_ref(),
            cgroup: std::cell::Cell::new(placement.take()),
            cgroup2_dir: cgroup.unified_path(),
        });
    }
    drop(placement);
    drop(child_ns);
    drop(sources);
    let mut pid = Pid::from_raw(pid);
    cleanup.pid = Some(pid);
    crash_point("clone");
    if two_step {
        record_pid(
            st,
            cleanup,
            pid.as_raw(),
            "container init exited right after clone",
        )?;
        crash_point("pid");
    }
    crate::timing::mark("clone");
    // The systemd driver's unit is started around the first process.
    st.cgroup.attach(pid.as_raw(), &bundle.spec)?;
    // linux.netDevices go in as soon as the init's network namespace
    // exists: before its setup and the hooks (one-step: made by clone3;
    // two-step: made by the middle process, done once the init exists).
    let move_devices = |pid: Pid| -> Result<()> {
        if net_devices.is_empty() {
            return Ok(());
        }
        let ns = crate::netdev::target_netns(&bundle.spec, pid.as_raw())?;
        crate::netdev::move_all(net_devices, std::os::fd::AsFd::as_fd(&ns))
    };
    if two_step {
        pid = launch_middle(plan, bundle, &parent_ch, pid)?;
        cleanup.pid = Some(pid);
        record_pid(
            st,
            cleanup,
            pid.as_raw(),
            "container init exited right after its fork",
        )?;
        move_devices(pid)?;
    }
    parent_ch.set_peer(pid.as_raw());
    drop(child_ch);
    // Opened here, after the clone, so that no init ever holds a read end
    // (its own open for writing would then never wait for `start`).
    let start_reader = if opts.start_now && bundle.spec.process().is_some() {
        Some(crate::lifecycle::open_start_fifo(
            &fd_path_of(&start_fifo),
            false,
        )?)
    } else {
        None
    };
    drop(start_fifo);
    drop(console);
    drop(cgroup_fd);

    if !two_step {
        if plan.creates(LinuxNamespaceType::User) {
            write_maps(bundle, pid)?;
        }
        move_devices(pid)?;
        parent_ch.send(&Msg::Go)?;
        // Recorded while the init sets up, off its critical path: until
        // then a kill of this process kills the init (PDEATHSIG) and the
        // state already names the cgroups.
        record_pid_after_go(st, cleanup, &parent_ch, pid.as_raw())?;
        crash_point("pid");
    }
    crash_point("placed");
    crate::timing::mark("id maps+Go+record pid");
    loop {
        match parent_ch.recv()? {
            Some(Msg::RunHooks) => {
                crate::timing::mark("init setup");
                let json = st.hook_state("creating");
                let hooks = bundle.spec.hooks().as_ref();
                crate::hooks::run_all(
                    "prestart",
                    hooks.and_then(|h| h.prestart().as_ref()),
                    &json,
                )?;
                crate::hooks::run_all(
                    "createRuntime",
                    hooks.and_then(|h| h.create_runtime().as_ref()),
                    &json,
                )?;
                parent_ch.send(&Msg::HooksDone)?;
                crate::timing::mark("prestart+createRuntime hooks");
                crash_point("hooks");
            }
            Some(Msg::Ready) => break,
            // The init re-forked itself into a joined pid namespace after
            // pivot_root (see Plan::defers_pid_join): follow it.
            Some(Msg::InitPid(p)) if defer_pid => {
                let _ = waitpid(pid, None);
                pid = Pid::from_raw(p);
                parent_ch.set_peer(p);
                cleanup.pid = Some(pid);
                record_pid(
                    st,
                    cleanup,
                    p,
                    "container init exited right after joining its pid namespace",
                )?;
            }
            Some(Msg::SeccompFd(fd)) => {
                if let Some(f) = seccomp {
                    forward_notify_fd(f, &fd, st)?;
                }
            }
            Some(Msg::Failed(e)) => return Err(Error::new(e)),
            Some(m) => return Err(Error::new(format!("sync: unexpected {m:?} from init"))),
            None => return Err(Error::new("container init exited during setup")),
        }
    }
    crash_point("ready");
    crate::timing::mark("init setup");
    st.creating = false;
    if cleanup.host_rootfs.is_some() {
        if let Some(c) = cleanup.container.as_ref() {
            crate::rootfs::hostns::record(&c.dir, &bundle.rootfs)?;
        }
    }
    cleanup.save(st)?;
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    crate::timing::mark("state.json+pid file");
    Ok(start_reader)
}

/// Records the init's pid (and start time) as soon as it exists, so that a
/// `create` killed later leaves a state that leads `delete` to it.
fn record_pid(st: &mut State, cleanup: &Cleanup, pid: i32, gone: &str) -> Result<()> {
    st.pid = pid;
    st.start_time = state::proc_stat(pid)
        .map(|s| s.start_time)
        .ok_or_else(|| Error::new(gone))?;
    cleanup.save(st)
}

/// `record_pid` once the init has been let go: an init already gone has
/// usually said why on the channel, which is the better error.
fn record_pid_after_go(
    st: &mut State,
    cleanup: &Cleanup,
    ch: &sync::Channel,
    pid: i32,
) -> Result<()> {
    let gone = "container init exited right after clone";
    match record_pid(st, cleanup, pid, gone) {
        Err(e) if st.start_time == 0 => match ch.recv() {
            Ok(Some(Msg::Failed(why))) => Err(Error::new(why)),
            _ => Err(e),
        },
        r => r,
    }
}

/// Passes a seccomp notify fd to `listenerPath` with the container state.
pub(crate) fn forward_notify_fd(
    f: &crate::seccomp::Filter,
    fd: &OwnedFd,
    st: &State,
) -> Result<()> {
    let Some(path) = f.listener_path() else {
        return Ok(());
    };
    let state = serde_json::to_value(st.to_json(state::Status::Created))
        .map_err(|e| Error::new(format!("encode container state: {e}")))?;
    crate::seccomp::send_to_listener(
        path,
        std::os::fd::AsFd::as_fd(fd),
        &state,
        f.listener_metadata(),
    )
    .context("linux.seccomp.listenerPath")
}

fn write_maps(bundle: &Bundle, pid: Pid) -> Result<()> {
    let linux = bundle.spec.linux().as_ref();
    let uids = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gids = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    namespaces::write_id_maps(pid.as_raw(), &uids, &gids)
}

/// The runtime's side of a two-step launch: place the middle process, write
/// the maps of the user namespace it created, learn the init's pid from its
/// credentials and reap the middle.
fn launch_middle(plan: &Plan, bundle: &Bundle, ch: &sync::Channel, middle: Pid) -> Result<Pid> {
    let res = (|| {
        ch.send(&Msg::Go)?;
        if plan.creates(LinuxNamespaceType::User) {
            ch.expect(Msg::WriteMaps)?;
            write_maps(bundle, middle)?;
            ch.send(&Msg::MapsDone)?;
        }
        match ch.recv()? {
            Some(Msg::InitPid(pid)) => Ok(pid),
            Some(Msg::Failed(e)) => Err(Error::new(e)),
            Some(m) => Err(Error::new(format!(
                "sync: expected the init pid, got {m:?}"
            ))),
            None => Err(Error::new("namespace setup process exited early")),
        }
    })();
    let _ = waitpid(middle, None);
    res.map(Pid::from_raw)
}

/// `/proc/self/fd/N`: the path that reopens an (O_PATH) descriptor.
fn fd_path_of(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `/proc/self/fd/N/name`: a short path to a file in an open directory.
pub fn fd_path(dir: &std::fs::File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("get current directory", e))?
            .join(path)
    };
    state::write_atomic(&path, pid.to_string().as_bytes()).context("--pid-file")
}

/// fork() with namespace flags and an optional target cgroup. Returns 0 in
/// the child, the child's pid in the parent.
pub(crate) fn clone3(ns_flags: u64, cgroup: Option<&OwnedFd>) -> Result<i32> {
    // SAFETY: the runtime is single-threaded (no threads are ever started),
    // so the child inherits no lock held by another thread.
    unsafe { crate::sys::process::clone3(ns_flags, cgroup.map(AsFd::as_fd)) }.map_err(|e| {
        Error::io(
            format!("clone3 the container init (namespace flags {ns_flags:#x})"),
            e.into(),
        )
    })
}

/// The user name of the runtime's uid, as runc reports `owner`.
fn owner_name() -> String {
    let uid = nix::unistd::geteuid().as_raw();
    if uid == 0 {
        return "root".into();
    }
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
