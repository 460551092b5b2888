use crate::cli::{ListFormat, PsArgs};
use crate::error::{Context, Result};
use crate::lifecycle::{ps_table, Container};
use std::io::Write;
use std::path::Path;

/// The container's processes (host pids, from its cgroup): a JSON array, or
/// the host's `ps` output (default `ps -ef`) cut to those pids, as runc does.
pub fn run(root: &Path, a: &PsArgs) -> Result<()> {
    let c = Container::load(root, &a.id)?;
    let pids = c.pids()?;
    drop(c);
    if a.format == ListFormat::Json {
        // ps arguments only shape the table; runc ignores them here too
        println!("{}", serde_json::json!(pids));
        return Ok(());
    }
    let lines = ps_table(&pids, &a.ps_args)?;
    let mut stdout = std::io::stdout().lock();
    for l in lines {
        writeln!(stdout, "{l}").context("ps: write output")?;
    }
    Ok(())
}
