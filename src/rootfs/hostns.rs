//! A container without a mount namespace is set up in the runtime's own
//! (the host's): its root filesystem is a recursive bind of root.path onto
//! itself with the container's mounts below it, entered with chroot. runc
//! 1.1 leaves all of that mounted on the host after `delete`; kist detaches
//! it. The bind is recognised by its mount id (statx STATX_MNT_ID), kept in
//! the state directory, so only the mount kist made is ever detached.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::MntFlags;

use crate::error::{Context, Error, Result};

/// File in the state directory holding the mount id of the rootfs bind.
const MOUNT_ID_FILE: &str = "rootfs-mount-id";

/// The id of the topmost mount at `path`.
pub fn mount_id(path: &Path) -> Result<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::new(format!("{}: path contains NUL", path.display())))?;
    // SAFETY: statx is plain data, so all-zero is a valid value to fill.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and stx is a valid buffer; both outlive the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            format!("statx {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Error::new(format!(
            "statx {}: the kernel reports no mount id (Linux 5.8 or later needed)",
            path.display()
        )));
    }
    Ok(stx.stx_mnt_id)
}

/// Undoes a create that failed part-way: detaches every mount stacked on
/// `rootfs` since its mount id was `below` (each detach takes the mounts
/// under it along).
pub fn detach_above(rootfs: &Path, below: u64) -> Result<()> {
    // Bounded: a mount that cannot be detached must not loop forever.
    for _ in 0..8 {
        if mount_id(rootfs)? == below {
            return Ok(());
        }
        nix::mount::umount2(rootfs, MntFlags::MNT_DETACH)
            .with_context(|| format!("detach the rootfs mount at {}", rootfs.display()))?;
    }
    Err(Error::new(format!(
        "{}: mounts left on the rootfs after 8 detaches",
        rootfs.display()
    )))
}

/// After a successful create: remembers the mount at `rootfs` (ours).
pub fn record(state_dir: &Path, rootfs: &Path) -> Result<()> {
    let id = mount_id(rootfs)?;
    let file = state_dir.join(MOUNT_ID_FILE);
    std::fs::write(&file, id.to_string()).with_context(|| format!("write {}", file.display()))
}

/// At delete: detaches the recorded rootfs mount if it is still the one at
/// `rootfs`. Containers with a mount namespace have no record: nothing to do.
pub fn release(state_dir: &Path, rootfs: &Path) -> Result<()> {
    let file = state_dir.join(MOUNT_ID_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("read {}", file.display()), e)),
    };
    let id: u64 = text
        .trim()
        .parse()
        .map_err(|_| Error::new(format!("{}: not a mount id: {text:?}", file.display())))?;
    match mount_id(rootfs) {
        Ok(now) if now == id => match nix::mount::umount2(rootfs, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::os(
                format!("detach the rootfs mount at {}", rootfs.display()),
                e,
            )),
        },
        // Already gone (or the rootfs itself was removed).
        _ => Ok(()),
    }
}
