use crate::cli::DeleteArgs;
use crate::error::Result;
use crate::lifecycle::{Container, DeleteOptions};
use std::path::Path;

pub fn run(root: &Path, a: &DeleteArgs) -> Result<()> {
    let c = match Container::load(root, &a.id) {
        Ok(c) => c,
        // containerd deletes with --force after every delete: an id that is
        // already gone is success then, as with runc.
        // Only "gone": any other failure (lock, permissions) is reported.
        Err(_) if a.force && crate::state::is_gone(root, &a.id) => {
            // A create killed right after making the directory leaves it
            // without state: nothing else was made yet.
            return crate::state::remove_unrecorded(root, &a.id);
        }
        Err(e) => return Err(e),
    };
    c.delete(&DeleteOptions { force: a.force })
}
