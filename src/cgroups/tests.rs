//! Tests against the real host cgroups (hybrid here, pure v2 in hack/vm-test).

use super::testutil::TestCgroup;
use super::*;
use nix::sys::signal::Signal;

#[test]
fn state_round_trip() {
    let cg = Cgroup::new(Some("/a/b"), "x").unwrap();
    let s = serde_json::to_string(&cg).unwrap();
    let back: Cgroup = serde_json::from_str(&s).unwrap();
    assert_eq!(cg, back);
}

#[test]
fn paths_confined() {
    let cg = Cgroup::new(Some("/../../etc/x"), "x").unwrap();
    for d in cg.dirs() {
        assert!(d.ends_with("etc/x"), "{}", d.display());
    }
    for d in &cg.v1 {
        assert!(d.path.starts_with(&d.mount));
    }
    let rel = Cgroup::new(Some("../../../r"), "x").unwrap();
    for d in rel.dirs() {
        assert!(d.starts_with(layout::CGROUP_ROOT), "{}", d.display());
        assert!(d.ends_with("r"));
    }
    let def = Cgroup::new(None, "cid").unwrap();
    assert!(def.dirs().iter().all(|d| d.ends_with("cid")));
}

#[test]
#[ignore = "needs root (make test)"]
fn lifecycle() {
    let mut t = TestCgroup::new();
    for d in t.cg.dirs() {
        assert!(d.is_dir(), "{}", d.display());
    }
    assert_eq!(t.cg.unified_fd().unwrap().is_some(), t.cg.unified.is_some());
    let pid = t.spawn_sleeper();
    assert_eq!(t.cg.pids().unwrap(), vec![pid]);
    for d in t.cg.dirs() {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{}",
            d.display()
        );
    }
    assert!(!t.cg.is_frozen().unwrap());
    t.cg.freeze().unwrap();
    assert!(t.cg.is_frozen().unwrap());
    t.cg.thaw().unwrap();
    assert!(!t.cg.is_frozen().unwrap());
    // a sub-cgroup the container made: pids and remove must see it
    let sub = t.cg.primary().unwrap().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let pid2 = t.spawn_sleeper();
    std::fs::write(sub.join("cgroup.procs"), pid2.to_string()).unwrap();
    let mut want = vec![pid, pid2];
    want.sort();
    assert_eq!(t.cg.pids().unwrap(), want);
    t.cg.signal_all(Signal::SIGKILL).unwrap();
    for c in &mut t.children {
        c.wait().unwrap();
    }
    t.children.clear();
    assert!(!t.cg.is_frozen().unwrap());
    t.cg.remove().unwrap();
    for d in t.cg.dirs() {
        assert!(!d.exists(), "{}", d.display());
    }
    // removing again is fine
    t.cg.remove().unwrap();
}

#[test]
#[ignore = "needs root (make test)"]
fn clone_into_cgroup_fd() {
    let t = TestCgroup::new();
    if let Some(fd) = t.cg.unified_fd().unwrap() {
        use std::os::fd::AsRawFd;
        assert!(fd.as_raw_fd() >= 0);
    }
}

fn res(json: &str) -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// `update` with `json` as both the change and the whole resources.
fn update(cg: &Cgroup, json: &str) -> crate::error::Result<()> {
    let r = res(json);
    cg.update(&r, &r)
}

