//! seccomp(2), which libc declares only as a syscall number, and the
//! signal-handler reset that must precede a filter.

use std::os::fd::OwnedFd;

use nix::errno::Errno;

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) for the calling thread.
/// Returns the listener descriptor when `flags` has NEW_LISTENER.
pub fn set_mode_filter(prog: &[libc::sock_filter], flags: u32) -> nix::Result<Option<OwnedFd>> {
    let len = u16::try_from(prog.len()).map_err(|_| Errno::E2BIG)?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program and only reads through the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 != 0 {
        super::owned(ret).map(Some)
    } else if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(None)
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): the errno tells whether
/// the kernel knows `flags` (EFAULT: it validated them, then faulted on the
/// program pointer before changing anything) or not (EINVAL).
pub fn probe_filter_flags(flags: u32) -> Errno {
    // SAFETY: the kernel validates the flags, then faults on the NULL program
    // pointer before installing anything.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    if ret < 0 {
        Errno::last()
    } else {
        Errno::UnknownErrno
    }
}

/// prctl(PR_GET_SECCOMP): EINVAL when the kernel has no seccomp.
pub fn kernel_has_seccomp() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// Restore the default action of `sig` (no handler of ours runs).
pub fn default_signal_action(sig: libc::c_int) -> nix::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context;
    // the struct is fully initialised (zeroed mask and flags).
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}
