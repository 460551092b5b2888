use crate::error::Result;
use crate::lifecycle::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    crate::timing::mark("load state");
    c.start()
}
