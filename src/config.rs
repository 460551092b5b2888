//! Loading a bundle's `config.json`: bounded size, a parse error that names
//! the field at fault, and the checks the rest of the runtime relies on.

use crate::error::{Error, ErrorKind, Result};
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
        .ok_or_else(|| invalid("root", format!("{}: root: missing", path.display())))?;
    let rootfs = dir.join(root.path());
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| Error::io(format!("root.path {}", rootfs.display()), e))?;
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("root.path {}: not a directory", rootfs.display()),
        ));
    }
    Ok(Bundle { dir, rootfs, spec })
}

pub fn load_spec(path: &Path) -> Result<Spec> {
    let data = read_config(path)?;
    let spec = parse_spec(&data).map_err(|e| e.context(path.display()))?;
    check_kernel_capabilities(&spec, &data)?;
    Ok(spec)
}

/// The bytes of a config file, refused above `MAX_CONFIG_BYTES`.
pub fn read_config(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    // Sized from the file (one read instead of a doubling series); the
    // bound still comes from what is read.
    let size = f
        .metadata()
        .map_or(0, |m| m.len().min(MAX_CONFIG_BYTES + 1));
    let mut data = Vec::with_capacity(size as usize + 1);
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
    Ok(data)
}

/// A config error, matchable as `ErrorKind::InvalidConfig` with its field
/// (empty: the document as a whole).
fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::new(msg).with_kind(ErrorKind::InvalidConfig {
        field: field.into(),
    })
}

pub fn parse_spec(data: &[u8]) -> Result<Spec> {
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(invalid("", "empty configuration")),
        // serde would also read a struct from an array: `[]` must not pass
        // as an all-default configuration.
        Some(b'{') => {}
        Some(_) => return Err(invalid("", "invalid configuration: not a JSON object")),
    }
    match serde_json::from_slice::<Spec>(data) {
        Ok(spec) => Ok(spec),
        Err(e) => {
            // Slow path only on error: find which field is at fault so the
            // message says `linux.namespaces[2]` rather than a byte offset.
            let doc = serde_json::from_slice::<Value>(data).ok();
            let fault = doc.as_ref().and_then(|v| Some((v, locate_fault(v)?)));
            match fault {
                Some((doc, path)) if !path.is_empty() => Err(invalid(
                    render(&path),
                    format!(
                        "{}: {}",
                        render(&path),
                        fault_message(doc, &path, &e.to_string())
                    ),
                )),
                _ => Err(invalid("", format!("invalid configuration: {e}"))),
            }
        }
    }
}

/// What is wrong with the field at `path`, given the parser's `err`.
fn fault_message(doc: &Value, path: &[Seg], err: &str) -> String {
    // The parser's wording ("no variant for CAP_X (converted to X)") says
    // nothing a person can act on.
    if render(path).starts_with("process.capabilities.") {
        if let Some(Value::String(name)) = get(doc, path) {
            return format!("unknown capability {name:?}");
        }
    }
    err.to_string()
}

