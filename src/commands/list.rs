use crate::cli::{ListArgs, ListFormat};
use crate::error::Result;
use crate::state::{Container, Status};
use std::path::Path;

pub fn run(root: &Path, a: &ListArgs) -> Result<()> {
    let mut states = Vec::new();
    let mut unrecorded = Vec::new();
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
        if !c.dir.join(crate::state::STATE_FILE).exists() {
            // Left by a create killed before its first save: shown so that
            // it can be found and deleted.
            unrecorded.push(name);
            continue;
        }
        let Ok(st) = c.load() else { continue };
        let status = st.status(&c.dir);
        states.push((st, status));
    }
    let mut rows: Vec<_> = states.iter().map(|(st, s)| st.to_json(*s)).collect();
    rows.extend(unrecorded.iter().map(|name| crate::state::StateView {
        oci_version: crate::OCI_VERSION,
        id: name,
        pid: 0,
        status: Status::Stopped.as_str(),
        bundle: Path::new(""),
        rootfs: Path::new(""),
        created: "",
        annotations: None,
        owner: "",
    }));
    rows.sort_by(|a, b| a.id.cmp(b.id));
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
