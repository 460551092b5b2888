//! Root filesystem: mounts, devices, pivot_root, masked and read-only paths,
//! sysctls.
//!
//! Call order in the container init (already in its new mount namespace):
//! `prepare` -> (createContainer hooks: runc runs them here, with the old
//! root still reachable) -> `enter` -> `apply_sysctl` / `finish` (any order;
//! runc writes sysctls before masking, and so can we: sysctls go through a
//! private procfs, not the container's /proc). Left to the caller, as in
//! runc's init: creating process.cwd after `enter` and setting the umask.
//! `validate_sysctl` is runc's create-time check, for the runtime process.
//!
//! Security model: the rootfs content is untrusted. Every path inside it is
//! resolved with openat2(RESOLVE_IN_ROOT) from an fd on the rootfs (see
//! resolve.rs), created relative to verified parent fds, and mounted onto by
//! fd (move_mount or /proc/self/fd/N), never by re-walking a path string.

mod cgroupfs;
mod copyup;
mod devices;
pub mod hostns;
mod idmap;
mod mounts;
pub mod options;
mod paths;
mod pivot;
mod resolve;
mod sources;
mod sys;
mod sysctl;

#[cfg(test)]
mod tests;

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::MsFlags;

use crate::error::{Context, Error, Result};

pub use idmap::supported as idmap_supported;
pub use sources::Sources;

pub struct RootfsConfig<'a> {
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute, canonicalized host path of root.path.
    pub rootfs: &'a Path,
    /// Absolute bundle dir; relative bind mount sources are relative to it.
    pub bundle: &'a Path,
    /// --no-pivot: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// No private mount namespace: set up in the runtime's (the host's),
    /// touching only mounts below root.path, and enter with chroot.
    pub host_mount_ns: bool,
    /// The mount namespace was joined by path (root.path is looked up there).
    pub joined_mount_ns: bool,
    /// mknod is impossible: bind-mount host device nodes instead.
    pub in_new_userns: bool,
    /// The container has a new cgroup namespace.
    pub cgroupns: bool,
    /// Mount `proc` only in `mount_deferred_proc`, after pivot_root, from
    /// inside the pid namespace it must show (a joined one).
    pub defer_proc: bool,
    /// The rootfs and bind sources, opened by the runtime on the host.
    pub sources: &'a Sources,
    /// The container's cgroup2 directory on the host, if it has one.
    pub cgroup2_dir: Option<&'a Path>,
}

/// linux.rootfsPropagation as mount(2) flags; None when unset.
fn root_propagation(spec: &oci_spec::runtime::Spec) -> Result<Option<libc::c_ulong>> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(None);
    };
    let f = match p.as_str() {
        "" => return Ok(None),
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        other => {
            return Err(Error::new(format!(
                "linux.rootfsPropagation {other:?}: unknown propagation mode"
            )))
        }
    };
    Ok(Some(f))
}

fn set_propagation(
    target: &Path,
    flags: libc::c_ulong,
) -> std::result::Result<(), nix::errno::Errno> {
    nix::mount::mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::from_bits_retain(flags),
        None::<&str>,
    )
}

/// pivot_root refuses a shared parent mount of the new root, and an rbind of
/// the rootfs would propagate back to the host through it: make it private
/// when it is shared (runc's rootfsParentMountPrivate).
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let entries = crate::mountinfo::read()?;
    let parent = entries
        .iter()
        .filter(|e| rootfs.starts_with(&e.mount_point))
        .max_by_key(|e| e.mount_point.components().count());
    if let Some(e) = parent {
        if e.optional.split(' ').any(|f| f.starts_with("shared:")) {
            set_propagation(&e.mount_point, libc::MS_PRIVATE).with_context(|| {
                format!("make parent mount {:?} of rootfs private", e.mount_point)
            })?;
        }
    }
    Ok(())
}

