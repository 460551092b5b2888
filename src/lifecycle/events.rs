//! `events`: one stats event, or OOM events as they happen and a stats
//! event every interval until the container stops. Each event is one JSON
//! object, fields in runc's order.

use super::Container;
use crate::error::{Error, Result};
use crate::state::{State, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// `events`: with `stats`, one stats event; otherwise a stream every
/// `interval`.
#[derive(Debug, Clone, Copy)]
pub struct EventsOptions {
    pub stats: bool,
    pub interval: Duration,
}

impl Container {
    /// The container's cgroup statistics, as the `data` of a stats event.
    pub fn stats(&self) -> Result<serde_json::Value> {
        self.state.cgroup.stats()
    }

    /// Passes each event (one JSON object, runc's format) to `emit` until
    /// the container stops (`stats`: once). A stopped container is an
    /// error. The container's lock is released first: streaming can last
    /// as long as the container.
    pub fn events(
        self,
        opts: &EventsOptions,
        mut emit: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(Error::new(format!(
                "container with id {} is not running",
                self.state.id
            )));
        }
        let Container { handle, state: st } = self;
        drop(handle);
        if opts.stats {
            return emit(&stats_event(&st)?);
        }
        watch(&st, opts.interval, &mut emit)
    }
}

fn watch(st: &State, interval: Duration, emit: &mut impl FnMut(&str) -> Result<()>) -> Result<()> {
    let pidfd = pidfd_open(st.pid)?;
    // The pidfd pins the pid: if it is still the init now, its exit is
    // what the pidfd reports.
    if !st.is_alive() {
        return Ok(());
    }
    let mut oom = st.cgroup.oom_watch()?;
    let mut next = Instant::now() + interval;
    loop {
        let timeout = next.saturating_duration_since(Instant::now());
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &oom {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::os("events: poll", e)),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        // Checked on exit too: an OOM kill and the exit it causes can
        // arrive in the same wakeup.
        if let Some(w) = oom.as_mut() {
            for _ in 0..w.check() {
                emit(&format!(
                    "{{\"type\":\"oom\",\"id\":{}}}",
                    serde_json::json!(st.id)
                ))?;
            }
        }
        if exited {
            return Ok(());
        }
        if Instant::now() >= next {
            next += interval;
            match stats_event(st) {
                Ok(e) => emit(&e)?,
                // the cgroup went away: the container is being deleted
                Err(_) if !st.is_alive() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

fn stats_event(st: &State) -> Result<String> {
    let data = st.cgroup.stats()?;
    Ok(format!(
        "{{\"type\":\"stats\",\"id\":{},\"data\":{}}}",
        serde_json::json!(st.id),
        data
    ))
}

fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    crate::sys::process::pidfd_open(pid)
        .map_err(|e| Error::io(format!("events: pidfd_open {pid}"), e.into()))
}
