//! `process.user`: groups, gid, uid and umask.

use crate::error::{Context, Result};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

/// `process.user.additionalGids`, computed before the seccomp filter (the
/// switch itself must not allocate).
pub fn groups(user: &User) -> Vec<Gid> {
    user.additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect()
}

/// Switches to the configured user. Capabilities are kept across the switch
/// by the caller (PR_SET_KEEPCAPS) and set exactly afterwards.
pub fn switch(groups: &[Gid], gid: Gid, uid: Uid) -> Result<()> {
    match setgroups(groups) {
        // A user namespace whose gid_map was written unprivileged has
        // setgroups denied (rootless): with no group asked for there is
        // nothing to drop, as runc skips the call there.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() => {}
        r => r.context("process.user.additionalGids: setgroups")?,
    }
    setresgid(gid, gid, gid).with_context(|| {
        format!("process.user.gid {gid}: setresgid (is it mapped in the user namespace?)")
    })?;
    setresuid(uid, uid, uid).with_context(|| {
        format!("process.user.uid {uid}: setresuid (is it mapped in the user namespace?)")
    })?;
    Ok(())
}

pub fn apply_umask(user: &User) {
    if let Some(m) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o7777));
    }
}

/// Gives the process's stdio to its user (owner only), as runc does, so a non-root user
/// can reopen /dev/stdout or use its tty. /dev/null is left alone, and
/// failures are ignored: an fd whose owner is unmapped in a user namespace
/// cannot be changed and still works for plain reads and writes.
pub fn fix_stdio_owner(user: &User) {
    for fd in 0..3 {
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        let is_null =
            st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if is_null || st.st_uid == user.uid() {
            continue;
        }
        // Only the owner: the group stays what devpts gave a pty (its
        // `gid=` option, tty), as in runc.
        // SAFETY: fchown on an fd number; no memory is involved.
        unsafe { libc::fchown(fd, user.uid(), st.st_gid) };
    }
}
