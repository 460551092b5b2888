use crate::error::Result;
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::open(root, id)?;
    let st = c.load()?;
    let v = st.to_json(st.status(&c.dir));
    let json = serde_json::to_string_pretty(&v)
        .map_err(|e| crate::error::Error::new(format!("encode the state: {e}")))?;
    println!("{json}");
    Ok(())
}
