//! v1 memory controller.

use crate::cgroups::fsio;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxMemory;
use std::path::Path;

const F: &str = "linux.resources.memory";

fn w(dir: &Path, field: &str, file: &str, val: &str) -> Result<()> {
    fsio::write(&format!("{F}.{field}"), &dir.join(file), val)
}

pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    // Kernel memory first: the kernel refuses to set it once the cgroup has
    // charged any (older kernels).
    if let Some(k) = m.kernel() {
        w(dir, "kernel", "memory.kmem.limit_in_bytes", &k.to_string())?;
    }
    if let Some(k) = m.kernel_tcp() {
        w(
            dir,
            "kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
            &k.to_string(),
        )?;
    }
    // 0 means unset for the byte limits, as in runc (Go's zero value).
    let limit = m.limit().filter(|&v| v != 0);
    let mut swap = m.swap().filter(|&v| v != 0);
    if limit == Some(-1) && swap.is_none() {
        // unlimited memory without a swap value: both unlimited (runc)
        swap = Some(-1);
    }
    let set_limit = |l: i64| w(dir, "limit", "memory.limit_in_bytes", &l.to_string());
    let set_swap = |s: i64| {
        let file = dir.join("memory.memsw.limit_in_bytes");
        if s == -1 && !file.exists() {
            // no swap accounting: unlimited swap is what there is already
            return Ok(());
        }
        fsio::write(&format!("{F}.swap"), &file, &s.to_string())
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel demands memory <= memory+swap at every step, so the
            // order depends on whether the limits grow or shrink.
            let cur = fsio::read_u64(&dir.join("memory.limit_in_bytes"))
                .map_err(|e| e.context(format!("{F}.limit")))?;
            if s == -1 || cur < s as u64 {
                set_swap(s)?;
                set_limit(l)?;
            } else {
                set_limit(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_limit(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|&v| v != 0) {
        w(
            dir,
            "reservation",
            "memory.soft_limit_in_bytes",
            &r.to_string(),
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::new(format!(
                "{F}.swappiness: {s} is out of range 0-100"
            )));
        }
        w(dir, "swappiness", "memory.swappiness", &s.to_string())?;
    }
    if let Some(d) = m.disable_oom_killer() {
        w(
            dir,
            "disableOOMKiller",
            "memory.oom_control",
            if d { "1" } else { "0" },
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        w(
            dir,
            "useHierarchy",
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
        )?;
    }
    // checkBeforeUpdate: v1 already refuses a limit below the usage (EBUSY).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v1_files() {
        let d = FakeDir::new(&[
            ("memory.limit_in_bytes", "1"),
            ("memory.memsw.limit_in_bytes", ""),
            ("memory.soft_limit_in_bytes", ""),
            ("memory.swappiness", ""),
            ("memory.oom_control", ""),
        ]);
        apply(
            &d.0,
            &oci(r#"{"limit":1048576,"swap":2097152,"reservation":524288,"swappiness":10,"disableOOMKiller":true}"#),
        )
        .unwrap();
        assert_eq!(d.get("memory.limit_in_bytes"), "1048576");
        assert_eq!(d.get("memory.memsw.limit_in_bytes"), "2097152");
        assert_eq!(d.get("memory.soft_limit_in_bytes"), "524288");
        assert_eq!(d.get("memory.swappiness"), "10");
        assert_eq!(d.get("memory.oom_control"), "1");
    }

    #[test]
    fn unlimited_memory_without_swap_accounting() {
        // limit -1 alone means swap -1 too; without memsw there is nothing
        // to write for it
        let d = FakeDir::new(&[("memory.limit_in_bytes", "1")]);
        apply(&d.0, &oci(r#"{"limit":-1}"#)).unwrap();
        assert_eq!(d.get("memory.limit_in_bytes"), "-1");
        assert!(!d.0.join("memory.memsw.limit_in_bytes").exists());
    }

    #[test]
    fn swappiness_out_of_range() {
        let d = FakeDir::new(&[("memory.swappiness", "")]);
        let e = apply(&d.0, &oci(r#"{"swappiness":101}"#)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.memory.swappiness: 101"),
            "{e}"
        );
        assert_eq!(d.get("memory.swappiness"), "");
    }
}
