//! The container lifecycle as a library API: what `kist create`, `start`,
//! `kill`, `delete`, `pause`, `resume`, `update`, `state`, `exec`, `ps`,
//! `events` and `list` do, for a program that embeds kist (a shim, a test
//! harness) as much as for the command line, which only parses flags, calls
//! this and prints. `exec` (`Container::exec`), `ps` (`Container::pids`,
//! [`ps_table`]), `events` (`Container::events`, `Container::stats`) and
//! [`list`] live in the submodules of the same names.
//!
//! ```no_run
//! use kist::lifecycle::{Container, CreateOptions, DeleteOptions, KillOptions};
//! # fn main() -> kist::error::Result<()> {
//! let root = std::path::Path::new("/run/kist");
//! let c = Container::create(&CreateOptions::new(root, "web", "/srv/bundle".as_ref()))?;
//! c.start()?;
//! drop(c); // unlocks: another process may now operate on "web"
//! let c = Container::load(root, "web")?;
//! let term = KillOptions { signal: Some(nix::sys::signal::Signal::SIGTERM), all: false };
//! c.kill(&term)?;
//! c.delete(&DeleteOptions { force: true })?;
//! # Ok(())
//! # }
//! ```
//!
//! A `Container` holds its state directory's lock for as long as it lives:
//! other operations on the same id (from this process or another `kist`)
//! wait for it. Errors carry a matchable [`ErrorKind`](crate::error::ErrorKind)
//! besides their message. `create` and `exec` fork the container's
//! processes: their caller must be single-threaded (see the crate
//! documentation).

mod events;
mod exec;
mod list;
mod ps;

pub use crate::container::CreateOptions;
use crate::error::{Context, Error, ErrorKind, Result};
use crate::state::{self, State, StateView, Status};
pub use events::EventsOptions;
pub use exec::{forwarded_signals, ExecOptions};
pub use list::{list, Listed};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources};
pub use ps::ps_table;
use serde_json::Value;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

impl<'a> CreateOptions<'a> {
    /// Options for a plain `create` of `bundle` as `id` under the state
    /// root `root`: no pid file, no console, the runtime's own stdio.
    pub fn new(root: &'a Path, id: &'a str, bundle: &'a Path) -> Self {
        CreateOptions {
            root,
            id,
            bundle,
            pid_file: None,
            console: crate::process::terminal::Console::None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            stdio: None,
            systemd_cgroup: false,
            start_now: false,
        }
    }
}

/// `kill`: the signal (None: signal 0, only checks the process exists) and
/// whether every process of the container's cgroup gets it.
#[derive(Debug, Clone, Copy, Default)]
pub struct KillOptions {
    pub signal: Option<Signal>,
    pub all: bool,
}

/// `delete`: with `force`, a container that is not stopped is killed first.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    pub force: bool,
}

/// A container, its state directory locked.
pub struct Container {
    handle: state::Container,
    state: State,
}

impl Container {
    /// Creates the container: returns once its init is set up and waiting
    /// for `start`. On error nothing is left behind.
    pub fn create(opts: &CreateOptions) -> Result<Container> {
        let c = crate::container::create(opts)?;
        Ok(Container {
            handle: c.container,
            state: c.state,
        })
    }

    /// The container `id` under the state root `root`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let handle = state::Container::open(root, id)?;
        let state = handle.load()?;
        Ok(Container { handle, state })
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The recorded state (config, pid, cgroup, ...).
    pub fn recorded(&self) -> &State {
        &self.state
    }

    /// The status now, derived from the process (not trusted from disk).
    pub fn status(&self) -> Status {
        self.state.status(&self.handle.dir)
    }

