//! The layer store: `<store>/layers/<diff_id hex>/` holds one unpacked
//! layer, made once and never changed (overlayfs lower directories may not
//! change under a mount). A layer is unpacked into `<store>/tmp/` while its
//! digests are checked and renamed into place only when both match, so a
//! directory under `layers/` is always complete and verified; two `kist
//! bundle` racing on a layer both unpack it and one rename wins.

use super::digest::HashRead;
use super::source::{Image, Layer};
use crate::error::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Layers at least this big get a progress line on stderr.
const PROGRESS_BYTES: u64 = 8 << 20;

pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        for sub in ["layers", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p)
                .map_err(|e| Error::io(format!("store: mkdir {}", p.display()), e))?;
            // Images carry set-uid files: only root may reach them here
            // (a bundle reaches them through its overlay mount).
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(format!("store: chmod {}", p.display()), e))?;
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::io(format!("store {}", dir.display()), e))?;
        Ok(Store { dir })
    }

    pub fn layer_dir(&self, l: &Layer) -> PathBuf {
        self.dir.join("layers").join(&l.diff_id.hex)
    }

    /// Every layer of `img` in the store, bottom first; unpacks the missing.
    pub fn ensure(&self, img: &Image) -> Result<Vec<PathBuf>> {
        let n = img.layers.len();
        let mut out = Vec::new();
        for (i, l) in img.layers.iter().enumerate() {
            let dir = self.layer_dir(l);
            if !dir.is_dir() {
                if l.size >= PROGRESS_BYTES {
                    eprintln!(
                        "kist bundle: unpacking layer {}/{n} {} ({:.1} MiB)",
                        i + 1,
                        l.diff_id.short(),
                        l.size as f64 / (1 << 20) as f64
                    );
                }
                self.unpack(img, l, &dir)
                    .map_err(|e| e.context(format!("layer {}/{n} {}", i + 1, l.diff_id)))?;
            }
            out.push(dir);
        }
        Ok(out)
    }

    fn unpack(&self, img: &Image, l: &Layer, dest: &Path) -> Result<()> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{}.{}", l.diff_id.hex, std::process::id()));
        let _ = super::layer::clear(&tmp);
        std::fs::create_dir(&tmp).map_err(|e| Error::io(format!("mkdir {}", tmp.display()), e))?;
        let r = unpack_verified(img, l, &tmp).and_then(|()| {
            match std::fs::rename(&tmp, dest) {
                Ok(()) => Ok(()),
                // Another kist bundle put the same layer in place first.
                Err(_) if dest.is_dir() => Ok(()),
                Err(e) => Err(Error::io(format!("rename to {}", dest.display()), e)),
            }
        });
        let _ = super::layer::clear(&tmp);
        r
    }
}

fn unpack_verified(img: &Image, l: &Layer, dir: &Path) -> Result<()> {
    let mut blob = HashRead::new(img.layer_reader(l)?);
    {
        let mut peek = BufReader::new(&mut blob);
        let head = peek.fill_buf().map_err(|e| Error::io("read layer", e))?;
        let gz = head.starts_with(&[0x1f, 0x8b]);
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(Error::new("zstd-compressed layers are not supported"));
        }
        let mut tar = HashRead::new(if gz {
            Box::new(flate2::read::MultiGzDecoder::new(peek)) as Box<dyn Read>
        } else {
            Box::new(peek)
        });
        super::layer::unpack(&mut tar, dir)?;
        let got = tar.finish().map_err(|e| Error::io("read layer", e))?;
        if got != l.diff_id {
            return Err(Error::new(format!(
                "uncompressed content hashes to {got}, not to its diff_id: corrupt or tampered blob"
            )));
        }
    }
    if let Some(want) = &l.blob {
        let got = blob.finish().map_err(|e| Error::io("read layer", e))?;
        if &got != want {
            return Err(Error::new(format!(
                "blob hashes to {got}, not to its digest {want}: corrupt or tampered blob"
            )));
        }
    }
    Ok(())
}
