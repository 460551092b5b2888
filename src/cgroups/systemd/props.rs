//! linux.resources as systemd unit properties (runc's
//! `genV1ResourcesProperties` / `genV2ResourcesProperties`), and the
//! `org.systemd.property.*` annotations.
//!
//! Everything is also written to the cgroup files afterwards (as runc's
//! driver does): the properties are what keeps systemd from resetting the
//! files on a daemon-reload, the files carry what has no property.

use crate::cgroups::v2::convert;
use crate::dbus::{prop, Value};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;

const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// The properties for `r`; `v2` picks cgroup v2 names (MemoryMax,
/// CPUWeight) over v1 ones (MemoryLimit, CPUShares).
pub fn from_resources(r: &LinuxResources, v2: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    // As runc: I/O accounting on, so systemd keeps the controller enabled
    // for the unit whatever the properties below.
    let io = if v2 {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    out.push(prop(io, Value::Bool(true)));
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            let name = if v2 { "MemoryMax" } else { "MemoryLimit" };
            out.push(prop(name, Value::U64(limit(l))));
        }
        if v2 {
            if let Some(res) = m.reservation() {
                out.push(prop("MemoryLow", Value::U64(limit(res))));
            }
            if let Some(s) = m.swap() {
                let swap = convert::memory_swap_to_v2(s, m.limit().unwrap_or(0))
                    .map_err(|e| Error::new(format!("linux.resources.memory.swap: {e}")))?;
                if let Some(s) = swap {
                    let v = if s == "max" {
                        INFINITY
                    } else {
                        s.parse().unwrap_or(INFINITY)
                    };
                    out.push(prop("MemorySwapMax", Value::U64(v)));
                }
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            if v2 {
                let w = convert::cpu_shares_to_weight(s);
                out.push(prop("CPUWeight", Value::U64(w)));
            } else {
                out.push(prop("CPUShares", Value::U64(s)));
            }
        }
        let period = c.period().filter(|&p| p != 0);
        if let Some(p) = period {
            out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
        }
        if let Some(q) = c.quota().filter(|&q| q != 0) {
            let per_sec = if q < 0 {
                INFINITY
            } else {
                // systemd counts the quota per second, in steps of 10ms
                // (rounded up, as runc, so a small quota stays non-zero).
                let p = period.unwrap_or(100_000);
                let us = (q as u64).saturating_mul(1_000_000) / p;
                us.div_ceil(10_000) * 10_000
            };
            out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        // On v1 too, as runc: systemd keeps them (its cpuset support is v2
        // only) and kist writes the v1 cpuset files itself.
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(prop("AllowedCPUs", bitmask(cpus, "cpus")?));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(prop("AllowedMemoryNodes", bitmask(mems, "mems")?));
        }
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        out.push(prop(
            "TasksMax",
            Value::U64(if l <= 0 { INFINITY } else { l as u64 }),
        ));
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        if w != 0 {
            if v2 {
                let w = convert::blkio_weight_to_io_weight(u64::from(w));
                out.push(prop("IOWeight", Value::U64(w)));
            } else {
                out.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
            }
        }
    }
    Ok(out)
}

/// A cpu or memory node list (`0-3,8`) as systemd's byte mask.
fn bitmask(list: &str, field: &str) -> Result<Value> {
    let bad = || {
        Error::new(format!(
            "linux.resources.cpu.{field} {list:?}: not a list like 0-3,8"
        ))
    };
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= 8192 {
            return Err(bad());
        }
        for n in a..=b {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    Ok(Value::Array(
        "y".into(),
        bits.into_iter().map(Value::Byte).collect(),
    ))
}

pub const ANNOTATION_PREFIX: &str = "org.systemd.property.";

/// `org.systemd.property.<Name>` annotations as properties. Values use the
/// GVariant text form runc's godbus parses: `true`, `'text'`, `uint64 5`,
/// `@t 5`, a bare integer (int32). As runc, a name ending in `Sec` (not
/// `USec`) takes seconds and becomes the `USec` property.
pub fn from_annotations(a: Option<&HashMap<String, String>>) -> Result<Vec<Value>> {
    let mut keys: Vec<(&String, &String)> = a
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for (k, v) in keys {
        let name = &k[ANNOTATION_PREFIX.len()..];
        let field = || format!("annotations[{k:?}]");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::new(format!(
                "{}: not a systemd property name",
                field()
            )));
        }
        let val =
            parse_gvariant(v).map_err(|e| Error::new(format!("{}: value {v:?}: {e}", field())))?;
        if let Some(base) = name.strip_suffix("Sec").filter(|b| !b.ends_with('U')) {
            let secs = match val {
                Value::I32(n) if n >= 0 => n as u64,
                Value::U32(n) => u64::from(n),
                Value::I64(n) if n >= 0 => n as u64,
                Value::U64(n) => n,
                _ => {
                    return Err(Error::new(format!(
                        "{}: a *Sec property takes a number of seconds",
                        field()
                    )))
                }
            };
            out.push(prop(
                &format!("{base}USec"),
                Value::U64(secs.saturating_mul(1_000_000)),
            ));
        } else {
            out.push(prop(name, val));
        }
    }
    Ok(out)
}

