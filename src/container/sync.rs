//! The parent/child channel: a SOCK_SEQPACKET socketpair carrying small typed
//! messages, one per datagram, so no framing is needed and a dead peer shows
//! as end-of-file instead of a hang.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    recvmsg, send, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixCredentials,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug)]
pub enum Msg {
    /// parent → child: cgroup placement and id maps are done; go on.
    Go,
    /// child → parent: namespaces exist and the rootfs is mounted but not yet
    /// entered; run prestart/createRuntime hooks now.
    RunHooks,
    /// parent → child: hooks ran.
    HooksDone,
    /// child → parent: the user namespace exists; write the id maps for the
    /// sending process (two-step launch only).
    WriteMaps,
    /// parent → child: maps written.
    MapsDone,
    /// middle process → parent: host pid of the container init (two-step).
    InitPid(i32),
    /// child → parent: set up and waiting for `start`.
    Ready,
    /// child → parent: a setup step failed.
    Failed(String),
    /// child → parent: the seccomp notify fd, for the runtime to pass to
    /// `listenerPath` (the child cannot reach the host's socket).
    SeccompFd(OwnedFd),
}

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
        let mut buf = Vec::with_capacity(16);
        match msg {
            Msg::Go => buf.push(1),
            Msg::RunHooks => buf.push(2),
            Msg::HooksDone => buf.push(3),
            Msg::WriteMaps => buf.push(4),
            Msg::MapsDone => buf.push(5),
            Msg::InitPid(p) => {
                buf.push(6);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Ready => buf.push(7),
            Msg::Failed(s) => {
                buf.push(8);
                // Datagrams are bounded; an error message never needs more.
                let b = s.as_bytes();
                buf.extend_from_slice(&b[..b.len().min(60_000)]);
            }
            Msg::SeccompFd(fd) => {
                let fds = [fd.as_raw_fd()];
                let cmsg = [ControlMessage::ScmRights(&fds)];
                let iov = [IoSlice::new(&[9u8])];
                sendmsg::<()>(
                    self.fd.as_raw_fd(),
                    &iov,
                    &cmsg,
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .context("sync: send seccomp fd")?;
                return Ok(());
            }
        }
        send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL).context("sync: send")?;
        Ok(())
    }

    /// Receives one message; `None` when the peer has gone away.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 65_536];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fd) = loop {
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
                    let mut fd = None;
                    for c in msg
                        .cmsgs()
                        .map_err(|e| Error::os("sync: control message", e))?
                    {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: SCM_RIGHTS installed these fds for us.
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let body = &buf[1..n];
        let msg = match buf[0] {
            1 => Msg::Go,
            2 => Msg::RunHooks,
            3 => Msg::HooksDone,
            4 => Msg::WriteMaps,
            5 => Msg::MapsDone,
            6 if body.len() == 4 => {
                Msg::InitPid(i32::from_le_bytes([body[0], body[1], body[2], body[3]]))
            }
            7 => Msg::Ready,
            8 => Msg::Failed(String::from_utf8_lossy(body).into_owned()),
            9 => {
                Msg::SeccompFd(fd.ok_or_else(|| Error::new("sync: seccomp fd message without fd"))?)
            }
            t => return Err(Error::new(format!("sync: unknown message tag {t}"))),
        };
        Ok(Some(msg))
    }

    /// Sends `InitPid` with the sender's credentials: the kernel translates
    /// the pid into the receiver's pid namespace, so the runtime learns the
    /// init's host pid whatever namespace the init is in.
    pub fn send_pid(&self) -> Result<()> {
        let creds = UnixCredentials::new();
        let cmsg = [ControlMessage::ScmCredentials(&creds)];
        let buf = [6u8, 0, 0, 0, 0];
        let iov = [IoSlice::new(&buf)];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .context("sync: send pid")?;
        Ok(())
    }

    /// Lets `recv_pid` see the sender's credentials.
    pub fn pass_credentials(&self) -> Result<()> {
        setsockopt(&self.fd, sockopt::PassCred, &true).context("sync: SO_PASSCRED")
    }

    /// Receives `InitPid` and returns the pid from its credentials.
    pub fn recv_pid(&self) -> Result<Option<i32>> {
        let mut buf = vec![0u8; 65_536];
        let mut space = nix::cmsg_space!(UnixCredentials);
        let (n, pid) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            )
            .context("sync: receive pid")?;
            let mut pid = None;
            for c in msg
                .cmsgs()
                .map_err(|e| Error::os("sync: control message", e))?
            {
                if let ControlMessageOwned::ScmCredentials(cr) = c {
                    pid = Some(cr.pid());
                }
            }
            (msg.bytes, pid)
        };
        if n == 0 {
            return Ok(None);
        }
        if buf[0] == 8 {
            return Err(Error::new(String::from_utf8_lossy(&buf[1..n]).into_owned()));
        }
        if buf[0] != 6 {
            return Err(Error::new(format!(
                "sync: expected the init pid, got tag {}",
                buf[0]
            )));
        }
        pid.map(Some)
            .ok_or_else(|| Error::new("sync: init pid message without credentials"))
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
