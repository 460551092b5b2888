use crate::cli::{ListFormat, PsArgs};
use crate::error::{Context, Error, Result};
use crate::state::Container;
use std::io::Write;
use std::path::Path;

/// The container's processes (host pids, from its cgroup): a JSON array, or
/// the host's `ps` output (default `ps -ef`) cut to those pids, as runc does.
pub fn run(root: &Path, a: &PsArgs) -> Result<()> {
    let c = Container::open(root, &a.id)?;
    let st = c.load()?;
    let pids = st.cgroup.pids()?;
    drop(c);
    if a.format == ListFormat::Json {
        // ps arguments only shape the table; runc ignores them here too
        println!("{}", serde_json::json!(pids));
        return Ok(());
    }
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .with_context(|| format!("ps: run ps {}", args.join(" ")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "ps: ps {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = filter_table(&text, &pids)?;
    let mut stdout = std::io::stdout().lock();
    for l in lines {
        writeln!(stdout, "{l}").context("ps: write output")?;
    }
    Ok(())
}

/// The header and the lines whose PID column is one of `pids`.
fn filter_table<'a>(text: &'a str, pids: &[i32]) -> Result<Vec<&'a str>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::new(format!("ps: no PID column in ps output header {header:?}")))?;
    let mut out = vec![header];
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push(l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::filter_table;

    #[test]
    fn filters_by_pid_column() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 00:00 ? 00:00:01 init\nroot 42 1 0 00:00 ? 00:00:00 sleep 42\n";
        assert_eq!(
            filter_table(t, &[42]).unwrap(),
            [
                "UID PID PPID C STIME TTY TIME CMD",
                "root 42 1 0 00:00 ? 00:00:00 sleep 42"
            ]
        );
        assert!(filter_table("USER COMMAND\n", &[1]).is_err());
    }
}
