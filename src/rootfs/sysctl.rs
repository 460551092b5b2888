//! `linux.sysctl`: writes under /proc/sys, hardened against a container that
//! controls its /proc (CVE-2025-52881): writes go through a private, detached
//! procfs instance when the kernel lets us create one, else through /proc
//! after checking it is a procfs; the file is opened with openat2 confined
//! beneath /proc/sys without symlinks or mount crossings, and the opened fd is
//! checked with fstatfs to be on procfs before anything is written.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::sys;
use crate::error::{Context, Error, Result};

/// Swaps '.' and '/'.
fn swap_separators(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// True when the first separator of the key is a '/' (slash form).
fn slash_form(key: &str) -> bool {
    key.find(['.', '/']).map(|i| key.as_bytes()[i]) == Some(b'/')
}

/// Converts a sysctl key into a path relative to /proc/sys, as sysctl(8)
/// does: the first separator decides the form. In slash form
/// ("net/ipv4/conf/eth0.100/forwarding") dots are literal; in dot form
/// ("net.ipv4.conf.eth0/100.forwarding") dots separate levels and a '/'
/// stands for a literal dot.
pub fn key_path(key: &str) -> Result<PathBuf> {
    let p = if slash_form(key) {
        key.to_string()
    } else {
        swap_separators(key)
    };
    if p.is_empty() || p.starts_with('/') || p.contains('\0') {
        return Err(Error::new("invalid sysctl key"));
    }
    for c in p.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(Error::new(
                "invalid sysctl key (empty, \".\" or \"..\" component)",
            ));
        }
    }
    Ok(PathBuf::from(p))
}

/// sysctl(8) accepts '/' as separator too; runc validates in dotted form,
/// swapping '.' and '/' when the first separator is a '/'
/// ("net/ipv4/conf/eth0.100/forwarding" -> "net.ipv4.conf.eth0/100.forwarding").
fn dotted(key: &str) -> String {
    if slash_form(key) {
        swap_separators(key)
    } else {
        key.to_string()
    }
}

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// runc's rule: /proc/sys is only partly namespaced, so a sysctl is allowed
/// only when the container has its own namespace for it (otherwise the
/// write would change the host). `check_netns_path`: also refuse net.* when
/// the configured netns path is the caller's own network namespace; only
/// meaningful when called from the runtime on the host (before the
/// container joins namespaces), not from the container init.
pub fn validate(spec: &oci_spec::runtime::Spec, check_netns_path: bool) -> Result<()> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let Some(map) = linux.sysctl() else {
        return Ok(());
    };
    let ns = |t: T| linux.namespaces().iter().flatten().find(|n| n.typ() == t);
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("linux.sysctl {key:?}");
        key_path(key).context(&field)?;
        let s = dotted(key);
        if IPC_SYSCTLS.contains(&s.as_str()) || s.starts_with("fs.mqueue.") {
            if ns(T::Ipc).is_none() {
                return Err(Error::new(format!(
                    "{field}: not allowed in the host's IPC namespace"
                )));
            }
            continue;
        }
        if s.starts_with("net.") {
            let Some(n) = ns(T::Network) else {
                return Err(Error::new(format!(
                    "{field}: not allowed in the host's network namespace"
                )));
            };
            if let (true, Some(path)) = (check_netns_path, n.path()) {
                let mine =
                    nix::sys::stat::stat("/proc/self/ns/net").context("stat /proc/self/ns/net")?;
                let theirs = nix::sys::stat::stat(path.as_path())
                    .with_context(|| format!("linux.namespaces network path {path:?}"))?;
                if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) {
                    return Err(Error::new(format!(
                        "{field}: not allowed in the host's network namespace"
                    )));
                }
            }
            continue;
        }
        if ns(T::Uts).is_some() {
            match s.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(Error::new(format!(
                        "{field}: not allowed, it conflicts with the \"hostname\" field"
                    )))
                }
                _ => {}
            }
        }
        return Err(Error::new(format!(
            "{field}: not in a separate kernel namespace"
        )));
    }
    Ok(())
}

fn is_proc(fd: std::os::fd::BorrowedFd<'_>) -> Result<bool> {
    Ok(fstatfs(fd).context("fstatfs")?.filesystem_type() == PROC_SUPER_MAGIC)
}

