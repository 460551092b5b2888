//! Where an image comes from: an OCI image layout directory, or a tar of one
//! (oci-archive), or a `docker save` tar (docker-archive). A tar is indexed
//! once and its members are read in place (no copy of the image on disk).
//!
//! `resolve` turns `IMAGE[:tag]` into the image config and its layers, every
//! manifest and config checked against its digest on the way.

use super::digest::{self, Digest};
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Far above real manifests and configs; bounds what is read into memory.
const MAX_JSON: u64 = 16 << 20;

enum Files {
    Dir(PathBuf),
    /// Member name → (offset of its data, size).
    Tar(PathBuf, HashMap<String, (u64, u64)>),
}

impl Files {
    fn open(path: &Path) -> Result<Files> {
        let md = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("image {}", path.display()), e))?;
        if md.is_dir() {
            return Ok(Files::Dir(path.to_path_buf()));
        }
        let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let mut ar = tar::Archive::new(f);
        let mut index = HashMap::new();
        let entries = ar
            .entries_with_seek()
            .map_err(|e| Error::io(format!("{}: read tar", path.display()), e))?;
        let mut links = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                Error::io(
                    format!(
                        "{}: not an image layout dir nor a readable tar",
                        path.display()
                    ),
                    e,
                )
            })?;
            let Ok(p) = entry.path() else { continue };
            let Ok(Some(rel)) = super::layer::relative(&p) else {
                continue;
            };
            let kind = entry.header().entry_type();
            match kind {
                tar::EntryType::Regular => {
                    index.insert(
                        rel.to_string_lossy().into_owned(),
                        (entry.raw_file_position(), entry.size()),
                    );
                }
                // `<id>/layer.tar -> ../<hex>.tar` in docker-archives.
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(t)) = entry.link_name() {
                        links.push((rel, t.into_owned(), kind));
                    }
                }
                _ => {}
            }
        }
        for (rel, target, kind) in links {
            let joined = if kind == tar::EntryType::Symlink {
                rel.parent().unwrap_or(Path::new("")).join(&target)
            } else {
                target
            };
            if let Some(v) = clean_member(&joined).and_then(|t| index.get(&t).copied()) {
                index.insert(rel.to_string_lossy().into_owned(), v);
            }
        }
        Ok(Files::Tar(path.to_path_buf(), index))
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Files::Dir(d) => d.join(name).is_file(),
            Files::Tar(_, idx) => idx.contains_key(name),
        }
    }

    /// A member and its size.
    fn reader(&self, name: &str) -> Result<(Box<dyn Read>, u64)> {
        match self {
            Files::Dir(d) => {
                let p = d.join(name);
                let f =
                    File::open(&p).map_err(|e| Error::io(format!("open {}", p.display()), e))?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                Ok((Box::new(f), len))
            }
            Files::Tar(path, idx) => {
                let &(off, len) = idx
                    .get(name)
                    .ok_or_else(|| Error::new(format!("{}: no member {name}", path.display())))?;
                let mut f = File::open(path)
                    .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| Error::io(format!("{}: seek to {name}", path.display()), e))?;
                Ok((Box::new(f.take(len)), len))
            }
        }
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (r, len) = self.reader(name)?;
        if len > MAX_JSON {
            return Err(Error::new(format!(
                "{name}: larger than {} MiB",
                MAX_JSON >> 20
            )));
        }
        let mut buf = Vec::new();
        r.take(MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(format!("read {name}"), e))?;
        Ok(buf)
    }
}

/// A member name with `.` and `..` resolved; None when it climbs out.
fn clean_member(p: &Path) -> Option<String> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    let names: Vec<_> = out.iter().map(|s| s.to_string_lossy()).collect();
    Some(names.join("/"))
}

/// One layer to unpack.
pub struct Layer {
    /// The digest of the uncompressed tar (the config's `rootfs.diff_ids`):
    /// the layer's name in the store.
    pub diff_id: Digest,
    /// The digest of the blob as stored, when the format records it (OCI).
    pub blob: Option<Digest>,
    /// Member name in the source.
    member: String,
    pub size: u64,
}

