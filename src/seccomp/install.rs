//! Loading a compiled program with seccomp(2).

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::sys;

const FLAG_NAMES: &[(u32, &str)] = &[
    (libc::SECCOMP_FILTER_FLAG_TSYNC as u32, "TSYNC"),
    (libc::SECCOMP_FILTER_FLAG_LOG as u32, "LOG"),
    (libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32, "SPEC_ALLOW"),
    (
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32,
        "NEW_LISTENER",
    ),
    (libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32, "TSYNC_ESRCH"),
    (
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32,
        "WAIT_KILLABLE_RECV",
    ),
];

pub(super) fn flag_names(flags: u32) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join("|")
    }
}

/// The flags to pass to the kernel for what the profile asked.
pub(super) fn kernel_flags(requested: u32, notify: bool) -> u32 {
    let mut f = requested;
    if notify {
        f |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        // The kernel refuses TSYNC together with NEW_LISTENER (it could not
        // say which thread failed). The container init is single-threaded
        // when it loads the filter, so TSYNC has nothing to synchronise.
        f &= !(libc::SECCOMP_FILTER_FLAG_TSYNC as u32);
    } else {
        // Only meaningful for a listener; the kernel rejects it without one.
        f &= !(libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32);
    }
    f
}

/// Load `prog` into the calling thread. Returns the listener fd when `flags`
/// has NEW_LISTENER.
pub(super) fn load(prog: &[libc::sock_filter], flags: u32) -> Result<Option<OwnedFd>> {
    let what = || {
        format!(
            "seccomp(SECCOMP_SET_MODE_FILTER, flags={}, {} instructions)",
            flag_names(flags),
            prog.len()
        )
    };
    if u16::try_from(prog.len()).is_err() {
        return Err(Error::new(format!("{}: program too long", what())));
    }
    default_fault_handlers()?;
    sys::seccomp::set_mode_filter(prog, flags).map_err(|errno| {
        let hint = match errno {
            Errno::EACCES => " (no_new_privs is not set and the caller lacks CAP_SYS_ADMIN)",
            Errno::EINVAL => " (a flag or the program is not supported by this kernel)",
            Errno::EBUSY => " (another seccomp listener is already installed for this process)",
            _ => "",
        };
        Error::os(format!("{}{hint}", what()), errno)
    })
}

/// Restore the default (fatal) action of SIGSEGV and SIGBUS before the
/// filter goes in. Rust's runtime catches both to report stack overflows; its
/// handler needs rt_sigaction and rt_sigreturn, which a profile may deny.
/// If the init then cannot exit (exit_group denied, so glibc's _exit ends in
/// `hlt`), the fault would re-enter the handler forever at 100% CPU, and the
/// init of a pid namespace ignores SIGTERM from outside. With the default
/// action the kernel kills the process on the first fault, as it does a C
/// runtime's init. execve resets handlers anyway, so the user program sees
/// no difference.
fn default_fault_handlers() -> Result<()> {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        sys::seccomp::default_signal_action(sig).map_err(|e| {
            Error::os(
                format!("seccomp: reset the handler of signal {sig} before loading the filter"),
                e,
            )
        })?;
    }
    Ok(())
}

/// Whether the running kernel knows a SECCOMP_FILTER_FLAG_* bit. Probed as
/// libseccomp does: a filter pointer of NULL makes a known flag fail with
/// EFAULT (nothing is installed), an unknown one with EINVAL.
pub(super) fn kernel_knows_flag(flag: u32) -> bool {
    // The kernel only takes WAIT_KILLABLE_RECV together with a listener.
    let flag = if flag == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32 {
        flag | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32
    } else {
        flag
    };
    sys::seccomp::probe_filter_flags(flag) == Errno::EFAULT
}

/// Whether the kernel was built with seccomp filtering.
pub(super) fn kernel_has_seccomp() -> bool {
    sys::seccomp::kernel_has_seccomp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_for_kernel() {
        let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
        let wkr = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;
        let nl = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        assert_eq!(kernel_flags(tsync | wkr, false), tsync);
        assert_eq!(kernel_flags(tsync | wkr, true), wkr | nl);
        assert_eq!(flag_names(tsync | nl), "TSYNC|NEW_LISTENER");
        assert_eq!(flag_names(0), "none");
    }

    #[test]
    fn probes() {
        assert!(kernel_has_seccomp());
        assert!(kernel_knows_flag(libc::SECCOMP_FILTER_FLAG_LOG as u32));
        assert!(!kernel_knows_flag(1 << 30));
    }
}
