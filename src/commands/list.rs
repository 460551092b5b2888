use crate::cli::{ListArgs, ListFormat};
use crate::error::Result;
use std::path::Path;

pub fn run(root: &Path, a: &ListArgs) -> Result<()> {
    let listed = crate::lifecycle::list(root)?;
    let rows: Vec<_> = listed.iter().map(|l| l.view()).collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(());
    }
    if a.format == ListFormat::Json {
        let json = serde_json::to_string(&rows)
            .map_err(|e| crate::error::Error::new(format!("encode the list: {e}")))?;
        println!("{json}");
        return Ok(());
    }
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.pid.to_string(),
                r.status.to_string(),
                r.bundle.display().to_string(),
                r.created.to_string(),
                r.owner.to_string(),
            ]
        })
        .collect();
    // Like Go's tabwriter with minwidth 12 and padding 1, as runc prints.
    let mut widths = header.map(|h| h.len().max(11) + 1);
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len() + 1);
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        println!("{out}");
    };
    line(header.to_vec());
    for row in &table {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(())
}
