//! Keeping the container away from the host through the runtime itself:
//! its binary (CVE-2019-5736) and the working directory it leaves the user
//! program in (CVE-2024-21626).
//!
//! kist's code runs inside the container's namespaces in two places: the
//! container init between clone and exec, and the `kist exec` child after
//! setns. Both are non-dumpable, which keeps their /proc/<pid>/exe (the
//! runtime binary) away from container processes, except from one holding
//! CAP_SYS_PTRACE in the user namespace that owns the runtime's memory, the
//! host's. Such a process can open the exe read-only, wait until no runtime
//! process executes the file any more (the end of ETXTBSY), and reopen it for
//! writing through /proc/self/fd: the next `kist` on the host runs its code.
//!
//! For those containers only, `ensure` re-executes the runtime, before it
//! has created anything, from a read-only overlayfs view of the binary's
//! directory: a detached mount (no path leads to it, nothing appears in the
//! host's mount table) without an upper layer, so the file behind
//! /proc/<pid>/exe cannot be opened for writing by anyone (EROFS), and no
//! copy is made: the page cache is the real binary's. Where overlayfs cannot
//! be mounted, a sealed memfd copy of the binary is executed instead.

use crate::error::{Error, Result};
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process, Spec};
use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Set in the environment of the re-executed runtime, so that a seal that
/// does not show as one ends in an error instead of an exec loop.
const SEALED_ENV: &str = "_KIST_SEALED_EXE";

/// Does this container need the sealed binary? Only when one of its
/// processes may hold CAP_SYS_PTRACE in the host's user namespace: no user
/// namespace of its own (a joined one may be the host's, so it counts as
/// none), and CAP_SYS_PTRACE in the bounding set of the container's
/// process, of the process being exec'd, or of a process already running
/// in the container (`running`: an earlier `exec --cap` may have left one;
/// None when they could not be listed, which counts as such a process).
pub fn needed(spec: &Spec, exec: Option<&Process>, running: Option<&[i32]>) -> bool {
    let own_userns = crate::namespaces::creates(spec, LinuxNamespaceType::User);
    if own_userns {
        return false;
    }
    let ptrace = |p: &Process| {
        p.capabilities()
            .as_ref()
            .and_then(|c| c.bounding().as_ref())
            .is_some_and(|b| b.contains(&Capability::SysPtrace))
    };
    spec.process().as_ref().is_some_and(ptrace)
        || exec.is_some_and(ptrace)
        || running.is_none_or(|r| r.iter().any(|p| bounding_has_ptrace(*p)))
}

