//! v1 blkio controller.

use crate::cgroups::fsio;
use crate::error::Result;
use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};
use std::path::Path;

const F: &str = "linux.resources.blockIO";

/// The CFQ file if the kernel has it, else BFQ's (kernels without CFQ).
fn weight_file(dir: &Path, cfq: &str, bfq: &str) -> std::path::PathBuf {
    let c = dir.join(cfq);
    let b = dir.join(bfq);
    if !c.exists() && b.exists() {
        b
    } else {
        c
    }
}

pub fn throttles(b: &LinuxBlockIo) -> [(&'static str, &Option<Vec<LinuxThrottleDevice>>); 4] {
    [
        ("throttleReadBpsDevice", b.throttle_read_bps_device()),
        ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
        ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
        ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
    ]
}

pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // 0 means "not set" to engines (dockerd sends it on hosts without
    // weight support), as runc reads it.
    if let Some(v) = b.weight().filter(|w| *w != 0) {
        let f = weight_file(dir, "blkio.weight", "blkio.bfq.weight");
        fsio::write(&format!("{F}.weight"), &f, &v.to_string())?;
    }
    if let Some(v) = b.leaf_weight().filter(|w| *w != 0) {
        fsio::write(
            &format!("{F}.leafWeight"),
            &dir.join("blkio.leaf_weight"),
            &v.to_string(),
        )?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(v) = d.weight() {
            let f = weight_file(dir, "blkio.weight_device", "blkio.bfq.weight_device");
            let val = format!("{}:{} {v}", d.major(), d.minor());
            fsio::write(&format!("{F}.weightDevice[{i}].weight"), &f, &val)?;
        }
        if let Some(v) = d.leaf_weight() {
            let val = format!("{}:{} {v}", d.major(), d.minor());
            fsio::write(
                &format!("{F}.weightDevice[{i}].leafWeight"),
                &dir.join("blkio.leaf_weight_device"),
                &val,
            )?;
        }
    }
    let files = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    for ((field, list), file) in throttles(b).into_iter().zip(files) {
        for (i, t) in list.iter().flatten().enumerate() {
            let val = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            fsio::write(&format!("{F}.{field}[{i}]"), &dir.join(file), &val)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v1_files() {
        let d = FakeDir::new(&[
            ("blkio.weight", ""),
            ("blkio.leaf_weight", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ]);
        apply(
            &d.0,
            &oci(r#"{"weight":300,"leafWeight":200,
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":100}]}"#),
        )
        .unwrap();
        assert_eq!(d.get("blkio.weight"), "300");
        assert_eq!(d.get("blkio.leaf_weight"), "200");
        assert_eq!(d.get("blkio.throttle.read_bps_device"), "8:0 1048576");
        assert_eq!(d.get("blkio.throttle.write_iops_device"), "8:16 100");
    }

    #[test]
    fn bfq_weight_without_cfq() {
        let d = FakeDir::new(&[("blkio.bfq.weight", ""), ("blkio.bfq.weight_device", "")]);
        apply(
            &d.0,
            &oci(r#"{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":500}]}"#),
        )
        .unwrap();
        assert_eq!(d.get("blkio.bfq.weight"), "300");
        assert_eq!(d.get("blkio.bfq.weight_device"), "8:0 500");
    }
}
