use crate::cli::KillArgs;
use crate::error::{Context, Error, Result};
use crate::state::{Container, Status};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::path::Path;

pub fn run(root: &Path, a: &KillArgs) -> Result<()> {
    let sig = crate::signal::parse(&a.signal)?;
    let c = Container::open(root, &a.id)?;
    let st = c.load()?;
    let stopped = st.status(&c.dir) == Status::Stopped;
    if a.all {
        // A stopped container may still have processes in its cgroup (no pid
        // namespace of its own): they are signalled, and an empty cgroup is
        // success, as with runc. containerd sends `kill --all ID 9` after
        // every exit and retries until it succeeds.
        st.cgroup.signal_all(sig)
    } else if stopped {
        // runc's wording: containerd's shim matches it to tell "already
        // stopped" from a failure.
        Err(Error::new(format!(
            "container {}: container not running",
            a.id
        )))
    } else {
        kill(Pid::from_raw(st.pid), sig)
            .with_context(|| format!("kill {} {}", st.pid, sig.map_or("0", |s| s.as_str())))?;
        // A frozen (v1) task dies only once thawed; runc thaws for SIGKILL.
        if sig == Some(nix::sys::signal::Signal::SIGKILL) && st.cgroup.is_frozen().unwrap_or(false)
        {
            st.cgroup
                .thaw()
                .context("kill: thaw the paused container")?;
        }
        Ok(())
    }
}
