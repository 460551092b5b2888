//! Loading a bundle's `config.json`: bounded size, a parse error that names
//! the field at fault, and the checks the rest of the runtime relies on.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Far above any real configuration (engines' seccomp profiles are ~100 KiB),
/// low enough that a runaway file cannot exhaust memory.
const MAX_CONFIG_BYTES: u64 = 32 << 20;

pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Reads `<bundle>/config.json` and resolves the root filesystem.
pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let dir = if bundle.as_os_str().is_empty() {
        std::env::current_dir().map_err(|e| Error::io("get current directory", e))?
    } else {
        bundle.to_path_buf()
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::io(format!("bundle {}", dir.display()), e))?;
    let path = dir.join("config.json");
    let spec = load_spec(&path)?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::new(format!("{}: root: missing", path.display())))?;
    let rootfs = dir.join(root.path());
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| Error::io(format!("root.path {}", rootfs.display()), e))?;
    if !rootfs.is_dir() {
        return Err(Error::new(format!(
            "root.path {}: not a directory",
            rootfs.display()
        )));
    }
    Ok(Bundle { dir, rootfs, spec })
}

pub fn load_spec(path: &Path) -> Result<Spec> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let mut data = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    if data.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::new(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        )));
    }
    let spec = parse_spec(&data).map_err(|e| e.context(path.display()))?;
    check_kernel_capabilities(&spec, &data)?;
    Ok(spec)
}

pub fn parse_spec(data: &[u8]) -> Result<Spec> {
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(Error::new("empty configuration")),
        // serde would also read a struct from an array: `[]` must not pass
        // as an all-default configuration.
        Some(b'{') => {}
        Some(_) => return Err(Error::new("invalid configuration: not a JSON object")),
    }
    match serde_json::from_slice::<Spec>(data) {
        Ok(spec) => Ok(spec),
        Err(e) => {
            // Slow path only on error: find which field is at fault so the
            // message says `linux.namespaces[2]` rather than a byte offset.
            let doc = serde_json::from_slice::<Value>(data).ok();
            let fault = doc.as_ref().and_then(|v| Some((v, locate_fault(v)?)));
            match fault {
                Some((doc, path)) if !path.is_empty() => {
                    let f = render(&path);
                    // The parser's wording ("no variant for CAP_X (converted
                    // to X)") says nothing a person can act on.
                    if f.starts_with("process.capabilities.") {
                        if let Some(Value::String(name)) = get(doc, &path) {
                            return Err(Error::new(format!("{f}: unknown capability {name:?}")));
                        }
                    }
                    Err(Error::new(format!("{f}: {e}")))
                }
                _ => Err(Error::new(format!("invalid configuration: {e}"))),
            }
        }
    }
}

/// Walks down the document: a child whose removal makes the document parse
/// holds the fault. Returns the deepest such path.
fn locate_fault(doc: &Value) -> Option<Vec<Seg>> {
    let mut path: Vec<Seg> = Vec::new();
    'descend: loop {
        let node = get(doc, &path)?;
        let children: Vec<Seg> = match node {
            Value::Object(m) => m.keys().cloned().map(Seg::Key).collect(),
            Value::Array(a) => (0..a.len()).map(Seg::Index).collect(),
            _ => break,
        };
        for c in children {
            let mut trial = doc.clone();
            let mut p = path.clone();
            p.push(c.clone());
            remove(&mut trial, &p);
            if serde_json::from_value::<Spec>(trial).is_ok() {
                path = p;
                continue 'descend;
            }
        }
        break;
    }
    Some(path)
}

/// A capability the running kernel does not have (above
/// /proc/sys/kernel/cap_last_cap: CAP_BPF before Linux 5.8...) is refused
/// before anything is created, with the field and the kernel's highest one.
/// runc 1.1 drops such names with a warning; the spec says MUST refuse.
fn check_kernel_capabilities(spec: &Spec, data: &[u8]) -> Result<()> {
    let Some(c) = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
    else {
        return Ok(());
    };
    let Some((set, name, highest)) = crate::process::capabilities::kernel_lacks(c) else {
        return Ok(());
    };
    // Rare: read the document again for the index of that name.
    let index = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|doc| {
            doc["process"]["capabilities"][set]
                .as_array()?
                .iter()
                .position(|n| n.as_str() == Some(name.as_str()))
        })
        .map(|i| format!("[{i}]"))
        .unwrap_or_default();
    Err(Error::new(format!(
        "process.capabilities.{set}{index}: {name:?} is not supported by this kernel (highest: {highest})"
    )))
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(*i),
    })
}

fn remove(v: &mut Value, path: &[Seg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for s in parent {
        let next = match s {
            Seg::Key(k) => cur.get_mut(k),
            Seg::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (cur, last) {
        (Value::Object(m), Seg::Key(k)) => {
            m.remove(k);
        }
        (Value::Array(a), Seg::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Checks that need the whole configuration, done before anything is created.
pub fn validate(spec: &Spec) -> Result<()> {
    if let Some(linux) = spec.linux() {
        let mut seen = Vec::new();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if seen.contains(&ns.typ()) {
                return Err(Error::new(format!(
                    "linux.namespaces[{i}]: namespace type {:?} listed twice",
                    ns.typ()
                )));
            }
            seen.push(ns.typ());
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    return Err(Error::new(format!(
                        "linux.namespaces[{i}].path {}: must be absolute",
                        p.display()
                    )));
                }
            }
        }
        let has = |t| seen.contains(&t);
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_maps && !has(LinuxNamespaceType::User) {
            return Err(Error::new(
                "linux.uidMappings: mappings given without a user namespace in linux.namespaces",
            ));
        }
        if linux.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
            return Err(Error::new(
                "linux.timeOffsets: offsets given without a time namespace in linux.namespaces",
            ));
        }
        if linux.sysctl().as_ref().is_some_and(|s| {
            s.keys().any(|k| k.starts_with("net.")) && !has(LinuxNamespaceType::Network)
        }) {
            return Err(Error::new(
                "linux.sysctl: net.* keys need a new network namespace",
            ));
        }
    }
    if let Some(p) = spec.process() {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::new("process.args: must not be empty"));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::new(format!(
                "process.cwd {}: must be an absolute path",
                p.cwd().display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_field() {
        let doc = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let err = parse_spec(doc).unwrap_err().to_string();
        assert!(err.starts_with("linux.namespaces[1]"), "{err}");
        let doc =
            br#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_CHOWN","CAP_NOPE"]}}}"#;
        let err = parse_spec(doc).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"process.capabilities.bounding[1]: unknown capability "CAP_NOPE""#
        );
    }

    #[test]
    fn garbage_never_panics() {
        for doc in [
            &b""[..],
            b"   ",
            b"{",
            b"[]",
            b"null",
            b"{\"ociVersion\":",
            b"\xff\xfe",
        ] {
            assert!(parse_spec(doc).is_err());
        }
    }
}