/// An fd on the root of a procfs we trust.
fn proc_root() -> Result<OwnedFd> {
    if let Ok(fd) = sys::fresh_procfs() {
        if is_proc(fd.as_fd())? {
            return Ok(fd);
        }
    }
    let fd = sys::openat2(
        None,
        Path::new("/proc"),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .context("open /proc")?;
    if !is_proc(fd.as_fd())? {
        return Err(Error::new("/proc is not a procfs"));
    }
    Ok(fd)
}

pub fn write_sysctl(proc: std::os::fd::BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    let rel = Path::new("sys").join(key_path(key)?);
    let fd = sys::openat2(
        Some(proc),
        &rel,
        libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_TRUNC,
        0,
        libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_SYMLINKS
            | libc::RESOLVE_NO_MAGICLINKS
            | libc::RESOLVE_NO_XDEV,
    )
    .with_context(|| format!("open /proc/{}", rel.display()))?;
    if !is_proc(fd.as_fd())? {
        return Err(Error::new(format!(
            "/proc/{} is not on procfs",
            rel.display()
        )));
    }
    let mut f = std::fs::File::from(fd);
    f.write_all(value.as_bytes())
        .with_context(|| format!("write {value:?} to /proc/{}", rel.display()))
}

pub fn apply(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if map.is_empty() {
        return Ok(());
    }
    validate(spec, false)?;
    let proc = proc_root().context("linux.sysctl")?;
    // Deterministic order, so errors are reproducible.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        write_sysctl(proc.as_fd(), k, &map[k]).with_context(|| format!("linux.sysctl {k:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            key_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("net/ipv4/ip_forward")
        );
        assert_eq!(
            key_path("net/ipv4/conf/eth0.100/forwarding").unwrap(),
            PathBuf::from("net/ipv4/conf/eth0.100/forwarding")
        );
        assert_eq!(
            key_path("net.ipv4.conf.eth0/100.forwarding").unwrap(),
            PathBuf::from("net/ipv4/conf/eth0.100/forwarding")
        );
        for bad in [
            "",
            "..",
            "a..b",
            "/etc/x",
            "net/../../x",
            "a//b",
            ".a",
            "kernel.",
        ] {
            assert!(key_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespacing_rules() {
        let spec = |sysctl: &str, ns: &str| -> oci_spec::runtime::Spec {
            serde_json::from_str(&format!(
                r#"{{"ociVersion":"1.0.2","linux":{{"sysctl":{sysctl},"namespaces":{ns}}}}}"#
            ))
            .unwrap()
        };
        let ok = |s, n| validate(&spec(s, n), true).is_ok();
        assert!(ok(r#"{"kernel.shmmax":"1"}"#, r#"[{"type":"ipc"}]"#));
        assert!(!ok(r#"{"kernel.shmmax":"1"}"#, r#"[{"type":"uts"}]"#));
        assert!(ok(r#"{"fs.mqueue.msg_max":"1"}"#, r#"[{"type":"ipc"}]"#));
        assert!(ok(
            r#"{"net.ipv4.ip_forward":"1"}"#,
            r#"[{"type":"network"}]"#
        ));
        assert!(ok(
            r#"{"net/ipv4/conf/eth0.100/forwarding":"1"}"#,
            r#"[{"type":"network"}]"#
        ));
        assert!(!ok(r#"{"net.ipv4.ip_forward":"1"}"#, r#"[]"#));
        assert!(!ok(
            r#"{"net.ipv4.ip_forward":"1"}"#,
            r#"[{"type":"network","path":"/proc/self/ns/net"}]"#
        ));
        assert!(ok(r#"{"kernel.domainname":"x"}"#, r#"[{"type":"uts"}]"#));
        assert!(!ok(r#"{"kernel.hostname":"x"}"#, r#"[{"type":"uts"}]"#));
        let e = validate(
            &spec(r#"{"kernel.core_pattern":"|/x"}"#, r#"[{"type":"uts"}]"#),
            true,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("linux.sysctl \"kernel.core_pattern\""),
            "{e}"
        );
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/forwarding"),
            "net.ipv4.conf.eth0/100.forwarding"
        );
    }

    #[test]
    fn reads_through_trusted_proc() {
        // Reading is harmless; checks the open path works on this host.
        let proc = proc_root().unwrap();
        let fd = sys::openat2(
            Some(proc.as_fd()),
            Path::new("sys/kernel/ostype"),
            libc::O_RDONLY,
            0,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
        )
        .unwrap();
        assert!(is_proc(fd.as_fd()).unwrap());
    }
}
