use crate::cli::KillArgs;
use crate::error::Result;
use crate::lifecycle::{Container, KillOptions};
use std::path::Path;

pub fn run(root: &Path, a: &KillArgs) -> Result<()> {
    let signal = crate::signal::parse(&a.signal)?;
    Container::load(root, &a.id)?.kill(&KillOptions { signal, all: a.all })
}
