//! Device nodes in the container's /dev: the default set runc always
//! provides, `linux.devices`, the /dev symlinks, the /dev/ptmx link and the
//! /dev/console bind mount.
//!
//! Nodes are created with mknodat relative to the verified fd of their parent
//! directory. In a new user namespace mknod is impossible, so (like runc) an
//! empty file is created and the host node is bind-mounted onto it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::LinuxDeviceType;

use super::resolve;
use super::{mounts, sys, RootfsConfig};
use crate::error::{Context, Error, Result};

/// One node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's default devices: always present, 0666 root-owned char devices.
pub fn default_nodes() -> Vec<Node> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| Node {
        path: PathBuf::from(p),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Converts `linux.devices[i]` into a node, validating it.
fn spec_node(i: usize, d: &oci_spec::runtime::LinuxDevice) -> Result<Node> {
    let field = format!("linux.devices[{i}].path {:?}", d.path());
    // Like runc, any path inside the container is accepted (resolved inside
    // the rootfs); only the root itself cannot be a device.
    let path = resolve::clean(d.path());
    if path == Path::new("/") {
        return Err(Error::new(format!("{field}: not a valid device path")));
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::new(format!(
                "linux.devices[{i}].type: \"a\" is only valid in cgroup rules"
            )))
        }
    };
    let (major, minor) = if kind == SFlag::S_IFIFO {
        (0, 0)
    } else {
        let (Ok(major), Ok(minor)) = (u64::try_from(d.major()), u64::try_from(d.minor())) else {
            return Err(Error::new(format!(
                "linux.devices[{i}]: negative major/minor {}:{}",
                d.major(),
                d.minor()
            )));
        };
        (major, minor)
    };
    Ok(Node {
        path,
        kind,
        major,
        minor,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// The nodes to create: spec devices, plus each default device whose path
/// the spec does not list itself.
pub fn all_nodes(spec: &oci_spec::runtime::Spec) -> Result<Vec<(String, Node)>> {
    let mut out = Vec::new();
    if let Some(devs) = spec.linux().as_ref().and_then(|l| l.devices().as_ref()) {
        for (i, d) in devs.iter().enumerate() {
            out.push((
                format!("linux.devices[{i}].path {:?}", d.path()),
                spec_node(i, d)?,
            ));
        }
    }
    for n in default_nodes() {
        if !out.iter().any(|(_, o)| o.path == n.path) {
            out.push((format!("default device {:?}", n.path), n));
        }
    }
    Ok(out)
}

/// Creates all device nodes, the /dev symlinks and ptmx link.
pub fn create_devices(cfg: &RootfsConfig, root: BorrowedFd<'_>) -> Result<()> {
    // Exact modes from the spec, not filtered by our umask.
    let old = nix::sys::stat::umask(Mode::empty());
    let r = (|| {
        let mut parents = Parents::default();
        for (field, n) in all_nodes(cfg.spec)? {
            // /dev/ptmx is always the link to pts/ptmx (create_links).
            if n.path == Path::new("/dev/ptmx") {
                continue;
            }
            let (dir, name) = parents.get(root, &n.path).context(field.clone())?;
            create_node(dir, &name, &n, cfg.in_new_userns).context(field)?;
        }
        Ok(())
    })();
    nix::sys::stat::umask(old);
    r
}

/// The verified parent directory of the last node, kept for the next one
/// in the same directory (every default node is in /dev): one resolution
/// instead of one per node.
#[derive(Default)]
struct Parents {
    last: Option<(PathBuf, OwnedFd)>,
}

impl Parents {
    fn get(&mut self, root: BorrowedFd<'_>, path: &Path) -> Result<(BorrowedFd<'_>, PathBuf)> {
        let clean = resolve::clean(path);
        let (Some(parent), Some(name)) = (clean.parent(), clean.file_name()) else {
            return Err(Error::os("create parent", Errno::EINVAL));
        };
        if self.last.as_ref().is_none_or(|(p, _)| p != parent) {
            let (dir, _) = resolve::parent_and_name(root, path).context("create parent")?;
            self.last = Some((parent.to_path_buf(), dir));
        }
        match &self.last {
            Some((_, dir)) => Ok((dir.as_fd(), PathBuf::from(name))),
            None => Err(Error::os("create parent", Errno::ENOENT)),
        }
    }
}

fn create_node(dir: BorrowedFd<'_>, name: &Path, n: &Node, bind: bool) -> Result<()> {
    if bind {
        return bind_node(dir, name, n);
    }
    let dev = nix::sys::stat::makedev(n.major, n.minor);
    match nix::sys::stat::mknodat(
        Some(dir.as_raw_fd()),
        name,
        n.kind,
        Mode::from_bits_truncate(n.mode),
        dev,
    ) {
        Ok(()) => {}
        // An existing entry is left alone (runc does the same); we never
        // chown/chmod it since it could be a symlink planted by the image.
        Err(Errno::EEXIST) => return Ok(()),
        // Not allowed to mknod (e.g. no CAP_MKNOD): fall back like runc.
        Err(Errno::EPERM) => return bind_node(dir, name, n),
        Err(e) => return Err(Error::os("mknod", e)),
    }
    nix::unistd::fchownat(
        Some(dir.as_raw_fd()),
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .context("chown device")
}

/// Bind-mounts the host node of the same path onto an empty file `name` in
/// `dir` (the target is opened without following symlinks).
fn bind_node(dir: BorrowedFd<'_>, name: &Path, n: &Node) -> Result<()> {
    resolve::create_file_at(dir, name, 0o000).context("create bind target")?;
    let tree = mounts::clone_tree(&n.path, false)
        .with_context(|| format!("open_tree host device {:?}", n.path))?;
    let target = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    // SAFETY: openat just returned this fd; nothing else owns it.
    .map(|fd| unsafe { sys::own_raw(fd) })
    .context("open bind target")?;
    sys::move_mount(tree.as_fd(), target.as_fd()).context("bind host device")
}

/// /dev/fd, /dev/stdin|stdout|stderr, /dev/core links and /dev/ptmx ->
/// pts/ptmx, created relative to the /dev fd; existing entries are kept
/// (except ptmx, which runc always replaces by the link).
pub fn create_links(root: BorrowedFd<'_>) -> Result<()> {
    let dev = resolve::mkdir_all(root, Path::new("/dev"), 0o755).context("/dev")?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::os(format!("symlink /dev/{name} -> {target}"), e)),
        }
    }
    match nix::unistd::unlinkat(
        Some(dev.as_raw_fd()),
        "ptmx",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::os("remove /dev/ptmx", e)),
    }
    nix::unistd::symlinkat("pts/ptmx", Some(dev.as_raw_fd()), "ptmx")
        .context("symlink /dev/ptmx -> pts/ptmx")?;
    for d in ["pts", "shm"] {
        match nix::sys::stat::mkdirat(Some(dev.as_raw_fd()), d, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::os(format!("mkdir /dev/{d}"), e)),
        }
    }
    Ok(())
}

