//! cgroups seen from the host: every resource written where the host keeps
//! it (v1 hierarchies, or cgroup2 on a pure v2 host), `update`, `events`,
//! `ps`, enforcement (OOM, pids, devices) and removal after delete.
//!
//! Each container gets an absolute linux.cgroupsPath `/kist-it-<id>`, so
//! the files are found at known places and the harness's leak check (which
//! looks for cgroups named after the id) covers them.

use crate::common::{is_reference, wait_for_file, Bundle, Kist};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";

/// Pure cgroup v2 host (cgroup2 at /sys/fs/cgroup)?
pub fn v2() -> bool {
    let v2 = Path::new(ROOT).join("cgroup.controllers").exists();
    if std::env::var("KIST_EXPECT_CGROUP_MODE").as_deref() == Ok("v2") {
        assert!(v2, "KIST_EXPECT_CGROUP_MODE=v2 but {ROOT} is not cgroup2");
    }
    v2
}

/// The container's cgroup path for `id`.
pub fn cg_path(id: &str) -> String {
    format!("/kist-it-{id}")
}

/// Gives the bundle the absolute cgroup path of `id`.
pub fn place(b: &mut Bundle, id: &str) {
    b.config["linux"]["cgroupsPath"] = json!(cg_path(id));
}

/// The directory of `id`'s cgroup in the hierarchy holding `controller`.
pub fn dir(controller: &str, id: &str) -> PathBuf {
    let rel = cg_path(id);
    if v2() {
        PathBuf::from(format!("{ROOT}{rel}"))
    } else {
        PathBuf::from(format!("{ROOT}/{controller}{rel}"))
    }
}

