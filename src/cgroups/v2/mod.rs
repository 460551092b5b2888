//! cgroup v2: one directory; controllers must be enabled in every ancestor's
//! cgroup.subtree_control before the container's directory has their files.

pub mod convert;
pub mod cpu;
pub mod devices_bpf;
pub mod freezer;
pub mod io;
pub mod memory;
pub mod unified;

use super::{fsio, tree, V2Dir};
use crate::error::Result;
use std::path::Path;

fn words(p: &Path) -> Vec<String> {
    fsio::read(p)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Enables every controller `dir` has in its subtree; each one separately
/// and errors ignored, as runc does: one that cannot be enabled (a parent
/// with processes, a threaded subtree) must not stop the others, and a
/// resource that then has no file is reported by apply.
fn enable_all(dir: &Path) {
    let have = words(&dir.join("cgroup.subtree_control"));
    for c in words(&dir.join("cgroup.controllers")) {
        if !have.contains(&c) {
            let _ = fsio::write("", &dir.join("cgroup.subtree_control"), &format!("+{c}"));
        }
    }
}

/// Creates the container's cgroup2 directory. On pure v2 every available
/// controller is enabled on the way down (runc/crun do the same); on hybrid
/// hosts nothing is enabled here: a controller enabled on cgroup2 can no
/// longer be mounted as v1, so only what a resource needs is, in apply.
pub fn create(u: &V2Dir, enable: bool) -> Result<()> {
    let mut parent = u.mount.clone();
    for level in tree::levels(&u.mount, &u.path) {
        if enable {
            enable_all(&parent);
        }
        tree::mkdir(&level)?;
        parent = level;
    }
    Ok(())
}

/// Makes `controller` available in the container's directory by enabling it
/// down the path. True if its interface files are now there.
pub fn enable_controller(u: &V2Dir, controller: &str) -> bool {
    let has = |d: &Path| {
        words(&d.join("cgroup.controllers"))
            .iter()
            .any(|c| c == controller)
    };
    if has(&u.path) {
        return true;
    }
    let mut parent = u.mount.clone();
    for level in tree::levels(&u.mount, &u.path) {
        if !words(&parent.join("cgroup.subtree_control"))
            .iter()
            .any(|c| c == controller)
        {
            let _ = fsio::write(
                "",
                &parent.join("cgroup.subtree_control"),
                &format!("+{controller}"),
            );
        }
        parent = level;
    }
    has(&u.path)
}
