use crate::cli::{ListArgs, ListFormat};
use crate::error::Result;
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, a: &ListArgs) -> Result<()> {
    let mut rows = Vec::new();
    let mut names: Vec<String> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    for name in names {
        // Containers being deleted or half-created concurrently are skipped.
        let Ok(c) = Container::open_dir(root, &name) else {
            continue;
        };
        let Ok(st) = c.load() else { continue };
        rows.push(st.to_json(st.status(&c.dir)));
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    if a.format == ListFormat::Json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            [
                s("id"),
                r["pid"].to_string(),
                s("status"),
                s("bundle"),
                s("created"),
                s("owner"),
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
