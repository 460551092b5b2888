//! linux.resources.unified: cgroup2 files written as given, each checked
//! against the controller its name belongs to.

use crate::cgroups::{fsio, v2, V2Dir};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The controller a unified key belongs to (`memory.high` → `memory`), or
/// an error if the key is not a plain cgroup2 file name.
pub fn controller_of(key: &str) -> std::result::Result<&str, String> {
    let ok = !key.is_empty()
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    match key.split_once('.') {
        Some((ctl, rest)) if ok && !ctl.is_empty() && !rest.is_empty() => Ok(ctl),
        _ => Err("not a cgroup v2 interface file name like \"memory.high\"".into()),
    }
}

pub fn apply(u: &V2Dir, map: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("linux.resources.unified[{key:?}]");
        let ctl = controller_of(key).map_err(|e| Error::new(format!("{field}: {e}")))?;
        if ctl == "cgroup" && matches!(key.as_str(), "cgroup.procs" | "cgroup.threads") {
            return Err(Error::new(format!(
                "{field}: moving processes is not a resource setting"
            )));
        }
        // Core files (cgroup.*) exist in every cgroup; others only once the
        // controller is enabled for it.
        if ctl != "cgroup" && !v2::enable_controller(u, ctl) {
            return Err(Error::new(format!(
                "{field}: controller {ctl:?} is not available to {} (see cgroup.controllers of its parent)",
                u.path.display()
            )));
        }
        fsio::write(&field, &u.path.join(key), &map[key])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::controller_of;

    #[test]
    fn keys() {
        assert_eq!(controller_of("memory.high"), Ok("memory"));
        assert_eq!(controller_of("cpu.max.burst"), Ok("cpu"));
        assert!(controller_of("../memory.max").is_err());
        assert!(controller_of("memory").is_err());
        assert!(controller_of(".x").is_err());
        assert!(controller_of("a/b.c").is_err());
    }
}
