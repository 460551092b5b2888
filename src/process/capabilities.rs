//! `process.capabilities`: the five sets, applied across the uid change.
//!
//! Order matters (see capabilities(7)): the bounding set is reduced while we
//! still hold CAP_SETPCAP; PR_SET_KEEPCAPS keeps the permitted set across
//! setuid to a non-root user; then effective/permitted/inheritable are set
//! exactly, and ambient last (ambient requires permitted and inheritable).

use crate::error::{Error, Result};
use crate::sys::process::CapData;
use caps::{Capability as Cap, CapsHashSet};
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

/// The five sets as kernel bit masks, ready before the seccomp filter goes
/// in: applying them needs only prctl and capset (no capget, no allocation).
pub struct Sets {
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    /// Only those the kernel will take (permitted and inheritable).
    ambient: Vec<Cap>,
}

fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

/// Converts and checks every name before anything is changed.
pub fn resolve(c: &LinuxCapabilities) -> Result<Sets> {
    let permitted = convert(c.permitted(), "permitted")?;
    let inheritable = convert(c.inheritable(), "inheritable")?;
    let mut ambient = Vec::new();
    for cap in convert(c.ambient(), "ambient")? {
        // The kernel only allows ambient capabilities that are permitted and
        // inheritable. runc's default spec lists ambient ones without
        // inheritable and runc goes on without them: do the same (logged with --debug).
        if permitted.contains(&cap) && inheritable.contains(&cap) {
            ambient.push(cap);
        } else {
            crate::logger::debug(&format!(
                "process.capabilities.ambient: {cap} skipped: not in both permitted and inheritable"
            ));
        }
    }
    Ok(Sets {
        bounding: mask(&convert(c.bounding(), "bounding")?),
        effective: mask(&convert(c.effective(), "effective")?),
        permitted: mask(&permitted),
        inheritable: mask(&inheritable),
        ambient,
    })
}

fn cap_name(n: u8) -> String {
    caps::all()
        .into_iter()
        .find(|c| c.index() == n)
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("capability {n}"))
}

/// Step one, before the uid change: drop from the bounding set every
/// capability the kernel knows that the config does not list. The drop is
/// tried first (a no-op for one already gone, EINVAL past the last one the
/// kernel knows): half the prctls of reading each first. Only a refused
/// drop (EPERM, without CAP_SETPCAP) looks whether the capability is held.
pub fn drop_bounding(s: &Sets) -> Result<()> {
    for n in 0..64u8 {
        if s.bounding & (1 << n) != 0 {
            continue;
        }
        let cap = libc::c_ulong::from(n);
        // SAFETY: PR_CAPBSET_DROP and PR_CAPBSET_READ take a capability
        // number and touch no memory.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } == 0 {
            continue;
        }
        let e = std::io::Error::last_os_error();
        // SAFETY: as above.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) } {
            0 => continue,
            held if held < 0 => break,
            _ => {}
        }
        return Err(Error::new(format!(
            "process.capabilities.bounding: drop {} from the bounding set: {e}",
            cap_name(n)
        )));
    }
    Ok(())
}

/// Step two, after the uid change: effective, permitted and inheritable in
/// one capset (valid when effective ⊆ permitted, as the kernel demands of
/// any order), then ambient.
pub fn apply(s: &Sets) -> Result<()> {
    let half = |m: u64, hi: bool| if hi { (m >> 32) as u32 } else { m as u32 };
    let data: [CapData; 2] = [false, true].map(|hi| CapData {
        effective: half(s.effective, hi),
        permitted: half(s.permitted, hi),
        inheritable: half(s.inheritable, hi),
    });
    if let Err(e) = crate::sys::process::capset(&data) {
        return Err(Error::io(
            "process.capabilities: set effective, permitted and inheritable (capset; effective must be within permitted, inheritable within bounding)",
            e.into(),
        ));
    }
    // SAFETY: PR_CAP_AMBIENT with CLEAR_ALL or RAISE and a capability
    // number touches no memory.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(Error::io(
            "process.capabilities.ambient: clear",
            std::io::Error::last_os_error(),
        ));
    }
    for cap in &s.ambient {
        // SAFETY: as above.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                libc::c_ulong::from(cap.index()),
                0,
                0,
            )
        };
        if rc != 0 {
            return Err(Error::io(
                format!("process.capabilities.ambient: raise {cap}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// No `capabilities` object: the process keeps no capability at all, as the
/// spec's absent sets are empty sets.
pub fn none() -> Sets {
    Sets {
        bounding: 0,
        effective: 0,
        permitted: 0,
        inheritable: 0,
        ambient: Vec::new(),
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
