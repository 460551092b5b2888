use crate::container::fd_path;
use crate::error::{Context, Error, Result};
use crate::state::{self, Container, State, Status};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::open(root, id)?;
    let st = c.load()?;
    crate::timing::mark("load state");
    start(&c, &st)
}

/// Lets a created container's init exec the user program, then runs the
/// poststart hooks.
pub fn start(c: &Container, st: &State) -> Result<()> {
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
    if st.config.process().is_none() {
        return Err(Error::new(format!(
            "cannot start container {}: config.json has no process",
            st.id
        )));
    }
    let dir = std::fs::File::open(&c.dir).with_context(|| format!("open {}", c.dir.display()))?;
    let reply = release_init(st, &fd_path(&dir, state::START_SOCKET))?;
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

/// Opens the start FIFO for reading, which lets the init's blocked open for
/// writing return, and reads until EOF: the init's end is close-on-exec, so
/// EOF means the user program is running; anything else is the init's
/// error. Opened non-blocking so that an init that died meanwhile cannot
/// make us wait forever.
fn release_init(st: &State, fifo: &Path) -> Result<String> {
    use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let fd = open(
        fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .context("start: open the container init's start FIFO")?;
    // SAFETY: open just returned this fd and nothing else owns it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
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
