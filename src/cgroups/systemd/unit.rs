//! linux.cgroupsPath in runc's `--systemd-cgroup` form, `slice:prefix:name`:
//! the unit to create, its parent slice, and the cgroup path systemd will
//! give it.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The systemd unit holding the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `<prefix>-<name>.scope`, or a `.slice` name.
    pub unit: String,
    /// The parent slice (`system.slice`, `-.slice` for the root).
    pub slice: String,
    /// Owned by the caller's systemd instance (rootless), not the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
}

impl Unit {
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// Parses the systemd form of linux.cgroupsPath. Empty or absent means
/// `system.slice:kist:<id>` (runc uses `runc`), and an empty slice
/// `system.slice`; for a `user` instance `user.slice` instead, as runc's
/// rootless driver. Returns the unit and its cgroup path relative to its
/// manager's cgroup (`/system.slice/kist-<id>.scope`).
pub fn parse(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<(Unit, String)> {
    let raw = cgroups_path.filter(|p| !p.is_empty());
    let (slice, prefix, name) = match raw {
        None => ("", "kist", id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            if parts.len() != 3 {
                return Err(Error::new(format!(
                    "linux.cgroupsPath {p:?}: with --systemd-cgroup it must have the form \"slice:prefix:name\""
                )));
            }
            (parts[0], parts[1], parts[2])
        }
    };
    let what = raw.unwrap_or("");
    // Unit names: systemd's allowed characters, so no path or escape can
    // reach outside the slice.
    let bad = |s: &str| {
        s.contains(|c: char| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)))
            || s == "."
            || s == ".."
    };
    if name.is_empty() || bad(name) || bad(prefix) {
        return Err(Error::new(format!(
            "linux.cgroupsPath {what:?}: invalid systemd unit prefix or name (letters, digits and -_.\\@ only)"
        )));
    }
    let slice = if slice.is_empty() {
        if user {
            "user.slice"
        } else {
            "system.slice"
        }
    } else {
        slice
    };
    let parent = expand_slice(slice)
        .map_err(|e| Error::new(format!("linux.cgroupsPath {what:?}: slice {slice:?}: {e}")))?;
    let (unit, path) = if name.ends_with(".slice") {
        // A slice unit: systemd places it by its own name.
        let p = expand_slice(name)
            .map_err(|e| Error::new(format!("linux.cgroupsPath {what:?}: {name:?}: {e}")))?;
        (name.to_string(), p)
    } else {
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        let p = format!("{}/{unit}", parent.trim_end_matches('/'));
        (unit, p)
    };
    if unit.len() > 255 {
        return Err(Error::new(format!(
            "linux.cgroupsPath {what:?}: unit name {unit:?} longer than systemd's 255 bytes"
        )));
    }
    Ok((
        Unit {
            unit,
            slice: slice.to_string(),
            user,
        },
        path,
    ))
}

/// systemd's slice nesting: `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`.
pub fn expand_slice(slice: &str) -> std::result::Result<String, String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err("a slice name must end in .slice".into());
    };
    if slice.contains('/') {
        return Err("a slice name cannot contain /".into());
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for comp in base.split('-') {
        if comp.is_empty() {
            return Err("a slice name cannot have empty dash-separated parts".into());
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(comp);
        out.push('/');
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: Option<&str>, id: &str) -> String {
        parse(p, id, false).unwrap().1
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            path(Some("machine.slice:libpod:abc"), "x"),
            "/machine.slice/libpod-abc.scope"
        );
        assert_eq!(
            path(Some("kubepods-besteffort-pod1.slice:cri-containerd:c1"), "x"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-c1.scope"
        );
        assert_eq!(path(None, "c9"), "/system.slice/kist-c9.scope");
        assert_eq!(path(Some(":p:n"), "x"), "/system.slice/p-n.scope");
        assert_eq!(path(Some("-.slice::n"), "x"), "/n.scope");
        assert_eq!(
            path(Some("system.slice:x:a-b.slice"), "x"),
            "/a.slice/a-b.slice"
        );
        let (u, p) = parse(None, "c9", true).unwrap();
        assert_eq!(p, "/user.slice/kist-c9.scope");
        assert_eq!((u.slice.as_str(), u.user), ("user.slice", true));
        assert_eq!(
            parse(Some(":libpod:abc"), "x", true).unwrap().1,
            "/user.slice/libpod-abc.scope"
        );
        let (u, _) = parse(Some("system.slice:docker:abc"), "x", false).unwrap();
        assert_eq!(u.unit, "docker-abc.scope");
        assert_eq!(u.slice, "system.slice");
        assert!(!u.is_slice());
        for bad in [
            "/a/b",
            "a--b.slice:p:n",
            "a.slice:p:../n",
            "a.scope:p:n",
            "a.slice:p:n/m",
            "a.slice:p q:n",
            "a.slice:p",
            "a.slice:p:",
        ] {
            let e = parse(Some(bad), "x", false).unwrap_err();
            assert!(e.to_string().contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }
}