/// Does process `pid` have CAP_SYS_PTRACE in its bounding set? A process
/// that vanished meanwhile cannot attack; one whose status cannot be read
/// counts as having it.
fn bounding_has_ptrace(pid: i32) -> bool {
    const CAP_SYS_PTRACE: u32 = 19;
    let status = match crate::procfs::read(format!("/proc/{pid}/status")) {
        Ok(s) => s,
        Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_none_or(|mask| mask & (1 << CAP_SYS_PTRACE) != 0)
}

/// Re-executes the runtime from a sealed binary when `needed` and not done
/// yet; returns when nothing has to be done. Must be called before anything
/// is created: the re-executed runtime starts the command from scratch.
pub fn ensure(spec: &Spec, exec: Option<&Process>, running: Option<&[i32]>) -> Result<()> {
    let reexecuted = std::env::var_os(SEALED_ENV).is_some();
    if reexecuted {
        std::env::remove_var(SEALED_ENV);
    }
    if !needed(spec, exec, running) || is_sealed() {
        return Ok(());
    }
    if reexecuted {
        return Err(Error::new(
            "protect the runtime binary: re-executed from a sealed copy, but /proc/self/exe is still writable",
        ));
    }
    let exe = match sealed_overlay() {
        Ok(fd) => fd,
        Err(e) => {
            crate::logger::debug(&format!(
                "protect the runtime binary: overlayfs unavailable ({e}); using a memfd copy"
            ));
            sealed_memfd()?
        }
    };
    Err(reexec(&exe))
}

const OVERLAYFS_SUPER_MAGIC: libc::c_long = 0x794c_7630;

/// Is /proc/self/exe a read-only overlayfs file or a write-sealed memfd?
fn is_sealed() -> bool {
    let Ok(f) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: statfs and statvfs are plain data; zeroed is a valid value
    // to be filled.
    let (mut st, mut vst): (libc::statfs, libc::statvfs) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: fstatfs/fstatvfs write one struct each into memory we own.
    let ok = unsafe {
        libc::fstatfs(f.as_raw_fd(), &mut st) == 0 && libc::fstatvfs(f.as_raw_fd(), &mut vst) == 0
    };
    if ok && st.f_type as libc::c_long == OVERLAYFS_SUPER_MAGIC && vst.f_flag & libc::ST_RDONLY != 0
    {
        return true;
    }
    // SAFETY: F_GET_SEALS only queries the file; it fails on non-memfds.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_WRITE != 0
}

/// Overlayfs only runs without an upper layer (read-only) with two lower
/// layers or more, none inside another: the second one is any directory
/// that exists and is unrelated to the binary's; its content is hidden
/// under the binary's directory, which is on top.
const SPARE_LOWER: &[&str] = &["/sys/kernel", "/dev", "/run", "/var/empty"];

fn syscall_fd(what: &str, ret: libc::c_long) -> Result<OwnedFd> {
    if ret < 0 {
        return Err(Error::io(what, std::io::Error::last_os_error()));
    }
    // SAFETY: the syscall just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

fn cstring(what: &str, b: &[u8]) -> Result<CString> {
    CString::new(b).map_err(|_| Error::new(format!("{what}: contains a NUL byte")))
}

/// Escapes a path for overlayfs' lowerdir list (`:` separates layers).
fn lower_escape(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &c in p.as_os_str().as_bytes() {
        if c == b'\\' || c == b':' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out
}

/// An O_PATH fd on the runtime binary seen through a detached read-only
/// overlayfs mount.
fn sealed_overlay() -> Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| Error::io("readlink /proc/self/exe", e))?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(Error::new(format!("{}: no directory", exe.display())));
    };
    if !exe.is_absolute() || !exe.exists() {
        return Err(Error::new(format!(
            "{}: not a reachable file",
            exe.display()
        )));
    }
    let mut last = Error::new("no spare lower directory");
    for spare in SPARE_LOWER {
        let spare = Path::new(spare);
        if !spare.is_dir() || dir.starts_with(spare) || spare.starts_with(dir) {
            continue;
        }
        let mut lower = lower_escape(dir);
        lower.push(b':');
        lower.extend(lower_escape(spare));
        match mount_overlay(&lower).and_then(|m| open_in(&m, name.as_bytes())) {
            Ok(fd) => return Ok(fd),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn mount_overlay(lower: &[u8]) -> Result<OwnedFd> {
    use crate::sys::mount;
    use std::os::fd::AsFd;
    let os = |what: String| move |e: nix::errno::Errno| Error::io(what, e.into());
    let ctx =
        mount::fsopen(c"overlay", libc::FSOPEN_CLOEXEC).map_err(os("fsopen overlay".into()))?;
    let set = |key: &str, value: &[u8]| -> Result<()> {
        let k = cstring(key, key.as_bytes())?;
        let v = cstring(key, value)?;
        mount::fsconfig_set_string(ctx.as_fd(), &k, &v).map_err(os(format!(
            "overlayfs {key}={}",
            String::from_utf8_lossy(value)
        )))
    };
    set("lowerdir", lower)?;
    // Inode number mapping is irrelevant here and only logs noise when the
    // layers are on different filesystems.
    let _ = set("xino", b"off");
    mount::fsconfig_create(ctx.as_fd()).map_err(os("overlayfs: create".into()))?;
    mount::fsmount(
        ctx.as_fd(),
        libc::FSMOUNT_CLOEXEC,
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )
    .map_err(os("fsmount overlayfs".into()))
}

fn open_in(dir: &OwnedFd, name: &[u8]) -> Result<OwnedFd> {
    let n = cstring("binary name", name)?;
    // SAFETY: openat reads a NUL-terminated name relative to a dir fd we own.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            n.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    syscall_fd(
        "open the binary in the sealed overlayfs",
        fd as libc::c_long,
    )
}

/// A memfd holding a copy of the binary, sealed against any change.
fn sealed_memfd() -> Result<OwnedFd> {
    let name = cstring("memfd name", b"kist-sealed")?;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps vm.memfd_noexec from refusing the exec;
    // older kernels reject the flag and need none.
    // SAFETY: memfd_create reads a NUL-terminated name; returns a new fd.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), base | libc::MFD_EXEC) };
    if fd < 0 {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), base) };
    }
    let memfd = syscall_fd("memfd_create", fd as libc::c_long)?;
    let mut src = File::open("/proc/self/exe").map_err(|e| Error::io("open /proc/self/exe", e))?;
    let mut dst = File::from(memfd);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy the binary to a memfd", e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on a memfd we own.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(Error::io(
            "seal the memfd copy of the binary",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(OwnedFd::from(dst))
}

/// Executes `exe` with our own arguments and environment; returns only on
/// failure.
fn reexec(exe: &OwnedFd) -> Error {
    let to_c = |v: OsString| CString::new(v.as_bytes()).ok();
    let argv: Option<Vec<CString>> = std::env::args_os().map(to_c).collect();
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    env.push(OsString::from(format!("{SEALED_ENV}=1")));
    let envp: Option<Vec<CString>> = env.into_iter().map(to_c).collect();
    let (Some(argv), Some(envp)) = (argv, envp) else {
        return Error::new("protect the runtime binary: argument or environment with a NUL byte");
    };
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (a, e) = (ptrs(&argv), ptrs(&envp));
    let empty = c"";
    // SAFETY: argv and envp are null-terminated arrays of pointers to
    // NUL-terminated strings that outlive the call; AT_EMPTY_PATH executes
    // the fd itself.
    unsafe {
        libc::execveat(
            exe.as_raw_fd(),
            empty.as_ptr(),
            a.as_ptr() as *const *mut libc::c_char,
            e.as_ptr() as *const *mut libc::c_char,
            libc::AT_EMPTY_PATH,
        )
    };
    Error::io(
        "protect the runtime binary: execute the sealed copy",
        std::io::Error::last_os_error(),
    )
}

