use crate::error::Result;
use crate::lifecycle::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    Container::load(root, id)?.resume()
}
