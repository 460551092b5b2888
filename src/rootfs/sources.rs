//! Mount sources opened by the runtime, on the host, before the container
//! exists: the rootfs and every bind-mount source become detached mount
//! trees (open_tree(OPEN_TREE_CLONE)), id-mapped there when asked, and reach
//! the init as inherited descriptors (it is forked from the runtime), where
//! they are attached with move_mount.
//!
//! Why on the host side: in a user namespace the init's root is an
//! unprivileged host uid, which cannot walk a path through a 0700 directory
//! of host root (a bind source, or the bundle itself), and could never give
//! a mount an id mapping (MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the
//! filesystem's user namespace). runc opens sources before joining the user
//! namespace for the same reason.
//!
//! The clones are made before the init sets its mount propagation, so they
//! get it here: a clone of a shared host mount would otherwise be a peer of
//! it, and mounts the container makes below a bind would reach the host.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Spec;

use super::idmap;
use super::mounts;
use super::options;
use super::resolve;
use super::sys;
use crate::error::{Context, Error, Result};

/// Every descriptor of a host object is dropped as soon as it has served
/// (`take_bind`, `attach_rootfs`, `release`): the init must hold nothing
/// that leads into the host's tree once the container's setup goes on
/// (CVE-2024-21626 was such a descriptor).
pub struct Sources {
    /// The rootfs tree: detached until `attach_rootfs`, then the rootfs
    /// mount itself. Empty until `open_deferred` when opened late.
    rootfs: std::cell::OnceCell<OwnedFd>,
    /// Rootless (non-zero euid): what to open inside the container's own
    /// user and mount namespaces (`open_deferred`), where the unprivileged
    /// caller has the rights open_tree needs; the host gives it none.
    deferred: Option<Deferred>,
    /// The rootfs directory, in the runtime's mount namespace.
    rootfs_dir: RefCell<Option<OwnedFd>>,
    /// The rootfs mount made in a mount namespace joined by path.
    joined_root: std::cell::OnceCell<OwnedFd>,
    /// The propagation of the trees (see `tree_propagation`).
    prop: Option<u64>,
    /// Per `spec.mounts` index: the tree of a bind mount, until attached.
    binds: RefCell<Vec<Option<OwnedFd>>>,
}

/// The rootfs and the bind sources, by path, for `Sources::open_deferred`.
struct Deferred {
    rootfs: std::path::PathBuf,
    /// Per `spec.mounts` index: (source path, recursive, field) of a bind.
    binds: Vec<Option<(std::path::PathBuf, bool, String)>>,
}

impl Sources {
    /// Opens everything; errors name the mount.
    pub fn open(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<Sources> {
        let prop = tree_propagation(spec)?;
        let root_field = || format!("root.path {rootfs:?}");
        let rootfs_dir = sys::openat2(
            None,
            rootfs,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_NO_MAGICLINKS,
        )
        .with_context(|| format!("{}: open", root_field()))?;
        // Rootless: open_tree needs CAP_SYS_ADMIN over the host's mount
        // namespace, which the caller does not have; the init opens the
        // same paths once it is root in its own namespaces.
        let defer = crate::rootless::euid_rootless();
        let tree = std::cell::OnceCell::new();
        if !defer {
            let _ = tree.set(clone(rootfs, true, prop).with_context(root_field)?);
        }
        let mut userns = idmap::Namespaces::default();
        let mut binds = Vec::new();
        let mut later = Vec::new();
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let opts = options::parse(m.typ().as_deref(), m.options().as_deref().unwrap_or(&[]));
            let idmap = idmap::request(spec, i, m, &opts)?;
            if !opts.is_bind() {
                binds.push(None);
                later.push(None);
                continue;
            }
            let field = format!("mounts[{i}].destination {:?}", m.destination());
            let Some(src) = m.source() else {
                return Err(Error::new(format!(
                    "{field}: mounts[{i}].source: missing for a bind mount"
                )));
            };
            let src = mounts::bind_source(bundle, src);
            if defer {
                if idmap.is_some() {
                    return Err(Error::new(format!(
                        "{field}: an id-mapped mount needs CAP_SYS_ADMIN over the source's filesystem: not available to a rootless container"
                    )));
                }
                binds.push(None);
                later.push(Some((src, opts.is_rbind(), field)));
                continue;
            }
            let t = clone(&src, opts.is_rbind(), prop)
                .with_context(|| format!("{field}: mounts[{i}].source {src:?}"))?;
            if let Some(r) = idmap {
                let ns = userns.get(&r).with_context(|| format!("mounts[{i}]"))?;
                sys::mount_setattr_idmap(t.as_fd(), r.recursive, ns.as_fd()).map_err(|e| {
                    let hint = match e {
                        nix::errno::Errno::EINVAL => {
                            " (the filesystem of the source cannot be id-mapped)"
                        }
                        _ => "",
                    };
                    Error::os(
                        format!("{field}: mounts[{i}].source {src:?}: id-map the mount{hint}"),
                        e,
                    )
                })?;
            }
            binds.push(Some(t));
            later.push(None);
        }
        Ok(Sources {
            rootfs: tree,
            deferred: defer.then(|| Deferred {
                rootfs: rootfs.to_path_buf(),
                binds: later,
            }),
            joined_root: std::cell::OnceCell::new(),
            prop,
            rootfs_dir: RefCell::new(Some(rootfs_dir)),
            binds: RefCell::new(binds),
        })
    }

