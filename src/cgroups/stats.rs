//! Statistics in the shape of runc's `events --stats` "data" object
//! (runc types/events.go), read from whichever hierarchy holds each
//! controller. A controller or file the host lacks reads as zero/absent, as
//! in runc; only a container cgroup that does not exist at all is an error.

use super::{fsio, Backend, Cgroup};
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

fn u(p: &Path) -> u64 {
    fsio::read_u64(p).unwrap_or(0)
}

fn kv(p: &Path) -> Vec<(String, u64)> {
    fsio::read_kv(p).unwrap_or_default()
}

fn get(kv: &[(String, u64)], k: &str) -> u64 {
    kv.iter()
        .find(|(x, _)| x == k)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

fn list(p: &Path) -> Vec<u64> {
    fsio::read(p)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Go's omitempty on a number: drop zeros.
fn put(m: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    }
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: Vec<u64>) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

/// "0-2,4" → [0, 1, 2, 4]
pub fn parse_cpu_list(s: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    if b >= a && b - a < 65536 {
                        out.extend(a..=b);
                    }
                }
            }
            None => out.extend(part.parse::<u64>().ok()),
        }
    }
    out
}

fn memory_entry(limit: u64, usage: u64, max: u64, failcnt: u64) -> Value {
    let mut m = Map::new();
    m.insert("limit".into(), json!(limit));
    put(&mut m, "usage", usage);
    put(&mut m, "max", max);
    m.insert("failcnt".into(), json!(failcnt));
    Value::Object(m)
}

fn cpu(cg: &Cgroup) -> Value {
    let mut usage = Map::new();
    let mut thr = Map::new();
    let (total, kernel, user, percpu, pk, pu, stat_dir) = match cg.v1_path("cpuacct") {
        Some(d) => {
            // cpuacct.stat is in USER_HZ ticks
            let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
                .ok()
                .flatten()
                .filter(|&v| v > 0)
                .unwrap_or(100) as u64;
            let st = kv(&d.join("cpuacct.stat"));
            (
                u(&d.join("cpuacct.usage")),
                get(&st, "system") * (1_000_000_000 / hz),
                get(&st, "user") * (1_000_000_000 / hz),
                list(&d.join("cpuacct.usage_percpu")),
                list(&d.join("cpuacct.usage_percpu_sys")),
                list(&d.join("cpuacct.usage_percpu_user")),
                cg.v1_path("cpu").map(|p| (p, false)),
            )
        }
        None => match cg.unified_path() {
            Some(d) if cg.v1_path("cpu").is_none() => {
                let st = kv(&d.join("cpu.stat"));
                (
                    get(&st, "usage_usec") * 1000,
                    get(&st, "system_usec") * 1000,
                    get(&st, "user_usec") * 1000,
                    vec![],
                    vec![],
                    vec![],
                    Some((d, true)),
                )
            }
            _ => (
                0,
                0,
                0,
                vec![],
                vec![],
                vec![],
                cg.v1_path("cpu").map(|p| (p, false)),
            ),
        },
    };
    put(&mut usage, "total", total);
    put_list(&mut usage, "percpu", percpu);
    put_list(&mut usage, "percpu_kernel", pk);
    put_list(&mut usage, "percpu_user", pu);
    usage.insert("kernel".into(), json!(kernel));
    usage.insert("user".into(), json!(user));
    if let Some((d, v2)) = stat_dir {
        let st = kv(&d.join("cpu.stat"));
        put(&mut thr, "periods", get(&st, "nr_periods"));
        put(&mut thr, "throttledPeriods", get(&st, "nr_throttled"));
        let t = if v2 {
            get(&st, "throttled_usec") * 1000
        } else {
            get(&st, "throttled_time")
        };
        put(&mut thr, "throttledTime", t);
    }
    json!({"usage": usage, "throttling": thr})
}