pub struct Image {
    files: Files,
    /// The image config (`config.Env`, `rootfs.diff_ids`...).
    pub config: Value,
    /// Bottom layer first.
    pub layers: Vec<Layer>,
}

impl Image {
    /// The blob of `layer`, as stored (maybe compressed).
    pub fn layer_reader(&self, layer: &Layer) -> Result<Box<dyn Read>> {
        Ok(self.files.reader(&layer.member)?.0)
    }
}

/// `PATH[:tag]`: a path that exists is taken whole (it may contain a colon).
pub fn split_ref(image: &str) -> (PathBuf, Option<String>) {
    if Path::new(image).exists() {
        return (PathBuf::from(image), None);
    }
    match image.rsplit_once(':') {
        Some((p, t)) if !t.is_empty() && !t.contains('/') => {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(image), None),
    }
}

pub fn resolve(image: &str) -> Result<Image> {
    let (path, tag) = split_ref(image);
    let files = Files::open(&path)?;
    if files.exists("index.json") {
        oci(files, tag.as_deref())
    } else if files.exists("manifest.json") {
        docker(files, tag.as_deref())
    } else {
        Err(Error::new(format!(
            "{}: neither an OCI image layout (index.json) nor a docker-archive (manifest.json)",
            path.display()
        )))
    }
    .map_err(|e| e.context(format!("image {image}")))
}

fn parse_json(what: &str, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::new(format!("{what}: {e}")))
}

/// Whether a reference name (`latest`, `localhost/x:latest`) is `tag`.
pub fn names(name: &str, tag: &str) -> bool {
    name == tag
        || name
            .rsplit_once(':')
            .is_some_and(|(_, t)| t == tag && !t.contains('/'))
}

fn oci_blob(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex)
}

fn verified_blob(files: &Files, what: &str, desc: &Value) -> Result<(Digest, Vec<u8>)> {
    let d = Digest::parse(desc["digest"].as_str().unwrap_or_default())
        .map_err(|e| e.context(format!("{what}.digest")))?;
    let bytes = files
        .read_small(&oci_blob(&d))
        .map_err(|e| e.context(what))?;
    digest::verify(&format!("{what} {d}"), &bytes, &d)?;
    if let Some(size) = desc["size"].as_u64() {
        if size != bytes.len() as u64 {
            return Err(Error::new(format!(
                "{what} {d}: size {} but the descriptor says {size}",
                bytes.len()
            )));
        }
    }
    Ok((d, bytes))
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn oci(files: Files, tag: Option<&str>) -> Result<Image> {
    let index = parse_json("index.json", &files.read_small("index.json")?)?;
    let list = index["manifests"].as_array().cloned().unwrap_or_default();
    let refname = |m: &Value| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string)
    };
    let mut desc = match tag {
        Some(t) => list
            .iter()
            .find(|m| refname(m).is_some_and(|n| names(&n, t)))
            .cloned()
            .ok_or_else(|| {
                let known: Vec<String> = list.iter().filter_map(refname).collect();
                Error::new(format!(
                    "index.json: no manifest tagged {t:?} (tags: {})",
                    known.join(", ")
                ))
            })?,
        None if list.len() == 1 => list[0].clone(),
        None => {
            let known: Vec<String> = list.iter().filter_map(refname).collect();
            return Err(Error::new(format!(
                "index.json lists {} manifests: name one with IMAGE:TAG (tags: {})",
                list.len(),
                known.join(", ")
            )));
        }
    };
    // An index may point at a per-platform index.
    for _ in 0..4 {
        if !INDEX_TYPES.contains(&desc["mediaType"].as_str().unwrap_or_default()) {
            break;
        }
        let (_, bytes) = verified_blob(&files, "index", &desc)?;
        let nested = parse_json("index", &bytes)?;
        let arch = host_arch();
        desc = nested["manifests"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|m| {
                        m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch
                    })
                    .or(if l.len() == 1 { l.first() } else { None })
            })
            .cloned()
            .ok_or_else(|| Error::new(format!("index: no manifest for linux/{arch}")))?;
    }
    let (_, bytes) = verified_blob(&files, "manifest", &desc)?;
    let manifest = parse_json("manifest", &bytes)?;
    let (_, bytes) = verified_blob(&files, "config", &manifest["config"])?;
    let config = parse_json("config", &bytes)?;
    let diff_ids = diff_ids(&config)?;
    let descs = manifest["layers"].as_array().cloned().unwrap_or_default();
    same_count("manifest", descs.len(), &diff_ids)?;
    let mut layers = Vec::new();
    for (i, (d, diff_id)) in descs.iter().zip(diff_ids).enumerate() {
        let mt = d["mediaType"].as_str().unwrap_or_default();
        if mt.ends_with("+zstd") {
            return Err(Error::new(format!(
                "manifest layers[{i}]: zstd layers are not supported ({mt})"
            )));
        }
        let blob = Digest::parse(d["digest"].as_str().unwrap_or_default())
            .map_err(|e| e.context(format!("manifest layers[{i}].digest")))?;
        let member = oci_blob(&blob);
        if !files.exists(&member) {
            return Err(Error::new(format!(
                "manifest layers[{i}]: blob {blob} missing from the image"
            )));
        }
        layers.push(Layer {
            diff_id,
            blob: Some(blob),
            member,
            size: d["size"].as_u64().unwrap_or(0),
        });
    }
    Ok(Image {
        files,
        config,
        layers,
    })
}