pub fn read_cg(controller: &str, id: &str, file: &str) -> String {
    let p = dir(controller, id).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Every directory of `id`'s cgroup that exists, in any hierarchy.
pub fn existing_dirs(id: &str) -> Vec<PathBuf> {
    let rel = cg_path(id);
    let mut out = Vec::new();
    let top = PathBuf::from(format!("{ROOT}{rel}"));
    if top.is_dir() {
        out.push(top);
    }
    if let Ok(rd) = std::fs::read_dir(ROOT) {
        for e in rd.flatten() {
            let p = PathBuf::from(format!("{}{rel}", e.path().display()));
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[track_caller]
pub fn assert_cgroup_gone(id: &str) {
    let left = existing_dirs(id);
    assert!(left.is_empty(), "cgroup of {id} left behind: {left:?}");
}

/// Sets `linux.resources.<key>`.
pub fn set_res(b: &mut Bundle, key: &str, v: Value) {
    b.config["linux"]["resources"][key] = v;
}

fn exists(controller: &str, id: &str, file: &str) -> bool {
    dir(controller, id).join(file).exists()
}

/// Runs bundle `b` detached under a fresh id placed at its own cgroup path.
pub fn detached_at(k: &Kist, b: &mut Bundle, tag: &str) -> String {
    let id = k.id(tag);
    place(b, &id);
    k.run_with(b, &id, &["--detach"]).ok();
    id
}

#[test]
fn resources_are_written_to_the_host_cgroup_files() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    set_res(
        &mut b,
        "memory",
        json!({"limit": 64 << 20, "reservation": 32 << 20}),
    );
    set_res(
        &mut b,
        "cpu",
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}),
    );
    set_res(&mut b, "pids", json!({"limit": 42}));
    let huge = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists();
    if huge {
        set_res(
            &mut b,
            "hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 4 << 20}]),
        );
    }
    let dev = block_dev();
    if let Some((maj, min)) = dev {
        set_res(
            &mut b,
            "blockIO",
            json!({
                "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]
            }),
        );
    }
    let burst = if v2() {
        kernel_at_least(5, 14)
    } else {
        Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists()
    };
    if burst {
        b.config["linux"]["resources"]["cpu"]["burst"] = json!(1000);
    }
    if v2() {
        set_res(
            &mut b,
            "unified",
            json!({"memory.high": (48 << 20).to_string()}),
        );
    } else {
        let m = &mut b.config["linux"]["resources"]["memory"];
        m["swappiness"] = json!(30);
        m["disableOOMKiller"] = json!(true);
        m["kernelTCP"] = json!(16 << 20);
        if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            m["swap"] = json!(128 << 20);
        }
    }
    let id = detached_at(&k, &mut b, "res");
    let r = |c: &str, f: &str| read_cg(c, &id, f);
    if v2() {
        assert_eq!(r("memory", "memory.max"), (64 << 20).to_string());
        assert_eq!(r("memory", "memory.low"), (32 << 20).to_string());
        assert_eq!(r("memory", "memory.high"), (48 << 20).to_string());
        // runc's conversion: 1 + (512 - 2) * 9999 / 262142
        assert_eq!(r("cpu", "cpu.weight"), "20");
        assert_eq!(r("cpu", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(r("memory", "memory.limit_in_bytes"), (64 << 20).to_string());
        assert_eq!(
            r("memory", "memory.soft_limit_in_bytes"),
            (32 << 20).to_string()
        );
        assert_eq!(r("memory", "memory.swappiness"), "30");
        assert!(
            r("memory", "memory.oom_control").contains("oom_kill_disable 1"),
            "{}",
            r("memory", "memory.oom_control")
        );
        assert_eq!(r("cpu", "cpu.shares"), "512");
        assert_eq!(r("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(r("cpu", "cpu.cfs_period_us"), "100000");
        // runc 1.1 ignores the deprecated kernelTCP; kist writes it
        if !is_reference() {
            assert_eq!(
                r("memory", "memory.kmem.tcp.limit_in_bytes"),
                (16 << 20).to_string()
            );
        }
        if exists("memory", &id, "memory.memsw.limit_in_bytes") {
            assert_eq!(
                r("memory", "memory.memsw.limit_in_bytes"),
                (128 << 20).to_string()
            );
        }
    }
    // cpu.burst is newer than runc 1.1
    if burst && !is_reference() {
        let f = if v2() {
            "cpu.max.burst"
        } else {
            "cpu.cfs_burst_us"
        };
        assert_eq!(r("cpu", f), "1000");
    }
    if let Some((maj, min)) = dev {
        let d = format!("{maj}:{min}");
        if v2() {
            let io = r("io", "io.max");
            assert!(
                io.lines().any(|l| l.starts_with(&d)
                    && l.contains("rbps=1048576")
                    && l.contains("wiops=100")),
                "io.max: {io}"
            );
        } else {
            assert_eq!(
                r("blkio", "blkio.throttle.read_bps_device"),
                format!("{d} 1048576")
            );
            assert_eq!(
                r("blkio", "blkio.throttle.write_iops_device"),
                format!("{d} 100")
            );
        }
    }
    assert_eq!(r("cpuset", "cpuset.cpus"), "0");
    assert_eq!(r("cpuset", "cpuset.mems"), "0");
    assert_eq!(r("pids", "pids.max"), "42");
    if huge {
        let f = if v2() {
            "hugetlb.2MB.max"
        } else {
            "hugetlb.2MB.limit_in_bytes"
        };
        if exists("hugetlb", &id, f) {
            assert_eq!(r("hugetlb", f), (4 << 20).to_string());
        }
    }
    // the container's init is in the cgroup
    let pid = k.pid(&id);
    let procs = r("pids", "cgroup.procs");
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "{pid} not in {procs}"
    );
    k.delete_force(&id).ok();
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

/// A block device of the host (major, minor) for the throttle limits.
fn block_dev() -> Option<(u64, u64)> {
    let mut devs: Vec<(String, u64, u64)> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let (maj, min) = dev.trim().split_once(':')?;
            Some((name, maj.parse().ok()?, min.parse().ok()?))
        })
        .collect();
    devs.sort();
    // a real disk first, else a loop device
    let pick = ["vd", "sd", "nvme", "loop"]
        .iter()
        .find_map(|p| devs.iter().find(|d| d.0.starts_with(p)))?;
    Some((pick.1, pick.2))
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[test]
fn realtime_cpu_budget_on_v1() {
    let k = Kist::new();
    if v2() || !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        eprintln!("skipped: no cpu.rt_runtime_us (cgroup v2 or no RT group scheduling)");
        return;
    }
    let mut b = k.bundle(&["sleep", "1000"]);
    set_res(
        &mut b,
        "cpu",
        json!({"realtimePeriod": 1000000, "realtimeRuntime": 1000}),
    );
    let id = detached_at(&k, &mut b, "rt");
    assert_eq!(read_cg("cpu", &id, "cpu.rt_period_us"), "1000000");
    assert_eq!(read_cg("cpu", &id, "cpu.rt_runtime_us"), "1000");
    k.cmd(&["update", "--cpu-rt-runtime", "2000", &id]).ok();
    assert_eq!(read_cg("cpu", &id, "cpu.rt_runtime_us"), "2000");
}

#[test]
fn blkio_weight_is_written_when_the_host_has_a_weight_file() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = detached_at(&k, &mut b, "blkw");
    let (ctl, files) = if v2() {
        ("io", ["io.bfq.weight", "io.weight"])
    } else {
        ("blkio", ["blkio.bfq.weight", "blkio.weight"])
    };
    let Some(f) = files.iter().find(|f| exists(ctl, &id, f)) else {
        eprintln!("skipped: no blkio/io weight file on this host");
        return;
    };
    k.cmd(&["update", "--blkio-weight", "500", &id]).ok();
    let got = read_cg(ctl, &id, f);
    // BFQ takes the blkio range as is; io.weight gets runc's conversion
    // 1 + (500 - 10) * 9999 / 990. Both read "default N".
    let want = if f.contains("bfq") { "500" } else { "4950" };
    assert!(got.contains(want), "{f}: {got}");
}

#[test]
fn update_changes_only_what_is_given_and_is_remembered() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    set_res(&mut b, "memory", json!({"limit": 128 << 20}));
    set_res(&mut b, "pids", json!({"limit": 100}));
    let id = detached_at(&k, &mut b, "upd");
    let (mem, cpu_f) = if v2() {
        ("memory.max", "cpu.max")
    } else {
        ("memory.limit_in_bytes", "cpu.cfs_quota_us")
    };
    k.cmd(&[
        "update",
        "--memory",
        "64m",
        "--memory-reservation",
        "16M",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        &id,
    ])
    .ok();
    assert_eq!(read_cg("memory", &id, mem), (64 << 20).to_string());
    assert_eq!(read_cg("pids", &id, "pids.max"), "100", "untouched");
    assert_eq!(read_cg("cpuset", &id, "cpuset.cpus"), "0");
    if v2() {
        assert_eq!(read_cg("cpu", &id, cpu_f), "20000 100000");
        assert_eq!(read_cg("memory", &id, "memory.low"), (16 << 20).to_string());
    } else {
        assert_eq!(read_cg("cpu", &id, cpu_f), "20000");
    }
    // JSON on stdin: only pids change
    k.cmd_stdin(
        &["update", "--resources", "-", &id],
        br#"{"pids": {"limit": 40}}"#,
    )
    .ok();
    assert_eq!(read_cg("pids", &id, "pids.max"), "40");
    assert_eq!(read_cg("memory", &id, mem), (64 << 20).to_string());
    // from a file
    let f = k.path("res.json");
    std::fs::write(&f, r#"{"memory": {"limit": 33554432}}"#).unwrap();
    k.cmd(&["update", "-r", &f.to_string_lossy(), &id]).ok();
    assert_eq!(read_cg("memory", &id, mem), (32 << 20).to_string());
    k.cmd(&["update", "--pids-limit", "-1", &id]).ok();
    assert_eq!(read_cg("pids", &id, "pids.max"), "max");
    // what update set is what events --stats reports
    let o = k.cmd(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(o.stdout.trim()).expect("stats JSON");
    assert_eq!(
        ev["data"]["memory"]["usage"]["limit"],
        json!(32 << 20),
        "{ev}"
    );
    // runc reports "max" as no limit (0, omitted)
    assert!(ev["data"]["pids"]["limit"].is_null(), "{ev}");
    // bad values: clear errors naming the flag, nothing changed
    k.cmd(&["update", "--memory", "12x", &id])
        .fail()
        .stderr_has("memory");
    let o = k
        .cmd(&["update", "--l3-cache-schema", "L3:0=ff", &id])
        .fail();
    if !is_reference() {
        o.stderr_has("RDT");
    }
    let o = k
        .cmd_stdin(&["update", "-r", "-", &id], b"{not json")
        .fail();
    if !is_reference() {
        o.stderr_has("--resources");
    }
    assert_eq!(read_cg("memory", &id, mem), (32 << 20).to_string());
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.cmd(&["update", "--memory", "64m", &id])
        .fail()
        .stderr_has("not running");
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
}

#[test]
fn kist_only_update_is_recorded_in_the_state() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    set_res(&mut b, "memory", json!({"limit": 64 << 20}));
    set_res(&mut b, "pids", json!({"limit": 50}));
    let id = detached_at(&k, &mut b, "updp");
    k.cmd(&["update", "--memory", "96m", &id]).ok();
    k.cmd(&["update", "--cpu-share", "256", &id]).ok();
    let st = crate::common::read(&k.root.join(&id).join("state.json"));
    let st: Value = serde_json::from_str(&st).unwrap();
    let r = &st["config"]["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], json!(96 << 20), "{r}");
    assert_eq!(r["pids"]["limit"], json!(50), "{r}");
    assert_eq!(r["cpu"]["shares"], json!(256), "{r}");
    assert!(r["devices"].is_array(), "device rules kept: {r}");
    // memory+swap: on v2 converted with the memory limit in force
    let swapf = if v2() {
        "memory.swap.max"
    } else {
        "memory.memsw.limit_in_bytes"
    };
    if !exists("memory", &id, swapf) {
        eprintln!("skipped the swap part: no swap accounting ({swapf})");
        return;
    }
    k.cmd(&["update", "--memory-swap", "128m", &id]).ok();
    let want: u64 = if v2() { 32 << 20 } else { 128 << 20 };
    assert_eq!(read_cg("memory", &id, swapf), want.to_string());
    k.cmd(&["update", "--memory-swap", "-1", &id]).ok();
    let unlimited = read_cg("memory", &id, swapf);
    assert!(
        unlimited == "max" || unlimited.len() >= 18,
        "{swapf}: {unlimited}"
    );
}

#[test]
fn kist_only_update_device_rules_takes_effect_in_a_running_container() {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("skipped: no /dev/fuse on this host");
        return;
    }
    let k = Kist::new();
    let mut b = mknod_bundle(
        &k,
        "mknod /dev/kfuse c 10 229; while true; do \
         if (exec 3<>/dev/kfuse) 2>/dev/null; then echo opened > /st; else echo denied > /st; fi; \
         sleep 0.05; done",
    );
    let id = detached_at(&k, &mut b, "upddev");
    let st = b.rootfs().join("st");
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&st).unwrap_or_default();
            if got.trim() == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/st stayed {got:?}, wanted {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("denied");
    let rules = r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}"#;
    k.cmd_stdin(&["update", "-r", "-", &id], rules.as_bytes())
        .ok();
    // "opened" also needs /dev/null (2>/dev/null): the default devices stay
    // usable after the rules were rewritten
    wait_for("opened");
    k.cmd_stdin(
        &["update", "-r", "-", &id],
        br#"{"devices": [{"allow": false, "access": "rwm"}]}"#,
    )
    .ok();
    wait_for("denied");
}

