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
/// already-connected console socket.
pub fn setup(console_sock: RawFd, size: Option<(u16, u16)>) -> Result<()> {
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
    bind_console(&name)?;
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

/// Bind the pty slave onto /dev/console, which we create ourselves: an
/// existing entry is accepted only if it is a regular file or device, never
/// a symlink planted by the image (CVE-2025-52565).
fn bind_console(pts: &str) -> Result<()> {
    let path = "/dev/console";
    match nix::sys::stat::lstat(path) {
        Ok(st) => {
            let kind = st.st_mode & libc::S_IFMT;
            if kind != libc::S_IFREG && kind != libc::S_IFCHR {
                return Err(Error::new(
                    "terminal: /dev/console in the container is not a file or device (symlink?)",
                ));
            }
        }
        Err(nix::errno::Errno::ENOENT) => {
            let fd = open(
                path,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC
                    | OFlag::O_WRONLY,
                Mode::from_bits_truncate(0o600),
            )
            .context("terminal: create /dev/console")?;
            let _ = nix::unistd::close(fd);
        }
        Err(e) => return Err(Error::os("terminal: stat /dev/console", e)),
    }
    nix::mount::mount(
        Some(pts),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("terminal: bind {pts} onto /dev/console"))
}
