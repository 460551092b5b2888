//! The device rules as systemd's `DevicePolicy=` and `DeviceAllow=` unit
//! properties, as runc 1.1's systemd driver makes them: without them a
//! `systemctl daemon-reload` resets the unit's device access to systemd's
//! idea of it (everything, on v1), whatever the files say.
//!
//! systemd only knows allow lists, in three shapes: a node path
//! (`/dev/char/1:3 rwm`), a driver group named in /proc/devices
//! (`char-pts rwm`: every minor of that major) and a whole type
//! (`char-* m`). What it cannot say is left out with a warning; the cgroup
//! files (v1) or kist's eBPF program (v2), written after the unit exists,
//! still enforce the full rule list.

use crate::cgroups::devices::{DevType, DeviceRule, ACC_MKNOD, ACC_READ, ACC_WRITE};
use crate::dbus::{prop, Value};
use crate::error::{Error, Result};

/// The v1 devices controller's state after `rules`, as runc's emulator
/// keeps it: a default, and the exceptions to it (type, major, minor,
/// access), in the order they first appeared.
struct State {
    default_allow: bool,
    exceptions: Vec<(DevType, Option<u32>, Option<u32>, u8)>,
}

fn show(r: &(DevType, Option<u32>, Option<u32>, u8)) -> String {
    DeviceRule {
        allow: true,
        typ: r.0,
        major: r.1,
        minor: r.2,
        access: r.3,
    }
    .v1_line()
}

impl State {
    fn apply(&mut self, r: &DeviceRule) -> Result<()> {
        if r.typ == DevType::All {
            // "a": a new default, every exception dropped
            self.default_allow = r.allow;
            self.exceptions.clear();
            return Ok(());
        }
        if r.allow == self.default_allow {
            self.remove(r)
        } else {
            self.add(r);
            Ok(())
        }
    }

    fn add(&mut self, r: &DeviceRule) {
        match self
            .exceptions
            .iter_mut()
            .find(|e| (e.0, e.1, e.2) == (r.typ, r.major, r.minor))
        {
            Some(e) => e.3 |= r.access,
            None => self.exceptions.push((r.typ, r.major, r.minor, r.access)),
        }
    }

    /// A rule lifts its access from every exception it covers, as
    /// kist's list means it (the later rule wins: v1/devices.rs). An
    /// exception wider than the rule cannot be split: runc refuses that
    /// rather than silently keep the access, and so do we.
    fn remove(&mut self, r: &DeviceRule) -> Result<()> {
        for (maj, min) in [(None, r.minor), (r.major, None), (None, None)] {
            if (maj, min) == (r.major, r.minor) {
                continue;
            }
            if let Some(w) = self
                .exceptions
                .iter()
                .find(|e| (e.0, e.1, e.2) == (r.typ, maj, min) && e.3 & r.access != 0)
            {
                let what = if r.allow { "allow" } else { "deny" };
                return Err(Error::new(format!(
                    "linux.resources.devices: {what} rule {:?} cannot punch a hole in the wider rule {:?} (the devices cgroup cannot split it)",
                    show(&(r.typ, r.major, r.minor, r.access)),
                    show(w)
                )));
            }
        }
        let covers = |rn: Option<u32>, en: Option<u32>| rn.is_none() || rn == en;
        for e in self.exceptions.iter_mut() {
            if e.0 == r.typ && covers(r.major, e.1) && covers(r.minor, e.2) {
                e.3 &= !r.access;
            }
        }
        self.exceptions.retain(|e| e.3 != 0);
        Ok(())
    }
}

fn access(a: u8) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| a & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// The driver group of `major` of type `typ` in /proc/devices text
/// (`char-pts`), the first listed as runc takes it; None if none.
pub fn device_group(proc_devices: &str, typ: DevType, major: u32) -> Option<String> {
    let mut section = None;
    for line in proc_devices.lines() {
        match line.trim() {
            "Character devices:" => section = Some(DevType::Char),
            "Block devices:" => section = Some(DevType::Block),
            l => {
                if section != Some(typ) {
                    continue;
                }
                let mut f = l.split_whitespace();
                let (Some(n), Some(name), None) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                if n.parse::<u32>().ok() == Some(major) {
                    return Some(format!("{}{name}", prefix(typ)));
                }
            }
        }
    }
    None
}

fn prefix(typ: DevType) -> &'static str {
    if typ == DevType::Block {
        "block-"
    } else {
        "char-"
    }
}

fn allow_list(entries: Vec<(String, String)>) -> Value {
    Value::Array(
        "(ss)".into(),
        entries
            .into_iter()
            .map(|(p, a)| Value::Struct(vec![Value::Str(p), Value::Str(a)]))
            .collect(),
    )
}

