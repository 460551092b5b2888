//! linux.cgroupsPath resolution: what runc 1.1's cgroupfs driver does with it,
//! cleaned lexically so that no `..` can climb out of the hierarchy (absolute
//! paths) or out of the runtime's own cgroup (relative paths).

use crate::error::{Error, Result};

/// Where the container's cgroup goes inside each hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Relative to each hierarchy's root; no leading `/`, never empty.
    Absolute(String),
    /// Relative to the runtime's own cgroup; no leading `/`, never empty.
    Relative(String),
}

/// Lexically cleans `p` as if it were rooted at `/`: `.` and empty components
/// vanish, `..` removes the previous component and stops at the root.
/// Returns the components joined by `/`, without a leading `/`.
pub fn clean_rooted(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// Resolves linux.cgroupsPath the way runc does without --systemd-cgroup:
/// absolute paths are taken from each hierarchy root, relative ones from the
/// runtime's own cgroup, and an absent or empty path means the relative path
/// `<id>` (runc's Name=id, Parent="").
pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Placement> {
    let raw = match cgroups_path {
        Some(p) if !p.is_empty() => p,
        _ => {
            let cleaned = clean_rooted(id);
            if cleaned.is_empty() || cleaned != id {
                return Err(Error::new(format!(
                    "linux.cgroupsPath: default cgroup path from container id {id:?} is not a single path component"
                )));
            }
            return Ok(Placement::Relative(cleaned));
        }
    };
    if raw.contains('\0') {
        return Err(Error::new(format!(
            "linux.cgroupsPath {raw:?}: contains a NUL byte"
        )));
    }
    let cleaned = clean_rooted(raw);
    if cleaned.is_empty() {
        // The container would share (and on delete try to remove) the
        // hierarchy root or the runtime's own cgroup.
        return Err(Error::new(format!(
            "linux.cgroupsPath {raw:?}: resolves to {}, not to a cgroup of its own",
            if raw.starts_with('/') {
                "the hierarchy root"
            } else {
                "the runtime's own cgroup"
            }
        )));
    }
    Ok(if raw.starts_with('/') {
        Placement::Absolute(cleaned)
    } else {
        Placement::Relative(cleaned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        assert_eq!(clean_rooted("/a/b/../c"), "a/c");
        assert_eq!(clean_rooted("../../x"), "x");
        assert_eq!(clean_rooted("/a/../../../etc"), "etc");
        assert_eq!(clean_rooted("a//./b/"), "a/b");
        assert_eq!(clean_rooted("/.."), "");
    }

    #[test]
    fn resolve_forms() {
        assert_eq!(
            resolve(Some("/foo/bar"), "x").unwrap(),
            Placement::Absolute("foo/bar".into())
        );
        assert_eq!(
            resolve(Some("foo/../../bar"), "x").unwrap(),
            Placement::Relative("bar".into())
        );
        assert_eq!(
            resolve(None, "c1").unwrap(),
            Placement::Relative("c1".into())
        );
        assert_eq!(
            resolve(Some(""), "c1").unwrap(),
            Placement::Relative("c1".into())
        );
        assert_eq!(
            resolve(Some("/../../../sys"), "x").unwrap(),
            Placement::Absolute("sys".into())
        );
        let e = resolve(Some("/a/.."), "x").unwrap_err();
        assert!(e.to_string().contains("linux.cgroupsPath"), "{e}");
        assert!(resolve(Some(".."), "x").is_err());
        assert!(resolve(None, "..").is_err());
        assert!(resolve(Some("a\0b"), "x").is_err());
    }
}

/// runc's `--systemd-cgroup` form of linux.cgroupsPath, `slice:prefix:name`,
/// turned into the cgroupfs path systemd would give the unit (kist does not
/// talk to systemd over D-Bus; it creates the same directories itself).
/// An empty path means `system.slice:kist:<id>` (runc uses `runc`).
/// `a-b.slice` expands to `/a.slice/a-b.slice`; a name ending in `.slice`
/// is used as is, anything else becomes `<prefix>-<name>.scope`. The result
/// is an absolute cgroupsPath for [`super::Cgroup::new`].
#[allow(dead_code)] // through Cgroup::new_systemd
pub fn systemd_to_cgroupfs(cgroups_path: Option<&str>, id: &str) -> Result<String> {
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
    let bad = |s: &str| s.contains('/') || s.contains('\0') || s == "." || s == "..";
    if name.is_empty() || bad(name) || bad(prefix) {
        return Err(Error::new(format!(
            "linux.cgroupsPath {what:?}: invalid systemd unit prefix or name"
        )));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut out = expand_slice(slice)
        .map_err(|e| Error::new(format!("linux.cgroupsPath {what:?}: slice {slice:?}: {e}")))?;
    // a name ending in .slice is a slice unit placed in the parent slice,
    // as runc does
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    if !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(&unit);
    Ok(out)
}

/// systemd's slice nesting: `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`.
#[allow(dead_code)] // through Cgroup::new_systemd
fn expand_slice(slice: &str) -> std::result::Result<String, String> {
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
mod systemd_tests {
    use super::*;

    #[test]
    fn systemd_paths() {
        assert_eq!(
            systemd_to_cgroupfs(Some("machine.slice:libpod:abc"), "x").unwrap(),
            "/machine.slice/libpod-abc.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs(Some("kubepods-besteffort-pod1.slice:cri-containerd:c1"), "x").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-c1.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs(None, "c9").unwrap(),
            "/system.slice/kist-c9.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs(Some(":p:n"), "x").unwrap(),
            "/system.slice/p-n.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs(Some("-.slice::n"), "x").unwrap(),
            "/n.scope"
        );
        assert!(systemd_to_cgroupfs(Some("/a/b"), "x").is_err());
        assert!(systemd_to_cgroupfs(Some("a--b.slice:p:n"), "x").is_err());
        assert!(systemd_to_cgroupfs(Some("a.slice:p:../n"), "x").is_err());
        assert!(systemd_to_cgroupfs(Some("a.scope:p:n"), "x").is_err());
    }
}
