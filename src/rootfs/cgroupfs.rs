//! The `cgroup` mount type, as runc implements it.
//!
//! * pure cgroup v2 host: with a cgroup namespace a fresh cgroup2 mount (its
//!   root is the namespace root); without one, a bind mount of the
//!   container's own cgroup directory, so nothing above it is visible.
//! * v1 / hybrid host: a tmpfs at the destination holding one mount per
//!   host hierarchy (fresh `cgroup` / `cgroup2` mounts with a cgroupns, binds
//!   of the container's own directories without), plus symlinks for
//!   co-mounted controllers ("cpu" -> "cpu,cpuacct").

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::options::MountOptions;
use super::resolve::{self, Kind};
use super::{mounts, sys, RootfsConfig};
use crate::cgroups::{parse_proc_cgroup, OwnCgroup};
use crate::error::{Context, Error, Result};
use crate::mountinfo::{self, Entry};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The /proc/self/cgroup line of the hierarchy mounted by `e`: the one whose
/// controllers all appear among the mount's superblock options.
fn own_for<'a>(e: &Entry, own: &'a [OwnCgroup]) -> Option<&'a OwnCgroup> {
    let opts: Vec<&str> = e.super_opts.split(',').collect();
    if e.fstype == "cgroup2" {
        return own.iter().find(|o| o.controllers.is_empty());
    }
    own.iter().find(|o| {
        !o.controllers.is_empty() && o.controllers.iter().all(|c| opts.contains(&c.as_str()))
    })
}

/// Host directory of our own cgroup in the hierarchy mounted by `e`.
fn host_dir(e: &Entry, own: &OwnCgroup) -> PathBuf {
    let rel = Path::new(&own.path)
        .strip_prefix(&e.root)
        .unwrap_or(Path::new(""));
    e.mount_point.join(rel)
}

/// Flags every cgroup (sub)mount gets, plus the requested read-only.
fn sub_flags(opts: &MountOptions) -> libc::c_ulong {
    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | (opts.flags & libc::MS_RDONLY)
}

/// Recursive bind (runc binds cgroup dirs with MS_BIND|MS_REC).
fn bind(root: BorrowedFd<'_>, src: &Path, dest: &Path, flags: libc::c_ulong) -> Result<()> {
    let tree = mounts::clone_tree(src, true).with_context(|| format!("open_tree {src:?}"))?;
    let o = MountOptions {
        flags: flags | libc::MS_BIND | libc::MS_REC,
        ..Default::default()
    };
    mounts::attach_bind(root, dest, tree, &o)
}

