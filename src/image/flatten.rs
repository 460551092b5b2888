//! `kist bundle --copy`: the layers of the store applied one over the other
//! into a plain directory, whiteouts deleting and opaque directories hiding
//! what is below, as overlayfs would show them. Hard links within a layer
//! stay hard links. Nothing in the destination is ever followed: an entry
//! replaces whatever (symlink included) is at its place.

use super::layer::{clear, is_whiteout, set_mtime, OPAQUE_XATTR};
use super::xattr;
use crate::error::{Error, Result};
use nix::sys::stat::{mknod, Mode, SFlag};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{lchown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Applies `layers` (bottom first) onto the existing directory `dest`.
pub fn apply_all(layers: &[PathBuf], dest: &Path) -> Result<()> {
    for l in layers {
        let mut links = HashMap::new();
        apply_dir(l, dest, &mut links)
            .map_err(|e| e.context(format!("copy layer {}", l.display())))?;
    }
    Ok(())
}

fn apply_dir(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> Result<()> {
    let rd = fs::read_dir(src).map_err(|e| Error::io(format!("read {}", src.display()), e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(format!("read {}", src.display()), e))?;
        let s = e.path();
        let d = dst.join(e.file_name());
        let m =
            fs::symlink_metadata(&s).map_err(|e| Error::io(format!("stat {}", s.display()), e))?;
        if is_whiteout(&m) {
            clear(&d)?;
            continue;
        }
        if m.is_dir() {
            match fs::symlink_metadata(&d) {
                Ok(dm) if dm.is_dir() => {
                    let opaque = xattr::get(&s, OPAQUE_XATTR).map_err(|e| {
                        Error::os(format!("read {OPAQUE_XATTR} of {}", s.display()), e)
                    })?;
                    if opaque.as_deref() == Some(b"y") {
                        clear(&d)?;
                        fs::create_dir(&d)
                            .map_err(|e| Error::io(format!("mkdir {}", d.display()), e))?;
                    }
                }
                Ok(_) => {
                    clear(&d)?;
                    fs::create_dir(&d)
                        .map_err(|e| Error::io(format!("mkdir {}", d.display()), e))?;
                }
                Err(_) => fs::create_dir(&d)
                    .map_err(|e| Error::io(format!("mkdir {}", d.display()), e))?,
            }
            attrs(&d, &m)?;
            apply_dir(&s, &d, links)?;
            set_mtime(&d, m.mtime(), m.mtime_nsec())?;
            continue;
        }
        clear(&d)?;
        let key = (m.dev(), m.ino());
        if m.nlink() > 1 {
            if let Some(first) = links.get(&key) {
                fs::hard_link(first, &d)
                    .map_err(|e| Error::io(format!("link {}", d.display()), e))?;
                continue;
            }
        }
        let ft = m.file_type();
        if ft.is_file() {
            fs::copy(&s, &d).map_err(|e| Error::io(format!("copy {}", d.display()), e))?;
        } else if ft.is_symlink() {
            let t =
                fs::read_link(&s).map_err(|e| Error::io(format!("readlink {}", s.display()), e))?;
            symlink(&t, &d).map_err(|e| Error::io(format!("symlink {}", d.display()), e))?;
        } else {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else if ft.is_fifo() {
                SFlag::S_IFIFO
            } else {
                continue; // sockets are not image content
            };
            mknod(&d, kind, Mode::empty(), m.rdev())
                .map_err(|e| Error::os(format!("mknod {}", d.display()), e))?;
        }
        attrs(&d, &m)?;
        set_mtime(&d, m.mtime(), m.mtime_nsec())?;
        if m.nlink() > 1 {
            links.insert(key, d);
        }
    }
    Ok(())
}

fn attrs(d: &Path, m: &fs::Metadata) -> Result<()> {
    lchown(d, Some(m.uid()), Some(m.gid()))
        .map_err(|e| Error::io(format!("chown {}", d.display()), e))?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(d, fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| Error::io(format!("chmod {}", d.display()), e))?;
    }
    Ok(())
}
