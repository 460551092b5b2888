//! The receiving end of `--console-socket`: a unix socket on which the
//! runtime sends the pty master with SCM_RIGHTS.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new(k: &super::Kist) -> ConsoleSocket {
        let path = k.path("console.sock");
        let listener =
            UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        // A rootless runtime connects as its user.
        if let Some(u) = k.user {
            super::users::chown(&path, u.uid, u.gid);
        }
        ConsoleSocket { path, listener }
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Accepts the runtime's connection and receives the pty master.
    /// The runtime may already have sent and closed: the message stays queued.
    pub fn recv_master(&self, timeout: Duration) -> Pty {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "runtime never connected to the console socket"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept on console socket: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
        let fd = recv_fd(stream.as_raw_fd()).expect("receive pty master over the console socket");
        Pty::new(fd)
    }
}

/// recvmsg(2) one fd passed as SCM_RIGHTS.
fn recv_fd(sock: i32) -> std::io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for a few fds in case a runtime sends more than one.
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg points at iov/cbuf, which outlive the call and have the sizes given.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CMSG_* walk the control buffer the kernel just filled, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Err(std::io::Error::other(format!(
        "no SCM_RIGHTS in a {n}-byte message"
    )))
}

/// The pty master, with timed reads.
pub struct Pty {
    file: File,
    pub seen: String,
}

impl Pty {
    fn new(fd: OwnedFd) -> Pty {
        let file = File::from(fd);
        // SAFETY: fcntl on an fd we own.
        unsafe {
            let fl = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Pty {
            file,
            seen: String::new(),
        }
    }

    pub fn write(&mut self, s: &str) {
        self.file
            .write_all(s.as_bytes())
            .expect("write to pty master");
    }

    /// Reads until `needle` appears in everything read so far (or panics).
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(needle) {
            match self.file.read(&mut buf) {
                Ok(0) => panic!("pty closed before {needle:?}; got {:?}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                // EIO: the slave side closed (container exited).
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    panic!("pty closed before {needle:?}; got {:?}", self.seen)
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "timed out waiting for {needle:?} on the pty; got {:?}",
                        self.seen
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("read pty master: {e}"),
            }
        }
        self.seen.clone()
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}