/// `DevicePolicy` and `DeviceAllow` for the effective rule list `rules`
/// (`devices::rules`: the configured ones, then the default list).
/// `proc_devices` gives the text of /proc/devices, read only when a rule
/// has a wildcard minor.
pub fn properties(
    rules: &[DeviceRule],
    proc_devices: impl FnOnce() -> std::io::Result<String>,
) -> Result<Vec<Value>> {
    let mut s = State {
        default_allow: false,
        exceptions: Vec::new(),
    };
    for r in rules {
        s.apply(r)?;
    }
    // An empty DeviceAllow first: it resets what an earlier start or
    // update set, so the list below replaces it.
    let mut out = vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", allow_list(Vec::new())),
    ];
    if s.default_allow {
        if s.exceptions.is_empty() {
            // everything allowed: systemd's "auto" with no list
            return Ok(vec![
                prop("DevicePolicy", Value::Str("auto".into())),
                prop("DeviceAllow", allow_list(Vec::new())),
            ]);
        }
        crate::logger::warn(
            "systemd cannot express deny rules over an allow-all default: its unit gets a deny-all device policy; kist's device rules are applied through the cgroup after it",
        );
        return Ok(out);
    }
    let mut text = Some(proc_devices);
    let mut devices: Option<String> = None;
    let mut list = Vec::new();
    for e in &s.exceptions {
        let (typ, major, minor, acc) = *e;
        let path = match (major, minor) {
            (None, None) => format!("{}*", prefix(typ)),
            (None, Some(_)) => {
                crate::logger::warn(&format!(
                    "systemd has no form for a device rule with a wildcard major and a fixed minor: {:?} is left to the cgroup",
                    show(e)
                ));
                continue;
            }
            (Some(maj), None) => {
                if devices.is_none() {
                    let read = text
                        .take()
                        .map(|f| f())
                        .unwrap_or_else(|| Ok(String::new()));
                    devices = Some(read.map_err(|err| {
                        Error::new(format!(
                            "linux.resources.devices: read /proc/devices for the group of {:?}: {err}",
                            show(e)
                        ))
                    })?);
                }
                match device_group(devices.as_deref().unwrap_or(""), typ, maj) {
                    Some(g) => g,
                    None => {
                        crate::logger::warn(&format!(
                            "no {}device group with major {maj} in /proc/devices: device rule {:?} is left to the cgroup",
                            prefix(typ),
                            show(e)
                        ));
                        continue;
                    }
                }
            }
            (Some(maj), Some(min)) => {
                let dir = if typ == DevType::Block {
                    "block"
                } else {
                    "char"
                };
                format!("/dev/{dir}/{maj}:{min}")
            }
        };
        list.push((path, access(acc)));
    }
    out.push(prop("DeviceAllow", allow_list(list)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::rules;
    use oci_spec::runtime::LinuxDeviceCgroup;

    const PROC_DEVICES: &str = "Character devices:
  1 mem
  4 /dev/vc/0
  4 tty
  5 /dev/tty
 10 misc
136 pts
180 usb

Block devices:
  7 loop
  8 sd
259 blkext
";

    fn dev(json: &str) -> LinuxDeviceCgroup {
        serde_json::from_str(json).unwrap()
    }

    fn get<'a>(props: &'a [Value], name: &str) -> Vec<&'a Value> {
        props
            .iter()
            .filter_map(|p| match p {
                Value::Struct(f) if f[0] == Value::Str(name.into()) => match &f[1] {
                    Value::Variant(v) => Some(v.as_ref()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn allowed(v: &Value) -> Vec<String> {
        let Value::Array(sig, items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(sig, "(ss)");
        items
            .iter()
            .map(|i| match i {
                Value::Struct(f) => {
                    format!("{} {}", f[0].as_str().unwrap(), f[1].as_str().unwrap())
                }
                _ => panic!("{i:?}"),
            })
            .collect()
    }

    #[test]
    fn groups() {
        assert_eq!(
            device_group(PROC_DEVICES, DevType::Char, 136).as_deref(),
            Some("char-pts")
        );
        assert_eq!(
            device_group(PROC_DEVICES, DevType::Block, 8).as_deref(),
            Some("block-sd")
        );
        // the first listed, as runc
        assert_eq!(
            device_group(PROC_DEVICES, DevType::Char, 4).as_deref(),
            Some("char-/dev/vc/0")
        );
        // 7 is a block major here, not a char one
        assert_eq!(device_group(PROC_DEVICES, DevType::Char, 7), None);
        assert_eq!(device_group(PROC_DEVICES, DevType::Block, 136), None);
    }

    #[test]
    fn default_deny_with_rules() {
        let r = rules(&[
            dev(r#"{"allow":false,"access":"rwm"}"#),
            dev(r#"{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}"#),
            dev(r#"{"allow":true,"type":"b","major":8,"access":"r"}"#),
            // wildcard major, fixed minor: systemd has no form for it
            dev(r#"{"allow":true,"type":"c","minor":4,"access":"r"}"#),
            // no group in /proc/devices
            dev(r#"{"allow":true,"type":"c","major":250,"access":"r"}"#),
            // access of the same node merges
            dev(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"r"}"#),
        ])
        .unwrap();
        let p = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), [&Value::Str("strict".into())]);
        let lists = get(&p, "DeviceAllow");
        assert_eq!(lists.len(), 2);
        assert!(allowed(lists[0]).is_empty(), "reset first");
        assert_eq!(
            allowed(lists[1]),
            [
                "/dev/char/10:229 rw",
                "block-sd r",
                "/dev/char/1:3 rwm",
                "char-* m",
                "block-* m",
                "/dev/char/1:8 rwm",
                "/dev/char/1:7 rwm",
                "/dev/char/5:0 rwm",
                "/dev/char/1:5 rwm",
                "/dev/char/1:9 rwm",
                "/dev/char/5:1 rwm",
                "char-pts rwm",
                "/dev/char/5:2 rwm",
                "/dev/char/10:200 rwm",
            ]
        );
    }

    #[test]
    fn later_rules_win() {
        // a later deny removes an earlier allow; an "a" rule starts over
        let r = rules(&[
            dev(r#"{"allow":true,"type":"c","major":4,"minor":1,"access":"rwm"}"#),
            dev(r#"{"allow":false,"type":"c","major":4,"minor":1,"access":"w"}"#),
            dev(r#"{"allow":true,"type":"c","major":4,"minor":2,"access":"rwm"}"#),
            dev(r#"{"allow":false,"access":"rwm"}"#),
        ])
        .unwrap();
        let p = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap();
        let l = allowed(get(&p, "DeviceAllow")[1]);
        assert!(!l.iter().any(|e| e.starts_with("/dev/char/4:")), "{l:?}");
        let r = rules(&[
            dev(r#"{"allow":true,"type":"c","major":4,"minor":1,"access":"rwm"}"#),
            dev(r#"{"allow":false,"type":"c","major":4,"minor":1,"access":"w"}"#),
        ])
        .unwrap();
        let p = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap();
        assert_eq!(allowed(get(&p, "DeviceAllow")[1])[0], "/dev/char/4:1 rm");
        // a later wider deny lifts its access from the narrower allows
        let r = rules(&[
            dev(r#"{"allow":true,"type":"c","major":4,"minor":1,"access":"rwm"}"#),
            dev(r#"{"allow":true,"type":"c","major":4,"minor":2,"access":"r"}"#),
            dev(r#"{"allow":false,"type":"c","access":"r"}"#),
        ])
        .unwrap();
        let p = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap();
        let l = allowed(get(&p, "DeviceAllow")[1]);
        assert_eq!(l[0], "/dev/char/4:1 wm", "{l:?}");
        assert!(!l.iter().any(|e| e.starts_with("/dev/char/4:2")), "{l:?}");
    }

    #[test]
    fn allow_all_and_blacklists() {
        // privileged: everything allowed, the default list changes nothing
        let r = rules(&[dev(r#"{"allow":true,"access":"rwm"}"#)]).unwrap();
        let p = properties(&r, || panic!("no wildcard minor: not read")).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), [&Value::Str("auto".into())]);
        let lists = get(&p, "DeviceAllow");
        assert_eq!(lists.len(), 1);
        assert!(allowed(lists[0]).is_empty());
        // allow-all with deny exceptions: systemd cannot say it; deny-all
        let r = rules(&[
            dev(r#"{"allow":true,"access":"rwm"}"#),
            dev(r#"{"allow":false,"type":"b","major":8,"minor":0,"access":"w"}"#),
        ])
        .unwrap();
        let p = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), [&Value::Str("strict".into())]);
        let lists = get(&p, "DeviceAllow");
        assert_eq!(lists.len(), 1);
        assert!(allowed(lists[0]).is_empty());
    }

    #[test]
    fn errors() {
        // a deny inside an allowed wildcard cannot be expressed (runc too)
        let r = rules(&[
            dev(r#"{"allow":true,"type":"c","major":4,"access":"rw"}"#),
            dev(r#"{"allow":false,"type":"c","major":4,"minor":1,"access":"w"}"#),
        ])
        .unwrap();
        let e = properties(&r, || Ok(PROC_DEVICES.to_string())).unwrap_err();
        assert!(e.to_string().contains("\"c 4:1 w\""), "{e}");
        assert!(e.to_string().contains("\"c 4:* rw\""), "{e}");
        // /proc/devices unreadable when a group is needed
        let r = rules(&[]).unwrap();
        let e = properties(&r, || Err(std::io::Error::from_raw_os_error(2))).unwrap_err();
        assert!(e.to_string().contains("/proc/devices"), "{e}");
    }
}
