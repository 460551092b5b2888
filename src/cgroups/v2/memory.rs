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
