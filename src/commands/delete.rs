use crate::cli::DeleteArgs;
use crate::error::{Error, Result};
use crate::state::{Container, State, Status};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(root: &Path, a: &DeleteArgs) -> Result<()> {
    let c = match Container::open(root, &a.id) {
        Ok(c) => c,
        // containerd deletes with --force after every delete: an id that is
        // already gone is success then, as with runc.
        // Only "gone": any other failure (lock, permissions) is reported.
        Err(_) if a.force && crate::state::is_gone(root, &a.id) => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = c.load()?;
    let status = st.status(&c.dir);
    if status != Status::Stopped {
        if !a.force {
            return Err(Error::new(format!(
                "cannot delete container {} that is not stopped: {} (use --force)",
                a.id,
                status.as_str()
            )));
        }
        kill_and_wait(&st)?;
    }
    destroy(c, &st)
}

/// SIGKILL every process of the container and wait for the init to die.
pub fn kill_and_wait(st: &State) -> Result<()> {
    st.cgroup.signal_all(Signal::SIGKILL)?;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pause = Duration::from_micros(100);
    while st.is_alive() {
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "container {}: init {} still alive 10s after SIGKILL",
                st.id, st.pid
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// Removes a stopped container: the mounts it left in the host's mount
/// namespace (if it had none of its own), its cgroup, poststop hooks, its
/// state.
pub fn destroy(c: Container, st: &State) -> Result<()> {
    crate::rootfs::hostns::release(&c.dir, &st.rootfs)?;
    st.cgroup.remove()?;
    let hooks = st.config.hooks().as_ref();
    crate::hooks::run_all_warn(
        "poststop",
        hooks.and_then(|h| h.poststop().as_ref()),
        &st.hook_state("stopped"),
    );
    c.remove()
}
