//! The parent/child channel: a SOCK_SEQPACKET socketpair carrying small typed
//! messages, one per datagram, so no framing is needed and a dead peer shows
//! as end-of-file instead of a hang. A message may carry the sender's
//! credentials (SCM_CREDENTIALS). A seccomp notify fd is not sent but lent:
//! the child writes its number and waits; the runtime copies it out with
//! pidfd_getfd and says so (runc's way: after the filter the child needs
//! only write, read and close).

use crate::error::{Context, Error, Result};
use crate::sys;
use nix::sys::socket::{
    recv, recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixCredentials,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub enum Msg {
    /// parent → child: id maps are written (and netDevices moved); go on.
    Go,
    /// parent → init, in an early launch (the init was cloned before the
    /// rest of its cgroup existed, see `container::launch`): go on, with
    /// the files made after the clone, sent with SCM_RIGHTS: the start
    /// FIFO (O_PATH) first, then the v1 `tasks` files
    /// (`cgroups::SelfPlacement::into_fds`).
    GoWith(Vec<OwnedFd>),
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
    /// `listenerPath` (the child cannot reach the host's socket). On the
    /// wire: the fd's number in the child, answered with a one-byte ack once
    /// the runtime holds its copy.
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
            // 10 is FD_TAKEN, a bare answer byte outside this framing.
            Msg::GoWith(_) => 11,
        }
    }
}

pub struct Channel {
    fd: OwnedFd,
    /// The child's pid, on the runtime's side: where a lent fd is taken from.
    peer: std::cell::Cell<i32>,
    /// Receive buffer, grown to the largest message received and kept.
    rbuf: std::cell::RefCell<Vec<u8>>,
}

const FD_TAKEN: u8 = 10;

/// The most fds one message may carry: the start FIFO and a `tasks` file
/// per v1 hierarchy (a dozen at most on today's kernels).
const MAX_FDS: usize = 32;

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("create sync socketpair")?;
    let ch = |fd| Channel {
        fd,
        peer: std::cell::Cell::new(0),
        rbuf: std::cell::RefCell::new(Vec::new()),
    };
    Ok((ch(a), ch(b)))
}