    /// The OCI state object, as `kist state` prints it.
    pub fn state(&self) -> StateView<'_> {
        self.state.to_json(self.status())
    }

    /// Lets the created container's init exec the user program, then runs
    /// the poststart hooks.
    pub fn start(&self) -> Result<()> {
        start(&self.handle, &self.state)
    }

    pub fn kill(&self, opts: &KillOptions) -> Result<()> {
        let st = &self.state;
        if opts.all {
            // A stopped container may still have processes in its cgroup (no
            // pid namespace of its own): they are signalled, and an empty
            // cgroup is success, as with runc. containerd sends `kill --all
            // ID 9` after every exit and retries until it succeeds.
            return st.signal_all(opts.signal);
        }
        if self.status() == Status::Stopped {
            // runc's wording: containerd's shim matches it to tell "already
            // stopped" from a failure.
            return Err(
                Error::new(format!("container {}: container not running", st.id))
                    .with_kind(ErrorKind::NotRunning),
            );
        }
        let sig = opts.signal;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), sig)
            .with_context(|| format!("kill {} {}", st.pid, sig.map_or("0", |s| s.as_str())))?;
        // A frozen (v1) task dies only once thawed; runc thaws for SIGKILL.
        if sig == Some(Signal::SIGKILL) && st.cgroup.is_frozen().unwrap_or(false) {
            st.cgroup
                .thaw()
                .context("kill: thaw the paused container")?;
        }
        Ok(())
    }

    /// Removes the container: its leftover processes, host mounts, cgroup,
    /// poststop hooks and state. One that is not stopped is an error unless
    /// `force`, which kills it first.
    pub fn delete(self, opts: &DeleteOptions) -> Result<()> {
        let st = &self.state;
        if st.creating {
            // Left by a create killed part-way: it reads as stopped, but its
            // init may still be alive (waiting for a runtime that is gone).
            kill_and_wait(st)?;
        } else {
            let status = self.status();
            if status != Status::Stopped {
                if !opts.force {
                    return Err(Error::new(format!(
                        "cannot delete container {} that is not stopped: {} (use --force)",
                        st.id,
                        status.as_str()
                    )));
                }
                kill_and_wait(st)?;
            }
        }
        destroy(self.handle, &self.state)
    }

    /// Changes the resources `r` gives (only those) of a live container and
    /// records them in its state, so a later `update` or `events --stats`
    /// starts from them.
    pub fn update(&mut self, r: &LinuxResources) -> Result<()> {
        let st = &mut self.state;
        if st.status(&self.handle.dir) == Status::Stopped {
            return Err(
                Error::new(format!("update {}: container not running", st.id))
                    .with_kind(ErrorKind::NotRunning),
            );
        }
        // Only what is given: oci-spec leaves unset fields out.
        let patch = serde_json::to_value(r).map_err(|e| Error::new(format!("update: {e}")))?;
        let mut linux = st.config.linux().clone().unwrap_or_default();
        let old = linux.resources().clone().unwrap_or_default();
        let mut merged =
            serde_json::to_value(&old).map_err(|e| Error::new(format!("update: {e}")))?;
        merge(&mut merged, &patch);
        let merged: LinuxResources = serde_json::from_value(merged)
            .map_err(|e| Error::new(format!("update: merge resources: {e}")))?;
        st.cgroup
            .update(r, &merged)
            .with_context(|| format!("update {}", st.id))?;
        linux.set_resources(Some(merged));
        st.config.set_linux(Some(linux));
        self.handle
            .save(st)
            .with_context(|| format!("update {}: record the new resources", st.id))
    }

    /// Freezes every process of the container (runc: a created or running
    /// container can be paused, anything else is "not running").
    pub fn pause(&self) -> Result<()> {
        let id = &self.state.id;
        match self.status() {
            Status::Running | Status::Created => {}
            Status::Paused => {
                return Err(Error::new(format!(
                    "container {id}: container not running (it is already paused)"
                ))
                .with_kind(ErrorKind::NotRunning))
            }
            Status::Stopped => {
                return Err(Error::new(format!("container {id}: container not running"))
                    .with_kind(ErrorKind::NotRunning))
            }
        }
        self.state
            .cgroup
            .freeze()
            .with_context(|| format!("pause {id}"))
    }

    /// Thaws a paused container; anything not frozen is "not paused" (runc).
    pub fn resume(&self) -> Result<()> {
        let id = &self.state.id;
        // The freezer, not the status, decides: a dead container whose cgroup
        // was left frozen can still be thawed so that it can be cleaned up.
        if !self.state.cgroup.is_frozen().unwrap_or(false) {
            return Err(Error::new(format!("container {id}: container not paused"))
                .with_kind(ErrorKind::NotRunning));
        }
        self.state
            .cgroup
            .thaw()
            .with_context(|| format!("resume {id}"))
    }
}

