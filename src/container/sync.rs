//! The parent/child channel: a SOCK_SEQPACKET socketpair carrying small typed
//! messages, one per datagram, so no framing is needed and a dead peer shows
//! as end-of-file instead of a hang. A message may carry one fd
//! (SCM_RIGHTS) or the sender's credentials (SCM_CREDENTIALS).

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixCredentials,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub enum Msg {
    /// parent → child: cgroup placement and id maps are done; go on.
    Go,
    /// child → parent: namespaces exist and the rootfs is mounted but not yet
    /// entered; run prestart/createRuntime hooks now.
    RunHooks,
    /// parent → child: hooks ran.
    HooksDone,
    /// middle → parent: the user namespace exists; write the id maps for the
    /// sending process (two-step launch only).
    WriteMaps,
    /// parent → middle: maps written.
    MapsDone,
    /// → parent: the host pid of a process the runtime did not clone itself.
    /// `InitPid(0)` means "my own pid": it is then sent with the sender's
    /// credentials, which the kernel translates into the receiver's pid
    /// namespace, so the receiver gets the host pid of an init sitting in a
    /// new pid namespace.
    InitPid(i32),
    /// child → parent: set up and waiting for `start`.
    Ready,
    /// child → parent: a setup step failed.
    Failed(String),
    /// child → parent: the seccomp notify fd, for the runtime to pass to
    /// `listenerPath` (the child cannot reach the host's socket).
    SeccompFd(OwnedFd),
}

impl Msg {
    /// The first byte of the datagram.
    fn tag(&self) -> u8 {
        match self {
            Msg::Go => 1,
            Msg::RunHooks => 2,
            Msg::HooksDone => 3,
            Msg::WriteMaps => 4,
            Msg::MapsDone => 5,
            Msg::InitPid(_) => 6,
            Msg::Ready => 7,
            Msg::Failed(_) => 8,
            Msg::SeccompFd(_) => 9,
        }
    }
}

/// Compares the kind of message only: what `expect` needs.
impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("create sync socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let tag = msg.tag();
        let mut buf = Vec::new();
        let mut fds: [RawFd; 1] = [-1];
        match msg {
            Msg::InitPid(p) => {
                buf.push(tag);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Failed(s) => {
                buf.push(tag);
                // Datagrams are bounded; an error message never needs more.
                let b = s.as_bytes();
                buf.extend_from_slice(&b[..b.len().min(60_000)]);
            }
            Msg::SeccompFd(fd) => {
                buf.push(tag);
                fds[0] = fd.as_raw_fd();
            }
            _ => {}
        }
        let creds = matches!(msg, Msg::InitPid(0)).then(UnixCredentials::new);
        if creds.is_none() && fds[0] < 0 {
            // write(2), and for a bare tag without allocating: after the
            // seccomp filter the init still sends Ready (or an error), and
            // write is a syscall runc 1.1 makes there too (sendmsg is not).
            // A gone peer is EPIPE, or SIGPIPE where that is not ignored.
            let bytes = if buf.is_empty() { &[tag][..] } else { &buf[..] };
            nix::unistd::write(&self.fd, bytes).context("sync: send")?;
            return Ok(());
        }
        let mut cmsg = Vec::new();
        if let Some(c) = &creds {
            cmsg.push(ControlMessage::ScmCredentials(c));
        }
        if fds[0] >= 0 {
            cmsg.push(ControlMessage::ScmRights(&fds));
        }
        let iov = [IoSlice::new(&buf)];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .context("sync: send")?;
        Ok(())
    }

    /// Lets the receiver see senders' credentials (for `InitPid`).
    pub fn pass_credentials(&self) -> Result<()> {
        setsockopt(&self.fd, sockopt::PassCred, &true).context("sync: SO_PASSCRED")
    }

    /// Receives one message; `None` when the peer has gone away.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 65_536];
        let mut space = nix::cmsg_space!([RawFd; 1], UnixCredentials);
        let (n, fd, pid) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    let msg = r.context("sync: receive")?;
                    let (mut fd, mut pid) = (None, None);
                    for c in msg
                        .cmsgs()
                        .map_err(|e| Error::os("sync: control message", e))?
                    {
                        match c {
                            // SAFETY: SCM_RIGHTS installed this fd for us.
                            ControlMessageOwned::ScmRights(fds) => {
                                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) })
                            }
                            ControlMessageOwned::ScmCredentials(c) => pid = Some(c.pid()),
                            _ => {}
                        }
                    }
                    break (msg.bytes, fd, pid);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let body = &buf[1..n];
        let msg =
            match buf[0] {
                1 => Msg::Go,
                2 => Msg::RunHooks,
                3 => Msg::HooksDone,
                4 => Msg::WriteMaps,
                5 => Msg::MapsDone,
                6 => {
                    let given = body
                        .get(..4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    if given != 0 {
                        Msg::InitPid(given)
                    } else {
                        Msg::InitPid(pid.ok_or_else(|| {
                            Error::new("sync: init pid message without credentials")
                        })?)
                    }
                }
                7 => Msg::Ready,
                8 => Msg::Failed(String::from_utf8_lossy(body).into_owned()),
                9 => Msg::SeccompFd(
                    fd.ok_or_else(|| Error::new("sync: seccomp fd message without fd"))?,
                ),
                t => return Err(Error::new(format!("sync: unknown message tag {t}"))),
            };
        Ok(Some(msg))
    }

    /// Waits for `want`; a `Failed` from the peer becomes the error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Failed(e)) => Err(Error::new(e)),
            Some(m) => Err(Error::new(format!("sync: expected {want:?}, got {m:?}"))),
            None => Err(Error::new(format!(
                "sync: peer exited while waiting for {want:?}"
            ))),
        }
    }
}
