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
    if st.status(&c.dir) == Status::Stopped {
        return Err(Error::new(format!("container {} is not running", a.id)));
    }
    if a.all {
        st.cgroup.signal_all(sig)
    } else {
        kill(Pid::from_raw(st.pid), sig).with_context(|| format!("kill {} {sig}", st.pid))?;
        // A frozen (v1) task dies only once thawed; runc thaws for SIGKILL.
        if sig == nix::sys::signal::Signal::SIGKILL && st.cgroup.is_frozen().unwrap_or(false) {
            st.cgroup
                .thaw()
                .context("kill: thaw the paused container")?;
        }
        Ok(())
    }
}
