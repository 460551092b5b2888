use crate::error::{Context, Error, Result};
use crate::state::{Container, Status};
use std::path::Path;

/// Freezes every process of the container (runc: a created or running
/// container can be paused, anything else is "not running").
pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::open(root, id)?;
    let st = c.load()?;
    match st.status(&c.dir) {
        Status::Running | Status::Created => {}
        Status::Paused => {
            return Err(Error::new(format!(
                "container {id}: container not running (it is already paused)"
            )))
        }
        Status::Stopped => {
            return Err(Error::new(format!("container {id}: container not running")))
        }
    }
    st.cgroup.freeze().with_context(|| format!("pause {id}"))
}
