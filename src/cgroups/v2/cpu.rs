//! cgroup2 cpu controller: shares → cpu.weight, quota/period → cpu.max.

use crate::cgroups::{fsio, v2::convert};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

const F: &str = "linux.resources.cpu";

fn w(dir: &Path, field: &str, file: &str, val: &str) -> Result<()> {
    fsio::write(&format!("{F}.{field}"), &dir.join(file), val)
}

/// The cpu.max value for the given quota/period; the part not given is
/// kept from `current` (the file's present content).
pub fn cpu_max(quota: Option<i64>, period: Option<u64>, current: &str) -> String {
    let mut cur = current.split_whitespace();
    let cur_quota = cur.next().unwrap_or("max");
    let cur_period = cur.next().unwrap_or("100000");
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        Some(_) => "max".to_string(),
        None => cur_quota.to_string(),
    };
    let p = period
        .map(|p| p.to_string())
        .unwrap_or_else(|| cur_period.to_string());
    format!("{q} {p}")
}

pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_period().filter(|&v| v != 0).is_some() {
        return Err(Error::new(format!(
            "{F}.realtimePeriod: not supported on cgroup v2 (there is no cpu.rt_period_us file)"
        )));
    }
    if c.realtime_runtime().filter(|&v| v != 0).is_some() {
        return Err(Error::new(format!(
            "{F}.realtimeRuntime: not supported on cgroup v2 (there is no cpu.rt_runtime_us file)"
        )));
    }
    if let Some(s) = c.shares().filter(|&v| v != 0) {
        let weight = convert::cpu_shares_to_weight(s);
        w(dir, "shares", "cpu.weight", &weight.to_string())?;
    }
    let period = c.period().filter(|&v| v != 0);
    let quota = c.quota().filter(|&v| v != 0);
    if period.is_some() || quota.is_some() {
        let field = if quota.is_some() { "quota" } else { "period" };
        let cur =
            fsio::read(&dir.join("cpu.max")).map_err(|e| e.context(format!("{F}.{field}")))?;
        w(dir, field, "cpu.max", &cpu_max(quota, period, &cur))?;
    }
    if let Some(b) = c.burst() {
        w(dir, "burst", "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        w(dir, "idle", "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{apply, cpu_max};
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v2_files() {
        let d = FakeDir::new(&[("cpu.weight", ""), ("cpu.max", "max 100000")]);
        apply(&d.0, &oci(r#"{"shares":1024,"quota":50000}"#)).unwrap();
        assert_eq!(d.get("cpu.weight"), "39");
        // the period not given is kept from the file
        assert_eq!(d.get("cpu.max"), "50000 100000");
        let e = apply(&d.0, &oci(r#"{"realtimeRuntime":1000}"#)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.cpu.realtimeRuntime: not supported on cgroup v2"),
            "{e}"
        );
    }

    #[test]
    fn max() {
        assert_eq!(cpu_max(Some(50000), None, "max 100000\n"), "50000 100000");
        assert_eq!(cpu_max(Some(-1), Some(20000), "max 100000"), "max 20000");
        assert_eq!(cpu_max(None, Some(20000), "30000 100000"), "30000 20000");
    }
}
