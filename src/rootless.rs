//! Rootless mode: kist run by an ordinary user, or as uid 0 of a user
//! namespace that is not the initial one (rootless podman runs its runtime
//! that way, with no real privileges).
//!
//! The decision is runc's (`--rootless true|false|auto`, auto by default):
//! rootless when the effective uid is not 0, or when it is 0 inside a user
//! namespace other than the initial one. What depends on it:
//! - the default `--root` (`$XDG_RUNTIME_DIR/kist`, [`default_root`]);
//! - cgroups: a hierarchy the user may not write is left out instead of
//!   failing `create`, when the config asks for no limits there
//!   (`Cgroup::create_reachable`);
//! - with a non-zero euid (`euid_rootless`): the config must have a user
//!   namespace (`check_config`), mount sources are opened inside it
//!   (`rootfs::Sources`), and the id maps are written from the unprivileged
//!   side (`namespaces::write_id_maps_rootless`).
//!
//! A real root never pays for the user namespace check: only the euid is
//! read up front; /proc/self/uid_map is read when a cgroup turns out not to
//! be writable, or when the default root is chosen with XDG_RUNTIME_DIR set.

use std::path::PathBuf;
use std::sync::OnceLock;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// `--rootless`: Some(true/false) when forced, None for auto.
static FLAG: OnceLock<Option<bool>> = OnceLock::new();
static ACTIVE: OnceLock<bool> = OnceLock::new();

/// Records `--rootless VALUE` (runc accepts Go's booleans and "auto").
pub fn set_flag(v: Option<&str>) -> Result<()> {
    let parsed = match v {
        None | Some("auto") => None,
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Some(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Some(false),
        Some(other) => {
            return Err(Error::new(format!(
                "--rootless {other:?}: expected true, false or auto"
            )))
        }
    };
    let _ = FLAG.set(parsed);
    Ok(())
}

/// The effective uid is not 0: no privileges on the host at all. Read
/// once per process (a forked init inherits the answer, which is about the
/// runtime's privileges, not the init's uid in its user namespace).
pub fn euid_rootless() -> bool {
    static EUID_ROOTLESS: OnceLock<bool> = OnceLock::new();
    *EUID_ROOTLESS.get_or_init(|| !nix::unistd::geteuid().is_root())
}

/// Rootless mode as `--rootless` and the process's credentials decide.
pub fn active() -> bool {
    *ACTIVE.get_or_init(|| match FLAG.get().copied().flatten() {
        Some(forced) => forced,
        None => euid_rootless() || in_user_namespace(),
    })
}

/// Is this process in a user namespace other than the initial one? The
/// initial one maps every id onto itself (runc's `RunningInUserNS`).
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => {
            let f: Vec<&str> = m.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// The uid our euid maps to in the initial user namespace (what a peer
/// there, e.g. the D-Bus daemon checking EXTERNAL auth, sees): inside a
/// user namespace (kist as uid 0 under rootless podman) the id it maps to
/// outside, as runc's `DetectUID`; the euid itself otherwise.
pub fn host_euid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| map_outside(&m, euid))
        .unwrap_or(euid)
}

/// `id` of this namespace as the parent namespace sees it, from a
/// `/proc/PID/uid_map` text (`inside outside count` lines).
fn map_outside(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let id = u64::from(id);
        (id >= inside && id - inside < count)
            .then(|| u32::try_from(outside + (id - inside)).ok())
            .flatten()
    })
}

/// The default state root: `$XDG_RUNTIME_DIR/kist` for an ordinary user
/// (and for uid 0 of a user namespace unless USER is root), as runc's
/// `$XDG_RUNTIME_DIR/runc`; `/run/kist` otherwise.
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    if let Some(xdg) = xdg {
        let honor = euid_rootless()
            || (in_user_namespace() && std::env::var("USER").map_or(true, |u| u != "root"));
        if honor {
            return PathBuf::from(xdg).join("kist");
        }
    }
    PathBuf::from("/run/kist")
}

