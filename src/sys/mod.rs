//! The one place for raw system calls: those neither nix 0.29 nor libc
//! wrap, each behind a typed function, so that every other module is free of
//! `libc::syscall` (and of the pointer and size arguments it takes).
//!
//! The wrappers stay thin: arguments in, `nix::Result` out (the errno is
//! kept, so callers build their own messages and `Errno` converts into
//! `std::io::Error` unchanged); a syscall that creates a descriptor returns
//! an `OwnedFd`, so nothing leaks on an error path.
//!
//! `mount`: openat2 and the new mount API. `process`: clone3, pidfds,
//! scheduling, memory policy, capabilities, keyrings, close_range, getcwd.
//! `bpf`: the bpf(2) multiplexer. `seccomp`: seccomp(2) and the signal
//! reset before a filter.

pub mod bpf;
pub mod mount;
pub mod process;
pub mod seccomp;

use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of a descriptor a nix call returned as a `RawFd`.
///
/// # Safety
/// `fd` must be open and owned by nobody else: a successful syscall has just
/// returned it and it has not been wrapped yet. Wrapping the same fd twice
/// closes it twice (the second close may hit an unrelated, reused fd).
pub unsafe fn own_raw(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is open and not owned elsewhere.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The result of a syscall that returns a new descriptor.
fn owned(r: libc::c_long) -> nix::Result<OwnedFd> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it, so wrapping it once in an OwnedFd is sound.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// The result of a syscall that returns 0 or a count.
fn check(r: libc::c_long) -> nix::Result<libc::c_long> {
    Errno::result(r)
}
