//! v1 devices controller: deny everything, then the rules in order.

use crate::cgroups::{devices::DeviceRule, fsio};
use crate::error::Result;
use std::path::Path;

pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    fsio::write("linux.resources.devices", &dir.join("devices.deny"), "a")?;
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fsio::write(
            &format!("linux.resources.devices rule {:?}", r.v1_line()),
            &dir.join(file),
            &r.v1_line(),
        )?;
    }
    Ok(())
}