/// Walks down the document: a child whose removal makes the document parse,
/// or changes the error, holds the (first) fault. Returns the deepest such
/// path.
fn locate_fault(doc: &Value) -> Option<Vec<Seg>> {
    let first = serde_json::from_value::<Spec>(doc.clone())
        .err()?
        .to_string();
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
            match serde_json::from_value::<Spec>(trial) {
                Err(e) if e.to_string() == first => {}
                // Taking out a required field is a fault of its own, not a
                // sign that the field held the one looked for.
                Err(e)
                    if first.starts_with("missing field")
                        && e.to_string().starts_with("missing field") => {}
                _ => {
                    path = p;
                    continue 'descend;
                }
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
pub fn check_kernel_capabilities(spec: &Spec, data: &[u8]) -> Result<()> {
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

/// Every field of `data` that does not parse, as (field path, message), and
/// the configuration with those fields taken out (or stood in for) when what
/// is left parses, for the offline checks of `kist check`.
pub fn parse_all(data: &[u8]) -> (Option<Spec>, Vec<(String, String)>) {
    let mut doc = match parse_spec(data) {
        Ok(spec) => return (Some(spec), Vec::new()),
        Err(e) => match serde_json::from_slice::<Value>(data) {
            Ok(v @ Value::Object(_)) => v,
            _ => return (None, vec![(String::new(), e.to_string())]),
        },
    };
    let mut faults = Vec::new();
    // Bounded: each round takes a field out of the document.
    for _ in 0..256 {
        let err = match serde_json::from_value::<Spec>(doc.clone()) {
            Ok(spec) => return (Some(spec), faults),
            Err(e) => e.to_string(),
        };
        let path = locate_fault(&doc).unwrap_or_default();
        faults.push((render(&path), fault_message(&doc, &path, &err)));
        if path.is_empty() {
            break;
        }
        // A required field cannot just go: stand in a value of another type
        // whose fault, if any, lies elsewhere (not here nor above); failing
        // that, do the same one level up (an array element goes whole).
        let fixed = (1..=path.len()).rev().find_map(|depth| {
            let at = &path[..depth];
            [
                None,
                Some(Value::String(String::new())),
                Some(Value::from(0)),
                Some(Value::Array(Vec::new())),
                Some(Value::Object(Default::default())),
                Some(Value::Bool(false)),
            ]
            .into_iter()
            .find_map(|stand_in| {
                let mut trial = doc.clone();
                match stand_in {
                    None => remove(&mut trial, at),
                    Some(v) => set(&mut trial, at, v),
                }
                match serde_json::from_value::<Spec>(trial.clone()) {
                    Ok(_) => Some(trial),
                    Err(e) if e.to_string() == err => None,
                    Err(_) => {
                        let next = locate_fault(&trial).unwrap_or_default();
                        (!path.starts_with(&next)).then_some(trial)
                    }
                }
            })
        });
        match fixed {
            Some(d) => doc = d,
            None => remove(&mut doc, &path),
        }
    }
    (None, faults)
}

fn set(v: &mut Value, path: &[Seg], new: Value) {
    if let Some(cur) = get_mut(v, path) {
        *cur = new;
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get_mut(k),
        Seg::Index(i) => v.get_mut(*i),
    })
}

#[derive(Clone, PartialEq)]
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
    let Some(cur) = get_mut(v, parent) else {
        return;
    };
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
    match problems(spec).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every failure of `validate`, not only the first (for `kist check`).
pub fn problems(spec: &Spec) -> Vec<Error> {
    let mut out = Vec::new();
    if let Some(linux) = spec.linux() {
        let mut seen = Vec::new();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if seen.contains(&ns.typ()) {
                out.push(invalid(
                    format!("linux.namespaces[{i}]"),
                    format!(
                        "linux.namespaces[{i}]: namespace type {:?} listed twice",
                        ns.typ()
                    ),
                ));
                continue;
            }
            seen.push(ns.typ());
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    out.push(invalid(
                        format!("linux.namespaces[{i}].path"),
                        format!(
                            "linux.namespaces[{i}].path {}: must be absolute",
                            p.display()
                        ),
                    ));
                }
            }
        }
        let has = |t| seen.contains(&t);
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_maps && !has(LinuxNamespaceType::User) {
            out.push(invalid(
                "linux.uidMappings",
                "linux.uidMappings: mappings given without a user namespace in linux.namespaces",
            ));
        }
        if linux.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
            out.push(invalid(
                "linux.timeOffsets",
                "linux.timeOffsets: offsets given without a time namespace in linux.namespaces",
            ));
        }
        if linux.sysctl().as_ref().is_some_and(|s| {
            s.keys().any(|k| k.starts_with("net.")) && !has(LinuxNamespaceType::Network)
        }) {
            out.push(invalid(
                "linux.sysctl",
                "linux.sysctl: net.* keys need a new network namespace",
            ));
        }
    }
    if let Some(p) = spec.process() {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            out.push(invalid("process.args", "process.args: must not be empty"));
        }
        if !p.cwd().is_absolute() {
            out.push(invalid(
                "process.cwd",
                format!(
                    "process.cwd {}: must be an absolute path",
                    p.cwd().display()
                ),
            ));
        }
    }
    out
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
    fn parse_all_finds_every_fault() {
        let doc = br#"{"ociVersion":"1.0.2","hostname":7,
            "process":{"cwd":5,"args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let (spec, faults) = parse_all(doc);
        assert!(spec.is_some());
        let fields: Vec<&str> = faults.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["hostname", "linux.namespaces[1].type", "process.cwd"],
            "{faults:?}"
        );
        let (spec, faults) = parse_all(b"[]");
        assert!(spec.is_none() && faults.len() == 1);
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
