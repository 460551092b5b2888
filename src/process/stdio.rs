//! Foreground `run` and `exec` give the container pipes, not the caller's
//! own fds, and copy between them (as runc does): a container must not be
//! able to reopen the caller's files through /proc/self/fd/{0,1,2} with
//! other flags (truncate a log, read a file it was only meant to append to).
//! The copy loop also forwards signals, in one poll loop: no threads.

use super::terminal::{copy_winsize, receive_master, Console, RawMode};
use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, read, write, Pid};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// The container's ends (become its 0, 1, 2) and ours.
pub struct Pipes {
    pub container: [OwnedFd; 3],
    stdin_w: OwnedFd,
    stdout_r: OwnedFd,
    stderr_r: OwnedFd,
}

impl Pipes {
    pub fn new() -> Result<Pipes> {
        let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).context("create stdin pipe")?;
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).context("create stdout pipe")?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).context("create stderr pipe")?;
        fcntl(in_w.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("stdin pipe")?;
        Ok(Pipes {
            container: [in_r, out_w, err_w],
            stdin_w: in_w,
            stdout_r: out_r,
            stderr_r: err_r,
        })
    }

    pub fn raw(&self) -> [RawFd; 3] {
        self.container.each_ref().map(|f| f.as_raw_fd())
    }

    /// Closes the container's ends in the runtime once the child has them.
    pub fn close_container_side(&mut self) -> Result<()> {
        // Replace with fresh /dev/null fds: OwnedFd cannot be dropped out of
        // an array in place.
        for slot in self.container.iter_mut() {
            let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
            *slot = OwnedFd::from(null);
        }
        Ok(())
    }
}

/// In the child: the pipe ends become stdin, stdout, stderr.
pub fn install(fds: [RawFd; 3]) -> Result<()> {
    for (target, fd) in fds.iter().enumerate() {
        nix::unistd::dup2(*fd, target as RawFd).context("dup2 stdio pipe")?;
    }
    Ok(())
}

/// How a foreground process's stdio is wired: pipes we copy, a pty we
/// proxy (terminal without --console-socket, as runc does), or nothing
/// (detached, or the caller's console socket gets the pty).
pub struct Io {
    pipes: Option<Pipes>,
    proxy: Option<(UnixStream, UnixStream)>,
    master: Option<OwnedFd>,
}

impl Io {
    pub fn new(detach: bool, terminal: bool, console_socket: bool) -> Result<Io> {
        let mut io = Io {
            pipes: None,
            proxy: None,
            master: None,
        };
        if detach {
            return Ok(io);
        }
        if terminal {
            if !console_socket {
                io.proxy = Some(UnixStream::pair().context("terminal: socketpair")?);
            }
        } else {
            io.pipes = Some(Pipes::new()?);
        }
        Ok(io)
    }

    /// Fds the child installs as 0, 1, 2.
    pub fn stdio(&self) -> Option<[RawFd; 3]> {
        self.pipes.as_ref().map(|p| p.raw())
    }

    pub fn console<'a>(&self, socket: Option<&'a std::path::Path>) -> Console<'a> {
        match (socket, &self.proxy) {
            (Some(p), _) => Console::Socket(p),
            (None, Some((_, child))) => Console::Proxy(child.as_raw_fd()),
            _ => Console::None,
        }
    }

    /// After the child has its ends: drop ours of them, take the pty master.
    pub fn started(&mut self) -> Result<()> {
        if let Some(p) = self.pipes.as_mut() {
            p.close_container_side()?;
        }
        if let Some((ours, child)) = self.proxy.take() {
            drop(child);
            let master = receive_master(ours.as_raw_fd())?;
            copy_winsize(master.as_raw_fd());
            self.master = Some(master);
        }
        Ok(())
    }

    /// Copies stdio and forwards signals until `pid` exits; returns its exit
    /// code (128+signal when killed). `signals` must already be blocked.
    pub fn supervise(self, pid: Pid, signals: &SigSet) -> Result<i32> {
        match self.master {
            Some(m) => {
                let _raw = RawMode::enter();
                let fd = m.as_raw_fd();
                supervise(pid, signals, Some(Copier::tty(m)?), Some(fd))
            }
            None => supervise(pid, signals, self.pipes.map(Copier::new), None),
        }
    }
}