/// Lets a created container's init exec the user program, then runs the
/// poststart hooks.
pub fn start(c: &state::Container, st: &State) -> Result<()> {
    match st.status(&c.dir) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::new(format!(
                "cannot start container {}: it has stopped",
                st.id
            )))
        }
        s => {
            return Err(Error::new(format!(
                "cannot start container {}: it is already {}",
                st.id,
                s.as_str()
            )))
        }
    }
    check_has_process(st)?;
    let dir = std::fs::File::open(&c.dir).with_context(|| format!("open {}", c.dir.display()))?;
    let fifo = open_start_fifo(&crate::container::fd_path(&dir, state::START_SOCKET), true)?;
    finish_start(c, st, fifo)
}

/// `start` of the container `run` has just created with
/// `CreateOptions::start_now`, holding its lock: `fifo` is the read end
/// create opened, through which the init is already going on to exec.
pub fn start_opened(c: &state::Container, st: &State, fifo: std::os::fd::OwnedFd) -> Result<()> {
    check_has_process(st)?;
    finish_start(c, st, fifo)
}

fn check_has_process(st: &State) -> Result<()> {
    if st.config.process().is_none() {
        return Err(Error::new(format!(
            "cannot start container {}: config.json has no process",
            st.id
        )));
    }
    Ok(())
}

fn finish_start(c: &state::Container, st: &State, fifo: std::os::fd::OwnedFd) -> Result<()> {
    let reply = wait_for_exec(st, fifo)?;
    let _ = std::fs::remove_file(c.start_socket());
    crate::timing::mark("release init+execve");
    if !reply.is_empty() {
        return Err(Error::new(format!("start container {}: {reply}", st.id)));
    }
    let hooks = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref());
    crate::hooks::run_all_warn("poststart", hooks, || st.hook_state("running"));
    crate::timing::mark("poststart hooks");
    Ok(())
}

/// Opens the start FIFO for reading, which lets the init's (blocked or
/// coming) open for writing return. Non-blocking, so that an init that died
/// meanwhile cannot make us wait forever. `fifo` is a path in the state
/// directory (`nofollow`: never a symlink) or, from `create` itself,
/// `/proc/self/fd/N` of the FIFO it has just made (a link to follow).
pub(crate) fn open_start_fifo(fifo: &Path, nofollow: bool) -> Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{open, OFlag};
    let mut flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    if nofollow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = open(fifo, flags, nix::sys::stat::Mode::empty())
        .context("start: open the container init's start FIFO")?;
    // SAFETY: open just returned this fd and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Reads the start FIFO until EOF: the init's end is close-on-exec, so EOF
/// means the user program is running; anything else is the init's error.
fn wait_for_exec(st: &State, fd: std::os::fd::OwnedFd) -> Result<String> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // Until the init has opened its end, a FIFO without writers polls as
    // nothing at all (no POLLHUP for a writer that never came).
    loop {
        let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut pfd, PollTimeout::from(200u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {
                if !st.is_alive() {
                    return Err(Error::new(format!(
                        "start container {}: the container init exited before it could start",
                        st.id
                    )));
                }
            }
            Ok(_) => break,
            Err(e) => return Err(Error::os("start: wait for the container init", e)),
        }
    }
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))
        .context("start: make the start FIFO blocking")?;
    let mut reply = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut reply)
        .context("start: wait for exec")?;
    Ok(reply)
}

/// SIGKILL every process of the container and wait for the init to die.
pub fn kill_and_wait(st: &State) -> Result<()> {
    st.signal_all(Signal::SIGKILL)?;
    // Only the recorded process: a pid that was reused has another start
    // time (and pid 0 would be our own process group).
    if st.is_alive() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), Signal::SIGKILL);
    }
    wait_after_kill(st, || Ok(st.is_alive().then(|| format!("init {}", st.pid))))
}

