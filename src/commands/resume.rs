use crate::error::{Context, Error, Result};
use crate::state::Container;
use std::path::Path;

/// Thaws a paused container; anything not frozen is "not paused" (runc).
pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::open(root, id)?;
    let st = c.load()?;
    // The freezer, not the status, decides: a dead container whose cgroup
    // was left frozen can still be thawed so that it can be cleaned up.
    if !st.cgroup.is_frozen().unwrap_or(false) {
        return Err(Error::new(format!("container {id}: container not paused")));
    }
    st.cgroup.thaw().with_context(|| format!("resume {id}"))
}