fn same_count(manifest: &str, layers: usize, diff_ids: &[Digest]) -> Result<()> {
    if layers != diff_ids.len() {
        return Err(Error::new(format!(
            "{manifest} lists {layers} layers but the config's rootfs.diff_ids has {}",
            diff_ids.len()
        )));
    }
    Ok(())
}

fn diff_ids(config: &Value) -> Result<Vec<Digest>> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| Error::new("config: no rootfs.diff_ids"))?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Digest::parse(d.as_str().unwrap_or_default())
                .map_err(|e| e.context(format!("config rootfs.diff_ids[{i}]")))
        })
        .collect()
}

fn docker(files: Files, tag: Option<&str>) -> Result<Image> {
    let list = parse_json("manifest.json", &files.read_small("manifest.json")?)?;
    let list = list.as_array().cloned().unwrap_or_default();
    let tags = |m: &Value| -> Vec<String> {
        m["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    };
    let entry = match tag {
        Some(t) => list.iter().find(|m| tags(m).iter().any(|n| names(n, t))),
        None if list.len() == 1 => list.first(),
        None => None,
    }
    .cloned()
    .ok_or_else(|| {
        let known: Vec<String> = list.iter().flat_map(tags).collect();
        Error::new(format!(
            "manifest.json: {} (tags: {})",
            match tag {
                Some(t) => format!("no image tagged {t:?}"),
                None => format!("{} images: name one with IMAGE:TAG", list.len()),
            },
            known.join(", ")
        ))
    })?;
    let cfg_name = entry["Config"].as_str().unwrap_or_default().to_string();
    let bytes = files.read_small(&cfg_name)?;
    // The config's file name is its digest (`<hex>.json` or `blobs/sha256/<hex>`).
    let stem = Path::new(&cfg_name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Ok(d) = Digest::parse(&format!("sha256:{}", stem.trim_end_matches(".json"))) {
        digest::verify(&format!("config {cfg_name}"), &bytes, &d)?;
    }
    let config = parse_json("config", &bytes)?;
    let diff_ids = diff_ids(&config)?;
    let members: Vec<String> = entry["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    same_count("manifest.json", members.len(), &diff_ids)?;
    let mut layers = Vec::new();
    for (member, diff_id) in members.into_iter().zip(diff_ids) {
        if !files.exists(&member) {
            return Err(Error::new(format!(
                "layer {member} missing from the archive"
            )));
        }
        let size = files.reader(&member)?.1;
        layers.push(Layer {
            diff_id,
            blob: None,
            member,
            size,
        });
    }
    Ok(Image {
        files,
        config,
        layers,
    })
}

/// GOARCH name of this machine, as image platforms spell it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
