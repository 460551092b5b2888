//! Device access rules: linux.resources.devices, plus runc's default allow
//! list, in one form for both the v1 devices controller and the v2 eBPF
//! program.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Access bits, numbered as the kernel's BPF_DEVCG_ACC_* are.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevType {
    All,
    Block,
    Char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: DevType,
    /// None is the wildcard `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl DeviceRule {
    const fn allow(typ: DevType, major: Option<u32>, minor: Option<u32>, access: u8) -> Self {
        DeviceRule {
            allow: true,
            typ,
            major,
            minor,
            access,
        }
    }

    /// The v1 devices.allow / devices.deny line.
    pub fn v1_line(&self) -> String {
        let t = match self.typ {
            DevType::All => return "a".to_string(),
            DevType::Block => 'b',
            DevType::Char => 'c',
        };
        let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{t} {}:{} {acc}", num(self.major), num(self.minor))
    }
}

/// What runc 1.1 always allows after the configured rules: mknod of any
/// device (creating a node gives no access to it), the standard devices,
/// the console, ptys and tun.
pub const DEFAULT_ALLOWED: &[DeviceRule] = &[
    DeviceRule::allow(DevType::Char, None, None, ACC_MKNOD),
    DeviceRule::allow(DevType::Block, None, None, ACC_MKNOD),
    DeviceRule::allow(DevType::Char, Some(1), Some(3), ACC_ALL), // null
    DeviceRule::allow(DevType::Char, Some(1), Some(8), ACC_ALL), // random
    DeviceRule::allow(DevType::Char, Some(1), Some(7), ACC_ALL), // full
    DeviceRule::allow(DevType::Char, Some(5), Some(0), ACC_ALL), // tty
    DeviceRule::allow(DevType::Char, Some(1), Some(5), ACC_ALL), // zero
    DeviceRule::allow(DevType::Char, Some(1), Some(9), ACC_ALL), // urandom
    DeviceRule::allow(DevType::Char, Some(5), Some(1), ACC_ALL), // console
    DeviceRule::allow(DevType::Char, Some(136), None, ACC_ALL),  // pts
    DeviceRule::allow(DevType::Char, Some(5), Some(2), ACC_ALL), // ptmx
    DeviceRule::allow(DevType::Char, Some(10), Some(200), ACC_ALL), // net/tun
];

fn number(field: &str, v: Option<i64>) -> Result<Option<u32>> {
    match v {
        None | Some(-1) => Ok(None),
        // BPF immediates are signed 32-bit; real device numbers are far
        // below (major 12 bits, minor 20 bits).
        Some(n) if (0..=i32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(Error::new(format!("{field}: {n} is not a device number"))),
    }
}

/// The access bits of `a` (empty: all). Letters other than r, w and m are
/// ignored with a warning, as runc ignores them; an access string with none
/// of them is refused, since it would otherwise mean nothing or everything.
pub fn parse_access(field: &str, a: Option<&str>) -> Result<u8> {
    let a = a.unwrap_or("");
    if a.is_empty() {
        return Ok(ACC_ALL);
    }
    let mut bits = 0;
    let mut unknown = String::new();
    for c in a.chars() {
        match c {
            'r' => bits |= ACC_READ,
            'w' => bits |= ACC_WRITE,
            'm' => bits |= ACC_MKNOD,
            _ => unknown.push(c),
        }
    }
    if bits == 0 {
        return Err(Error::new(format!(
            "{field}.access {a:?}: no access letter (r, w or m)"
        )));
    }
    if !unknown.is_empty() {
        crate::logger::warn(&format!(
            "{field}.access {a:?}: ignoring {unknown:?} (only r, w and m mean something)"
        ));
    }
    Ok(bits)
}

/// linux.resources.devices in order, then [`DEFAULT_ALLOWED`], as runc 1.1
/// and crun order them (later rules win). The nodes of linux.devices get no
/// rule of their own: creating a node must not widen access to it, so an
/// engine that wants it usable sends a linux.resources.devices rule too.
pub fn rules(resources: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    let mut out = Vec::new();
    for (i, d) in resources.iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => DevType::All,
            Some(LinuxDeviceType::B) => DevType::Block,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DevType::Char,
            Some(LinuxDeviceType::P) => {
                return Err(Error::new(format!(
                    "{field}.type: \"p\" (fifo) is not governed by device cgroup rules"
                )))
            }
        };
        let (major, minor) = if typ == DevType::All {
            // the kernel ignores numbers on an "a" rule; so do we
            (None, None)
        } else {
            (
                number(&format!("{field}.major"), d.major())?,
                number(&format!("{field}.minor"), d.minor())?,
            )
        };
        out.push(DeviceRule {
            allow: d.allow(),
            typ,
            major,
            minor,
            access: parse_access(&field, d.access().as_deref())?,
        });
    }
    out.extend_from_slice(DEFAULT_ALLOWED);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let r = rules(&[
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap(),
            serde_json::from_str(
                r#"{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}"#,
            )
            .unwrap(),
            serde_json::from_str(r#"{"allow":true,"type":"b","major":8,"access":"r"}"#).unwrap(),
        ])
        .unwrap();
        assert_eq!(r[0].v1_line(), "a");
        assert!(!r[0].allow);
        assert_eq!(r[1].v1_line(), "c 10:229 rw");
        assert_eq!(r[2].v1_line(), "b 8:* r");
        assert_eq!(r.len(), 3 + DEFAULT_ALLOWED.len());
        assert_eq!(r[3].v1_line(), "c *:* m");
        // runc ignores letters it does not know ...
        let odd: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwa"}"#)
                .unwrap();
        assert_eq!(rules(&[odd]).unwrap()[0].v1_line(), "c 1:3 rw");
        // ... but a rule with none that it knows is no rule at all.
        let bad: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"access":"ax"}"#).unwrap();
        let e = rules(&[bad]).unwrap_err();
        assert!(
            e.to_string().contains("linux.resources.devices[0].access"),
            "{e}"
        );
    }
}