/// The subset of the GVariant text format that unit properties use.
fn parse_gvariant(s: &str) -> std::result::Result<Value, String> {
    let s = s.trim();
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Some(q) = s.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = s
            .strip_prefix(q)
            .and_then(|r| r.strip_suffix(q))
            .filter(|i| !i.contains(q) && !i.contains('\\'))
            .ok_or("unterminated or escaped string")?;
        return Ok(Value::Str(inner.to_string()));
    }
    let (ty, num) = match s.split_once(' ') {
        Some((t, n)) => (t, n.trim()),
        None => ("", s),
    };
    let bad = |_| {
        format!(
            "not a number for {}",
            if ty.is_empty() { "int32" } else { ty }
        )
    };
    Ok(match ty {
        "" | "int32" | "@i" => Value::I32(num.parse().map_err(bad)?),
        "uint32" | "@u" => Value::U32(num.parse().map_err(bad)?),
        "int64" | "@x" => Value::I64(num.parse().map_err(bad)?),
        "uint64" | "@t" => Value::U64(num.parse().map_err(bad)?),
        "double" | "@d" => Value::Double(num.parse().map_err(|_| "not a number for double")?),
        _ => {
            return Err(format!(
                "unsupported GVariant type {ty:?} (use true/false, 'text', [u]int32/64 N)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    fn find<'a>(props: &'a [Value], name: &str) -> Option<&'a Value> {
        props.iter().find_map(|p| match p {
            Value::Struct(f) if f[0] == Value::Str(name.into()) => match &f[1] {
                Value::Variant(v) => Some(v.as_ref()),
                _ => None,
            },
            _ => None,
        })
    }

    #[test]
    fn resources() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 30)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .cpus("0-1,9")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
            .build()
            .unwrap();
        let p = from_resources(&r, true).unwrap();
        assert_eq!(find(&p, "MemoryMax"), Some(&Value::U64(1 << 30)));
        assert_eq!(find(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(find(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(find(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(find(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(
            find(&p, "AllowedCPUs"),
            Some(&Value::Array(
                "y".into(),
                vec![Value::Byte(3), Value::Byte(2)]
            ))
        );
        let v1 = from_resources(&r, false).unwrap();
        assert_eq!(find(&v1, "MemoryLimit"), Some(&Value::U64(1 << 30)));
        assert_eq!(find(&v1, "CPUShares"), Some(&Value::U64(1024)));
        assert_eq!(find(&v1, "AllowedCPUs"), find(&p, "AllowedCPUs"));
        assert!(find(&v1, "MemoryMax").is_none() && find(&v1, "CPUWeight").is_none());
    }

    #[test]
    fn small_quota_rounds_up() {
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(1_000i64)
                    .period(100_000u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let p = from_resources(&r, true).unwrap();
        assert_eq!(find(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(10_000)));
    }

    #[test]
    fn annotations() {
        let mut a = HashMap::new();
        a.insert(
            "org.systemd.property.TimeoutStopSec".to_string(),
            "20".to_string(),
        );
        a.insert(
            "org.systemd.property.CollectMode".to_string(),
            "'inactive-or-failed'".to_string(),
        );
        a.insert(
            "org.systemd.property.MemoryAccounting".to_string(),
            "true".to_string(),
        );
        a.insert(
            "org.systemd.property.TasksMax".to_string(),
            "uint64 77".to_string(),
        );
        a.insert("other".to_string(), "x".to_string());
        let p = from_annotations(Some(&a)).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(find(&p, "TimeoutStopUSec"), Some(&Value::U64(20_000_000)));
        assert_eq!(
            find(&p, "CollectMode"),
            Some(&Value::Str("inactive-or-failed".into()))
        );
        assert_eq!(find(&p, "MemoryAccounting"), Some(&Value::Bool(true)));
        assert_eq!(find(&p, "TasksMax"), Some(&Value::U64(77)));
        for bad in ["uint64 x", "'open", "[1, 2]"] {
            let mut a = HashMap::new();
            a.insert("org.systemd.property.X".to_string(), bad.to_string());
            let e = from_annotations(Some(&a)).unwrap_err();
            assert!(e.to_string().contains("org.systemd.property.X"), "{e}");
        }
    }
}
