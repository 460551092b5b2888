//! `process.apparmorProfile` and `process.selinuxLabel`: set for the next
//! exec through /proc/self/attr, after checking that the file really is on
//! procfs (a container could mount something else over /proc:
//! CVE-2025-52881).

use crate::error::{Error, Result};
use std::fs::OpenOptions;
use std::io::Write;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

pub fn apply(profile: Option<&str>, label: Option<&str>) -> Result<()> {
    if let Some(p) = profile.filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::new(format!(
                "process.apparmorProfile {p:?}: AppArmor is not enabled on this host"
            )));
        }
        let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        write_attr(attr, &format!("exec {p}"))
            .map_err(|e| e.context(format!("process.apparmorProfile {p:?}")))?;
    }
    if let Some(l) = label.filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            crate::logger::debug(&format!(
                "process.selinuxLabel {l:?} ignored: SELinux is disabled"
            ));
        } else {
            write_attr("/proc/self/attr/exec", l)
                .map_err(|e| e.context(format!("process.selinuxLabel {l:?}")))?;
        }
    }
    Ok(())
}

fn write_attr(path: &str, value: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("open {path}"), e))?;
    let fs = nix::sys::statfs::fstatfs(&f).map_err(|e| Error::os(format!("fstatfs {path}"), e))?;
    if fs.filesystem_type().0 as i64 != PROC_SUPER_MAGIC {
        return Err(Error::new(format!(
            "{path} is not on procfs: refusing to write"
        )));
    }
    f.write_all(value.as_bytes())
        .map_err(|e| Error::io(format!("write {path}"), e))
}