/// What a config must have to be run with a non-zero euid (runc's
/// rootless validation): a new user namespace with both mappings, no
/// supplementary groups (setgroups is denied to an unprivileged mapping).
pub fn check_config(spec: &Spec) -> Result<()> {
    if !euid_rootless() {
        return Ok(());
    }
    let euid = nix::unistd::geteuid();
    let linux = spec.linux().as_ref();
    let userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        });
    if !userns {
        return Err(Error::new(format!(
            "linux.namespaces: a rootless container (kist run by uid {euid}) needs a new user namespace (see `kist spec --rootless`)"
        )));
    }
    for (field, maps) in [
        ("uidMappings", linux.and_then(|l| l.uid_mappings().as_ref())),
        ("gidMappings", linux.and_then(|l| l.gid_mappings().as_ref())),
    ] {
        if maps.is_none_or(|m| m.is_empty()) {
            return Err(Error::new(format!(
                "linux.{field}: a rootless container (kist run by uid {euid}) needs at least one mapping"
            )));
        }
    }
    Ok(())
}

/// One kind of id (uid or gid) as the rootless checks and writes see it.
struct IdKind {
    field: &'static str,
    file: &'static str,
    subid_file: &'static str,
    helper: &'static str,
    /// The caller's own id (euid or egid).
    own: u32,
}

fn kinds() -> [IdKind; 2] {
    [
        IdKind {
            field: "linux.uidMappings",
            file: "uid_map",
            subid_file: "/etc/subuid",
            helper: "newuidmap",
            own: nix::unistd::geteuid().as_raw(),
        },
        IdKind {
            field: "linux.gidMappings",
            file: "gid_map",
            subid_file: "/etc/subgid",
            helper: "newgidmap",
            own: nix::unistd::getegid().as_raw(),
        },
    ]
}

/// Just the caller's own id, once: the kernel lets an unprivileged
/// process write that mapping itself (a gid one after `setgroups` deny).
fn only_own(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.host_id() == own && m.size() == 1)
}

/// The subordinate ranges (start, count) of the caller in /etc/subuid or
/// /etc/subgid: lines `name:start:count` or `uid:start:count`.
fn subid_ranges(file: &str) -> Vec<(u64, u64)> {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    let uid = uid.as_raw().to_string();
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            (owner == uid || Some(owner) == name.as_deref())
                .then(|| Some((start.parse().ok()?, count.parse().ok()?)))
                .flatten()
        })
        .collect()
}

/// With a non-zero euid, every mapping must be one the kernel or the
/// setuid newuidmap/newgidmap will write: the caller's own id, or ids
/// inside its /etc/subuid (/etc/subgid) ranges. Checked before anything
/// exists, so the error names the entry.
pub fn check_id_maps(spec: &Spec) -> Result<()> {
    if !euid_rootless() {
        return Ok(());
    }
    let linux = spec.linux().as_ref();
    let [u, g] = kinds();
    for (k, maps) in [
        (u, linux.and_then(|l| l.uid_mappings().clone())),
        (g, linux.and_then(|l| l.gid_mappings().clone())),
    ] {
        let maps = maps.unwrap_or_default();
        if only_own(&maps, k.own) {
            continue;
        }
        let ranges = subid_ranges(k.subid_file);
        for (i, m) in maps.iter().enumerate() {
            let (start, size) = (u64::from(m.host_id()), u64::from(m.size()));
            let own = size == 1 && m.host_id() == k.own;
            let delegated = ranges
                .iter()
                .any(|(s, c)| start >= *s && start + size <= s + c);
            if !own && !delegated {
                let have = if ranges.is_empty() {
                    "none".to_string()
                } else {
                    ranges
                        .iter()
                        .map(|(s, c)| format!("{s}-{}", s + c - 1))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::new(format!(
                    "{}[{i}]: hostID {start} size {size} is not allowed to uid {}: only its own id {} or ids of its {} ranges ({have})",
                    k.field,
                    nix::unistd::geteuid(),
                    k.own,
                    k.subid_file,
                )));
            }
        }
        if which(k.helper).is_none() {
            return Err(Error::new(format!(
                "{}: several ids (or not only the caller's own) need {} (Debian package uidmap), not found in PATH",
                k.field, k.helper
            )));
        }
    }
    Ok(())
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into())
        .to_string_lossy()
        .split(':')
        .map(|d| PathBuf::from(d).join(prog))
        .find(|p| p.is_file())
}