impl Channel {
    /// Has every holder of the other end closed it (the runtime died)?
    /// Messages it sent before may still be queued: the kernel reports the
    /// hang-up all the same.
    pub fn peer_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut p = [PollFd::new(self.fd.as_fd(), PollFlags::empty())];
        poll(&mut p, PollTimeout::ZERO).is_ok_and(|_| {
            p[0].revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
        })
    }

    /// Runtime side: the host pid of the process at the other end.
    pub fn set_peer(&self, pid: i32) {
        self.peer.set(pid);
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        let tag = msg.tag();
        let mut buf = Vec::new();
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
                buf.extend_from_slice(&fd.as_raw_fd().to_le_bytes());
            }
            _ => {}
        }
        let creds = matches!(msg, Msg::InitPid(0)).then(UnixCredentials::new);
        let fds: Vec<RawFd> = match msg {
            Msg::GoWith(f) => f.iter().map(AsRawFd::as_raw_fd).collect(),
            _ => Vec::new(),
        };
        if fds.len() > MAX_FDS {
            return Err(Error::new(format!(
                "sync: {} fds in one message, at most {MAX_FDS}",
                fds.len()
            )));
        }
        if creds.is_none() && fds.is_empty() {
            // write(2), and for a bare tag without allocating: after the
            // seccomp filter the init still sends Ready (or an error), and
            // write is a syscall runc 1.1 makes there too (sendmsg is not).
            // A gone peer is EPIPE, or SIGPIPE where that is not ignored.
            let bytes = if buf.is_empty() { &[tag][..] } else { &buf[..] };
            nix::unistd::write(&self.fd, bytes).context("sync: send")?;
            if matches!(msg, Msg::SeccompFd(_)) {
                self.wait_fd_taken()?;
            }
            return Ok(());
        }
        let mut cmsg = Vec::new();
        if let Some(c) = &creds {
            cmsg.push(ControlMessage::ScmCredentials(c));
        }
        if !fds.is_empty() {
            cmsg.push(ControlMessage::ScmRights(&fds));
        }
        let buf = if buf.is_empty() { vec![tag] } else { buf };
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

    /// Child side of a lent fd: read(2) until the runtime has its copy.
    fn wait_fd_taken(&self) -> Result<()> {
        let mut b = [0u8; 1];
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut b) {
                Ok(1) if b[0] == FD_TAKEN => return Ok(()),
                Ok(0) => {
                    return Err(Error::new(
                        "sync: runtime gone before taking the seccomp fd",
                    ))
                }
                Ok(_) => return Err(Error::new("sync: unexpected answer to the seccomp fd")),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::os(
                        "sync: wait for the runtime to take the seccomp fd",
                        e,
                    ))
                }
            }
        }
    }

    /// Runtime side of a lent fd: copies fd `n` out of the peer, then tells
    /// it so.
    fn take_fd(&self, n: RawFd) -> Result<OwnedFd> {
        let peer = self.peer.get();
        if peer <= 0 {
            return Err(Error::new("sync: seccomp fd from a process of unknown pid"));
        }
        let pidfd = sys::process::pidfd_open(peer)
            .map_err(|e| Error::io(format!("sync: pidfd_open {peer}"), e.into()))?;
        let fd = sys::process::pidfd_getfd(pidfd.as_fd(), n).map_err(|e| {
            Error::io(
                format!("sync: copy the seccomp notify fd out of process {peer} (pidfd_getfd, Linux 5.6)"),
                e.into(),
            )
        })?;
        nix::unistd::write(&self.fd, &[FD_TAKEN]).context("sync: acknowledge the seccomp fd")?;
        Ok(fd)
    }

    /// Lets the receiver see senders' credentials (for `InitPid`).
    pub fn pass_credentials(&self) -> Result<()> {
        setsockopt(&self.fd, sockopt::PassCred, &true).context("sync: SO_PASSCRED")
    }

    /// Receives one message; `None` when the peer has gone away.
    pub fn recv(&self) -> Result<Option<Msg>> {
        // The message's size first (a peek: nothing is consumed, no fd is
        // installed), so the buffer is only as large as the largest message
        // yet: a 64 KiB buffer for every channel cost 16 page faults in the
        // runtime and as many in the init, for messages of a few bytes.
        let want = loop {
            match recv(
                self.fd.as_raw_fd(),
                &mut [],
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.context("sync: receive")?,
            }
        };
        let mut buf = self.rbuf.borrow_mut();
        if buf.len() < want.max(1) {
            buf.resize(want.max(1), 0);
        }
        let mut space = nix::cmsg_space!(UnixCredentials, [RawFd; MAX_FDS]);
        let (n, pid, fds) = loop {
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
                    let mut pid = None;
                    let mut fds: Vec<OwnedFd> = Vec::new();
                    for c in msg
                        .cmsgs()
                        .map_err(|e| Error::os("sync: control message", e))?
                    {
                        match c {
                            ControlMessageOwned::ScmCredentials(c) => pid = Some(c.pid()),
                            ControlMessageOwned::ScmRights(r) => {
                                fds.extend(r.into_iter().map(|fd| {
                                    // SAFETY: the kernel just installed this fd
                                    // in our table for this message; nothing
                                    // else owns it.
                                    unsafe { OwnedFd::from_raw_fd(fd) }
                                }))
                            }
                            _ => {}
                        }
                    }
                    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
                        return Err(Error::new("sync: control data truncated (too many fds)"));
                    }
                    break (msg.bytes, pid, fds);
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
                11 => Msg::GoWith(fds),
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
                9 => {
                    let n = body
                        .get(..4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .ok_or_else(|| Error::new("sync: seccomp fd message without a number"))?;
                    Msg::SeccompFd(self.take_fd(n)?)
                }
                t => return Err(Error::new(format!("sync: unknown message tag {t}"))),
            };
        Ok(Some(msg))
    }

    /// Waits for `GoWith` and returns its files; a `Failed` from the peer
    /// becomes the error.
    pub fn expect_go_with(&self) -> Result<Vec<OwnedFd>> {
        match self.recv()? {
            Some(Msg::GoWith(fds)) => Ok(fds),
            Some(Msg::Failed(e)) => Err(Error::new(e)),
            Some(m) => Err(Error::new(format!("sync: expected GoWith, got {m:?}"))),
            None => Err(Error::new("sync: peer exited while waiting for GoWith")),
        }
    }

    /// Waits for a message of `want`'s kind (payloads are not compared: this
    /// is for the payload-less steps of the handshake); a `Failed` from the
    /// peer becomes the error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m.tag() == want.tag() => Ok(()),
            Some(Msg::Failed(e)) => Err(Error::new(e)),
            Some(m) => Err(Error::new(format!("sync: expected {want:?}, got {m:?}"))),
            None => Err(Error::new(format!(
                "sync: peer exited while waiting for {want:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn go_with_carries_open_files_in_order() {
        let (a, b) = pair().unwrap();
        let (r1, w1) = nix::unistd::pipe().unwrap();
        let (r2, w2) = nix::unistd::pipe().unwrap();
        a.send(&Msg::GoWith(vec![w1, w2])).unwrap();
        let mut fds = b.expect_go_with().unwrap().into_iter();
        // The received copies are the same pipes, in the order sent, and
        // close-on-exec.
        for (n, r) in [(1u8, r1), (2u8, r2)] {
            let fd = fds.next().unwrap();
            // SAFETY: F_GETFD only queries the descriptor table.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            assert!(flags & libc::FD_CLOEXEC != 0);
            std::fs::File::from(fd).write_all(&[n]).unwrap();
            let mut got = [0u8];
            std::fs::File::from(r).read_exact(&mut got).unwrap();
            assert_eq!(got, [n]);
        }
        assert!(fds.next().is_none());
    }

    #[test]
    fn go_with_refuses_more_files_than_a_message_may_carry() {
        let (a, _b) = pair().unwrap();
        let files = (0..=MAX_FDS)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect();
        assert!(a.send(&Msg::GoWith(files)).is_err());
    }

    #[test]
    fn a_failure_instead_of_go_with_is_the_error() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Failed("create the network namespace: nope".into()))
            .unwrap();
        let e = b.expect_go_with().unwrap_err();
        assert_eq!(e.to_string(), "create the network namespace: nope");
    }
}