fn memory(cg: &Cgroup) -> Value {
    let mut m = Map::new();
    match cg.backend_no_enable("memory") {
        Some(Backend::V1(d)) => {
            let e = |pfx: &str| {
                memory_entry(
                    u(&d.join(format!("{pfx}.limit_in_bytes"))),
                    u(&d.join(format!("{pfx}.usage_in_bytes"))),
                    u(&d.join(format!("{pfx}.max_usage_in_bytes"))),
                    u(&d.join(format!("{pfx}.failcnt"))),
                )
            };
            let raw = kv(&d.join("memory.stat"));
            put(&mut m, "cache", get(&raw, "cache"));
            m.insert("usage".into(), e("memory"));
            m.insert("swap".into(), e("memory.memsw"));
            m.insert("kernel".into(), e("memory.kmem"));
            m.insert("kernelTCP".into(), e("memory.kmem.tcp"));
            m.insert(
                "raw".into(),
                json!(raw
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()),
            );
        }
        Some(Backend::V2(d)) => {
            let raw = kv(&d.join("memory.stat"));
            let ev = kv(&d.join("memory.events"));
            let (lim, cur) = (u(&d.join("memory.max")), u(&d.join("memory.current")));
            put(&mut m, "cache", get(&raw, "file"));
            m.insert(
                "usage".into(),
                memory_entry(lim, cur, u(&d.join("memory.peak")), get(&ev, "max")),
            );
            // v1-shaped swap = memory + swap, as runc reports it on v2
            let (slim, scur) = (
                u(&d.join("memory.swap.max")),
                u(&d.join("memory.swap.current")),
            );
            m.insert(
                "swap".into(),
                memory_entry(slim.saturating_add(lim), scur + cur, 0, 0),
            );
            m.insert("kernel".into(), memory_entry(0, 0, 0, 0));
            m.insert("kernelTCP".into(), memory_entry(0, 0, 0, 0));
            m.insert(
                "raw".into(),
                json!(raw
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()),
            );
        }
        None => {
            for k in ["usage", "swap", "kernel", "kernelTCP"] {
                m.insert(k.into(), memory_entry(0, 0, 0, 0));
            }
        }
    }
    Value::Object(m)
}

fn pids(cg: &Cgroup) -> Value {
    let mut m = Map::new();
    if let Some(Backend::V1(d) | Backend::V2(d)) = cg.backend_no_enable("pids") {
        put(&mut m, "current", u(&d.join("pids.current")));
        let lim = u(&d.join("pids.max"));
        // runc reports "max" as 0 (no limit)
        put(&mut m, "limit", if lim == u64::MAX { 0 } else { lim });
    }
    Value::Object(m)
}

/// v1 blkio files: "8:0 Read 4096" lines (and a "Total N" line).
fn blkio_v1_entries(p: &Path) -> Vec<Value> {
    let Ok(s) = fsio::read(p) else {
        return vec![];
    };
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (maj, min) = f.first()?.split_once(':')?;
            let (maj, min) = (maj.parse::<u64>().ok()?, min.parse::<u64>().ok()?);
            let (op, v) = match f.len() {
                3 => (f[1], f[2].parse::<u64>().ok()?),
                2 => ("", f[1].parse::<u64>().ok()?),
                _ => return None,
            };
            let mut e = Map::new();
            put(&mut e, "major", maj);
            put(&mut e, "minor", min);
            if !op.is_empty() {
                e.insert("op".into(), json!(op));
            }
            put(&mut e, "value", v);
            Some(Value::Object(e))
        })
        .collect()
}

fn blkio(cg: &Cgroup) -> Value {
    let mut m = Map::new();
    if let Some(d) = cg.v1_path("blkio") {
        // CFQ files if they say anything, else BFQ's, else the throttle ones
        // (always there), as runc picks
        let pick = |name: &str| {
            for pfx in ["blkio", "blkio.bfq", "blkio.throttle"] {
                let e = blkio_v1_entries(&d.join(format!("{pfx}.{name}")));
                if !e.is_empty() {
                    return e;
                }
            }
            vec![]
        };
        for (k, f) in [
            ("ioServiceBytesRecursive", "io_service_bytes_recursive"),
            ("ioServicedRecursive", "io_serviced_recursive"),
        ] {
            let e = pick(f);
            if !e.is_empty() {
                m.insert(k.into(), json!(e));
            }
        }
    } else if let Some(Backend::V2(d)) = cg.backend_no_enable("io") {
        let (mut bytes, mut ios) = (vec![], vec![]);
        for l in fsio::read(&d.join("io.stat")).unwrap_or_default().lines() {
            let mut it = l.split_whitespace();
            let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            for kvp in it {
                let Some((k, v)) = kvp.split_once('=') else {
                    continue;
                };
                let v = v.parse::<u64>().unwrap_or(0);
                let (list, op) = match k {
                    "rbytes" => (&mut bytes, "Read"),
                    "wbytes" => (&mut bytes, "Write"),
                    "rios" => (&mut ios, "Read"),
                    "wios" => (&mut ios, "Write"),
                    _ => continue,
                };
                let mut e = Map::new();
                put(&mut e, "major", maj);
                put(&mut e, "minor", min);
                e.insert("op".into(), json!(op));
                put(&mut e, "value", v);
                list.push(Value::Object(e));
            }
        }
        if !bytes.is_empty() {
            m.insert("ioServiceBytesRecursive".into(), json!(bytes));
        }
        if !ios.is_empty() {
            m.insert("ioServicedRecursive".into(), json!(ios));
        }
    }
    Value::Object(m)
}