/// Bind-mounts the pty slave `console` onto /dev/console. The target is
/// created by us (O_EXCL|O_NOFOLLOW); a pre-existing entry is accepted only
/// when it is a regular file or char device and not a symlink, and the mount
/// goes onto the fd we checked (CVE-2025-52565).
pub fn mount_console(root: BorrowedFd<'_>, console: RawFd) -> Result<()> {
    let dev = resolve::mkdir_all(root, Path::new("/dev"), 0o755).context("/dev")?;
    let old = nix::sys::stat::umask(Mode::empty());
    let created = resolve::create_file_at(dev.as_fd(), Path::new("console"), 0o666);
    nix::sys::stat::umask(old);
    created.context("create /dev/console")?;
    let target = nix::fcntl::openat(
        Some(dev.as_raw_fd()),
        "console",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    // SAFETY: openat just returned this fd; nothing else owns it.
    .map(|fd| unsafe { sys::own_raw(fd) })
    .context("open /dev/console")?;
    let st = resolve::fstat(target.as_fd()).context("fstat /dev/console")?;
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt != libc::S_IFREG && fmt != libc::S_IFCHR {
        return Err(Error::new(
            "/dev/console: exists and is not a regular file or char device",
        ));
    }
    if console < 0 {
        return Err(Error::new(format!("invalid console fd {console}")));
    }
    // SAFETY: the caller guarantees `console` is an open descriptor for the
    // duration of this call (it is not -1, checked above); we only borrow it.
    let console = unsafe { BorrowedFd::borrow_raw(console) };
    let tree = sys::open_tree(Some(console), Path::new(""), sys::OPEN_TREE_CLONE)
        .context("open_tree console pty")?;
    sys::move_mount(tree.as_fd(), target.as_fd()).context("bind console onto /dev/console")
}

/// Checks that a descriptor is the real null device (char 1:3) and not
/// something a container planted at /dev/null (CVE-2025-31133).
pub fn verify_dev_null(fd: BorrowedFd<'_>) -> Result<()> {
    let st = resolve::fstat(fd).context("fstat /dev/null")?;
    let rdev = st.st_rdev;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR
        || nix::sys::stat::major(rdev) != 1
        || nix::sys::stat::minor(rdev) != 3
    {
        return Err(Error::new(
            "/dev/null is not the char device 1:3; refusing to use it",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_override_defaults_and_validate() {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384,"uid":5,"gid":6},
                {"path":"/dev/sda","type":"b","major":8,"minor":0}
            ]}}"#,
        )
        .unwrap();
        let nodes = all_nodes(&spec).unwrap();
        assert_eq!(nodes.len(), 7);
        assert_eq!(nodes[0].1.mode, 0o600);
        assert_eq!(nodes[0].1.uid, 5);
        assert_eq!(nodes[1].1.kind, SFlag::S_IFBLK);
        assert_eq!(
            nodes
                .iter()
                .filter(|(_, n)| n.path == Path::new("/dev/null"))
                .count(),
            1
        );

        let bad: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/ok","type":"c","major":1,"minor":3},
                {"path":"/","type":"c","major":1,"minor":3}]}}"#,
        )
        .unwrap();
        let e = all_nodes(&bad).unwrap_err();
        assert!(e.to_string().contains("linux.devices[1].path"), "{e}");
    }
}