/// True when a bind mount provides /dev, in which case (like runc) no
/// devices or /dev links are created.
fn dev_is_bind_mounted(spec: &oci_spec::runtime::Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        resolve::clean(m.destination()) == Path::new("/dev")
            && options::parse(m.typ().as_deref(), m.options().as_deref().unwrap_or(&[])).is_bind()
    })
}

pub fn prepare(cfg: &RootfsConfig) -> Result<()> {
    // In the host's mount namespace neither / nor the rootfs's parent
    // mount is ours to change (runc changes both there).
    if !cfg.host_mount_ns {
        let prop = root_propagation(cfg.spec)?.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
        set_propagation(Path::new("/"), prop)
            .context("set propagation of / (linux.rootfsPropagation)")?;
        make_parent_private(cfg.rootfs)?;
    }
    cfg.sources.open_deferred()?;
    cfg.sources
        .attach_rootfs(cfg.joined_mount_ns.then_some(cfg.rootfs))
        .with_context(|| format!("root.path {:?}", cfg.rootfs))?;
    if cfg.host_mount_ns {
        // The container's mounts go below this bind: they must not
        // propagate to the host's other mount namespaces.
        set_propagation(cfg.rootfs, libc::MS_PRIVATE | libc::MS_REC)
            .with_context(|| format!("root.path {:?}: make its bind private", cfg.rootfs))?;
    }
    let root = cfg.sources.root()?;
    let mounted = mounts::mount_all(cfg, root);
    cfg.sources.release();
    mounted?;
    if !dev_is_bind_mounted(cfg.spec) {
        devices::create_devices(cfg, root)?;
        devices::create_links(root).context("/dev links")?;
    }
    Ok(())
}

/// After pivot_root: bind-mounts the pty slave `console` onto the
/// container's /dev/console, by descriptor (see `devices::mount_console`).
pub fn mount_console(console: std::os::fd::RawFd) -> Result<()> {
    let root = resolve::open_root(Path::new("/")).context("open / after pivot_root")?;
    devices::mount_console(root.as_fd(), console)
}