fn hugetlb(cg: &Cgroup) -> Value {
    let mut m = Map::new();
    let Some(be) = cg.backend_no_enable("hugetlb") else {
        return Value::Object(m);
    };
    let (Backend::V1(d) | Backend::V2(d)) = be;
    let v2 = matches!(be, Backend::V2(_));
    let Ok(rd) = std::fs::read_dir(d) else {
        return Value::Object(m);
    };
    let suffix = if v2 { ".max" } else { ".limit_in_bytes" };
    let mut sizes: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let size = n.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    sizes.sort();
    for s in sizes {
        let mut e = Map::new();
        if v2 {
            put(&mut e, "usage", u(&d.join(format!("hugetlb.{s}.current"))));
            let ev = kv(&d.join(format!("hugetlb.{s}.events")));
            e.insert("failcnt".into(), json!(get(&ev, "max")));
        } else {
            put(
                &mut e,
                "usage",
                u(&d.join(format!("hugetlb.{s}.usage_in_bytes"))),
            );
            put(
                &mut e,
                "max",
                u(&d.join(format!("hugetlb.{s}.max_usage_in_bytes"))),
            );
            e.insert(
                "failcnt".into(),
                json!(u(&d.join(format!("hugetlb.{s}.failcnt")))),
            );
        }
        m.insert(s, Value::Object(e));
    }
    Value::Object(m)
}

fn cpuset(cg: &Cgroup) -> Value {
    let mut m = Map::new();
    let Some(Backend::V1(d) | Backend::V2(d)) = cg.backend_no_enable("cpuset") else {
        return Value::Object(m);
    };
    let read_list = |names: &[&str]| {
        names
            .iter()
            .map(|n| parse_cpu_list(&fsio::read(&d.join(n)).unwrap_or_default()))
            .find(|l| !l.is_empty())
            .unwrap_or_default()
    };
    put_list(
        &mut m,
        "cpus",
        read_list(&["cpuset.cpus", "cpuset.cpus.effective"]),
    );
    put_list(
        &mut m,
        "mems",
        read_list(&["cpuset.mems", "cpuset.mems.effective"]),
    );
    for (k, f) in [
        ("cpu_exclusive", "cpuset.cpu_exclusive"),
        ("mem_hardwall", "cpuset.mem_hardwall"),
        ("mem_exclusive", "cpuset.mem_exclusive"),
        ("memory_migrate", "cpuset.memory_migrate"),
        ("memory_spread_page", "cpuset.memory_spread_page"),
        ("memory_spread_slab", "cpuset.memory_spread_slab"),
        ("memory_pressure", "cpuset.memory_pressure"),
        ("sched_load_balance", "cpuset.sched_load_balance"),
    ] {
        m.insert(k.into(), json!(u(&d.join(f))));
    }
    let lvl = fsio::read(&d.join("cpuset.sched_relax_domain_level"))
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    m.insert("sched_relax_domain_level".into(), json!(lvl));
    Value::Object(m)
}

impl Cgroup {
    /// Like backend() but never enables a controller: reading statistics
    /// must not change the cgroup tree.
    pub(crate) fn backend_no_enable(&self, controller: &str) -> Option<Backend<'_>> {
        if let Some(p) = self.v1_path(controller) {
            return Some(Backend::V1(p));
        }
        let p = self.unified_path()?;
        fsio::read(&p.join("cgroup.controllers"))
            .ok()?
            .split_whitespace()
            .any(|c| c == controller)
            .then_some(Backend::V2(p))
    }

    /// runc's `events --stats` "data" object.
    pub fn stats(&self) -> Result<Value> {
        // Rootless without a delegated cgroup: nothing to read, every
        // controller reads as absent, as runc reports it there.
        if !self.is_empty() && !self.dirs().iter().any(|d| d.is_dir()) {
            return Err(Error::new(format!(
                "cgroup stats: the container's cgroup does not exist ({})",
                self.dirs()
                    .first()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            )));
        }
        Ok(json!({
            "cpu": cpu(self),
            "cpuset": cpuset(self),
            "memory": memory(self),
            "pids": pids(self),
            "blkio": blkio(self),
            "hugetlb": hugetlb(self),
            "intel_rdt": {},
            "network_interfaces": null,
        }))
    }

    /// How many processes the OOM killer killed in the container's cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        let (file, key) = match self.backend_no_enable("memory") {
            Some(Backend::V1(d)) => (d.join("memory.oom_control"), "oom_kill"),
            Some(Backend::V2(d)) => (d.join("memory.events"), "oom_kill"),
            None => return Ok(0),
        };
        Ok(fsio::kv_get(&file, key)?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_list() {
        assert_eq!(parse_cpu_list("0-2,4\n"), vec![0, 1, 2, 4]);
        assert_eq!(parse_cpu_list(""), Vec::<u64>::new());
    }
}