fn supervise(
    pid: Pid,
    signals: &SigSet,
    mut io: Option<Copier>,
    tty: Option<RawFd>,
) -> Result<i32> {
    // Non-blocking: the loop below drains it until empty, and a blocking
    // read would stall the copying until the next signal arrives.
    let sfd = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(c) = io.as_ref() {
            c.poll_fds(&mut fds);
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::os("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if let Some(c) = io.as_mut() {
            c.service(&ready[1..]);
        }
        if ready[0].contains(PollFlags::POLLIN) {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                match sig {
                    Some(Signal::SIGCHLD) => {
                        if let Some(code) = reap(pid)? {
                            if let Some(c) = io.as_mut() {
                                c.drain();
                            }
                            return Ok(code);
                        }
                    }
                    // The pty's size follows the caller's terminal; the
                    // kernel then signals the container's foreground group.
                    Some(Signal::SIGWINCH) if tty.is_some() => {
                        if let Some(m) = tty {
                            copy_winsize(m);
                        }
                    }
                    Some(s) => {
                        let _ = kill(pid, s);
                    }
                    None => {}
                }
            }
        }
    }
}

fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(Some(c)),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(Some(128 + s as i32)),
            Ok(_) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::os("wait for the container process", e)),
        }
    }
}

struct Copier {
    stdin_src_open: bool,
    stdin_w: Option<OwnedFd>,
    pending: Vec<u8>,
    outs: Vec<(OwnedFd, RawFd)>,
}

impl Copier {
    fn new(p: Pipes) -> Copier {
        Copier {
            stdin_src_open: true,
            stdin_w: Some(p.stdin_w),
            pending: Vec::new(),
            outs: vec![(p.stdout_r, 1), (p.stderr_r, 2)],
        }
    }

    /// Order of the poll entries: stdin source, stdin pipe, then the outputs.
    /// A pty master: what the caller types goes in, what the container
    /// writes comes out on our stdout.
    fn tty(master: OwnedFd) -> Result<Copier> {
        let input = master.try_clone().context("terminal: dup pty master")?;
        fcntl(input.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("terminal")?;
        Ok(Copier {
            stdin_src_open: true,
            stdin_w: Some(input),
            pending: Vec::new(),
            outs: vec![(master, 1)],
        })
    }

    fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) {
        // SAFETY: fd 0 stays open for the life of the process.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let want_in = self.stdin_src_open && self.pending.is_empty() && self.stdin_w.is_some();
        fds.push(PollFd::new(
            stdin,
            if want_in {
                PollFlags::POLLIN
            } else {
                PollFlags::empty()
            },
        ));
        match &self.stdin_w {
            Some(w) if !self.pending.is_empty() => {
                fds.push(PollFd::new(w.as_fd(), PollFlags::POLLOUT))
            }
            _ => fds.push(PollFd::new(stdin, PollFlags::empty())),
        }
        for (r, _) in &self.outs {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
    }

    fn service(&mut self, ready: &[PollFlags]) {
        let mut buf = [0u8; 16384];
        let any = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        if ready[0].intersects(any) {
            match read(0, &mut buf) {
                Ok(0) | Err(_) => {
                    self.stdin_src_open = false;
                    if self.pending.is_empty() {
                        self.stdin_w = None;
                    }
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
        if let Some(w) = &self.stdin_w {
            if !self.pending.is_empty() {
                match write(w, &self.pending) {
                    Ok(n) => {
                        self.pending.drain(..n);
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(_) => {
                        self.pending.clear();
                        self.stdin_w = None;
                    }
                }
            }
            if self.pending.is_empty() && !self.stdin_src_open {
                self.stdin_w = None;
            }
        }
        let mut closed = Vec::new();
        for (i, (r, dst)) in self.outs.iter().enumerate() {
            if ready[2 + i].intersects(any) {
                match read(r.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(_) => closed.push(i),
                    Ok(n) => write_all(*dst, &buf[..n]),
                }
            }
        }
        for i in closed.into_iter().rev() {
            self.outs.remove(i);
        }
    }

    /// After the process exited: whatever is still buffered in the pipes,
    /// without waiting for writers that may outlive it.
    fn drain(&mut self) {
        let mut buf = [0u8; 16384];
        for (r, dst) in &self.outs {
            let _ = fcntl(r.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            while let Ok(n) = read(r.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                write_all(*dst, &buf[..n]);
            }
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    // SAFETY: fds 1 and 2 stay open for the life of the process.
    let f = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match write(f, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
