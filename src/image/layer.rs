//! Unpacking one layer tar into an empty directory of the store, in
//! overlayfs's format (see mod.rs). The tar is untrusted: an entry whose path
//! or hard-link target has a `..`, or whose path goes through a symlink, is
//! refused (never followed), and nothing is ever written outside the
//! directory.

use super::xattr;
use crate::error::{Error, Result};
use nix::sys::stat::{mknod, Mode, SFlag};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{lchown, symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpacks the tar read from `r` into `dir` (which exists and is empty).
pub fn unpack(r: impl Read, dir: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(|e| Error::io("read tar", e))?;
    // Directory times are set last: their entries change them.
    let mut dirs = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io("read tar entry", e))?;
        let raw = entry
            .path()
            .map_err(|e| Error::io("read tar entry name", e))?
            .into_owned();
        extract(&mut entry, &raw, dir, &mut dirs)
            .map_err(|e| e.context(format!("entry {:?}", raw.display())))?;
    }
    for (d, mtime) in dirs.iter().rev() {
        set_mtime(d, *mtime, 0)?;
    }
    Ok(())
}

/// The entry path relative to the layer root; `None` for the root itself.
pub fn relative(p: &Path) -> Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::new("refused: the path escapes the layer with `..`"))
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn extract<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &Path,
    dir: &Path,
    dirs: &mut Vec<(PathBuf, i64)>,
) -> Result<()> {
    let Some(rel) = relative(raw)? else {
        return Ok(()); // "./": the layer root keeps the store's mode.
    };
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = safe_parent(dir, &rel)?;
    if name == OPAQUE {
        return xattr::set(&parent, OPAQUE_XATTR, b"y")
            .map_err(|e| Error::os(format!("set {OPAQUE_XATTR} on {}", parent.display()), e));
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(Error::new("refused: whiteout of no file"));
        }
        let target = parent.join(hidden);
        clear(&target)?;
        return mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0)
            .map_err(|e| Error::os(format!("mknod whiteout {}", target.display()), e));
    }
    let path = parent.join(&name);
    let h = entry.header();
    let mode = h.mode().map_err(|e| Error::io("mode", e))? & 0o7777;
    let uid = h.uid().map_err(|e| Error::io("uid", e))?;
    let gid = h.gid().map_err(|e| Error::io("gid", e))?;
    let kind = h.entry_type();
    let mtime = h.mtime().unwrap_or(0) as i64;
    if kind == EntryType::Directory {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                clear(&path)?;
                mkdir(&path)?;
            }
            Err(_) => mkdir(&path)?,
        }
    } else {
        clear(&path)?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
                io::copy(entry, &mut f)
                    .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| Error::io("symlink target", e))?
                    .ok_or_else(|| Error::new("symlink without a target"))?;
                // The target is not checked: symlinks are resolved inside the
                // container's root when used.
                symlink(&target, &path)
                    .map_err(|e| Error::io(format!("symlink {}", path.display()), e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| Error::io("hard link target", e))?
                    .ok_or_else(|| Error::new("hard link without a target"))?;
                let trel = relative(&target)
                    .map_err(|e| e.context(format!("hard link target {:?}", target.display())))?
                    .ok_or_else(|| Error::new("hard link to the layer root"))?;
                let src = safe_parent(dir, &trel)?.join(trel.file_name().unwrap_or_default());
                match fs::symlink_metadata(&src) {
                    // linkat(2) without AT_SYMLINK_FOLLOW: a link to a
                    // symlink is a link to the symlink itself.
                    Ok(m) if !m.is_dir() => {}
                    Ok(_) => {
                        return Err(Error::new(format!(
                            "hard link target {:?} is a directory",
                            target.display()
                        )))
                    }
                    Err(e) => {
                        return Err(Error::io(
                            format!(
                                "hard link target {:?} (must be earlier in the same layer)",
                                target.display()
                            ),
                            e,
                        ))
                    }
                }
                fs::hard_link(&src, &path)
                    .map_err(|e| Error::io(format!("link {}", path.display()), e))?;
                return Ok(()); // shares the target's inode and attributes
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (t, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    t => {
                        let major = h.device_major().ok().flatten().unwrap_or(0) as u64;
                        let minor = h.device_minor().ok().flatten().unwrap_or(0) as u64;
                        let st = if t == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (st, nix::sys::stat::makedev(major, minor))
                    }
                };
                mknod(&path, t, Mode::from_bits_truncate(mode), dev)
                    .map_err(|e| Error::os(format!("mknod {}", path.display()), e))?;
            }
            other => return Err(Error::new(format!("unsupported tar entry type {other:?}"))),
        }
    }
    lchown(&path, Some(uid as u32), Some(gid as u32))
        .map_err(|e| Error::io(format!("chown {}", path.display()), e))?;
    if kind != EntryType::Symlink {
        // After chown, which clears set-id bits.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("chmod {}", path.display()), e))?;
    }
    if kind == EntryType::Directory {
        dirs.push((path.clone(), mtime));
    } else {
        set_mtime(&path, mtime, 0)?;
    }
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let (Ok(k), v) = (ext.key(), ext.value_bytes()) {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    // Best effort as in other runtimes' unpackers, but loud.
                    if let Err(e) = xattr::set(&path, name, v) {
                        eprintln!("kist: {}: xattr {name}: {e}", path.display());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The directory that will hold `rel`'s last component, creating missing
/// directories; a symlink on the way is refused, never followed.
pub fn safe_parent(dir: &Path, rel: &Path) -> Result<PathBuf> {
    let mut cur = dir.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(cur);
    };
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(format!(
                    "refused: goes through the symlink {:?} (it could lead out of the layer)",
                    cur.strip_prefix(dir).unwrap_or(&cur).display()
                )))
            }
            Ok(_) => return Err(Error::new(format!("{}: not a directory", cur.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => mkdir(&cur)?,
            Err(e) => return Err(Error::io(format!("stat {}", cur.display()), e)),
        }
    }
    Ok(cur)
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir(p).map_err(|e| Error::io(format!("mkdir {}", p.display()), e))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("chmod {}", p.display()), e))
}

/// Sets the modification time of `p` itself (never of a symlink's target).
pub fn set_mtime(p: &Path, secs: i64, nsecs: i64) -> Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let t = TimeSpec::new(secs, nsecs);
    utimensat(None, p, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::os(format!("set the times of {}", p.display()), e))
}

/// Removes whatever is at `p` (a later entry replaces an earlier one).
pub fn clear(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| Error::io(format!("remove {}", p.display()), e))
}

/// Whether `p` is a whiteout in the store (a 0/0 character device).
pub fn is_whiteout(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}
