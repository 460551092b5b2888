//! Id-mapped mounts (runtime-spec 1.2: the `idmap`/`ridmap` options and
//! `mounts[].uidMappings`/`gidMappings`): what a mount asks for, checked with
//! the field named, and the user namespace that carries its mapping.
//!
//! The mapping is applied by the runtime on the host side (see sources.rs):
//! MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the filesystem's own user
//! namespace, which the container's root never has for host filesystems.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::options::MountOptions;
use crate::error::{Context, Error, Result};

/// The kernel's limit on the lines of a uid_map/gid_map.
const MAX_EXTENTS: usize = 340;

/// An id-mapped mount request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub uids: Vec<LinuxIdMapping>,
    pub gids: Vec<LinuxIdMapping>,
    /// `ridmap`: every mount of an rbind tree, not only its top.
    pub recursive: bool,
}

/// What mount `i` asks for: None when it is not id-mapped. Explicit mappings
/// without an option count as `idmap` (the spec only says the option
/// SHOULD be there); bare `idmap` takes the container's own mappings, as
/// runc does.
pub fn request(spec: &Spec, i: usize, m: &Mount, opts: &MountOptions) -> Result<Option<Request>> {
    let given = |v: &Option<Vec<LinuxIdMapping>>| v.clone().filter(|v| !v.is_empty());
    let (uids, gids) = (given(m.uid_mappings()), given(m.gid_mappings()));
    if !opts.idmap && uids.is_none() && gids.is_none() {
        return Ok(None);
    }
    if !opts.is_bind() {
        let typ = m.typ().clone().unwrap_or_default();
        return Err(Error::new(format!(
            "mounts[{i}].options: id-mapped mount of type {typ:?}: only bind mounts can be id-mapped"
        )));
    }
    let (uids, gids) = match (uids, gids) {
        (Some(u), Some(g)) => (u, g),
        (None, None) => {
            let linux = spec.linux().as_ref();
            let u = linux.and_then(|l| given(l.uid_mappings()));
            let g = linux.and_then(|l| given(l.gid_mappings()));
            match (u, g) {
                (Some(u), Some(g)) => (u, g),
                _ => {
                    return Err(Error::new(format!(
                        "mounts[{i}].options: idmap without mounts[{i}].uidMappings/gidMappings \
                         takes the container's linux.uidMappings/gidMappings, which are not set \
                         (the container needs a user namespace)"
                    )))
                }
            }
        }
        (Some(_), None) => {
            return Err(Error::new(format!(
                "mounts[{i}].gidMappings: missing (uidMappings and gidMappings go together)"
            )))
        }
        (None, Some(_)) => {
            return Err(Error::new(format!(
                "mounts[{i}].uidMappings: missing (uidMappings and gidMappings go together)"
            )))
        }
    };
    check_map(&uids, &format!("mounts[{i}].uidMappings"))?;
    check_map(&gids, &format!("mounts[{i}].gidMappings"))?;
    Ok(Some(Request {
        uids,
        gids,
        recursive: opts.ridmap,
    }))
}

/// What the kernel would refuse with a bare EINVAL, said with the field.
fn check_map(map: &[LinuxIdMapping], field: &str) -> Result<()> {
    if map.len() > MAX_EXTENTS {
        return Err(Error::new(format!(
            "{field}: {} ranges, the kernel takes at most {MAX_EXTENTS}",
            map.len()
        )));
    }
    let end = |start: u32, size: u32| start as u64 + size as u64;
    for (j, m) in map.iter().enumerate() {
        if m.size() == 0 {
            return Err(Error::new(format!("{field}[{j}].size: must be at least 1")));
        }
        for (what, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if end(start, m.size()) > u32::MAX as u64 {
                return Err(Error::new(format!(
                    "{field}[{j}]: {what} {start} + size {} is past the last id {}",
                    m.size(),
                    u32::MAX - 1
                )));
            }
        }
        for (k, o) in map.iter().enumerate().take(j) {
            let overlap =
                |a: u32, b: u32| (a as u64) < end(b, o.size()) && (b as u64) < end(a, m.size());
            if overlap(m.container_id(), o.container_id()) || overlap(m.host_id(), o.host_id()) {
                return Err(Error::new(format!("{field}[{j}]: overlaps {field}[{k}]")));
            }
        }
    }
    Ok(())
}

