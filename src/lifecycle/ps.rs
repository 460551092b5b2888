//! `ps`: the container's processes, as host pids from its cgroup, and the
//! host's `ps` table cut to them.

use super::Container;
use crate::error::{Context, Error, Result};

impl Container {
    /// The host pids of every process in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.state.pids()
    }
}

/// Runs the host's `ps` with `ps_args` (default `-ef`) and returns its
/// header and the lines of `pids`, as runc prints them.
pub fn ps_table(pids: &[i32], ps_args: &[String]) -> Result<Vec<String>> {
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
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
    Ok(filter_table(&text, pids)?
        .into_iter()
        .map(str::to_string)
        .collect())
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
    use super::{filter_table, ps_table};

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

    #[test]
    fn table_of_our_own_pid() {
        let me = std::process::id() as i32;
        let t = ps_table(&[me], &[]).unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].contains("PID"), "{t:?}");
        let e = ps_table(&[me], &["--no-such-option".into()]).unwrap_err();
        assert!(
            e.to_string().starts_with("ps: ps --no-such-option failed"),
            "{e}"
        );
    }
}
