//! cgroup v1: one directory per hierarchy, resources per controller.

pub mod blkio;
pub mod cpu;
pub mod devices;
pub mod freezer;
pub mod memory;
pub mod net;

use super::{fsio, tree, V1Dir};
use crate::error::Result;
use std::path::Path;

/// Creates the container's directory in one v1 hierarchy. In a cpuset
/// hierarchy a new cgroup starts with empty cpuset.cpus/mems and refuses
/// processes (ENOSPC), so each level gets its parent's values, as runc does.
pub fn create(d: &V1Dir) -> Result<()> {
    let cpuset = d.controllers.iter().any(|c| c == "cpuset");
    let mut parent = d.mount.clone();
    for level in tree::levels(&d.mount, &d.path) {
        let made = tree::mkdir(&level)?;
        if cpuset {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                inherit_if_empty(&parent, &level, f, made)?;
            }
        }
        parent = level;
    }
    Ok(())
}

/// `made`: the directory was just created, so its value is empty (or,
/// with the parent's cgroup.clone_children, the parent's already): no need
/// to read it first.
fn inherit_if_empty(parent: &Path, dir: &Path, file: &str, made: bool) -> Result<()> {
    if !made && !fsio::read(&dir.join(file))?.trim().is_empty() {
        return Ok(());
    }
    let val = fsio::read(&parent.join(file))?;
    fsio::write(
        &format!("create cgroup: copy {file} from the parent"),
        &dir.join(file),
        val.trim(),
    )
}
