//! v1 cpu controller (cpuset is in common.rs: same files on v1 and v2).

use crate::cgroups::fsio;
use crate::error::Result;
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

const F: &str = "linux.resources.cpu";

fn w(dir: &Path, field: &str, file: &str, val: &str) -> Result<()> {
    fsio::write(&format!("{F}.{field}"), &dir.join(file), val)
}

pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    // Realtime budget first: the kernel checks it against the period and
    // the parent's budget.
    if let Some(p) = c.realtime_period().filter(|&v| v != 0) {
        w(dir, "realtimePeriod", "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&v| v != 0) {
        w(dir, "realtimeRuntime", "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(s) = c.shares().filter(|&v| v != 0) {
        w(dir, "shares", "cpu.shares", &s.to_string())?;
    }
    let period = c.period().filter(|&v| v != 0);
    let quota = c.quota().filter(|&v| v != 0);
    match (period, quota) {
        (Some(p), Some(q)) => {
            // A new period can be refused (EINVAL) until the quota fits it.
            if let Err(e) = w(dir, "period", "cpu.cfs_period_us", &p.to_string()) {
                if e.errno() != Some(libc::EINVAL) {
                    return Err(e);
                }
                w(dir, "quota", "cpu.cfs_quota_us", &q.to_string())?;
                w(dir, "period", "cpu.cfs_period_us", &p.to_string())?;
            } else {
                w(dir, "quota", "cpu.cfs_quota_us", &q.to_string())?;
            }
        }
        (Some(p), None) => w(dir, "period", "cpu.cfs_period_us", &p.to_string())?,
        (None, Some(q)) => w(dir, "quota", "cpu.cfs_quota_us", &q.to_string())?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        w(dir, "burst", "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        w(dir, "idle", "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v1_files() {
        let files = [
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.idle",
        ];
        let d = FakeDir::new(&files.map(|f| (f, "")));
        apply(
            &d.0,
            &oci(r#"{"shares":512,"quota":50000,"period":100000,"realtimePeriod":1000000,"realtimeRuntime":950000,"idle":1}"#),
        )
        .unwrap();
        for (f, want) in files
            .into_iter()
            .zip(["1000000", "950000", "512", "100000", "50000", "1"])
        {
            assert_eq!(d.get(f), want, "{f}");
        }
        // 0 means unset: nothing is written
        let d = FakeDir::new(&[]);
        apply(&d.0, &oci(r#"{"shares":0,"quota":0,"period":0}"#)).unwrap();
    }

    #[test]
    fn error_names_field_and_file() {
        let d = FakeDir::new(&[]);
        let e = apply(&d.0, &oci(r#"{"burst":10}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("linux.resources.cpu.burst: write \"10\" to "),
            "{e}"
        );
        assert!(e.contains("cpu.cfs_burst_us"), "{e}");
        assert!(e.contains("No such file"), "{e}");
    }
}
