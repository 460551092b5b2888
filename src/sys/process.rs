//! Process-level syscalls nix 0.29 and libc do not wrap: clone3, pidfds,
//! sched_setattr, ioprio_set, set_mempolicy, capset, keyctl, and the raw
//! getcwd; plus close_range, which libc wraps.

use super::{check, owned};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(2) as fork(): no new stack, `flags` (CLONE_NEW*, CLONE_PARENT),
/// and with `cgroup` the child starts in that cgroup (CLONE_INTO_CGROUP).
/// Returns 0 in the child, the child's pid in the parent.
///
/// # Safety
/// As for fork(): the caller must be single-threaded, since the child is a
/// copy of this one thread and would inherit any lock another thread holds.
pub unsafe fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> nix::Result<i32> {
    let mut args = CloneArgs {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        // With CLONE_PARENT the child signals our parent as we would: the
        // kernel takes the exit signal from the caller's own then, and
        // rejects any other.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: args is a clone_args of the size passed; with stack 0 clone3
    // behaves as fork() and the child continues on a copy of this stack.
    // The caller vouches for being single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    check(r).map(|pid| pid as i32)
}

/// pidfd_open(2): a descriptor for process `pid`.
pub fn pidfd_open(pid: libc::pid_t) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// pidfd_getfd(2): a close-on-exec copy of fd `n` of the process `pidfd`
/// refers to (Linux 5.6).
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, n: libc::c_int) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes a pidfd, an fd number and flags, and returns
    // a new fd or -1.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) })
}

/// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): marks every fd from `first`
/// on close-on-exec (Linux 5.11).
pub fn close_range_cloexec(first: libc::c_uint) -> nix::Result<()> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC close_range only changes fd flags.
    let r = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) };
    check(r.into()).map(drop)
}

/// The kernel's `struct sched_attr` (SCHED_ATTR_SIZE_VER1, with the
/// utilization clamps).
#[repr(C)]
#[derive(Default)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// sched_setattr(2) for the calling thread; `attr.size` is set here.
pub fn sched_setattr(attr: &mut SchedAttr) -> nix::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: sched_setattr(0 = this thread) reads `size` bytes of a
    // sched_attr we borrow; flags 0.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) };
    check(r).map(drop)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0 = this process, `value`).
pub fn ioprio_set_self(value: i64) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: i64 = 1;
    // SAFETY: ioprio_set takes only integers.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    check(r).map(drop)
}

/// set_mempolicy(2) for the calling thread: `mode` with the node bit mask
/// `nodes` (empty: no nodes).
pub fn set_mempolicy(mode: libc::c_int, nodes: &[u64]) -> nix::Result<()> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // maxnode counts bits; the kernel reads maxnode - 1 of them.
        (nodes.as_ptr(), nodes.len() as u64 * 64 + 1)
    };
    // SAFETY: the mask points into `nodes`, which holds maxnode - 1 bits and
    // outlives the call; NULL with maxnode 0 means no nodes.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    check(r).map(drop)
}

/// One half (capabilities 0-31 or 32-63) of capset's data.
#[repr(C)]
pub struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capset(2) of the calling thread, _LINUX_CAPABILITY_VERSION_3 (64 bits:
/// `data[0]` the low half, `data[1]` the high half), in one call.
pub fn capset(data: &[CapData; 2]) -> nix::Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads one header and two data structs laid out as the
    // kernel's _LINUX_CAPABILITY_VERSION_3 ABI; both outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    check(r).map(drop)
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring.
pub fn join_session_keyring(name: &CStr) -> nix::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads a NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    check(r).map(drop)
}

/// The kernel's getcwd(2) into `buf`, not glibc's: the kernel reports a cwd
/// outside the process's root as "(unreachable)/...", which glibc turns
/// into ENOENT. Returns the length written (with the NUL).
pub fn getcwd_raw(buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: getcwd writes at most buf.len() bytes into buf, which we
    // borrow exclusively.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    check(r).map(|n| n as usize)
}
