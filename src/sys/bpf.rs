//! bpf(2).

/// bpf(cmd, attr, sizeof attr): the command's result (a new fd for the
/// commands that create one, which the caller then owns).
///
/// # Safety
/// `attr` must be laid out as the kernel's `union bpf_attr` member for `cmd`
/// (`#[repr(C)]`), and every pointer inside it must be valid for what the
/// command reads or writes through it for the duration of the call.
pub unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: attr is a live, exclusively borrowed struct whose exact size is
    // passed; the caller vouches for its layout and the pointers in it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    super::check(r)
}
