use super::create::options;
use super::delete::{destroy, kill_and_wait};
use crate::cli::RunArgs;
use crate::container;
use crate::error::{Context, Result};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::path::Path;

/// create + start; in the foreground, forward signals to the container and
/// return its exit code (128+signal when killed), then delete it unless
/// `--keep`.
pub fn run(root: &Path, a: &RunArgs) -> Result<i32> {
    // Blocked before the clone so no signal is lost between start and the
    // wait loop; the init resets its own mask first thing.
    let set = forwarded_signals();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .context("run: block signals")?;
    }
    let created = container::create(&options(root, &a.create))?;
    if let Err(e) = super::start::start(&created.container, &created.state) {
        let _ = kill_and_wait(&created.state);
        let _ = destroy(created.container, &created.state);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    let st = created.state;
    created.container.unlock();
    let code = wait_forwarding(Pid::from_raw(st.pid), &set)?;
    if !a.keep {
        // The init is gone; other processes it left in the cgroup go too.
        // A concurrent `delete` may have removed the container already.
        if let Ok(c) = crate::state::Container::open(root, &st.id) {
            let _ = st.cgroup.signal_all(Signal::SIGKILL);
            destroy(c, &st)?;
        }
    }
    Ok(code)
}

/// Every signal that can be caught: blocked in the runtime and waited for,
/// so none is lost and each reaches the container.
pub fn forwarded_signals() -> SigSet {
    let mut set = SigSet::all();
    set.remove(Signal::SIGKILL);
    set.remove(Signal::SIGSTOP);
    set
}

/// Forwards signals (already blocked) to `pid` until it exits; returns its
/// exit code, 128+signal when it was killed, as runc does.
pub fn wait_forwarding(pid: Pid, set: &SigSet) -> Result<i32> {
    loop {
        let sig = set.wait().context("wait for signals")?;
        if sig != Signal::SIGCHLD {
            let _ = kill(pid, sig);
            continue;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(crate::error::Error::os("wait for the container process", e)),
        }
    }
}
