//! `process.user`: groups, gid, uid and umask.

use crate::error::{Context, Result};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

/// Switches to the configured user. Capabilities are kept across the switch
/// by the caller (PR_SET_KEEPCAPS) and set exactly afterwards.
pub fn switch(user: &User, allow_setgroups: bool) -> Result<()> {
    if allow_setgroups {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).context("process.user.additionalGids: setgroups")?;
    } else if user
        .additional_gids()
        .as_ref()
        .is_some_and(|g| !g.is_empty())
    {
        return Err(crate::error::Error::new(
            "process.user.additionalGids: setgroups is denied in this user namespace",
        ));
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).with_context(|| {
        format!(
            "process.user.gid {}: setresgid (is it mapped in the user namespace?)",
            user.gid()
        )
    })?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).with_context(|| {
        format!(
            "process.user.uid {}: setresuid (is it mapped in the user namespace?)",
            user.uid()
        )
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