#[test]
fn events_stats_has_runcs_shape() {
    let k = Kist::new();
    let mut b = k.bundle_sh("sleep 1000 & sleep 1000 & wait");
    set_res(&mut b, "memory", json!({"limit": 64 << 20}));
    set_res(&mut b, "pids", json!({"limit": 20}));
    let id = detached_at(&k, &mut b, "evst");
    // The shell starts its two children right after `run -d` returns: wait
    // for them rather than race them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let o = loop {
        let o = k.cmd(&["events", "--stats", &id]).ok();
        if o.stdout.contains("\"pids\":{\"current\":3") || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.stdout);
    assert!(
        lines[0].starts_with(&format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":")),
        "{}",
        lines[0]
    );
    let ev: Value = serde_json::from_str(lines[0]).unwrap();
    let d = &ev["data"];
    assert_eq!(d["memory"]["usage"]["limit"], json!(64 << 20), "{d}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{d}"
    );
    assert!(d["memory"]["usage"]["failcnt"].is_u64(), "{d}");
    assert_eq!(d["pids"]["limit"], json!(20), "{d}");
    assert_eq!(d["pids"]["current"], json!(3), "{d}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{d}");
    for key in ["blkio", "hugetlb", "cpu", "memory", "pids"] {
        assert!(d[key].is_object(), "{key} missing: {d}");
    }
    k.cmd(&["events", "--stats", "--interval", "0s", &id])
        .fail()
        .stderr_has("interval");
    k.cmd(&["events", "--stats", "nonexistent-id-xyz"])
        .fail()
        .stderr_has("does not exist");
}

