//! cgroup2 memory controller, from the v1-shaped OCI fields.

use crate::cgroups::{fsio, v2::convert};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxMemory;
use std::path::Path;

const F: &str = "linux.resources.memory";

fn w(dir: &Path, field: &str, file: &str, val: &str) -> Result<()> {
    fsio::write(&format!("{F}.{field}"), &dir.join(file), val)
}

fn num_or_max(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn unsupported(field: &str, file: &str) -> Error {
    Error::new(format!(
        "{F}.{field}: not supported on cgroup v2 (there is no {file} file)"
    ))
}

pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    // 0 is "unset" for the kernel limits, as runc reads them: Docker's
    // `update` sends `kernel: 0` whatever the host.
    if m.kernel().is_some_and(|k| k != 0) {
        return Err(unsupported("kernel", "memory.kmem.limit_in_bytes"));
    }
    if m.kernel_tcp().is_some_and(|k| k != 0) {
        return Err(unsupported("kernelTCP", "memory.kmem.tcp.limit_in_bytes"));
    }
    if m.swappiness().is_some() {
        return Err(unsupported("swappiness", "memory.swappiness"));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported("disableOOMKiller", "memory.oom_control"));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(Error::new(format!(
            "{F}.useHierarchy: cgroup v2 is always hierarchical, false cannot be applied"
        )));
    }
    let limit = m.limit().filter(|&v| v != 0);
    if let (Some(l), Some(true)) = (limit, m.check_before_update()) {
        if l > 0 {
            let cur = fsio::read_u64(&dir.join("memory.current"))
                .map_err(|e| e.context(format!("{F}.checkBeforeUpdate")))?;
            if cur > l as u64 {
                return Err(Error::new(format!(
                    "{F}.limit: {l} is below the current usage {cur} ({}), refused because checkBeforeUpdate is set",
                    dir.join("memory.current").display()
                )));
            }
        }
    }
    if m.swap().is_some() || limit == Some(-1) {
        let s = m.swap().unwrap_or(0);
        // memory+swap → swap alone needs the memory limit: the one given, or
        // the one in force (kist update --memory-swap alone).
        let mem = match limit {
            Some(l) => l,
            None => match fsio::read(&dir.join("memory.max"))?.trim() {
                "max" => -1,
                v => v.parse::<i64>().unwrap_or(0),
            },
        };
        let v =
            convert::memory_swap_to_v2(s, mem).map_err(|e| Error::new(format!("{F}.swap: {e}")))?;
        if let Some(v) = v {
            let file = dir.join("memory.swap.max");
            if !file.exists() && (v == "max" || v == "0") {
                // no swap accounting (swapaccount=0 or no swap): nothing to
                // limit, same as runc
            } else {
                fsio::write(&format!("{F}.swap"), &file, &v)?;
            }
        }
    }
    if let Some(l) = limit {
        w(dir, "limit", "memory.max", &num_or_max(l))?;
    }
    if let Some(r) = m.reservation().filter(|&v| v != 0) {
        w(dir, "reservation", "memory.low", &num_or_max(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v2_files() {
        let d = FakeDir::new(&[
            ("memory.max", ""),
            ("memory.swap.max", ""),
            ("memory.low", ""),
        ]);
        // memory+swap 3M with memory 1M is 2M of swap alone
        apply(
            &d.0,
            &oci(r#"{"limit":1048576,"swap":3145728,"reservation":4096}"#),
        )
        .unwrap();
        assert_eq!(d.get("memory.max"), "1048576");
        assert_eq!(d.get("memory.swap.max"), "2097152");
        assert_eq!(d.get("memory.low"), "4096");
    }

    #[test]
    fn swap_alone_uses_the_limit_in_force() {
        let d = FakeDir::new(&[("memory.max", "1048576"), ("memory.swap.max", "")]);
        apply(&d.0, &oci(r#"{"swap":1572864}"#)).unwrap();
        assert_eq!(d.get("memory.swap.max"), "524288");
    }

    #[test]
    fn v1_only_fields_are_errors() {
        let d = FakeDir::new(&[("memory.max", "")]);
        for (json, field) in [
            (r#"{"kernel":1}"#, "kernel"),
            (r#"{"swappiness":1}"#, "swappiness"),
            (r#"{"disableOOMKiller":true}"#, "disableOOMKiller"),
            (r#"{"useHierarchy":false}"#, "useHierarchy"),
        ] {
            let e = apply(&d.0, &oci(json)).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("linux.resources.memory.{field}: ")),
                "{e}"
            );
        }
        assert_eq!(d.get("memory.max"), "");
    }

    #[test]
    fn check_before_update() {
        let d = FakeDir::new(&[("memory.max", ""), ("memory.current", "2000000")]);
        let e = apply(&d.0, &oci(r#"{"limit":1048576,"checkBeforeUpdate":true}"#)).unwrap_err();
        assert!(
            e.to_string().contains("below the current usage 2000000"),
            "{e}"
        );
        assert_eq!(d.get("memory.max"), "");
        apply(&d.0, &oci(r#"{"limit":4194304,"checkBeforeUpdate":true}"#)).unwrap();
        assert_eq!(d.get("memory.max"), "4194304");
    }
}
