//! `process.capabilities`: the five sets, applied across the uid change.
//!
//! Order matters (see capabilities(7)): the bounding set is reduced while we
//! still hold CAP_SETPCAP; PR_SET_KEEPCAPS keeps the permitted set across
//! setuid to a non-root user; then effective/permitted/inheritable are set
//! exactly, and ambient last (ambient requires permitted and inheritable).

use crate::error::{Error, Result};
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
/// capability the kernel knows (PR_CAPBSET_READ fails past the last one)
/// that the config does not list.
pub fn drop_bounding(s: &Sets) -> Result<()> {
    for n in 0..64u8 {
        let cap = libc::c_ulong::from(n);
        // SAFETY: PR_CAPBSET_READ and PR_CAPBSET_DROP take a capability
        // number and touch no memory.
        let held = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) };
        if held < 0 {
            break;
        }
        if held == 1 && s.bounding & (1 << n) == 0 {
            // SAFETY: as above.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
                let e = std::io::Error::last_os_error();
                return Err(Error::new(format!(
                    "process.capabilities.bounding: drop {} from the bounding set: {e}",
                    cap_name(n)
                )));
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Step two, after the uid change: effective, permitted and inheritable in
/// one capset (valid when effective ⊆ permitted, as the kernel demands of
/// any order), then ambient.
pub fn apply(s: &Sets) -> Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |m: u64, hi: bool| if hi { (m >> 32) as u32 } else { m as u32 };
    let data: [CapData; 2] = [false, true].map(|hi| CapData {
        effective: half(s.effective, hi),
        permitted: half(s.permitted, hi),
        inheritable: half(s.inheritable, hi),
    });
    // SAFETY: capset reads one header and two data structs laid out as the
    // kernel's _LINUX_CAPABILITY_VERSION_3 ABI; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(Error::io(
            "process.capabilities: set effective, permitted and inheritable (capset; effective must be within permitted, inheritable within bounding)",
            std::io::Error::last_os_error(),
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