/// Content of a control file for `controller`: the v1 file if the
/// controller is on v1, else the v2 one.
fn read_ctl(cg: &Cgroup, controller: &str, v1file: &str, v2file: &str) -> String {
    let p = match cg.v1_path(controller) {
        Some(d) => d.join(v1file),
        None => cg.unified_path().unwrap().join(v2file),
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs root (make test)"]
fn apply_basic_resources() {
    let t = TestCgroup::new();
    // 512k: crun accepts it and so must kist (the kernel decides)
    t.cg.apply(&res(
        r#"{"memory":{"limit":524288},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},"pids":{"limit":10}}"#,
    ))
    .unwrap();
    assert_eq!(
        read_ctl(&t.cg, "memory", "memory.limit_in_bytes", "memory.max"),
        "524288"
    );
    if t.cg.v1_path("cpu").is_some() {
        assert_eq!(read_ctl(&t.cg, "cpu", "cpu.shares", ""), "512");
        assert_eq!(read_ctl(&t.cg, "cpu", "cpu.cfs_quota_us", ""), "50000");
        assert_eq!(read_ctl(&t.cg, "cpu", "cpu.cfs_period_us", ""), "100000");
    } else {
        assert_eq!(read_ctl(&t.cg, "cpu", "", "cpu.weight"), "20");
        assert_eq!(read_ctl(&t.cg, "cpu", "", "cpu.max"), "50000 100000");
    }
    assert_eq!(read_ctl(&t.cg, "cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(read_ctl(&t.cg, "pids", "pids.max", "pids.max"), "10");
    // update writes only what it is given
    update(&t.cg, r#"{"memory":{"limit":-1}}"#).unwrap();
    assert_eq!(read_ctl(&t.cg, "pids", "pids.max", "pids.max"), "10");
    let m = read_ctl(&t.cg, "memory", "memory.limit_in_bytes", "memory.max");
    assert!(m == "max" || m.parse::<u64>().unwrap() > 1 << 40, "{m}");
    update(&t.cg, r#"{"cpu":{"quota":-1},"pids":{"limit":-1}}"#).unwrap();
    assert_eq!(read_ctl(&t.cg, "pids", "pids.max", "pids.max"), "max");
    assert_eq!(
        read_ctl(&t.cg, "cpu", "cpu.cfs_quota_us", "cpu.max"),
        if t.cg.v1_path("cpu").is_some() {
            "-1"
        } else {
            "max 100000"
        }
    );
}

#[test]
#[ignore = "needs root (make test)"]
fn memory_swap_and_reservation() {
    let t = TestCgroup::new();
    let r = t.cg.apply(&res(
        r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":33554432}}"#,
    ));
    match r {
        Ok(()) => {
            if t.cg.v1_path("memory").is_some() {
                assert_eq!(
                    read_ctl(&t.cg, "memory", "memory.memsw.limit_in_bytes", ""),
                    "134217728"
                );
                assert_eq!(
                    read_ctl(&t.cg, "memory", "memory.soft_limit_in_bytes", ""),
                    "33554432"
                );
            } else {
                assert_eq!(read_ctl(&t.cg, "memory", "", "memory.swap.max"), "67108864");
                assert_eq!(read_ctl(&t.cg, "memory", "", "memory.low"), "33554432");
            }
        }
        // a host without swap accounting: the error names field and file
        Err(e) => assert!(
            e.to_string().contains("memory.swap") && e.to_string().contains("swap"),
            "{e}"
        ),
    }
    // swap below the limit is refused with the field named
    let e = update(&t.cg, r#"{"memory":{"limit":67108864,"swap":1048576}}"#).unwrap_err();
    assert!(e.to_string().contains("linux.resources.memory"), "{e}");
}

#[test]
#[ignore = "needs root (make test)"]
fn unsupported_values_are_errors() {
    let t = TestCgroup::new();
    let e =
        t.cg.apply(&res(r#"{"network":{"classID":1048577}}"#))
            .unwrap_err()
            .to_string();
    if t.cg.v1_path("net_cls").is_none() {
        assert!(
            e.contains("linux.resources.network.classID") && e.contains("net_cls.classid"),
            "{e}"
        );
    }
    match t.cg.apply(&res(r#"{"blockIO":{"weight":500}}"#)) {
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("linux.resources.blockIO.weight") && e.contains("weight"),
                "{e}"
            );
        }
        Ok(()) if t.cg.v1_path("blkio").is_none() => {
            let d = t.cg.unified_path().unwrap();
            let w = std::fs::read_to_string(d.join("io.bfq.weight"))
                .or_else(|_| std::fs::read_to_string(d.join("io.weight")))
                .unwrap();
            assert!(
                w.contains("default 4950") || w.contains("default 500"),
                "{w}"
            );
        }
        Ok(()) => {}
    }
    if t.cg.mode == Mode::V2 {
        let e =
            t.cg.apply(&res(r#"{"cpu":{"realtimeRuntime":1000}}"#))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("realtimeRuntime") && e.contains("cpu.rt_runtime_us"),
            "{e}"
        );
        let e =
            t.cg.apply(&res(r#"{"memory":{"swappiness":10}}"#))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("swappiness") && e.contains("memory.swappiness"),
            "{e}"
        );
        let e =
            t.cg.apply(&res(r#"{"memory":{"kernel":1048576}}"#))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("memory.kernel") && e.contains("memory.kmem.limit_in_bytes"),
            "{e}"
        );
    } else {
        t.cg.apply(&res(r#"{"memory":{"kernelTCP":1048576}}"#))
            .unwrap();
        assert_eq!(
            read_ctl(&t.cg, "memory", "memory.kmem.tcp.limit_in_bytes", ""),
            "1048576"
        );
        t.cg.apply(&res(
            r#"{"memory":{"swappiness":10,"disableOOMKiller":true}}"#,
        ))
        .unwrap();
        assert_eq!(read_ctl(&t.cg, "memory", "memory.swappiness", ""), "10");
        assert!(read_ctl(&t.cg, "memory", "memory.oom_control", "").contains("oom_kill_disable 1"));
    }
    // absent values are not written, so nothing fails
    t.cg.apply(&res(r#"{"network":{},"blockIO":{},"memory":{}}"#))
        .unwrap();
}

#[test]
#[ignore = "needs root (make test)"]
fn unified_map() {
    let t = TestCgroup::new();
    let r = t.cg.apply(&res(
        r#"{"unified":{"memory.high":"8388608","cgroup.max.descendants":"7"}}"#,
    ));
    if t.cg.mode == Mode::V2 {
        r.unwrap();
        assert_eq!(read_ctl(&t.cg, "", "", "memory.high"), "8388608");
    } else {
        // runc's rule: unified only on a pure v2 host, even for core files.
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("linux.resources.unified") && e.contains("cannot use unified on cgroup v1"),
            "{e}"
        );
    }
    let e =
        t.cg.apply(&res(r#"{"unified":{"../x.y":"1"}}"#))
            .unwrap_err()
            .to_string();
    assert!(e.contains("unified"), "{e}");
    if t.cg.mode == Mode::V2 {
        t.cg.apply(&res(r#"{"unified":{"cgroup.max.descendants":"7"}}"#))
            .unwrap();
        assert_eq!(read_ctl(&t.cg, "", "", "cgroup.max.descendants"), "7");
    }
}

#[test]
#[ignore = "needs root (make test)"]
fn hugetlb_limits() {
    let t = TestCgroup::new();
    // On hybrid hosts hugetlb may sit on cgroup2: enabling it there would
    // stop a later v1 hugetlb mount on this shared machine, so only test
    // where it is on v1 or the host is pure v2.
    if t.cg.mode == Mode::Hybrid && t.cg.v1_path("hugetlb").is_none() {
        return;
    }
    let sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !sizes.iter().any(|s| s == "hugepages-2048kB") {
        return;
    }
    t.cg.apply(&res(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .unwrap();
    assert_eq!(
        read_ctl(
            &t.cg,
            "hugetlb",
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.max"
        ),
        "4194304"
    );
    let e =
        t.cg.apply(&res(
            r#"{"hugepageLimits":[{"pageSize":"../2MB","limit":1}]}"#,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("hugepageLimits[0].pageSize"), "{e}");
}

#[test]
#[ignore = "needs root (make test)"]
fn v1_devices() {
    let t = TestCgroup::new();
    let Some(d) = t.cg.v1_path("devices") else {
        return;
    };
    t.cg.apply(&res(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}]}"#,
    ))
    .unwrap();
    let list = std::fs::read_to_string(d.join("devices.list")).unwrap();
    assert!(!list.contains("a *:* rwm"), "{list}");
    for want in [
        "c 10:229 rw",
        "c 1:3 rwm",
        "c 136:* rwm",
        "c *:* m",
        "b *:* m",
    ] {
        assert!(list.lines().any(|l| l == want), "{want} not in {list}");
    }
}

#[test]
#[ignore = "needs root (make test)"]
fn stats_and_oom() {
    let mut t = TestCgroup::new();
    t.cg.apply(&res(
        r#"{"memory":{"limit":16777216,"swap":16777216},"pids":{"limit":20}}"#,
    ))
    .unwrap();
    let pid = t.spawn_sleeper();
    let s = t.cg.stats().unwrap();
    assert_eq!(s["memory"]["usage"]["limit"], 16777216, "{s}");
    assert!(s["memory"]["usage"].get("failcnt").is_some(), "{s}");
    assert_eq!(s["pids"]["current"], 1, "{s}");
    assert_eq!(s["pids"]["limit"], 20, "{s}");
    assert!(s["cpu"]["usage"].get("kernel").is_some(), "{s}");
    assert!(s["cpu"].get("throttling").is_some(), "{s}");
    assert!(
        s.get("hugetlb").is_some() && s.get("blkio").is_some(),
        "{s}"
    );
    assert_eq!(t.cg.oom_kill_count().unwrap(), 0);
    // a shell that holds 48 MiB in a 16 MiB cgroup gets OOM-killed
    let out = t.run_in("x=$(head -c 50331648 /dev/zero | tr '\\0' a); echo survived ${#x}");
    assert!(!out.contains("survived"), "{out}");
    assert!(t.cg.oom_kill_count().unwrap() >= 1);
    let _ = pid;
}

#[test]
fn stats_of_missing_cgroup_is_error() {
    let cg = Cgroup::new(Some(&format!("/{}", super::testutil::unique_name())), "x").unwrap();
    assert!(cg.stats().is_err());
    // remove of a cgroup that never existed is fine
    cg.remove().unwrap();
}

/// A pure v1 host is a hybrid one without the cgroup2 part: the same code
/// minus `unified`. Simulated here by dropping it.
#[test]
#[ignore = "needs root (make test)"]
fn pure_v1_shape() {
    let mut cg = Cgroup::new(Some(&format!("/{}", super::testutil::unique_name())), "x").unwrap();
    if cg.v1.is_empty() {
        return;
    }
    cg.unified = None;
    cg.mode = Mode::V1;
    let mut t = TestCgroup {
        cg,
        children: Vec::new(),
    };
    t.cg.create().unwrap();
    assert!(t.cg.unified_fd().unwrap().is_none());
    let pid = t.spawn_sleeper();
    assert_eq!(t.cg.pids().unwrap(), vec![pid]);
    t.cg.freeze().unwrap();
    assert!(t.cg.is_frozen().unwrap());
    t.cg.thaw().unwrap();
    t.cg.apply(&res(r#"{"pids":{"limit":5}}"#)).unwrap();
    let e =
        t.cg.apply(&res(r#"{"unified":{"pids.max":"5"}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("linux.resources.unified"), "{e}");
}

/// hack/vm-test sets KIST_EXPECT_CGROUP_MODE=v2 so that a guest that is not
/// pure v2 fails loudly instead of skipping the v2 paths.
#[test]
fn expected_mode() {
    let cg = Cgroup::new(None, "x").unwrap();
    if let Ok(want) = std::env::var("KIST_EXPECT_CGROUP_MODE") {
        assert_eq!(serde_json::to_value(cg.mode).unwrap(), want.as_str());
    }
}

#[test]
fn features_shape() {
    let f = features();
    assert_eq!(f["v1"], true);
    assert_eq!(f["v2"], true);
    assert_eq!(f["systemd"], true);
    assert_eq!(f["systemdUser"], true);
}

/// On v2 the device rules of apply() become an attached eBPF program.
#[test]
#[ignore = "needs root (make test)"]
fn v2_devices_via_apply() {
    let t = TestCgroup::new();
    if t.cg.v1_path("devices").is_some() {
        return;
    }
    t.cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .unwrap();
    let fd = t.cg.unified_fd().unwrap().unwrap();
    assert_eq!(v2::devices_bpf::attached(&fd).unwrap().len(), 1);
    let out = t.run_in(
        "head -c1 /dev/null && echo null-ok; \
         (: </dev/kmsg) 2>/dev/null && echo kmsg-open; head -c1 /dev/zero >/dev/null && echo zero-ok",
    );
    // /dev/kmsg (c 1:11) is not in the default list
    assert_eq!(out, "null-ok\nzero-ok\n");
}

/// The fd from unified_fd() works for clone3(CLONE_INTO_CGROUP): the child
/// starts life in the container's cgroup2 directory (v2 and hybrid).
#[test]
#[ignore = "needs root (make test)"]
fn clone3_into_cgroup() {
    let t = TestCgroup::new();
    let Some(fd) = t.cg.unified_fd().unwrap() else {
        return;
    };
    // The runtime's own clone3 (the one `create` uses).
    let pid = crate::container::clone3(0, Some(&fd));
    if pid.as_ref().is_ok_and(|p| *p == 0) {
        // SAFETY: the child never returns into the (multi-threaded) test
        // harness: it waits to be killed, then exits.
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    let pid = pid.expect("clone3 into the cgroup");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    let rel =
        t.cg.unified_path()
            .unwrap()
            .strip_prefix(&t.cg.unified.as_ref().unwrap().mount)
            .unwrap()
            .display()
            .to_string();
    assert!(
        cg.lines().any(|l| l == format!("0::/{rel}")),
        "child cgroups:\n{cg}want 0::/{rel}"
    );
}

/// Relative cgroupsPath on v2: under the parent of the runtime's own cgroup
/// (runc). Only in the v2 guest: on this shared host the runtime's own
/// cgroups belong to the session machinery and are left alone.
#[test]
fn v2_relative_placement() {
    let probe = Cgroup::new(None, "x").unwrap();
    if probe.mode != Mode::V2 {
        return;
    }
    let name = super::testutil::unique_name();
    let cg = Cgroup::new(Some(&name), "x").unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_string();
    let parent = std::path::Path::new(&own)
        .parent()
        .unwrap_or(std::path::Path::new("/"))
        .to_path_buf();
    let want = std::path::Path::new(layout::CGROUP_ROOT)
        .join(parent.strip_prefix("/").unwrap())
        .join(&name);
    assert_eq!(cg.unified_path().unwrap(), want);
    let mut t = TestCgroup {
        cg,
        children: Vec::new(),
    };
    t.cg.create().unwrap();
    let pid = t.spawn_sleeper();
    assert_eq!(t.cg.pids().unwrap(), vec![pid]);
    t.cg.apply(&res(r#"{"pids":{"limit":3}}"#)).unwrap();
}

/// An early launch sends the v1 `tasks` files to the init: they are taken
/// back one per distinct hierarchy directory, in the same order, and a
/// count that does not match is an error, not a silent partial placement.
#[test]
fn placement_files_are_adopted_one_per_hierarchy() {
    let dir = |ctl: &str, path: &str| V1Dir {
        controllers: vec![ctl.to_string()],
        mount: format!("/sys/fs/cgroup/{ctl}").into(),
        path: path.into(),
    };
    let cg = Cgroup {
        driver: Driver::Cgroupfs,
        mode: Mode::Hybrid,
        v1: vec![
            dir("cpu", "/a/cpu,cpuacct/c"),
            dir("cpuacct", "/a/cpu,cpuacct/c"),
            dir("memory", "/a/memory/c"),
        ],
        unified: None,
    };
    let files = |n: usize| -> Vec<std::os::fd::OwnedFd> {
        (0..n)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect()
    };
    let err = SelfPlacement::adopt(&cg, files(3)).err().unwrap();
    assert!(err.to_string().contains("got 3 v1 tasks files"), "{err}");
    assert_eq!(
        SelfPlacement::adopt(&cg, files(2))
            .unwrap()
            .into_fds()
            .len(),
        2
    );
}

/// What `create` and `exec` do instead of writing a pid into cgroup.procs:
/// the child is created in the cgroup2 directory and moves itself into
/// every v1 hierarchy's cgroup.
#[test]
#[ignore = "needs root (make test)"]
fn placement_puts_a_new_process_in_every_hierarchy() {
    let t = TestCgroup::new();
    let (fd, placement) = t.cg.placement().unwrap();
    let pid = crate::container::clone3(0, fd.as_ref());
    if pid.as_ref().is_ok_and(|p| *p == 0) {
        // SAFETY: the child never returns into the (multi-threaded) test
        // harness and allocates nothing: join writes, then it waits to be
        // killed.
        unsafe {
            if placement.join().is_err() {
                libc::_exit(1);
            }
            libc::pause();
            libc::_exit(0);
        }
    }
    let pid = pid.expect("clone3 into the cgroup");
    drop(placement);
    // Per hierarchy (a /proc/PID/cgroup line names its controllers, the
    // unified one none): the path wanted there.
    let rel = |p: &std::path::Path, m: &std::path::Path| {
        format!("/{}", p.strip_prefix(m).unwrap().display())
    };
    let mut want: Vec<(Vec<String>, String)> =
        t.cg.v1
            .iter()
            .map(|d| (d.controllers.clone(), rel(&d.path, &d.mount)))
            .collect();
    if let Some(u) = &t.cg.unified {
        want.push((vec![String::new()], rel(&u.path, &u.mount)));
    }
    let placed = |cg: &str| {
        want.iter().all(|(ctls, path)| {
            cg.lines().any(|l| {
                let mut f = l.splitn(3, ':');
                let (_, c, p) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
                p == path && c.split(',').any(|c| ctls.iter().any(|w| w == c))
            })
        })
    };
    // The child writes itself into the v1 cgroups: wait for it.
    let mut cg = String::new();
    for _ in 0..200 {
        cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if placed(&cg) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    assert!(placed(&cg), "child cgroups:\n{cg}want {want:?}");
}
