use crate::cli::DeleteArgs;
use crate::error::{Error, Result};
use crate::state::{Container, State, Status};
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxNamespaceType;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(root: &Path, a: &DeleteArgs) -> Result<()> {
    let c = match Container::open(root, &a.id) {
        Ok(c) => c,
        // containerd deletes with --force after every delete: an id that is
        // already gone is success then, as with runc.
        // Only "gone": any other failure (lock, permissions) is reported.
        Err(_) if a.force && crate::state::is_gone(root, &a.id) => {
            // A create killed right after making the directory leaves it
            // without state: nothing else was made yet.
            return crate::state::remove_unrecorded(root, &a.id);
        }
        Err(e) => return Err(e),
    };
    let st = c.load()?;
    let status = st.status(&c.dir);
    if st.creating {
        // Left by a create killed part-way: it reads as stopped, but its
        // init may still be alive (waiting for a runtime that is gone).
        kill_and_wait(&st)?;
    } else if status != Status::Stopped {
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
    if crate::namespaces::creates(&st.config, LinuxNamespaceType::Pid)
        || st.cgroup.pids()?.is_empty()
    {
        return Ok(());
    }
    st.cgroup.signal_all(Signal::SIGKILL)?;
    wait_after_kill(st, || {
        let left = st.cgroup.pids()?;
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
pub fn destroy(c: Container, st: &State) -> Result<()> {
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
