//! Host cgroup layout: pure v1, hybrid (v1 controllers plus cgroup2 at
//! /sys/fs/cgroup/unified) or pure v2, and the runtime's own cgroups.

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
pub const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    V1,
    Hybrid,
    V2,
}

/// One mounted v1 hierarchy and where this process sits in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Controllers bound to it, as /proc/self/cgroup names them
    /// (`cpu`, `cpuacct`, `name=systemd`, ...).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The cgroup path (from the hierarchy root) mounted at `mountpoint`.
    pub mount_root: String,
    /// This process's cgroup path in the hierarchy.
    pub own: String,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub mode: Mode,
    pub v1: Vec<V1Hierarchy>,
    /// cgroup2 mountpoint (pure v2 or the hybrid unified hierarchy).
    pub unified: Option<PathBuf>,
    /// This process's cgroup2 path.
    pub unified_own: String,
}

pub(crate) fn is_cgroup2(path: &str) -> bool {
    matches!(nix::sys::statfs::statfs(path), Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

impl Layout {
    pub fn detect() -> Result<Layout> {
        let proc_cgroup = crate::procfs::read("/proc/self/cgroup")
            .context("detect cgroup layout: read /proc/self/cgroup")?;
        let own = parse_proc_cgroup(&proc_cgroup);
        let unified_own = own
            .iter()
            .find(|o| o.controllers.is_empty())
            .map(|o| o.path.clone())
            .unwrap_or_else(|| "/".to_string());
        if is_cgroup2(CGROUP_ROOT) {
            return Ok(Layout {
                mode: Mode::V2,
                v1: Vec::new(),
                unified: Some(PathBuf::from(CGROUP_ROOT)),
                unified_own,
            });
        }
        let mountinfo = crate::procfs::read("/proc/self/mountinfo")
            .context("detect cgroup layout: read /proc/self/mountinfo")?;
        let v1 = v1_hierarchies(&mountinfo, &own);
        let unified = is_cgroup2(HYBRID_UNIFIED).then(|| PathBuf::from(HYBRID_UNIFIED));
        if v1.is_empty() {
            return Err(Error::new(format!(
                "detect cgroup layout: {CGROUP_ROOT} is not cgroup2 and no cgroup v1 hierarchy is mounted"
            )));
        }
        Ok(Layout {
            mode: if unified.is_some() {
                Mode::Hybrid
            } else {
                Mode::V1
            },
            v1,
            unified,
            unified_own,
        })
    }
}

/// One line of /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCgroup {
    /// Controllers, e.g. ["cpu", "cpuacct"], ["name=systemd"], [] for v2.
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<OwnCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctl = it.next()?;
            let path = it.next()?;
            Some(OwnCgroup {
                controllers: ctl
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The v1 hierarchies this process is in that are mounted, matching each
/// `cgroup` mount to the /proc/self/cgroup line whose controllers all appear
/// in its super options. Mounts under /sys/fs/cgroup win over others.
pub fn v1_hierarchies(mountinfo: &str, own: &[OwnCgroup]) -> Vec<V1Hierarchy> {
    let mut found: Vec<V1Hierarchy> = Vec::new();
    for e in crate::mountinfo::parse(mountinfo) {
        if e.fstype != "cgroup" {
            continue;
        }
        let opts: Vec<&str> = e.super_opts.split(',').collect();
        let Some(o) = own.iter().find(|o| {
            !o.controllers.is_empty() && o.controllers.iter().all(|c| opts.contains(&c.as_str()))
        }) else {
            continue;
        };
        let h = V1Hierarchy {
            controllers: o.controllers.clone(),
            mountpoint: e.mount_point,
            mount_root: e.root.to_string_lossy().into_owned(),
            own: o.path.clone(),
        };
        match found.iter_mut().find(|f| f.controllers == h.controllers) {
            Some(f) => {
                if !f.mountpoint.starts_with(CGROUP_ROOT) && h.mountpoint.starts_with(CGROUP_ROOT) {
                    *f = h;
                }
            }
            None => found.push(h),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 70 0:30 / /mnt/my\\040mem rw - cgroup cgroup rw,memory
";
    const PC: &str = "4:memory:/a/b\n3:cpu,cpuacct:/\n2:name=systemd:/user.slice\n0::/init.scope\n";

    #[test]
    fn parse() {
        let own = parse_proc_cgroup(PC);
        assert_eq!(own[3].path, "/init.scope");
        assert!(own[3].controllers.is_empty());
        let h = v1_hierarchies(MI, &own);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].controllers, vec!["name=systemd"]);
        assert_eq!(h[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[1].mountpoint, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h[2].own, "/a/b");
        assert_eq!(h[2].mountpoint, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn detect_host() {
        let l = Layout::detect().unwrap();
        assert!(l.unified.is_some() || !l.v1.is_empty());
    }
}
