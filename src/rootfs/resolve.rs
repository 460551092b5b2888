//! Resolution of container paths strictly inside the rootfs.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
//! relative to an fd on the rootfs, so a symlink (absolute, `../../..`, or
//! planted concurrently by a malicious image) is always resolved as if the
//! rootfs were `/` and can never lead out of it (CVE-2021-30465,
//! CVE-2019-19921, CVE-2023-27561). Missing components are created with
//! mkdirat/openat relative to the fd of their already-resolved parent, and the
//! caller mounts onto the returned fd, never onto a path string.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::sys;

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Lexically cleans a container path into an absolute path without `.`/`..`
/// (`..` at the top stays at `/`), the way runc treats destinations as
/// relative to the container root.
pub fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut p = PathBuf::from("/");
    p.extend(out);
    p
}

/// The path relative to the root fd that openat2 expects ("." for "/").
fn rel(path: &Path) -> PathBuf {
    let c = clean(path);
    let r = c.strip_prefix("/").unwrap_or(&c);
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r.to_path_buf()
    }
}

/// Opens the rootfs directory itself; the anchor for every later lookup.
pub fn open_root(rootfs: &Path) -> Result<OwnedFd, Errno> {
    sys::openat2(
        None,
        rootfs,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens `path` (a container path) inside `root` with `flags`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    sys::openat2(Some(root), &rel(path), flags, 0, RESOLVE)
}

/// Symlinks followed while creating a path before giving up (as the kernel).
const MAX_LINKS: usize = 40;

/// Creates every missing directory of `path` inside `root` and returns an
/// O_PATH fd on the final directory.
///
/// Each step first resolves the prefix in-root (following symlinks that stay
/// inside the root, as runc's securejoin does); only when it does not exist
/// is the component created with mkdirat relative to the fd of the
/// already-resolved parent. mkdirat never follows a symlink in its last
/// component; a dangling symlink is instead read and its target (taken
/// relative to the root) is created, so an image's `/var/run -> /run` works
/// but nothing is ever created outside the root.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> Result<OwnedFd, Errno> {
    let dirflags = libc::O_PATH | libc::O_DIRECTORY;
    let mut todo: Vec<std::ffi::OsString> = components(&clean(path));
    todo.reverse();
    let mut cur = open_in_root(root, Path::new("/"), dirflags)?;
    let mut prefix = PathBuf::from("/");
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        let next = prefix.join(&comp);
        match open_in_root(root, &next, dirflags) {
            Ok(fd) => {
                cur = fd;
                prefix = next;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        match nix::sys::stat::mkdirat(
            Some(cur.as_raw_fd()),
            comp.as_os_str(),
            Mode::from_bits_truncate(mode),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        match open_in_root(root, &next, dirflags) {
            Ok(fd) => {
                cur = fd;
                prefix = next;
            }
            Err(Errno::ENOENT) => {
                // Still missing after mkdir: a dangling symlink.
                let target = nix::fcntl::readlinkat(Some(cur.as_raw_fd()), comp.as_os_str())
                    .map_err(|_| Errno::ENOENT)?;
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP);
                }
                let mut rest: PathBuf = prefix.join(target);
                rest.extend(todo.iter().rev());
                todo = components(&clean(&rest));
                todo.reverse();
                cur = open_in_root(root, Path::new("/"), dirflags)?;
                prefix = PathBuf::from("/");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect()
}

/// What a mount destination has to be when we create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolves `path` inside `root`, creating it (and its parents) when missing,
/// and returns an O_PATH fd on it suitable as a mount target.
///
/// An existing destination is used as is, whatever it is; the mount itself
/// fails when file/dir kinds do not match, as with runc.
pub fn ensure(root: BorrowedFd<'_>, path: &Path, kind: Kind) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    match kind {
        Kind::Dir => mkdir_all(root, path, 0o755),
        Kind::File => {
            let mut path = clean(path);
            for _ in 0..MAX_LINKS {
                let (parent, name) = match (path.parent(), path.file_name()) {
                    (Some(p), Some(n)) => (p.to_path_buf(), PathBuf::from(n)),
                    _ => return Err(Errno::EISDIR),
                };
                let dir = mkdir_all(root, &parent, 0o755)?;
                match create_file_at(dir.as_fd(), &name, 0o644) {
                    Ok(()) => return open_in_root(root, &path, libc::O_PATH),
                    // A dangling symlink: create its target, inside the root.
                    Err(Errno::ELOOP) => {
                        let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), &name)?;
                        path = clean(&parent.join(target));
                        match open_in_root(root, &path, libc::O_PATH) {
                            Ok(fd) => return Ok(fd),
                            Err(Errno::ENOENT) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(Errno::ELOOP)
        }
    }
}

/// Creates an empty regular file `name` in `dir` (no symlink follow). An
/// existing non-symlink entry is fine; a symlink yields ELOOP.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<(), Errno> {
    match nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    ) {
        Ok(fd) => {
            // SAFETY: openat just returned this fd; nothing else owns it.
            drop(unsafe { sys::own_raw(fd) });
            Ok(())
        }
        Err(Errno::EEXIST) => {
            let st = nix::sys::stat::fstatat(
                Some(dir.as_raw_fd()),
                name,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                Err(Errno::ELOOP)
            } else {
                Ok(())
            }
        }
        Err(e) => Err(e),
    }
}

/// Splits a container path into (O_PATH fd of its parent dir, created if
/// missing; final name). Fails for "/".
pub fn parent_and_name(root: BorrowedFd<'_>, path: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
    let clean = clean(path);
    match (clean.parent(), clean.file_name()) {
        (Some(p), Some(n)) => Ok((mkdir_all(root, p, 0o755)?, PathBuf::from(n))),
        _ => Err(Errno::EINVAL),
    }
}

/// fstat on an fd (works for O_PATH descriptors).
pub fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    nix::sys::stat::fstat(fd.as_raw_fd())
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether the longest existing prefix of `path` (a container path, not
/// cleaned) resolves outside `root` when the root is not enforced: through a
/// `..` or a symlink. The runtime confines such paths anyway; `kist check`
/// reports them because the config then does not mean what it says.
pub fn leaves_root(root: BorrowedFd<'_>, path: &Path) -> Result<bool, Errno> {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect();
    let mut cur = rel.as_path();
    loop {
        if cur.as_os_str().is_empty() {
            return Ok(false);
        }
        let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        match sys::openat2(Some(root), cur, libc::O_PATH, 0, resolve) {
            Ok(_) => return Ok(false),
            Err(Errno::EXDEV) => return Ok(true),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {}
            Err(e) => return Err(e),
        }
        cur = cur.parent().unwrap_or(Path::new(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "kist-rootfs-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn path_of(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(sys::fd_path(fd.as_fd())).unwrap()
    }

    #[test]
    fn clean_never_leaves_root() {
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("/etc"));
        assert_eq!(clean(Path::new("a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/")), PathBuf::from("/"));
        assert_eq!(clean(Path::new("..")), PathBuf::from("/"));
    }

    #[test]
    fn symlinks_stay_inside_root() {
        let t = TempDir::new("resolve");
        let root = t.0.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../../..", root.join("up")).unwrap();
        let rfd = open_root(&root).unwrap();
        let fd = open_in_root(rfd.as_fd(), Path::new("/abs"), libc::O_PATH).unwrap();
        assert_eq!(path_of(&fd), root.join("etc"));
        let fd = open_in_root(rfd.as_fd(), Path::new("/up/etc"), libc::O_PATH).unwrap();
        assert_eq!(path_of(&fd), root.join("etc"));
        // Creating through the symlinks creates inside the root only.
        let fd = mkdir_all(rfd.as_fd(), Path::new("/up/abs/newdir/x"), 0o755).unwrap();
        assert_eq!(path_of(&fd), root.join("etc/newdir/x"));
        assert!(!Path::new("/etc/newdir").exists());
        let fd = ensure(rfd.as_fd(), Path::new("/abs/f/file"), Kind::File).unwrap();
        assert_eq!(path_of(&fd), root.join("etc/f/file"));
        assert!(root.join("etc/f/file").is_file());
    }

    #[test]
    fn dangling_symlink_is_not_created_outside() {
        let t = TempDir::new("dangling");
        let root = t.0.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let outside = t.0.join("outside");
        symlink(&outside, root.join("d")).unwrap();
        let rfd = open_root(&root).unwrap();
        // In-root resolution of the absolute target is root/<t>/outside, which
        // is created inside the root, never the host path.
        let fd = mkdir_all(rfd.as_fd(), Path::new("/d/x"), 0o755).unwrap();
        assert!(!outside.exists());
        assert_eq!(
            path_of(&fd),
            root.join(outside.strip_prefix("/").unwrap()).join("x")
        );
        symlink("../../../../f", root.join("lf")).unwrap();
        let fd = ensure(rfd.as_fd(), Path::new("/lf"), Kind::File).unwrap();
        assert_eq!(path_of(&fd), root.join("f"));
        assert!(root.join("f").is_file());
        symlink("/nonexist", root.join("e")).unwrap();
        let r = create_file_at(rfd.as_fd(), Path::new("e"), 0o644);
        assert_eq!(r, Err(Errno::ELOOP));
        // A symlink loop terminates.
        symlink("/loop", root.join("loop")).unwrap();
        assert_eq!(
            mkdir_all(rfd.as_fd(), Path::new("/loop/x"), 0o755).err(),
            Some(Errno::ELOOP)
        );
    }

    #[test]
    fn file_in_the_way_is_enotdir() {
        let t = TempDir::new("enotdir");
        let root = t.0.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("f"), b"").unwrap();
        let rfd = open_root(&root).unwrap();
        assert_eq!(
            mkdir_all(rfd.as_fd(), Path::new("/f/x"), 0o755).err(),
            Some(Errno::ENOTDIR)
        );
    }
}
