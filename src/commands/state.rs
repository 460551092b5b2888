use crate::error::Result;
use crate::lifecycle::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let json = serde_json::to_string_pretty(&c.state())
        .map_err(|e| crate::error::Error::new(format!("encode the state: {e}")))?;
    println!("{json}");
    Ok(())
}
