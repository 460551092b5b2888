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

#[cfg(test)]
mod tests {
    use super::{class_id, priorities};
    use crate::cgroups::testutil::{oci, FakeDir};

    #[test]
    fn writes_v1_files() {
        let d = FakeDir::new(&[("net_cls.classid", ""), ("net_prio.ifpriomap", "")]);
        class_id(&d.0, 0x100001).unwrap();
        assert_eq!(d.get("net_cls.classid"), "1048577");
        priorities(&d.0, &oci::<Vec<_>>(r#"[{"name":"eth0","priority":5}]"#)).unwrap();
        assert_eq!(d.get("net_prio.ifpriomap"), "eth0 5");
        let e = priorities(&d.0, &oci::<Vec<_>>(r#"[{"name":"a b","priority":1}]"#)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.network.priorities[0].name"),
            "{e}"
        );
    }
}
