use crate::container::fd_path;
use crate::error::{Context, Error, Result};
use crate::state::{self, Container, State, Status};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::open(root, id)?;
    let st = c.load()?;
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
    let mut conn = UnixStream::connect(fd_path(&dir, state::START_SOCKET))
        .context("start: connect to the container init")?;
    conn.write_all(b"1")
        .context("start: signal the container init")?;
    // The connection is close-on-exec in the init: EOF means the user
    // program is running; anything else is the init's error.
    let mut reply = String::new();
    conn.read_to_string(&mut reply)
        .context("start: wait for exec")?;
    let _ = std::fs::remove_file(c.start_socket());
    if !reply.is_empty() {
        return Err(Error::new(format!("start container {}: {reply}", st.id)));
    }
    let hooks = st.config.hooks().as_ref();
    crate::hooks::run_all_warn(
        "poststart",
        hooks.and_then(|h| h.poststart().as_ref()),
        &st.hook_state("running"),
    );
    Ok(())
}