fn fresh(
    root: BorrowedFd<'_>,
    dest: &Path,
    typ: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<()> {
    let fd = resolve::ensure(root, dest, Kind::Dir).context("resolve destination")?;
    mounts::mount_fs(typ, fd.as_fd(), typ, flags, data)
}

pub fn mount_cgroup(
    cfg: &RootfsConfig,
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    let own = parse_proc_cgroup(
        &crate::procfs::read("/proc/self/cgroup").context("read /proc/self/cgroup")?,
    );
    let flags = sub_flags(opts);
    let pure_v2 = statfs(CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let r = if pure_v2 {
        mount_v2(cfg, root, dest, &own, flags, opts)
    } else {
        mount_v1(cfg, root, dest, &own, flags, opts)
    };
    r?;
    // Propagation and recursive attributes apply to the whole cgroup tree.
    if !opts.propagation.is_empty() || !opts.rec_attr.is_empty() {
        let top = resolve::open_in_root(root, dest, libc::O_PATH).context("reopen destination")?;
        mounts::set_propagation_and_attrs(top.as_fd(), opts)?;
    }
    Ok(())
}

fn mount_v2(
    cfg: &RootfsConfig,
    root: BorrowedFd<'_>,
    dest: &Path,
    own: &[OwnCgroup],
    flags: libc::c_ulong,
    opts: &MountOptions,
) -> Result<()> {
    let own_path = own
        .iter()
        .find(|o| o.controllers.is_empty())
        .map(|o| PathBuf::from(&o.path))
        .unwrap_or_else(|| PathBuf::from("/"));
    let src = Path::new(CGROUP_ROOT).join(own_path.strip_prefix("/").unwrap_or(&own_path));
    let refused = |e: &Error| {
        e.errno() == Some(Errno::EPERM as i32) || e.errno() == Some(Errno::EBUSY as i32)
    };
    if cfg.cgroupns {
        match fresh(root, dest, "cgroup2", flags, &opts.data()) {
            Ok(()) => return Ok(()),
            // Like runc: when the kernel refuses (e.g. a cgroupns not owned
            // by our user namespace, or rootless on a pure v2 host), emulate
            // it with a bind of the container's own cgroup. Inside the
            // cgroupns our path reads "/", which would expose the whole
            // host hierarchy: the host path comes from the runtime.
            Err(e) if refused(&e) => {
                if let Some(dir) = cfg.cgroup2_dir {
                    return bind(root, dir, dest, flags).with_context(|| format!("bind {dir:?}"));
                }
                if own_path == Path::new("/") {
                    // No cgroup of its own (rootless, nothing delegated):
                    // an empty read-only tmpfs, as runc masks it then.
                    if crate::rootless::active() {
                        return fresh(
                            root,
                            dest,
                            "tmpfs",
                            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
                            "mode=755",
                        )
                        .context("no cgroup (rootless): empty read-only tmpfs");
                    }
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    bind(root, &src, dest, flags).with_context(|| format!("bind {src:?}"))
}

fn mount_v1(
    cfg: &RootfsConfig,
    root: BorrowedFd<'_>,
    dest: &Path,
    own: &[OwnCgroup],
    flags: libc::c_ulong,
    opts: &MountOptions,
) -> Result<()> {
    let entries: Vec<Entry> = mountinfo::read()?
        .into_iter()
        .filter(|e| {
            (e.fstype == "cgroup" || e.fstype == "cgroup2")
                && e.mount_point.parent() == Some(Path::new(CGROUP_ROOT))
        })
        .collect();
    // The tmpfs is written to (subdirs, symlinks) before it is made read-only.
    fresh(
        root,
        dest,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "mode=755",
    )
    .context("cgroup tmpfs")?;
    for e in &entries {
        let Some(name) = e.mount_point.file_name() else {
            continue;
        };
        let Some(mine) = own_for(e, own) else {
            continue;
        };
        let sub = dest.join(name);
        let step = format!("cgroup hierarchy {:?}", e.mount_point);
        if cfg.cgroupns {
            let (typ, data) = if e.fstype == "cgroup2" {
                ("cgroup2", String::new())
            } else {
                ("cgroup", mine.controllers.join(","))
            };
            fresh(root, &sub, typ, flags, &data).context(step)?;
        } else {
            let src = host_dir(e, mine);
            bind(root, &src, &sub, flags).with_context(|| format!("{step}: bind {src:?}"))?;
        }
        // "cpu,cpuacct" -> links "cpu" and "cpuacct" next to it.
        let name = name.to_string_lossy();
        if name.contains(',') {
            let dir = resolve::open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY)
                .context("open cgroup tmpfs")?;
            for c in name.split(',') {
                match nix::unistd::symlinkat(
                    name.as_ref(),
                    Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
                    c,
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(Error::os(format!("symlink {c} -> {name}"), e)),
                }
            }
        }
    }
    if opts.flags & libc::MS_RDONLY != 0 {
        read_only(root, dest).context("cgroup tmpfs")?;
    }
    Ok(())
}

/// Makes the mount at `dest` (only it, not the superblock) read-only.
fn read_only(root: BorrowedFd<'_>, dest: &Path) -> Result<()> {
    let fd = resolve::open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY)
        .context("reopen destination")?;
    let attr = sys::MountAttr {
        set: libc::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(fd.as_fd(), false, attr).context("remount read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_matching() {
        let own = parse_proc_cgroup("12:cpu,cpuacct:/a/b\n1:name=systemd:/sys\n0::/unified/x\n");
        assert_eq!(own.len(), 3);
        let e = |fstype: &str, opts: &str, root: &str| Entry {
            root: PathBuf::from(root),
            mount_point: PathBuf::from("/sys/fs/cgroup/x"),
            optional: String::new(),
            fstype: fstype.into(),
            source: "cgroup".into(),
            super_opts: opts.into(),
        };
        let cpu = e("cgroup", "rw,cpu,cpuacct", "/");
        assert_eq!(own_for(&cpu, &own).unwrap().path, "/a/b");
        assert_eq!(
            host_dir(&cpu, own_for(&cpu, &own).unwrap()),
            PathBuf::from("/sys/fs/cgroup/x/a/b")
        );
        let sd = e("cgroup", "rw,xattr,name=systemd", "/");
        assert_eq!(own_for(&sd, &own).unwrap().path, "/sys");
        let mem = e("cgroup", "rw,memory", "/");
        assert!(own_for(&mem, &own).is_none());
        let u = e("cgroup2", "rw", "/unified");
        assert_eq!(
            host_dir(&u, own_for(&u, &own).unwrap()),
            PathBuf::from("/sys/fs/cgroup/x/x")
        );
    }
}
