//! `process.capabilities`: the five sets, applied across the uid change.
//!
//! Order matters (see capabilities(7)): the bounding set is reduced while we
//! still hold CAP_SETPCAP; PR_SET_KEEPCAPS keeps the permitted set across
//! setuid to a non-root user; then effective/permitted/inheritable are set
//! exactly, and ambient last (ambient requires permitted and inheritable).

use crate::error::{Error, Result};
use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use std::str::FromStr;

fn convert(set: &Option<Capabilities>, field: &str) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        out.insert(to_caps(c).map_err(|e| e.context(format!("process.capabilities.{field}")))?);
    }
    Ok(out)
}

fn to_caps(c: &Capability) -> Result<Cap> {
    let name = format!("CAP_{c}");
    Cap::from_str(&name)
        .map_err(|_| Error::new(format!("capability {name} unknown to this kernel")))
}

/// The highest capability number of the running kernel
/// (/proc/sys/kernel/cap_last_cap), None if it cannot be read.
pub fn kernel_last() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The number of a capability named like `CAP_BPF`, if the name is known.
pub fn index_of(name: &str) -> Option<u8> {
    Cap::from_str(name).ok().map(|c| c.index())
}

/// The name of capability number `index`.
pub fn name_of(index: u8) -> Option<String> {
    caps::all()
        .into_iter()
        .find(|c| c.index() == index)
        .map(|c| c.to_string())
}

/// A capability of `c` the running kernel lacks, as (set, name, the
/// kernel's highest capability); None when all are there (or the kernel
/// does not say).
pub fn kernel_lacks(c: &LinuxCapabilities) -> Option<(&'static str, String, String)> {
    let last = kernel_last()?;
    let sets = [
        ("bounding", c.bounding()),
        ("effective", c.effective()),
        ("inheritable", c.inheritable()),
        ("permitted", c.permitted()),
        ("ambient", c.ambient()),
    ];
    let (set, name) = sets.iter().find_map(|(set, caps)| {
        caps.iter()
            .flatten()
            .map(|cap| format!("CAP_{cap}"))
            .find(|name| index_of(name).is_some_and(|i| i > last))
            .map(|name| (*set, name))
    })?;
    let highest = name_of(last).unwrap_or_else(|| last.to_string());
    Some((set, name, highest))
}

/// The capabilities the running kernel has, sorted by name (every known
/// one if the kernel does not say).
pub fn kernel_supported() -> Vec<String> {
    let last = kernel_last().unwrap_or(u8::MAX);
    let mut out: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .map(|c| c.to_string())
        .collect();
    out.sort();
    out
}

pub struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

/// Converts and checks every name before anything is changed.
pub fn resolve(c: &LinuxCapabilities) -> Result<Sets> {
    Ok(Sets {
        bounding: convert(c.bounding(), "bounding")?,
        effective: convert(c.effective(), "effective")?,
        permitted: convert(c.permitted(), "permitted")?,
        inheritable: convert(c.inheritable(), "inheritable")?,
        ambient: convert(c.ambient(), "ambient")?,
    })
}

/// Step one, before the uid change: drop from the bounding set.
pub fn drop_bounding(s: &Sets) -> Result<()> {
    for cap in caps::all() {
        if !s.bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
        {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                Error::new(format!(
                    "process.capabilities.bounding: drop {cap} from the bounding set: {e}"
                ))
            })?;
        }
    }
    Ok(())
}

/// Step two, after the uid change.
pub fn apply(s: &Sets) -> Result<()> {
    // Each capset must keep effective ⊆ permitted, and inheritable may only
    // grow within what is permitted now: so inheritable first (permitted
    // still full), then effective shrinks, then permitted.
    let set = |which: CapSet, v: &CapsHashSet, field: &str| {
        caps::set(None, which, v)
            .map_err(|e| Error::new(format!("process.capabilities.{field}: set {which:?}: {e}")))
    };
    set(CapSet::Inheritable, &s.inheritable, "inheritable")?;
    set(CapSet::Effective, &s.effective, "effective")?;
    set(CapSet::Permitted, &s.permitted, "permitted")?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| Error::new(format!("process.capabilities.ambient: clear: {e}")))?;
    for cap in &s.ambient {
        // The kernel only allows ambient capabilities that are permitted and
        // inheritable. runc's default spec lists ambient ones without
        // inheritable and runc goes on without them: do the same (logged with --debug).
        if !(s.permitted.contains(cap) && s.inheritable.contains(cap)) {
            crate::logger::debug(&format!(
                "process.capabilities.ambient: {cap} skipped: not in both permitted and inheritable"
            ));
            continue;
        }
        caps::raise(None, CapSet::Ambient, *cap)
            .map_err(|e| Error::new(format!("process.capabilities.ambient: raise {cap}: {e}")))?;
    }
    Ok(())
}

/// No `capabilities` object: the process keeps no capability at all, as the
/// spec's absent sets are empty sets.
pub fn none() -> Sets {
    Sets {
        bounding: CapsHashSet::new(),
        effective: CapsHashSet::new(),
        permitted: CapsHashSet::new(),
        inheritable: CapsHashSet::new(),
        ambient: CapsHashSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert() {
        assert_eq!(
            to_caps(&Capability::NetBindService).ok(),
            Some(Cap::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(
            to_caps(&Capability::SysAdmin).ok(),
            Some(Cap::CAP_SYS_ADMIN)
        );
    }
}