#[test]
fn kist_only_events_streams_stats_and_exits_when_the_container_stops() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = detached_at(&k, &mut b, "evstream");
    let sp = k.spawn(&["events", "--interval", "100ms", &id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&sp.stdout_path)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no stats events");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.kill(&id, "KILL").ok();
    let o = sp.wait().ok();
    for l in o.stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(v["type"], "stats", "{l}");
        assert_eq!(v["id"], id.as_str(), "{l}");
    }
}

/// A memory hog: busybox tail buffers a "line" from /dev/zero forever.
const HOG: &str = "tail /dev/zero";

#[test]
fn memory_hog_is_oom_killed_and_run_says_so() {
    let k = Kist::new();
    let mut b = k.bundle_sh(&format!("exec {HOG}"));
    set_res(&mut b, "memory", json!({"limit": 8 << 20}));
    let id = k.id("oomrun");
    place(&mut b, &id);
    let o = k.run(&b, &id).code_is(128 + 9);
    // the message is kist's: runc says nothing
    assert!(
        is_reference()
            || o.stderr.contains(&format!(
                "container {id} was killed: out of memory (memory limit {} bytes hit)",
                8 << 20
            )),
        "{}",
        o.describe()
    );
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

#[test]
fn events_reports_oom_and_exits_when_the_container_dies() {
    let k = Kist::new();
    let ready = "/ready";
    let mut b = k.bundle_sh(&format!(
        "while [ ! -e {ready} ]; do sleep 0.05; done; exec {HOG}"
    ));
    set_res(&mut b, "memory", json!({"limit": 8 << 20}));
    let id = detached_at(&k, &mut b, "oomev");
    // events must be watching before the hog starts: its first stats
    // event says it is
    let sp = k.spawn(&["events", "--interval", "100ms", &id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&sp.stdout_path)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no stats event");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(b.rootfs().join("ready"), "").unwrap();
    let want = format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&sp.stdout_path)
        .unwrap_or_default()
        .lines()
        .any(|l| l == want)
    {
        assert!(
            Instant::now() < deadline,
            "no OOM event: {:?}",
            std::fs::read_to_string(&sp.stdout_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if is_reference() {
        // runc keeps watching a stopped container
        sp.signal(libc::SIGKILL);
    } else {
        sp.wait().ok();
    }
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
}

#[test]
fn kist_only_memory_limit_512k_runs_true() {
    // runc fails to start under 4M; kist's init must fit in 512k.
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    set_res(&mut b, "memory", json!({"limit": 512 << 10}));
    let id = k.id("m512k");
    place(&mut b, &id);
    let o = k.run(&b, &id);
    assert_eq!(o.code, 0, "{}", o.describe());
    assert_cgroup_gone(&id);
}

#[test]
fn fork_bomb_stops_at_pids_max() {
    let k = Kist::new();
    // Bounded: if the limit were not enforced, 40 sleeps are harmless. The
    // forking shell is a child: busybox sh exits when fork fails, and the
    // init must stay to keep the sleeps for inspection.
    let mut b = k.bundle_sh(
        "sh -c 'i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done' 2>/dev/null; : > /ready; exec sleep 1000",
    );
    set_res(&mut b, "pids", json!({"limit": 10}));
    let id = detached_at(&k, &mut b, "pids");
    wait_for_file(&b.rootfs().join("ready"));
    // init + 8 sleeps once the forking shell (the 10th) has died on EAGAIN
    assert_eq!(read_cg("pids", &id, "pids.current"), "9");
    let events = read_cg("pids", &id, "pids.events");
    let max: u64 = events
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(max > 0, "pids.events: {events}");
    let o = k.cmd(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i32> = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(pids.len(), 9, "{pids:?}");
    k.delete_force(&id).ok();
    assert_cgroup_gone(&id);
}

fn mknod_bundle(k: &Kist, script: &str) -> Bundle {
    let mut b = k.bundle_sh(script);
    let caps = [
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_MKNOD",
    ];
    b.set_caps(&caps);
    b
}

#[test]
fn denied_device_cannot_be_opened() {
    let k = Kist::new();
    // 10:229 (fuse) is not in the default allow list; mknod is allowed.
    let b = mknod_bundle(
        &k,
        "mknod /dev/kfuse c 10 229 && echo made; (exec 3<>/dev/kfuse) && echo opened; true",
    );
    let id = k.id("devdeny");
    let mut b = b;
    place(&mut b, &id);
    let o = k.run(&b, &id).ok();
    assert!(o.stdout.contains("made"), "{}", o.describe());
    assert!(!o.stdout.contains("opened"), "{}", o.describe());
    assert!(
        o.stderr.contains("Operation not permitted"),
        "{}",
        o.describe()
    );
}

#[test]
fn allowed_device_can_be_opened() {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("skipped: no /dev/fuse on this host");
        return;
    }
    let k = Kist::new();
    let mut b = mknod_bundle(
        &k,
        "mknod /dev/kfuse c 10 229 && (exec 3<>/dev/kfuse) && echo opened",
    );
    if let Some(a) = b.config["linux"]["resources"]["devices"].as_array_mut() {
        a.push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}));
    }
    let id = k.id("devallow");
    place(&mut b, &id);
    let o = k.run(&b, &id).ok();
    assert_eq!(o.stdout, "opened\n", "{}", o.describe());
}

/// linux.resources.unified is for pure cgroup v2 hosts only (runc 1.1:
/// "invalid configuration"): on a v1 or hybrid host create fails and leaves
/// nothing behind; on v2 it is written.
#[test]
fn unified_only_on_a_pure_v2_host() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    set_res(&mut b, "unified", json!({"cgroup.max.depth": "5"}));
    if v2() {
        let id = detached_at(&k, &mut b, "unified");
        assert_eq!(read_cg("pids", &id, "cgroup.max.depth"), "5");
        return;
    }
    let id = k.id("unified");
    place(&mut b, &id);
    let o = k.run_with(&b, &id, &["--detach"]);
    crate::common::clean_failure(&o);
    let o = o.stderr_has("invalid configuration");
    if !is_reference() {
        o.stderr_has("linux.resources.unified");
    }
    k.assert_gone(&id);
    assert_cgroup_gone(&id);
}

