//! Handing the seccomp notify fd to the agent at `listenerPath`.
//!
//! Same wire format as runc: one connection to a SOCK_STREAM unix socket, the
//! container process state as JSON in the data, and the fd attached with
//! SCM_RIGHTS to the first byte. The JSON is the OCI `ContainerProcessState`:
//! `{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}` where
//! `fds[i]` names the i-th fd of the SCM_RIGHTS array.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde_json::{json, Value};

use crate::error::{Context, Error, Result};

/// The name of the notify fd in `fds`, as the runtime spec defines it.
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// Build the message runc sends: `state` is the container's OCI state
/// (`ociVersion`, `id`, `status`, `pid`, `bundle`, `annotations`).
pub(super) fn process_state(state: &Value, metadata: &str) -> Value {
    let version = state
        .get("ociVersion")
        .and_then(Value::as_str)
        .unwrap_or("1.2.0");
    let pid = state.get("pid").and_then(Value::as_i64).unwrap_or(0);
    let mut msg = json!({
        "ociVersion": version,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    if !metadata.is_empty() {
        msg["metadata"] = Value::String(metadata.to_string());
    }
    msg
}

pub fn send_to_listener(
    path: &Path,
    fd: BorrowedFd,
    state_json: &Value,
    metadata: &str,
) -> Result<()> {
    let what = format!("linux.seccomp.listenerPath {path:?}");
    let body = serde_json::to_vec(&process_state(state_json, metadata))
        .map_err(|e| Error::new(format!("{what}: encode container process state: {e}")))?;
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context(format!("{what}: socket"))?;
    let addr = UnixAddr::new(path).context(format!("{what}: socket address"))?;
    socket::connect(sock.as_raw_fd(), &addr)
        .context(format!("{what}: connect to seccomp agent"))?;

    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut sent = 0;
    while sent < body.len() {
        let iov = [IoSlice::new(&body[sent..])];
        // The fd rides on the first chunk only.
        let cmsgs: &[ControlMessage] = if sent == 0 { &cmsg } else { &[] };
        match socket::sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(0) => return Err(Error::new(format!("{what}: send: connection closed"))),
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::os(format!("{what}: send seccomp fd"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shape() {
        let st = json!({"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"});
        let m = process_state(&st, "meta");
        assert_eq!(m["ociVersion"], "1.0.2");
        assert_eq!(m["fds"], json!(["seccompFd"]));
        assert_eq!(m["pid"], 42);
        assert_eq!(m["metadata"], "meta");
        assert_eq!(m["state"]["id"], "c1");
        let m = process_state(&st, "");
        assert!(m.get("metadata").is_none());
    }
}
