//! `hooks`: each hook gets the container state on stdin, runs with its own
//! args and env, and is killed when its `timeout` expires. A failure of the
//! prestart, createRuntime, createContainer or startContainer hooks fails the
//! operation; poststart and poststop failures are only logged (runtime spec).

use crate::error::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use oci_spec::runtime::Hook;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run_all(kind: &str, hooks: Option<&Vec<Hook>>, state: &[u8]) -> Result<()> {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        run(h, state)
            .map_err(|e| e.context(format!("hooks.{kind}[{i}] {}", h.path().display())))?;
    }
    Ok(())
}

/// For poststart/poststop: failures become warnings and the rest still run.
/// The state JSON is made only when there is a hook to give it to.
pub fn run_all_warn(kind: &str, hooks: Option<&Vec<Hook>>, state: impl FnOnce() -> Vec<u8>) {
    let Some(hooks) = hooks.filter(|v| !v.is_empty()) else {
        return;
    };
    let state = state();
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run(h, &state) {
            crate::logger::warn(&format!("hooks.{kind}[{i}] {}: {e}", h.path().display()));
        }
    }
}

fn run(h: &Hook, state: &[u8]) -> Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Output goes to one memory file read back on failure: no pipes to
    // drain concurrently, so no threads and no deadlock on a chatty hook.
    let out = memfd_create(c"kist-hook-output", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| Error::os("create hook output buffer", e))?;
    let out = File::from(out);
    let err_out = out
        .try_clone()
        .map_err(|e| Error::io("dup hook output buffer", e))?;
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone().map_err(|e| Error::io("dup", e))?)
        .stderr(err_out);
    let mut child = cmd.spawn().map_err(|e| Error::io("start", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state);
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let status = match timeout {
        None => child.wait().map_err(|e| Error::io("wait", e))?,
        Some(limit) => match wait_timeout(&mut child, limit)? {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::new(format!("timed out after {}s", limit.as_secs())));
            }
        },
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let mut out = out;
    let _ = out.rewind();
    let _ = (&mut out).take(4096).read_to_string(&mut text);
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    Err(Error::new(format!("{how}, output: {:?}", text.trim_end())))
}

fn wait_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> Result<Option<std::process::ExitStatus>> {
    // Our own unreaped child: its pid cannot have been reused.
    let pidfd = crate::sys::process::pidfd_open(child.id() as libc::pid_t)
        .map_err(|e| Error::io("pidfd_open", e.into()))?;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return Ok(None),
            Ok(_) => return child.wait().map(Some).map_err(|e| Error::io("wait", e)),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::os("poll hook", e)),
        }
    }
}
