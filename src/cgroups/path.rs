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
