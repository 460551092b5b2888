use crate::cli::UpdateArgs;
use crate::error::{Context, Error, Result};
use crate::state::{Container, Status};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;

/// Changes the given resources of a live container and records them in its
/// state, so a later `update` or `events --stats` starts from them.
pub fn run(root: &Path, a: &UpdateArgs) -> Result<()> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(Error::new(
            "update: --l3-cache-schema/--mem-bw-schema need Intel RDT (resctrl), which kist does not support",
        ));
    }
    let from_flags = flags_patch(a)?;
    let patch = match &a.resources {
        // runc silently drops the flags then; say so instead.
        Some(_) if from_flags.as_object().is_some_and(|o| !o.is_empty()) => {
            return Err(Error::new(
                "update: --resources and the individual resource flags cannot be combined",
            ))
        }
        Some(p) => read_resources(p)?,
        None => from_flags,
    };
    let r: LinuxResources = serde_json::from_value(patch.clone())
        .map_err(|e| Error::new(format!("update: invalid resources: {e}")))?;
    let c = Container::open(root, &a.id)?;
    let mut st = c.load()?;
    if st.status(&c.dir) == Status::Stopped {
        return Err(Error::new(format!(
            "update {}: container not running",
            a.id
        )));
    }
    let mut linux = st.config.linux().clone().unwrap_or_default();
    st.cgroup
        .update(&r)
        .with_context(|| format!("update {}", a.id))?;
    let old = linux.resources().clone().unwrap_or_default();
    let mut merged = serde_json::to_value(&old).map_err(|e| Error::new(format!("update: {e}")))?;
    merge(&mut merged, &patch);
    let merged: LinuxResources = serde_json::from_value(merged)
        .map_err(|e| Error::new(format!("update: merge resources: {e}")))?;
    linux.set_resources(Some(merged));
    st.config.set_linux(Some(linux));
    c.save(&st)
        .with_context(|| format!("update {}: record the new resources", a.id))
}

fn read_resources(p: &Path) -> Result<Value> {
    let mut data = Vec::new();
    if p == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("--resources -: read stdin")?;
    } else {
        data = std::fs::read(p).with_context(|| format!("--resources {}", p.display()))?;
    }
    let v: Value = serde_json::from_slice(&data)
        .map_err(|e| Error::new(format!("--resources {}: {e}", p.display())))?;
    if !v.is_object() {
        return Err(Error::new(format!(
            "--resources {}: not a JSON object (LinuxResources)",
            p.display()
        )));
    }
    Ok(v)
}

/// runc's individual flags as a LinuxResources JSON fragment with only the
/// given fields.
fn flags_patch(a: &UpdateArgs) -> Result<Value> {
    let mut mem = Map::new();
    for (flag, val, key) in [
        ("--memory", &a.memory, "limit"),
        ("--memory-swap", &a.memory_swap, "swap"),
        ("--memory-reservation", &a.memory_reservation, "reservation"),
        ("--kernel-memory", &a.kernel_memory, "kernel"),
        ("--kernel-memory-tcp", &a.kernel_memory_tcp, "kernelTCP"),
    ] {
        if let Some(v) = val {
            mem.insert(key.into(), json!(parse_bytes(flag, v)?));
        }
    }
    let mut cpu = Map::new();
    if let Some(v) = a.cpu_shares {
        cpu.insert("shares".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.insert("period".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        cpu.insert("realtimeRuntime".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        cpu.insert("realtimePeriod".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.insert("mems".into(), json!(v));
    }
    let mut out = Map::new();
    if !mem.is_empty() {
        out.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(v) = a.pids_limit {
        out.insert("pids".into(), json!({ "limit": v }));
    }
    if let Some(v) = a.blkio_weight {
        out.insert("blockIO".into(), json!({ "weight": v }));
    }
    Ok(Value::Object(out))
}

/// Objects merge key by key; anything else given replaces what was there.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// A byte count as runc (docker/go-units RAMInBytes) reads it: a number
/// with an optional binary unit, `512k`, `1.5g`, `64MiB`, `1024`; `-1` is
/// unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || {
        Error::new(format!(
            "{flag} {s:?}: invalid value (want bytes like 512k, 64m, 1g, or -1)"
        ))
    };
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let mut u = unit.as_str();
    let shift = match u.chars().next() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        u = &u[1..];
    }
    u = u.strip_prefix('i').unwrap_or(u);
    u = u.strip_prefix('b').unwrap_or(u);
    if !u.is_empty() {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = v * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        for (s, v) in [
            ("512k", 512 << 10),
            ("1m", 1 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("64MiB", 64 << 20),
            ("2kb", 2048),
            ("1024", 1024),
            ("1.5k", 1536),
            ("-1", -1),
            ("10 m", 10 << 20),
        ] {
            assert_eq!(parse_bytes("--memory", s).ok(), Some(v), "{s}");
        }
        for s in ["", "k", "1x", "-2", "1.k", "1kk", "99999999999p"] {
            assert!(parse_bytes("--memory", s).is_err(), "{s}");
        }
    }

    #[test]
    fn merges_only_given() {
        let mut base = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        merge(
            &mut base,
            &json!({"memory": {"limit": 7}, "cpu": {"shares": 3}}),
        );
        assert_eq!(
            base,
            json!({"memory": {"limit": 7, "swap": 2}, "pids": {"limit": 5}, "cpu": {"shares": 3}})
        );
    }

    #[test]
    fn flags() {
        let a = UpdateArgs {
            memory: Some("1m".into()),
            pids_limit: Some(-1),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(
            flags_patch(&a).unwrap(),
            json!({"memory": {"limit": 1048576}, "pids": {"limit": -1}, "cpu": {"cpus": "0"}})
        );
    }
}
