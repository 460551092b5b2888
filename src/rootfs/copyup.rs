//! runc's `tmpcopyup` mount extension: after a tmpfs is mounted over a
//! directory, copy what the directory held into it. Both sides are walked by
//! fd with O_NOFOLLOW, so image symlinks are copied as symlinks, never
//! followed.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::sys;

fn open_at(dir: BorrowedFd<'_>, name: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    // SAFETY: openat just returned this fd; nothing else owns it.
    .map(|fd| unsafe { sys::own_raw(fd) })
}

/// Copies the content of directory `src` into directory `dst` (both O_PATH
/// or regular directory fds).
pub fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    let s = open_at(src, Path::new("."), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let d = open_at(dst, Path::new("."), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let st = nix::sys::stat::fstat(s.as_raw_fd())?;
    nix::sys::stat::fchmod(d.as_raw_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    nix::unistd::fchown(
        d.as_raw_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    let mut dir = Dir::from_fd(nix::unistd::dup(s.as_raw_fd())?)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = Path::new(std::ffi::OsStr::from_bytes(name));
        let st = nix::sys::stat::fstatat(Some(s.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        // d_type may be DT_UNKNOWN on some filesystems; the mode is exact.
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                nix::sys::stat::mkdirat(Some(d.as_raw_fd()), name, mode)?;
                let cs = open_at(s.as_fd(), name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                let cd = open_at(d.as_fd(), name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                copy_dir(cs.as_fd(), cd.as_fd())?;
                continue;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(s.as_raw_fd()), name)?;
                nix::unistd::symlinkat(target.as_os_str(), Some(d.as_raw_fd()), name)?;
            }
            libc::S_IFREG => {
                let from = open_at(s.as_fd(), name, OFlag::O_RDONLY)?;
                let to = open_at(
                    d.as_fd(),
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                )?;
                let mut from = std::fs::File::from(from);
                let mut to = std::fs::File::from(to);
                std::io::copy(&mut from, &mut to)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
                nix::sys::stat::fchmod(to.as_raw_fd(), mode)?;
            }
            // Device nodes, fifos and sockets are recreated as nodes.
            _ => {
                let kind = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
                nix::sys::stat::mknodat(Some(d.as_raw_fd()), name, kind, mode, st.st_rdev)?;
            }
        }
        nix::unistd::fchownat(
            Some(d.as_raw_fd()),
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    Ok(())
}
