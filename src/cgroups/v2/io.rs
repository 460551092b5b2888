//! cgroup2 io controller, from the OCI blockIO fields.

use crate::cgroups::{fsio, v1::blkio::throttles, v2::convert};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxBlockIo;
use std::path::Path;

const F: &str = "linux.resources.blockIO";

pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // BFQ takes blkio's 10-1000 range as is; io.weight needs conversion.
    let bfq = dir.join("io.bfq.weight");
    let has_bfq = bfq.exists();
    // 0 means "not set", as runc reads it (dockerd sends it).
    if let Some(v) = b.weight().filter(|w| *w != 0) {
        if has_bfq {
            fsio::write(&format!("{F}.weight"), &bfq, &v.to_string())?;
        } else {
            let w = convert::blkio_weight_to_io_weight(u64::from(v));
            fsio::write(
                &format!("{F}.weight"),
                &dir.join("io.weight"),
                &format!("default {w}"),
            )?;
        }
    }
    if b.leaf_weight().is_some_and(|w| w != 0) {
        return Err(Error::new(format!(
            "{F}.leafWeight: not supported on cgroup v2 (there is no blkio.leaf_weight file)"
        )));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if d.leaf_weight().is_some() {
            return Err(Error::new(format!(
                "{F}.weightDevice[{i}].leafWeight: not supported on cgroup v2 (there is no blkio.leaf_weight_device file)"
            )));
        }
        if let Some(v) = d.weight() {
            let (file, w) = if has_bfq {
                (bfq.clone(), u64::from(v))
            } else {
                (
                    dir.join("io.weight"),
                    convert::blkio_weight_to_io_weight(u64::from(v)),
                )
            };
            let val = format!("{}:{} {w}", d.major(), d.minor());
            fsio::write(&format!("{F}.weightDevice[{i}].weight"), &file, &val)?;
        }
    }
    for ((field, list), key) in throttles(b)
        .into_iter()
        .zip(["rbps", "wbps", "riops", "wiops"])
    {
        for (i, t) in list.iter().flatten().enumerate() {
            // v1 takes 0 as "no limit"; io.max spells that "max"
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            let val = format!("{}:{} {key}={rate}", t.major(), t.minor());
            fsio::write(&format!("{F}.{field}[{i}]"), &dir.join("io.max"), &val)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v2_files() {
        let d = FakeDir::new(&[("io.weight", ""), ("io.max", "")]);
        apply(
            &d.0,
            &oci(r#"{"weight":1000,"throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}]}"#),
        )
        .unwrap();
        assert_eq!(d.get("io.weight"), "default 10000");
        // v1's 0 ("no limit") is io.max's "max"
        assert_eq!(d.get("io.max"), "8:0 wbps=max");
        let e = apply(&d.0, &oci(r#"{"leafWeight":10}"#)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.blockIO.leafWeight: not supported"),
            "{e}"
        );
    }

    #[test]
    fn bfq_takes_blkio_weights() {
        let d = FakeDir::new(&[("io.bfq.weight", "")]);
        apply(&d.0, &oci(r#"{"weight":300}"#)).unwrap();
        assert_eq!(d.get("io.bfq.weight"), "300");
        assert!(!d.0.join("io.weight").exists());
    }
}