/// A stopped container still has processes when its init had no pid
/// namespace of its own (pid omitted, hostPID, or a pod's joined by path):
/// children forked by the init live on. runc's destroy SIGKILLs them; the
/// cgroup cannot be removed before they are gone. With a private pid
/// namespace the kernel killed them with the init and this finds nothing.
fn kill_leftovers(st: &State) -> Result<()> {
    // As runc: with a pid namespace of its own, whatever else sits in the
    // cgroup (a shared cgroupsPath) is not this container's to kill.
    if crate::namespaces::creates(&st.config, LinuxNamespaceType::Pid) || st.pids()?.is_empty() {
        return Ok(());
    }
    st.signal_all(Signal::SIGKILL)?;
    wait_after_kill(st, || {
        let left = st.pids()?;
        Ok((!left.is_empty()).then(|| format!("processes {left:?} in its cgroup")))
    })
}

/// Polls `left` (what is still there, None once all is gone) for up to
/// 10 s after a SIGKILL.
fn wait_after_kill(st: &State, left: impl Fn() -> Result<Option<String>>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pause = Duration::from_micros(100);
    while let Some(what) = left()? {
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "container {}: {what} still alive 10s after SIGKILL",
                st.id
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// Removes a stopped container: what is left in its cgroup, the mounts it
/// left in the host's mount namespace (if it had none of its own), the
/// cgroup, poststop hooks, its state.
pub fn destroy(c: state::Container, st: &State) -> Result<()> {
    kill_leftovers(st)?;
    crate::rootfs::hostns::release(&c.dir, &st.rootfs)?;
    st.cgroup.remove()?;
    if st.creating {
        // Never created: no poststop, as when create fails by itself.
        return c.remove();
    }
    let hooks = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref());
    crate::hooks::run_all_warn("poststop", hooks, || st.hook_state("stopped"));
    c.remove()
}

/// Objects merge key by key; anything else given replaces what was there.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "kist-lifecycle-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn kinds_are_matchable() {
        let root = temp_root();
        let e = Container::load(&root, "absent").err().unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        // context on the way up keeps the kind
        assert_eq!(e.context("state").kind(), ErrorKind::NotFound);

        let held = state::Container::create(&root, "twice").unwrap();
        let e = state::Container::create(&root, "twice").err().unwrap();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
        held.remove().unwrap();

        let bundle = root.join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}}}"#,
        )
        .unwrap();
        let e = Container::create(&CreateOptions::new(&root, "bad", &bundle))
            .err()
            .unwrap();
        let field = "process.args".to_string();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig { field }, "{e}");
        assert!(!root.join("bad").exists());

        let e = Container::create(&CreateOptions::new(&root, "nobundle", &root.join("x")))
            .err()
            .unwrap();
        assert_eq!(
            e.kind(),
            ErrorKind::Os {
                errno: libc::ENOENT
            },
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn update_merges_only_given() {
        use serde_json::json;
        let mut base = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        merge(
            &mut base,
            &json!({"memory": {"limit": 7}, "cpu": {"shares": 3}, "blockIO": null}),
        );
        assert_eq!(
            base,
            json!({"memory": {"limit": 7, "swap": 2}, "pids": {"limit": 5}, "cpu": {"shares": 3}})
        );
        // The patch update() builds: only the fields given.
        let r: LinuxResources = serde_json::from_value(json!({"memory": {"limit": 7}})).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"memory": {"limit": 7}})
        );
    }

    #[test]
    fn parse_errors_name_the_field_as_kind() {
        let doc = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let e = crate::config::parse_spec(doc).unwrap_err();
        let field = "linux.namespaces[1].type".to_string();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig { field }, "{e}");
        let e = crate::config::parse_spec(b"[]").unwrap_err();
        let field = String::new();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig { field }, "{e}");
        assert_eq!(Error::new("x").kind(), ErrorKind::Other);
    }
}
