//! `process.terminal` with `--console-socket`: a pty from the container's own
//! devpts, its slave as the process's stdio and controlling terminal, its
//! master sent to the socket with SCM_RIGHTS.

use crate::error::{Context, Error, Result};
use nix::fcntl::{open, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);

/// Called after pivot_root (so /dev/ptmx is the container's), with the
/// already-connected console socket. `bind_console`: the container's init
/// also gets the slave bind-mounted onto /dev/console (by fd, see
/// `rootfs::mount_console`); an `exec` process mounts nothing, as in runc,
/// since its mount would be seen by the whole container.
pub fn setup(console_sock: RawFd, size: Option<(u16, u16)>, bind_console: bool) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("terminal: open /dev/ptmx")?;
    grantpt(&master).context("terminal: grantpt")?;
    unlockpt(&master).context("terminal: unlockpt")?;
    let name = ptsname_r(&master).context("terminal: ptsname")?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .with_context(|| format!("terminal: open {name}"))?;
    // SAFETY: open returned a fresh descriptor we now own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct we own.
        unsafe { set_winsize(slave.as_raw_fd(), &ws) }.context("terminal: set window size")?;
    }
    if bind_console {
        crate::rootfs::mount_console(slave.as_raw_fd())
            .with_context(|| format!("terminal: bind {name} onto /dev/console"))?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(console_sock, &iov, &cmsg, MsgFlags::empty(), None)
        .context("terminal: send pty master to --console-socket")?;
    drop(master);
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).context("terminal: dup2 pty slave")?;
    }
    // SAFETY: TIOCSCTTY with arg 0 on a tty fd; we are a session leader.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::io(
            "terminal: make the pty the controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Where the pty master goes.
#[derive(Clone, Copy)]
pub enum Console<'a> {
    None,
    /// `--console-socket PATH`: the caller's socket.
    Socket(&'a std::path::Path),
    /// Foreground `run`/`exec` without a socket: our own socketpair end,
    /// whose peer the runtime keeps to proxy the terminal itself.
    Proxy(RawFd),
}

impl Console<'_> {
    pub fn is_some(&self) -> bool {
        !matches!(self, Console::None)
    }

    /// The connected stream the child sends the master over.
    pub fn connect(&self) -> Result<Option<std::os::unix::net::UnixStream>> {
        match self {
            Console::None => Ok(None),
            Console::Socket(p) => std::os::unix::net::UnixStream::connect(p)
                .map(Some)
                .with_context(|| format!("--console-socket {}: connect", p.display())),
            Console::Proxy(fd) => {
                let dup = nix::unistd::dup(*fd).context("terminal: dup console socket")?;
                // SAFETY: dup returned a fresh descriptor we now own.
                Ok(Some(unsafe {
                    std::os::unix::net::UnixStream::from_raw_fd(dup)
                }))
            }
        }
    }
}

/// Receives the pty master sent by `setup`.
pub fn receive_master(sock: RawFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut buf = [0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::empty())
        .context("terminal: receive the pty master")?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::os("terminal: control message", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::new("terminal: the container sent no pty master"))
}

/// The caller's terminal in raw mode while we proxy; restored on drop.
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        // SAFETY: fd 0 stays open for the life of the process.
        let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
        let Ok(saved) = tcgetattr(stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin, SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: as above.
            let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
            let _ = nix::sys::termios::tcsetattr(stdin, nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);

/// Copies the caller's window size to the pty (at start and on SIGWINCH).
pub fn copy_winsize(master: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own; TIOCSWINSZ reads it.
    if unsafe { get_winsize(0, &mut ws) }.is_ok() {
        let _ = unsafe { set_winsize(master, &ws) };
    }
}
