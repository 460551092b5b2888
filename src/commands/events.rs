use crate::cli::EventsArgs;
use crate::error::{Context, Error, Result};
use crate::lifecycle::{Container, EventsOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// runc's `events`: with --stats one stats event; otherwise OOM events as
/// they happen and a stats event every --interval, until the container
/// stops. One JSON object per line, fields in runc's order.
pub fn run(root: &Path, a: &EventsArgs) -> Result<()> {
    let interval = parse_duration(&a.interval)?;
    let c = Container::load(root, &a.id)?;
    let opts = EventsOptions {
        stats: a.stats,
        interval,
    };
    c.events(&opts, emit)
}

fn emit(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .context("events: write to stdout")
}

/// A Go duration as runc's --interval takes it: `5s`, `500ms`, `1m30s`,
/// `1.5h`; it must be positive.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::new(format!(
            "--interval {s:?}: invalid duration (e.g. 5s, 500ms, 1m)"
        ))
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num * scale;
        rest = &rest[u_end..];
    }
    if !(total > 0.0 && total < 1e9) {
        return Err(Error::new(format!(
            "--interval {s:?}: duration interval must be greater than 0"
        )));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        for (s, d) in [
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("1m", Duration::from_secs(60)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("100us", Duration::from_micros(100)),
        ] {
            assert_eq!(parse_duration(s).ok(), Some(d), "{s}");
        }
        for s in ["", "5", "s", "0s", "-1s", "5x", "1..2s"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }
}