    /// In the init of a rootless container, in its new user and mount
    /// namespaces: opens what `open` left (nothing for a privileged one).
    pub fn open_deferred(&self) -> Result<()> {
        let Some(d) = &self.deferred else {
            return Ok(());
        };
        if self.rootfs.get().is_none() {
            let t = clone(&d.rootfs, true, self.prop)
                .with_context(|| format!("root.path {:?}", d.rootfs))?;
            let _ = self.rootfs.set(t);
        }
        let mut binds = self.binds.borrow_mut();
        for (i, b) in d.binds.iter().enumerate() {
            let Some((src, recursive, field)) = b else {
                continue;
            };
            if binds.get(i).is_some_and(Option::is_some) {
                continue;
            }
            let t = clone(src, *recursive, self.prop)
                .with_context(|| format!("{field}: mounts[{i}].source {src:?}"))?;
            if let Some(slot) = binds.get_mut(i) {
                *slot = Some(t);
            }
        }
        Ok(())
    }

    /// The tree of bind mount `i`, to attach (handed over once).
    pub fn take_bind(&self, i: usize) -> Result<OwnedFd> {
        self.binds
            .borrow_mut()
            .get_mut(i)
            .and_then(Option::take)
            .ok_or_else(|| Error::new(format!("mounts[{i}]: bind source was not opened")))
    }

    /// Drops what was not attached (there is nothing left but on errors).
    pub fn release(&self) {
        self.binds.borrow_mut().clear();
        self.rootfs_dir.borrow_mut().take();
    }

    /// Makes the rootfs directory the caller's cwd, returning the old cwd
    /// for `leave_rootfs`. The runtime does this around the clone of the
    /// init: a new mount namespace translates the cwd to its own copy of the
    /// mount, so the init finds the rootfs as "." without walking the path
    /// (as runc's init starts in the rootfs).
    pub fn enter_rootfs(&self) -> Result<OwnedFd> {
        let here = sys::openat2(None, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0, 0)
            .context("open the current directory")?;
        let dir = self.rootfs_dir.borrow();
        let dir = dir
            .as_ref()
            .ok_or_else(|| Error::new("root.path: already attached"))?;
        nix::unistd::fchdir(dir.as_raw_fd()).context("chdir to root.path")?;
        Ok(here)
    }

    /// Back to the cwd `enter_rootfs` returned.
    pub fn leave_rootfs(cwd: OwnedFd) -> Result<()> {
        nix::unistd::fchdir(cwd.as_raw_fd()).context("chdir back from root.path")
    }

    /// Attaches the rootfs tree onto the rootfs directory, which is the cwd
    /// (see `enter_rootfs`): the inherited descriptor of the directory
    /// belongs to the runtime's mount namespace, where the init cannot
    /// mount. In a mount namespace joined by path, setns has reset the cwd
    /// to that namespace's root, and root.path names a directory of that
    /// namespace (as in runc): `joined` is that path, looked up there. From
    /// then on `root` is the rootfs mount.
    pub fn attach_rootfs(&self, joined: Option<&Path>) -> Result<()> {
        let dir = self
            .rootfs_dir
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::new("root.path: already attached"))?;
        if let Some(path) = joined {
            // The joined namespace's own tree at root.path (with whatever is
            // mounted below it there), not the host's clone.
            let target = sys::openat2(None, path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)
                .context("open in the joined mount namespace")?;
            let tree = clone(path, true, self.prop).context("in the joined mount namespace")?;
            sys::move_mount(tree.as_fd(), target.as_fd()).context("move_mount rootfs")?;
            let _ = self.joined_root.set(tree);
            return Ok(());
        }
        let dot = sys::openat2(None, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0, 0)
            .context("open the rootfs as the current directory")?;
        let (a, b) = (
            resolve::fstat(dot.as_fd()).context("fstat cwd")?,
            resolve::fstat(dir.as_fd()).context("fstat rootfs")?,
        );
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
            return Err(Error::new("the current directory is not the rootfs"));
        }
        let tree = self
            .rootfs
            .get()
            .ok_or_else(|| Error::new("root.path: not opened"))?;
        sys::move_mount(tree.as_fd(), dot.as_fd()).context("move_mount rootfs")
    }

    /// The rootfs mount (after `attach_rootfs`).
    pub fn root(&self) -> Result<BorrowedFd<'_>> {
        self.joined_root
            .get()
            .or(self.rootfs.get())
            .map(AsFd::as_fd)
            .ok_or_else(|| Error::new("root.path: not opened"))
    }
}

/// The propagation the trees get: what linux.rootfsPropagation gives the
/// container's mounts (default rslave), made recursive; a shared one is
/// left as cloned (peers of the host's, as the spec asks for).
fn tree_propagation(spec: &Spec) -> Result<Option<u64>> {
    let p = super::root_propagation(spec)?.unwrap_or(libc::MS_SLAVE);
    Ok(if p & libc::MS_SHARED != 0 {
        None
    } else if p & libc::MS_SLAVE != 0 {
        Some(libc::MS_SLAVE)
    } else {
        // private and unbindable: an unbindable tree could not be bound again
        // below (nested binds of the rootfs), a private one behaves the same
        // for the container.
        Some(libc::MS_PRIVATE)
    })
}

/// A detached clone of the mount tree at `src`, with the given propagation.
fn clone(src: &Path, recursive: bool, prop: Option<u64>) -> Result<OwnedFd> {
    let t = mounts::clone_tree(src, recursive).context("open_tree")?;
    if let Some(p) = prop {
        let attr = sys::MountAttr {
            set: 0,
            clr: 0,
            propagation: p,
        };
        sys::mount_setattr(t.as_fd(), true, attr).context("set propagation of the clone")?;
    }
    Ok(t)
}
