//! Controllers whose files are the same on v1 and v2: pids, cpuset, rdma;
//! and hugetlb, whose file names differ only in their suffix.

use super::fsio;
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxCpu, LinuxHugepageLimit, LinuxRdma};
use std::collections::HashMap;
use std::path::Path;

pub fn pids(dir: &Path, limit: i64) -> Result<()> {
    // runc: 0 is unset, negative is unlimited
    if limit == 0 {
        return Ok(());
    }
    let v = if limit < 0 {
        "max".to_string()
    } else {
        limit.to_string()
    };
    fsio::write("linux.resources.pids.limit", &dir.join("pids.max"), &v)
}

pub fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    for (field, val, file) in [
        ("cpus", c.cpus(), "cpuset.cpus"),
        ("mems", c.mems(), "cpuset.mems"),
    ] {
        if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
            fsio::write(&format!("linux.resources.cpu.{field}"), &dir.join(file), v)?;
        }
    }
    Ok(())
}

/// `rdma.max` lines, one per device, with only the limits given.
pub fn rdma_lines(r: &HashMap<String, LinuxRdma>) -> Result<Vec<(String, String)>> {
    let mut devs: Vec<_> = r.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (dev, l) in devs {
        let field = format!("linux.resources.rdma[{dev:?}]");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::new(format!("{field}: invalid device name")));
        }
        let mut val = dev.clone();
        if let Some(h) = l.hca_handles() {
            val.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            val.push_str(&format!(" hca_object={o}"));
        }
        if val.len() > dev.len() {
            out.push((field, val));
        }
    }
    Ok(out)
}

pub fn rdma(dir: &Path, r: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (field, val) in rdma_lines(r)? {
        fsio::write(&field, &dir.join("rdma.max"), &val)?;
    }
    Ok(())
}

pub fn hugetlb(dir: &Path, v2: bool, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, h) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let ps = h.page_size();
        // a size like 2MB or 1GB, as in the file names; nothing that could
        // make the name a path
        if ps.is_empty() || !ps.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::new(format!(
                "{field}.pageSize {ps:?}: not a huge page size like 2MB"
            )));
        }
        let (lim, rsvd, val) = if v2 {
            let v = if h.limit() < 0 {
                "max".to_string()
            } else {
                h.limit().to_string()
            };
            (
                format!("hugetlb.{ps}.max"),
                format!("hugetlb.{ps}.rsvd.max"),
                v,
            )
        } else {
            (
                format!("hugetlb.{ps}.limit_in_bytes"),
                format!("hugetlb.{ps}.rsvd.limit_in_bytes"),
                h.limit().to_string(),
            )
        };
        fsio::write(&format!("{field}.limit"), &dir.join(&lim), &val)?;
        // Reservations (kernel 5.7+) are limited alike, as runc 1.2 does, so
        // that a mapping cannot reserve more than the fault limit allows.
        let rsvd = dir.join(&rsvd);
        if rsvd.exists() {
            fsio::write(&format!("{field}.limit"), &rsvd, &val)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{cpuset, hugetlb, pids, rdma_lines};
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn pids_and_cpuset() {
        let d = FakeDir::new(&[("pids.max", ""), ("cpuset.cpus", ""), ("cpuset.mems", "")]);
        pids(&d.0, 0).unwrap();
        assert_eq!(d.get("pids.max"), "");
        pids(&d.0, -1).unwrap();
        assert_eq!(d.get("pids.max"), "max");
        pids(&d.0, 100).unwrap();
        assert_eq!(d.get("pids.max"), "100");
        cpuset(&d.0, &oci(r#"{"cpus":"0-1","mems":""}"#)).unwrap();
        assert_eq!(d.get("cpuset.cpus"), "0-1");
        assert_eq!(d.get("cpuset.mems"), "");
    }

    #[test]
    fn hugetlb_files() {
        let d = FakeDir::new(&[("hugetlb.2MB.limit_in_bytes", "")]);
        let l: Vec<_> = oci(r#"[{"pageSize":"2MB","limit":4194304}]"#);
        hugetlb(&d.0, false, &l).unwrap();
        assert_eq!(d.get("hugetlb.2MB.limit_in_bytes"), "4194304");
        // reservations are limited alike where the kernel has them
        let d = FakeDir::new(&[("hugetlb.2MB.max", ""), ("hugetlb.2MB.rsvd.max", "")]);
        hugetlb(
            &d.0,
            true,
            &oci::<Vec<_>>(r#"[{"pageSize":"2MB","limit":-1}]"#),
        )
        .unwrap();
        assert_eq!(d.get("hugetlb.2MB.max"), "max");
        assert_eq!(d.get("hugetlb.2MB.rsvd.max"), "max");
        let bad: Vec<_> = oci(r#"[{"pageSize":"../x","limit":1}]"#);
        let e = hugetlb(&d.0, true, &bad).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.hugepageLimits[0].pageSize"),
            "{e}"
        );
    }

    #[test]
    fn rdma() {
        let m = serde_json::from_str(
            r#"{"mlx5_1":{"hcaHandles":3},"mlx4_0":{"hcaHandles":2,"hcaObjects":2000},"x":{}}"#,
        )
        .unwrap();
        let l: Vec<String> = rdma_lines(&m)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            l,
            ["mlx4_0 hca_handle=2 hca_object=2000", "mlx5_1 hca_handle=3"]
        );
        let bad = serde_json::from_str(r#"{"a b":{"hcaHandles":1}}"#).unwrap();
        assert!(rdma_lines(&bad).is_err());
    }
}