/// A linux.devices entry creates the node but grants no access to it: the
/// device cgroup is linux.resources.devices plus the default list (runc
/// 1.1, crun). Under deny-all, and under an explicit deny after allow-all,
/// opening the created node fails with EPERM.
#[test]
fn linux_devices_entry_does_not_widen_the_device_cgroup() {
    let k = Kist::new();
    let rule_sets = [
        ("deny-all", json!([{"allow": false, "access": "rwm"}])),
        (
            "explicit-deny",
            json!([{"allow": true, "access": "rwm"},
                   {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rw"}]),
        ),
    ];
    for (tag, rules) in rule_sets {
        let mut b = k.bundle_sh(
            "test -c /dev/kfuse && echo made; (exec 3<>/dev/kfuse) && echo opened; true",
        );
        b.config["linux"]["devices"] = json!([{"path": "/dev/kfuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
        b.config["linux"]["resources"]["devices"] = rules;
        let id = k.id(&format!("devnode-{tag}"));
        place(&mut b, &id);
        let o = k.run(&b, &id).ok();
        assert!(o.stdout.contains("made"), "{tag}: {}", o.describe());
        assert!(!o.stdout.contains("opened"), "{tag}: {}", o.describe());
        assert!(
            o.stderr.contains("Operation not permitted"),
            "{tag}: {}",
            o.describe()
        );
    }
}

/// An access letter other than r, w, m is ignored (runc 1.1 does so), with
/// a warning from kist; the rule's known letters still apply.
#[test]
fn device_rule_with_unknown_access_letter_is_accepted() {
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "(exec 3</dev/kfuse) 2>/tmp/err; cat /tmp/err; (exec 3>/dev/kfuse) 2>/dev/null || echo no-write",
    );
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/kfuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
    b.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "ra"}
    ]);
    let id = k.id("devacc");
    place(&mut b, &id);
    let o = k.run(&b, &id).ok();
    // Reading passes the device cgroup (it may still fail in the driver,
    // e.g. without a fuse module); writing does not.
    assert!(
        !o.stdout.contains("Operation not permitted"),
        "{}",
        o.describe()
    );
    assert!(o.stdout.contains("no-write"), "{}", o.describe());
    if !is_reference() {
        o.stderr_has("ignoring");
    }
}

#[test]
fn ps_lists_the_containers_processes() {
    let k = Kist::new();
    let mut b = k.bundle_sh("sleep 1000 & sleep 1001 & : > /ready; wait");
    let id = detached_at(&k, &mut b, "ps");
    wait_for_file(&b.rootfs().join("ready"));
    let init = k.pid(&id);
    let o = k.cmd(&["ps", "-f", "json", &id]).ok();
    let pids: Vec<i32> =
        serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(pids.contains(&init), "{pids:?} lacks init {init}");
    let o = k.cmd(&["ps", &id]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(
        lines[0].split_whitespace().any(|f| f == "PID"),
        "{}",
        o.stdout
    );
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(o.stdout.contains("sleep 1001"), "{}", o.stdout);
    // ps arguments after the id
    let o = k.cmd(&["ps", &id, "-o", "pid,comm"]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(
        lines[1..].iter().all(|l| l.split_whitespace().count() == 2),
        "{}",
        o.stdout
    );
}

#[test]
fn kill_all_reaches_every_process_and_delete_removes_sub_cgroups() {
    let k = Kist::new();
    // no pid namespace: killing the init would not take the others along
    let mut b = k.bundle_sh("sleep 1000 & sleep 1001 & : > /ready; wait");
    b.remove_namespace("pid");
    let id = detached_at(&k, &mut b, "killall");
    wait_for_file(&b.rootfs().join("ready"));
    let o = k.cmd(&["ps", "-f", "json", &id]).ok();
    let pids: Vec<i32> = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(pids.len(), 3, "{pids:?}");
    // a process of the container moves itself into a sub-cgroup, in every
    // hierarchy (as a nested runtime or systemd would)
    let child = *pids.iter().find(|p| **p != k.pid(&id)).unwrap();
    for d in existing_dirs(&id) {
        let mut parent = d.clone();
        for level in ["sub", "deeper"] {
            let sub = parent.join(level);
            std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("mkdir {}: {e}", sub.display()));
            // a v1 cpuset cgroup takes no process until it has cpus and mems
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if !d.join("cgroup.controllers").exists() && sub.join(f).exists() {
                    let v = std::fs::read_to_string(parent.join(f)).unwrap();
                    std::fs::write(sub.join(f), v.trim()).unwrap();
                }
            }
            parent = sub;
        }
        std::fs::write(parent.join("cgroup.procs"), child.to_string())
            .unwrap_or_else(|e| panic!("move {child} to {}: {e}", parent.display()));
    }
    let o = k.cmd(&["ps", "-f", "json", &id]).ok();
    let now: Vec<i32> = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(now.len(), 3, "ps must see sub-cgroups too: {now:?}");
    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    for p in &pids {
        crate::common::reap_pid(*p);
        while crate::common::pid_exists(*p) {
            assert!(Instant::now() < deadline, "pid {p} survived kill --all");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

#[test]
fn failed_create_leaves_no_cgroup() {
    let k = Kist::new();
    // fails in the init, after the cgroup was made and the init placed in it
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": "/x", "type": "bind", "source": "/nonexistent-kist-src", "options": ["bind"]}));
    let id = k.id("failmnt");
    place(&mut b, &id);
    crate::common::clean_failure(&k.create(&b, &id));
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
    // fails while applying resources, after the directories were created
    let mut b = k.bundle(&["true"]);
    set_res(&mut b, "cpu", json!({"cpus": "4095"}));
    let id = k.id("failres");
    place(&mut b, &id);
    crate::common::clean_failure(&k.create(&b, &id));
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

#[test]
fn killed_container_leaves_no_cgroup() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = detached_at(&k, &mut b, "killed");
    assert!(!existing_dirs(&id).is_empty());
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
}

#[test]
fn kist_only_update_refuses_resources_file_with_flags() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    let id = detached_at(&k, &mut b, "updboth");
    k.cmd_stdin(&["update", "-r", "-", "--memory", "64m", &id], b"{}")
        .fail()
        .stderr_has("cannot be combined");
}
