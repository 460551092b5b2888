//! File descriptors that cross into the container: only 0, 1, 2 and the
//! `--preserve-fds` range. Everything else the runtime opened is marked
//! close-on-exec in one syscall right before exec (CVE-2024-21626 was a
//! leaked host directory fd).

use crate::error::{Error, Result};

/// Checks that the fds to preserve are really open, before we open anything
/// ourselves: otherwise one of our own fds could take a number in the
/// preserved range and be handed to the container.
pub fn check_preserved(n: u32) -> Result<()> {
    for fd in 3..3 + n as i32 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(Error::new(format!(
                "--preserve-fds {n}: file descriptor {fd} is not open"
            )));
        }
    }
    Ok(())
}

/// Clears close-on-exec on the preserved range and sets it on everything above.
pub fn prepare_for_exec(preserve: u32) -> Result<()> {
    let first_closed = 3 + preserve;
    for fd in 3..first_closed as i32 {
        // SAFETY: F_SETFD on an fd number we checked is open; flags 0 only
        // clears FD_CLOEXEC.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(Error::io(
                format!("--preserve-fds: clear close-on-exec on fd {fd}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first_closed,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        // Kernels before 5.11, or a seccomp filter around kist itself (kist
        // in a container whose profile predates close_range): mark them one
        // by one, as runc does.
        mark_each_from(first_closed as i32).map_err(|e| {
            Error::io(
                "mark runtime fds close-on-exec (close_range, then /proc/self/fd)",
                e,
            )
        })?;
    }
    Ok(())
}

fn mark_each_from(first: i32) -> std::io::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD only changes the flags of an fd number; the one
        // read_dir used is closed already and fails harmlessly with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// systemd socket activation: the number of fds (from 3) passed to this
/// process, when LISTEN_PID names us.
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The fallback for kernels (or outer filters) without close_range.
    #[test]
    fn marks_each_fd_from_the_first() {
        let files: Vec<std::fs::File> = (0..3)
            .map(|_| std::fs::File::open("/dev/null").expect("open /dev/null"))
            .collect();
        let mut fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
        fds.sort_unstable();
        for fd in &fds {
            // SAFETY: F_SETFD with 0 clears FD_CLOEXEC on an fd we own.
            unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) };
        }
        mark_each_from(fds[1]).expect("walk /proc/self/fd");
        // SAFETY: F_GETFD only reads the flags of fds we own.
        let cloexec = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0;
        assert!(!cloexec(fds[0]));
        assert!(cloexec(fds[1]));
        assert!(cloexec(fds[2]));
    }
}