/// The id maps of a new user namespace written from the unprivileged side:
/// the caller's single id directly (gid after writing `deny` to
/// setgroups, as the kernel requires and runc does), anything else through
/// the setuid newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
pub fn write_id_maps(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let [u, g] = kinds();
    // gid first: newgidmap refuses once setgroups is denied, and the deny
    // must precede a direct gid_map write.
    for (k, maps) in [(g, gids), (u, uids)] {
        if maps.is_empty() {
            continue;
        }
        let path = format!("/proc/{pid}/{}", k.file);
        if only_own(maps, k.own) {
            if k.file == "gid_map" {
                let sg = format!("/proc/{pid}/setgroups");
                std::fs::write(&sg, "deny")
                    .map_err(|e| Error::io(format!("{}: write {sg}", k.field), e))?;
            }
            let m = &maps[0];
            std::fs::write(&path, format!("{} {} 1\n", m.container_id(), m.host_id()))
                .map_err(|e| Error::io(format!("{}[0]: write {path}", k.field), e))?;
            continue;
        }
        let mut cmd = std::process::Command::new(k.helper);
        cmd.arg(pid.to_string());
        for m in maps {
            cmd.args([m.container_id(), m.host_id(), m.size()].map(|v| v.to_string()));
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::io(format!("{}: run {}", k.field, k.helper), e))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "{}: {} {pid} ...: {}: {}",
                k.field,
                k.helper,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// runc's `spec --rootless` changes (its specconv.ToRootless): a user
/// namespace mapping the caller's euid and egid to 0 instead of a network
/// namespace, /sys bind-mounted read-only (sysfs needs a network namespace
/// owned by the user namespace), no uid=/gid= mount options (those ids are
/// not mapped), and no `linux.resources` (no cgroup is writable for sure).
pub fn to_rootless_spec(v: &mut serde_json::Value, uid: u32, gid: u32) {
    use serde_json::json;
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({ "type": "user" }));
    }
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    if let Some(l) = linux.as_object_mut() {
        l.remove("resources");
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({
                    "destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                });
            } else if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
                opts.retain(|o| {
                    let o = o.as_str().unwrap_or("");
                    !o.starts_with("uid=") && !o.starts_with("gid=")
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_uid_through_a_user_namespace() {
        let init = "         0          0 4294967295\n";
        assert_eq!(map_outside(init, 1000), Some(1000));
        // rootless podman: 0 is the user, 1.. its subordinate range
        let podman = "         0       1001          1\n         1     100000      65536\n";
        assert_eq!(map_outside(podman, 0), Some(1001));
        assert_eq!(map_outside(podman, 5), Some(100004));
        assert_eq!(map_outside(podman, 70000), None);
    }

    #[test]
    fn flag_values() {
        for ok in ["true", "false", "auto", "1", "0", "TRUE"] {
            assert!(set_flag(Some(ok)).is_ok(), "{ok}");
        }
        let e = set_flag(Some("maybe")).unwrap_err().to_string();
        assert!(e.contains("--rootless") && e.contains("auto"), "{e}");
    }

    #[test]
    fn only_own_single_mapping() {
        let m = |c: u32, h: u32, s: u32| {
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(s)
                .build()
                .unwrap()
        };
        assert!(only_own(&[m(0, 1000, 1)], 1000));
        assert!(!only_own(&[m(0, 1000, 2)], 1000));
        assert!(!only_own(&[m(0, 1001, 1)], 1000));
        assert!(!only_own(&[m(0, 1000, 1), m(1, 100000, 10)], 1000));
    }
}