/// [`verify_cwd`] for a cwd entered only after the user switch, which
/// happens after the seccomp filter when no_new_privs is off: a profile may
/// deny getcwd there (runc 1.1 does not call it), and then the check is
/// skipped rather than failing a container runc runs. It is a second line
/// of defence: the path got here because root was refused it, while a path
/// through one of our own fds (/proc/self/fd/N) is open to root.
pub fn verify_cwd_if_allowed(cwd: &str) -> Result<()> {
    let mut buf = [0u8; libc::PATH_MAX as usize + 1];
    let rc = crate::sys::process::getcwd_raw(&mut buf);
    if rc.is_ok() && buf[0] != b'/' {
        return Err(Error::new(format!(
            "process.cwd {cwd}: leads outside the container's root filesystem"
        )));
    }
    Ok(())
}

/// Fails when the process's cwd is not below its root: a cwd reached
/// through a leaked host fd or a host process's /proc/<pid>/root would give
/// the user program the host's filesystem. The kernel's getcwd reports such
/// a cwd as "(unreachable)/...".
pub fn verify_cwd(cwd: &Path) -> Result<()> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    if let Err(e) = crate::sys::process::getcwd_raw(&mut buf) {
        return Err(Error::io(
            format!(
                "process.cwd {}: check where it leads (getcwd)",
                cwd.display()
            ),
            e.into(),
        ));
    }
    if buf.first() != Some(&b'/') {
        return Err(Error::new(format!(
            "process.cwd {}: leads outside the container's root filesystem",
            cwd.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(lower_escape(Path::new("/a:b\\c")), b"/a\\:b\\\\c".to_vec());
    }

    #[test]
    fn needed_only_with_ptrace_in_host_userns() {
        let spec = |caps: &str, userns: bool| -> Spec {
            let ns = if userns {
                r#"[{"type":"user"},{"type":"mount"}]"#
            } else {
                r#"[{"type":"mount"}]"#
            };
            let json = format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}},
                "process":{{"cwd":"/","user":{{"uid":0,"gid":0}},"args":["x"],
                "capabilities":{{"bounding":[{caps}]}}}},
                "linux":{{"namespaces":{ns}}}}}"#
            );
            serde_json::from_str(&json).expect("test spec")
        };
        assert!(needed(&spec(r#""CAP_SYS_PTRACE""#, false), None, Some(&[])));
        assert!(!needed(&spec(r#""CAP_SYS_PTRACE""#, true), None, Some(&[])));
        assert!(!needed(&spec(r#""CAP_KILL""#, false), None, Some(&[])));
        let plain = spec(r#""CAP_KILL""#, false);
        let ptrace = spec(r#""CAP_SYS_PTRACE""#, false);
        assert!(needed(&plain, ptrace.process().as_ref(), Some(&[])));
        // The test process runs as root with the host's bounding set.
        let me = std::process::id() as i32;
        assert_eq!(needed(&plain, None, Some(&[me])), bounding_has_ptrace(me));
        assert!(!bounding_has_ptrace(i32::MAX));
        assert!(needed(&plain, None, None));
    }

    /// Reopening the sealed file for writing, as an attacker holding
    /// /proc/<pid>/exe would, must fail.
    fn reopen_for_write(fd: &OwnedFd) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
    }

    #[test]
    fn memfd_copy_is_sealed() {
        let fd = sealed_memfd().expect("memfd copy");
        let size = std::fs::metadata("/proc/self/exe").expect("exe").len();
        let f = File::from(fd.try_clone().expect("dup"));
        assert_eq!(f.metadata().expect("stat memfd").len(), size);
        // SAFETY: F_GET_SEALS only queries the memfd.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(seals & libc::F_SEAL_WRITE != 0 && seals & libc::F_SEAL_SEAL != 0);
        let mut w = reopen_for_write(&fd).expect("memfds reopen for write");
        use std::io::Write;
        assert!(
            w.write_all(b"EVIL").is_err(),
            "sealed memfd accepted a write"
        );
    }

    #[test]
    fn overlay_view_is_read_only() {
        // Needs root and overlayfs; where the mount is refused the memfd
        // fallback is what runs, tested above.
        let Ok(fd) = sealed_overlay() else {
            return;
        };
        let err = reopen_for_write(&fd).expect_err("overlay file opened for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    }

    #[test]
    fn cwd_of_the_test_process_is_reachable() {
        assert!(verify_cwd(Path::new(".")).is_ok());
    }
}
