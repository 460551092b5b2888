//! Socket activation: fds systemd passes to the runtime (LISTEN_FDS with
//! LISTEN_PID naming it) reach the container as fds 3.. with LISTEN_FDS and
//! LISTEN_PID=1 in its environment, as with runc.

use crate::common::{bin, Kist};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::Command;

#[test]
fn listen_fds_are_passed_to_the_container() {
    let k = Kist::new();
    let b = k.bundle_sh("echo $LISTEN_FDS $LISTEN_PID; readlink /proc/self/fd/3");
    b.save();
    let id = k.id("activation");
    k.track(&id);
    let listener = UnixListener::bind(k.path("act.sock")).expect("bind");
    let fd = listener.as_raw_fd();
    let root = k.root.clone();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --root "$1" run -b "$2" "$3""#)
        .arg(bin())
        .arg(&root)
        .arg(&b.dir)
        .arg(&id);
    // SAFETY: between fork and exec only dup2 runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec set.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run kist");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("1 1"), "{stdout}");
    assert!(
        lines.next().is_some_and(|l| l.starts_with("socket:")),
        "{stdout}"
    );
}