/// The `proc` mounts held back by `defer_proc`, made after pivot_root from
/// inside the joined pid namespace. /proc is not there yet, so this uses
/// the new mount API end to end (no /proc/self/fd paths).
pub fn mount_deferred_proc(cfg: &RootfsConfig) -> Result<()> {
    let root = resolve::open_root(Path::new("/")).context("open / after pivot_root")?;
    let all = cfg.spec.mounts().clone().unwrap_or_default();
    for (i, m) in all.iter().enumerate().filter(|(_, m)| mounts::is_proc(m)) {
        let field = format!("mounts[{i}].destination {:?}", m.destination());
        let opts = options::parse(Some("proc"), m.options().as_deref().unwrap_or(&[]));
        if !opts.data().is_empty() {
            return Err(Error::new(format!(
                "{field}: proc options {:?} are not supported when joining a pid namespace",
                opts.data()
            )));
        }
        let dest = resolve::clean(m.destination());
        let target = mounts::real_dir(root.as_fd(), &dest, "proc").context(field.clone())?;
        let mut attrs = 0;
        for (ms, attr) in [
            (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
            (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
            (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
            (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        ] {
            if opts.flags & ms != 0 {
                attrs |= attr;
            }
        }
        let mnt = sys::fresh_fs(c"proc", attrs)
            .map_err(|e| Error::os(format!("{field}: mount proc"), e))?;
        sys::move_mount(mnt.as_fd(), target.as_fd())
            .map_err(|e| Error::os(format!("{field}: attach proc"), e))?;
    }
    Ok(())
}

pub fn enter(cfg: &RootfsConfig) -> Result<()> {
    if cfg.host_mount_ns {
        // pivot_root and MS_MOVE would change the host's root: chroot,
        // as runc does without a mount namespace.
        pivot::chroot_into(cfg.rootfs).context("enter rootfs (chroot, no mount namespace)")?;
    } else if cfg.no_pivot {
        pivot::move_root(cfg.rootfs, cfg.sources.root()?).context("enter rootfs (no pivot)")?;
    } else {
        pivot::pivot(cfg.sources.root()?).context("enter rootfs (pivot_root)")?;
    }
    if !dev_is_bind_mounted(cfg.spec) {
        pivot::reopen_dev_null().context("reopen /dev/null inside the container")?;
    }
    Ok(())
}

pub fn finish(cfg: &RootfsConfig) -> Result<()> {
    // Done only now: before pivot_root "/" was still the host's root mount
    // and making it shared would have leaked into the host. Private modes
    // were already applied in prepare().
    if let Some(p) = root_propagation(cfg.spec)? {
        if p & libc::MS_PRIVATE == 0 {
            set_propagation(Path::new("/"), p).context("linux.rootfsPropagation: set on /")?;
        }
    }
    let root = resolve::open_root(Path::new("/")).context("open /")?;
    for (i, m) in cfg.spec.mounts().iter().flatten().enumerate() {
        let dest = resolve::clean(m.destination());
        let typ = m.typ().as_deref().unwrap_or("");
        let opts = options::parse(Some(typ), m.options().as_deref().unwrap_or(&[]));
        if opts.flags & libc::MS_RDONLY != 0
            && !opts.is_bind()
            && mounts::delayed_readonly(&dest, typ)
        {
            paths::remount_ro(root.as_fd(), &dest)
                .with_context(|| format!("mounts[{i}].destination {:?}", m.destination()))?;
        }
    }
    if cfg.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        paths::remount_ro(root.as_fd(), Path::new("/")).context("root.readonly")?;
    }
    paths::apply(cfg.spec, root.as_fd())
}

/// Validates and writes linux.sysctl. Keys must be namespaced for a
/// namespace the container has (runc's rule), else the host would change.
pub fn apply_sysctl(spec: &oci_spec::runtime::Spec) -> Result<()> {
    sysctl::apply(spec)
}

/// runc's config-time check of linux.sysctl, for the runtime to call on the
/// host before creating the container: like the check in apply_sysctl, plus
/// refusing net.* when the configured netns path is the caller's own.
pub fn validate_sysctl(spec: &oci_spec::runtime::Spec) -> Result<()> {
    sysctl::validate(spec, true)
}

/// `stat` of a container path resolved inside `rootfs` (symlinks confined
/// to it), for the offline checks of `kist check`.
pub fn stat_in(rootfs: &Path, path: &Path) -> std::result::Result<libc::stat, nix::errno::Errno> {
    let root = resolve::open_root(rootfs)?;
    let fd = resolve::open_in_root(root.as_fd(), path, libc::O_PATH)?;
    resolve::fstat(fd.as_fd())
}

/// Whether `path` would lead out of `rootfs` were it not confined (see
/// `resolve::leaves_root`).
pub fn leaves_root(rootfs: &Path, path: &Path) -> std::result::Result<bool, nix::errno::Errno> {
    let root = resolve::open_root(rootfs)?;
    resolve::leaves_root(root.as_fd(), path)
}

/// Opens a file of the rootfs for reading, symlinks confined to it.
pub fn open_file_in(
    rootfs: &Path,
    path: &Path,
) -> std::result::Result<std::fs::File, nix::errno::Errno> {
    let root = resolve::open_root(rootfs)?;
    let fd = resolve::open_in_root(root.as_fd(), path, libc::O_RDONLY)?;
    Ok(std::fs::File::from(fd))
}

/// Mounts a new `fstype` with string `opts` on the directory `target` with
/// the new mount API, which takes options one by one (no page limit).
pub fn mount_with_options(
    fstype: &std::ffi::CStr,
    opts: &[(&std::ffi::CStr, &std::ffi::CStr)],
    target: &Path,
) -> std::result::Result<(), nix::errno::Errno> {
    let fs = sys::fresh_fs_with(fstype, opts, 0)?;
    let to = sys::openat2(None, target, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
    sys::move_mount(fs.as_fd(), to.as_fd())
}
