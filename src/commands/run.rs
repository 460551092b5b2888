use super::create::options;
use crate::cli::RunArgs;
use crate::container;
use crate::error::{Context, Result};
use crate::lifecycle::{destroy, forwarded_signals, kill_and_wait};
use crate::process::stdio::Io;
use nix::sys::signal::{SigmaskHow, Signal};
use nix::unistd::Pid;
use std::path::Path;

/// create + start; in the foreground, forward signals to the container and
/// return its exit code (128+signal when killed), then delete it unless
/// `--keep`.
pub fn run(root: &Path, a: &RunArgs, systemd_cgroup: bool) -> Result<i32> {
    // Blocked before the clone so no signal is lost between start and the
    // wait loop; the init resets its own mask first thing.
    let set = forwarded_signals();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .context("run: block signals")?;
    }
    // Before we open anything: our own fds must not fill a gap in the range
    // handed to the container.
    let fds = crate::process::fds::listen_fds() + a.create.preserve_fds;
    crate::process::fds::check_preserved(fds)?;
    crate::state::validate_id(&a.create.id)?;
    let bundle = crate::config::load_bundle(a.create.bundle.as_deref().unwrap_or(Path::new("")))?;
    crate::timing::mark("load config");
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mut io = Io::new(a.detach, terminal, a.create.console_socket.is_some())?;
    let mut opts = options(root, &a.create, systemd_cgroup);
    opts.stdio = io.stdio();
    opts.console = io.console(a.create.console_socket.as_deref());
    crate::timing::mark("stdio");
    let created = container::create_from(&opts, bundle)?;
    if let Err(e) = io.started() {
        let _ = kill_and_wait(&created.state);
        let _ = destroy(created.container, &created.state);
        return Err(e);
    }
    if let Err(e) = crate::lifecycle::start(&created.container, &created.state) {
        let _ = kill_and_wait(&created.state);
        let _ = destroy(created.container, &created.state);
        return Err(e);
    }
    crate::timing::mark("start");
    if a.detach {
        crate::timing::report();
        return Ok(0);
    }
    let st = created.state;
    created.container.unlock();
    let code = io.supervise(Pid::from_raw(st.pid), &set)?;
    crate::timing::mark("container ran");
    if code != 0 && st.cgroup.oom_kill_count().unwrap_or(0) > 0 {
        let limit = st
            .cgroup
            .memory_limit()
            .map(|l| format!(" (memory limit {l} bytes hit)"))
            .unwrap_or_default();
        eprintln!("kist: container {} was killed: out of memory{limit}", st.id);
    }
    if !a.keep {
        // The init is gone; other processes it left in the cgroup go too.
        // A concurrent `delete` may have removed the container already.
        if let Ok(c) = crate::state::Container::open(root, &st.id) {
            // An empty cgroup (the usual case) needs no freeze, kill, thaw.
            if st.pids().map_or(true, |p| !p.is_empty()) {
                let _ = st.signal_all(Signal::SIGKILL);
            }
            destroy(c, &st)?;
        }
        crate::timing::mark("delete");
    }
    crate::timing::report();
    Ok(code)
}
