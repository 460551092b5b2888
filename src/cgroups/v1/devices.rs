//! v1 devices controller: deny everything, then the rules in order.
//!
//! The kernel keeps a default (allow or deny) plus a list of exceptions,
//! and a rule only removes an exception with exactly its type and numbers:
//! `c *:* m` allowed after `c 10:229 rwm` was denied leaves mknod of 10:229
//! denied, where the list's meaning (and runc's, and the v2 program's) is
//! that the later rule wins. So before a rule is written, each earlier
//! exception of the opposite kind that it covers gets that rule's access
//! lifted from it by an exact-match write.

use crate::cgroups::devices::{DevType, DeviceRule};
use crate::cgroups::fsio;
use crate::error::Result;
use std::path::Path;

pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    // One open of each file for every rule: the kernel parses each write(2)
    // as one rule, whatever was written on the descriptor before.
    let mut allow = fsio::Writer::new(dir.join("devices.allow"));
    let mut deny = fsio::Writer::new(dir.join("devices.deny"));
    deny.write("linux.resources.devices", "a")?;
    for r in writes(rules) {
        let file = if r.allow { &mut allow } else { &mut deny };
        let line = r.v1_line();
        file.write(&format!("linux.resources.devices rule {line:?}"), &line)?;
    }
    Ok(())
}

/// Does `r` apply to every device `e` names?
fn covers(r: &DeviceRule, e: &DeviceRule) -> bool {
    let num = |rn: Option<u32>, en: Option<u32>| rn.is_none() || rn == en;
    r.typ == DevType::All || (r.typ == e.typ && num(r.major, e.major) && num(r.minor, e.minor))
}

/// The rules to write after the initial deny-all, in order.
fn writes(rules: &[DeviceRule]) -> Vec<DeviceRule> {
    let mut out = Vec::new();
    // Exceptions to the current default (which starts as deny).
    let mut exceptions: Vec<DeviceRule> = Vec::new();
    let mut default_allow = false;
    for r in rules {
        if r.typ == DevType::All {
            // "a" resets the default and clears every exception.
            default_allow = r.allow;
            exceptions.clear();
            out.push(*r);
            continue;
        }
        if r.allow != default_allow {
            exceptions.push(*r);
        } else {
            for e in exceptions.iter_mut() {
                let lift = e.access & r.access;
                let exact = e.major == r.major && e.minor == r.minor;
                if lift != 0 && !exact && covers(r, e) {
                    out.push(DeviceRule {
                        allow: r.allow,
                        access: lift,
                        ..*e
                    });
                    e.access &= !lift;
                }
            }
            exceptions.retain(|e| e.access != 0);
        }
        out.push(*r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::rules;

    fn lines(json: &str) -> Vec<String> {
        let res: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        writes(&rules(&res).unwrap())
            .iter()
            .map(|r| format!("{} {}", if r.allow { "allow" } else { "deny" }, r.v1_line()))
            .collect()
    }

    #[test]
    fn later_wildcard_rules_win_over_earlier_exact_ones() {
        let w = lines(
            r#"[{"allow":true,"access":"rwm"},
                {"allow":false,"type":"c","major":10,"minor":229,"access":"rwm"}]"#,
        );
        // The default "c *:* m" lifts mknod from the 10:229 exception first.
        let i = w.iter().position(|l| l == "allow c *:* m").unwrap();
        assert_eq!(w[i - 1], "allow c 10:229 m", "{w:?}");
        assert_eq!(&w[..2], ["allow a", "deny c 10:229 rwm"], "{w:?}");
        // Default deny: plain allow exceptions, nothing extra to lift.
        let w = lines(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}]"#,
        );
        assert_eq!(&w[..2], ["deny a", "allow c 10:229 rw"], "{w:?}");
        assert!(!w.iter().any(|l| l.starts_with("deny c 10:229")), "{w:?}");
    }
}
