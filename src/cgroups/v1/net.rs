//! v1 net_cls and net_prio (cgroup v2 has neither: use eBPF instead).

use crate::cgroups::fsio;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxInterfacePriority;
use std::path::Path;

pub fn class_id(dir: &Path, id: u32) -> Result<()> {
    fsio::write(
        "linux.resources.network.classID",
        &dir.join("net_cls.classid"),
        &id.to_string(),
    )
}

pub fn priorities(dir: &Path, p: &[LinuxInterfacePriority]) -> Result<()> {
    for (i, ip) in p.iter().enumerate() {
        let field = format!("linux.resources.network.priorities[{i}]");
        if ip.name().is_empty() || ip.name().contains(char::is_whitespace) {
            return Err(Error::new(format!(
                "{field}.name {:?}: invalid interface name",
                ip.name()
            )));
        }
        fsio::write(
            &field,
            &dir.join("net_prio.ifpriomap"),
            &format!("{} {}", ip.name(), ip.priority()),
        )?;
    }
    Ok(())
}