/// Whether the running kernel has mount_setattr(2), hence MOUNT_ATTR_IDMAP
/// (both came in Linux 5.12): a probe on an invalid fd fails with EBADF
/// where it exists and ENOSYS where it does not.
pub fn supported() -> bool {
    crate::sys::mount::mount_setattr_supported()
}

/// User namespaces made for mappings, one per distinct mapping.
#[derive(Default)]
pub struct Namespaces {
    made: Vec<(String, OwnedFd)>,
}

impl Namespaces {
    /// An fd on a user namespace with exactly this mapping (made on first use).
    pub fn get(&mut self, r: &Request) -> Result<&OwnedFd> {
        let key = format!("{}|{}", map_text(&r.uids), map_text(&r.gids));
        let pos = match self.made.iter().position(|(k, _)| *k == key) {
            Some(p) => p,
            None => {
                let fd = make_userns(&r.uids, &r.gids)?;
                self.made.push((key, fd));
                self.made.len() - 1
            }
        };
        Ok(&self.made[pos].1)
    }
}

fn map_text(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with the given maps: a helper process is cloned into a
/// new one, its maps are written, the namespace is kept by an fd on
/// /proc/<pid>/ns/user, and the helper is let go (it only waits for the pipe
/// to close, so it also goes if we die).
fn make_userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("id-mapped mount: create pipe")?;
    let pid = crate::container::clone3(libc::CLONE_NEWUSER as u64, None)
        .context("id-mapped mount: create a user namespace")?;
    if pid == 0 {
        drop(w);
        let mut b = [0u8; 1];
        let _ = nix::unistd::read(r.as_raw_fd(), &mut b);
        // SAFETY: _exit skips the destructors of the runtime's copied state.
        unsafe { libc::_exit(0) }
    }
    drop(r);
    let res = (|| {
        for (file, map) in [("gid_map", gids), ("uid_map", uids)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map_text(map))
                .map_err(|e| Error::io(format!("id-mapped mount: write {path}"), e))?;
        }
        let ns = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&ns)
            .map(OwnedFd::from)
            .map_err(|e| Error::io(format!("id-mapped mount: open {ns}"), e))
    })();
    drop(w);
    let _ = waitpid(Pid::from_raw(pid), None);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    fn req(s: &Spec, i: usize) -> Result<Option<Request>> {
        let m = &s.mounts().as_ref().unwrap()[i];
        let o = super::super::options::parse(m.typ().as_deref(), m.options().as_deref().unwrap());
        request(s, i, m, &o)
    }

    #[test]
    fn requests_and_field_errors() {
        let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"uidMappings": map, "gidMappings": map},
            "mounts": [
                {"destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind", "ridmap"]},
                {"destination": "/b", "type": "bind", "source": "/tmp", "options": ["bind"],
                 "uidMappings": map},
                {"destination": "/c", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
                {"destination": "/d", "type": "bind", "source": "/tmp", "options": ["bind"],
                 "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
                 "gidMappings": map},
                {"destination": "/e", "type": "bind", "source": "/tmp", "options": ["bind"],
                 "uidMappings": [{"containerID": 0, "hostID": 1, "size": 10},
                                 {"containerID": 5, "hostID": 100, "size": 10}],
                 "gidMappings": map},
                {"destination": "/f", "type": "bind", "source": "/tmp", "options": ["bind"]},
            ]
        }));
        let r = req(&s, 0).unwrap().unwrap();
        assert!(r.recursive);
        assert_eq!(r.uids.len(), 1);
        let e = req(&s, 1).unwrap_err().to_string();
        assert!(e.contains("mounts[1].gidMappings: missing"), "{e}");
        let e = req(&s, 2).unwrap_err().to_string();
        assert!(
            e.contains("mounts[2].options") && e.contains("tmpfs"),
            "{e}"
        );
        let e = req(&s, 3).unwrap_err().to_string();
        assert!(e.contains("mounts[3].uidMappings[0].size"), "{e}");
        let e = req(&s, 4).unwrap_err().to_string();
        assert!(
            e.contains("mounts[4].uidMappings[1]: overlaps mounts[4].uidMappings[0]"),
            "{e}"
        );
        assert!(req(&s, 5).unwrap().is_none());
    }

    #[test]
    fn bare_idmap_needs_container_mappings() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "mounts": [{"destination": "/a", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}]
        }));
        let e = req(&s, 0).unwrap_err().to_string();
        assert!(e.contains("mounts[0].options: idmap without"), "{e}");
    }
}
