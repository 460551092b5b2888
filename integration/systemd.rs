//! `--systemd-cgroup`: the container's cgroup is a transient systemd unit.
//! Everything is read back from systemd (`systemctl show`) and from the
//! unit's cgroup files.
//!
//! These need systemd as PID 1 (and its D-Bus API), so they are ignored by
//! a plain `cargo test` and run by `make test-systemd` in a systemd guest
//! with `--include-ignored`. Only the malformed-path test runs everywhere:
//! it fails before kist talks to systemd; so does the rootless one that
//! finds no user instance (or no cgroup v2).
//!
//! Rootless (`systemd_user_*`): an ordinary user with lingering enabled has
//! its own systemd (`user@UID.service`, which systemd delegates a cgroup v2
//! subtree to); kist run by that user puts the container in a unit of that
//! instance, read back with `systemctl --user`.

use crate::cgroups::v2;
use crate::common::users::{self, User};
use crate::common::{clean_failure, cmd, Bundle, Kist};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// `systemctl show -P <prop> <unit>`.
fn show(unit: &str, prop: &str) -> String {
    let o = Command::new("systemctl")
        .args(["show", "-P", prop, unit])
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn unit_of(id: &str) -> String {
    format!("kist-it-{id}.scope")
}

/// The bundle placed in `system.slice` as unit `kist-it-<id>.scope`.
fn place(b: &mut Bundle, id: &str) {
    b.config["linux"]["cgroupsPath"] = json!(format!("system.slice:kist-it:{id}"));
}

/// A file of the unit's cgroup (v2: the unified directory; v1: the
/// controller's hierarchy).
fn cg_file(unit: &str, controller: &str, file: &str) -> String {
    let rel = show(unit, "ControlGroup");
    assert!(!rel.is_empty(), "{unit} has no ControlGroup");
    let dir = if v2() {
        PathBuf::from(format!("/sys/fs/cgroup{rel}"))
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/{controller}{rel}"))
    };
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[track_caller]
fn assert_no_unit(unit: &str) {
    assert_eq!(show(unit, "LoadState"), "not-found", "{unit} left behind");
    let dir = format!("/sys/fs/cgroup/system.slice/{unit}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
}

fn systemd_kist() -> Kist {
    let k = Kist::new();
    k.global_flags(&["--systemd-cgroup"]);
    k
}

#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn systemd_unit_holds_the_container_with_its_resources() {
    let k = systemd_kist();
    let mut b = k.bundle(&["sleep", "1000"]);
    // exec reads its own cgroup path: no cgroup namespace to hide it.
    b.remove_namespace("cgroup");
    let id = k.id("sdres");
    place(&mut b, &id);
    let unit = unit_of(&id);
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 42},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": true, "type": "c", "major": 1, "access": "r"},
            // systemd has no form for a wildcard major: left to the cgroup
            {"allow": true, "type": "c", "minor": 99, "access": "r"},
        ],
    });
    b.config["annotations"] = json!({
        "org.systemd.property.TimeoutStopSec": "20",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
    });
    k.run_with(&b, &id, &["--detach"]).ok();
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "TimeoutStopUSec"), "20s");
    assert_eq!(show(&unit, "CollectMode"), "inactive-or-failed");
    assert_eq!(show(&unit, "TasksMax"), "42");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    let o = Command::new("systemctl")
        .args(["show", "-p", "DeviceAllow", &unit])
        .output()
        .expect("run systemctl");
    let allow = String::from_utf8_lossy(&o.stdout).to_string();
    for want in [
        "DeviceAllow=/dev/char/10:229 rw",
        "DeviceAllow=char-mem r",
        "DeviceAllow=char-* m",
        "DeviceAllow=block-* m",
        "DeviceAllow=/dev/char/1:3 rwm",
        "DeviceAllow=char-pts rwm",
    ] {
        assert!(allow.lines().any(|l| l == want), "{want:?} not in {allow}");
    }
    assert!(!allow.contains(":99"), "{allow}");
    assert_eq!(cg_file(&unit, "pids", "pids.max"), "42");
    let pid = k.pid(&id);
    let procs = cg_file(&unit, "pids", "cgroup.procs");
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "init {pid} not in {unit}: {procs}"
    );
    if v2() {
        assert_eq!(show(&unit, "MemoryMax"), (64u64 << 20).to_string());
        assert_eq!(show(&unit, "MemoryLow"), (32u64 << 20).to_string());
        assert_eq!(show(&unit, "CPUWeight"), "20");
        assert_eq!(show(&unit, "CPUQuotaPeriodUSec"), "100ms");
        assert_eq!(show(&unit, "AllowedCPUs"), "0");
        assert_eq!(
            cg_file(&unit, "memory", "memory.max"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            cg_file(&unit, "memory", "memory.low"),
            (32u64 << 20).to_string()
        );
        assert_eq!(cg_file(&unit, "cpu", "cpu.weight"), "20");
        assert_eq!(cg_file(&unit, "cpu", "cpu.max"), "50000 100000");
        assert_eq!(cg_file(&unit, "cpuset", "cpuset.cpus"), "0");
    } else {
        assert_eq!(show(&unit, "MemoryLimit"), (64u64 << 20).to_string());
        assert_eq!(show(&unit, "CPUShares"), "512");
        assert_eq!(
            cg_file(&unit, "memory", "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(cg_file(&unit, "cpu", "cpu.shares"), "512");
    }
    // ps, exec and events go through the unit's cgroup.
    let ps = k.cmd(&["ps", "--format", "json", &id]).ok();
    assert_eq!(ps.stdout.trim(), format!("[{pid}]"));
    let cg = k
        .cmd(&["exec", &id, "cat", "/proc/self/cgroup"])
        .ok()
        .stdout;
    assert!(cg.contains(&format!("/system.slice/{unit}")), "{cg}");
    let ev = k.cmd(&["events", "--stats", &id]).ok().stdout;
    assert!(ev.contains(&format!("\"limit\":{}", 64u64 << 20)), "{ev}");
    k.delete_force(&id).ok();
    assert_no_unit(&unit);
    k.assert_gone(&id);
}

#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn systemd_update_pause_kill_all_delete() {
    let k = systemd_kist();
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = k.id("sdupd");
    place(&mut b, &id);
    let unit = unit_of(&id);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 42}});
    k.run_with(&b, &id, &["--detach"]).ok();
    k.cmd(&[
        "update",
        "--memory",
        &(128u64 << 20).to_string(),
        "--pids-limit",
        "50",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ])
    .ok();
    assert_eq!(show(&unit, "TasksMax"), "50");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "200ms");
    assert_eq!(cg_file(&unit, "pids", "pids.max"), "50");
    let mem = if v2() {
        assert_eq!(cg_file(&unit, "cpu", "cpu.max"), "20000 100000");
        "MemoryMax"
    } else {
        "MemoryLimit"
    };
    assert_eq!(show(&unit, mem), (128u64 << 20).to_string());

    k.cmd(&["pause", &id]).ok();
    assert_eq!(k.status(&id), "paused");
    if v2() {
        assert_eq!(cg_file(&unit, "freezer", "cgroup.freeze"), "1");
    }
    k.cmd(&["resume", &id]).ok();
    assert_eq!(k.status(&id), "running");

    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    assert_no_unit(&unit);
    k.assert_gone(&id);
}

/// KIST-ONLY (the crash hook): `create` killed between the clone and the
/// unit (the init waits in kist's cgroup), and once the container is set
/// up in its unit: `delete` leaves nothing.
#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn kist_only_systemd_killed_create_leaves_nothing_after_delete() {
    for step in ["pid", "ready"] {
        let k = systemd_kist();
        let mut b = k.bundle(&["sleep", "1000"]);
        let id = k.id(&format!("sdcrash-{step}"));
        place(&mut b, &id);
        let unit = unit_of(&id);
        b.save();
        let bdir = b.dir.to_string_lossy().into_owned();
        let o = k.cmd_opts(
            &["create", "--bundle", &bdir, &id],
            crate::common::cmd::Opts {
                envs: vec![("KIST_TEST_CRASH_CREATE".into(), step.to_string())],
                ..Default::default()
            },
        );
        assert_eq!(o.code, 128 + 9, "after {step}: {}", o.describe());
        if step == "ready" {
            assert_eq!(show(&unit, "ActiveState"), "active");
        }
        k.delete(&id).ok();
        assert_no_unit(&unit);
        k.assert_gone(&id);
    }
}

/// KIST-ONLY (runc's default unit is `runc-<id>.scope`): no cgroupsPath
/// means `system.slice:kist:<id>`. A nested slice is expanded to its
/// parents, as systemd does.
#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn kist_only_systemd_default_path_and_nested_slice() {
    let k = systemd_kist();
    let b = k.bundle(&["sleep", "1000"]);
    let id = k.id("sddef");
    k.run_with(&b, &id, &["--detach"]).ok();
    let unit = format!("kist-{id}.scope");
    assert_eq!(show(&unit, "ControlGroup"), format!("/system.slice/{unit}"));
    k.delete_force(&id).ok();
    assert_no_unit(&unit);

    let mut b = k.bundle(&["sleep", "1000"]);
    let id = k.id("sdslice");
    let slice = format!("kistit-{}.slice", id.replace('-', "_"));
    b.config["linux"]["cgroupsPath"] = json!(format!("{slice}:kist-it:{id}"));
    k.run_with(&b, &id, &["--detach"]).ok();
    let unit = unit_of(&id);
    assert_eq!(show(&unit, "Slice"), slice);
    assert_eq!(
        show(&unit, "ControlGroup"),
        format!("/kistit.slice/{slice}/{unit}")
    );
    k.delete_force(&id).ok();
    assert_eq!(show(&unit, "LoadState"), "not-found");
    let _ = Command::new("systemctl")
        .args(["stop", &slice, "kistit.slice"])
        .status();
    k.assert_gone(&id);

    // A name ending in .slice: the container is a slice unit of its own.
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = k.id("sdown");
    let own = format!("kistown_{}.slice", id.replace('-', "_"));
    b.config["linux"]["cgroupsPath"] = json!(format!("system.slice:kist-it:{own}"));
    k.run_with(&b, &id, &["--detach"]).ok();
    assert_eq!(show(&own, "ActiveState"), "active");
    let procs = cg_file(&own, "pids", "cgroup.procs");
    assert_eq!(procs.trim(), k.pid(&id).to_string(), "{own}");
    k.delete_force(&id).ok();
    // Our transient unit is gone; systemd answers for any slice name with
    // a synthesized, inactive, non-transient one.
    assert_eq!(show(&own, "ActiveState"), "inactive");
    assert_eq!(show(&own, "Transient"), "no");
    let left = crate::common::cleanup::cgroups_named(&own);
    assert!(left.is_empty(), "{left:?}");
    k.assert_gone(&id);
}

/// KIST-ONLY: a second container naming a scope that exists is refused
/// before anything is made, and the first one keeps its unit (runc 1.1
/// treats an existing unit as its own).
#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn kist_only_systemd_existing_scope_is_refused_and_kept() {
    let k = systemd_kist();
    let mut b = k.bundle(&["sleep", "1000"]);
    let id = k.id("sdfirst");
    place(&mut b, &id);
    k.run_with(&b, &id, &["--detach"]).ok();
    let unit = unit_of(&id);
    let other = k.id("sdsecond");
    k.run_with(&b, &other, &["--detach"])
        .fail()
        .stderr_has("linux.cgroupsPath");
    k.state(&other).fail();
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(k.status(&id), "running");
    k.delete_force(&id).ok();
    assert_no_unit(&unit);
    // (the first container's processes carry this test's mark too)
    k.assert_gone(&other);
}

/// KIST-ONLY: a cgroupsPath not of the form slice:prefix:name is refused
/// naming the field, before anything exists (runc's message does not name
/// the config field). Needs no systemd.
#[test]
fn kist_only_systemd_cgroup_malformed_path_names_the_field() {
    let k = systemd_kist();
    for bad in [
        "/abs/path",
        "a.slice:p",
        "a.scope:p:n",
        "system.slice:p:../x",
    ] {
        let mut b = k.bundle(&["true"]);
        b.config["linux"]["cgroupsPath"] = json!(bad);
        let id = k.id("sdbad");
        k.run(&b, &id).fail().stderr_has("linux.cgroupsPath");
        k.assert_gone(&id);
    }
}

/// `systemctl --user show -P <prop> <unit>` as `u`.
fn user_show(u: &User, unit: &str, prop: &str) -> String {
    let o = u
        .command("systemctl")
        .args(["--user", "show", "-P", prop, unit])
        .output()
        .expect("run systemctl --user");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Lingering for `u`: logind starts its systemd instance without a login
/// (and mounts its XDG_RUNTIME_DIR); waits until the instance answers.
fn linger(u: &User) {
    let st = Command::new("loginctl")
        .args(["enable-linger", &u.name])
        .status()
        .expect("run loginctl");
    assert!(st.success(), "loginctl enable-linger {}: {st}", u.name);
    let unit = format!("user@{}.service", u.uid);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while show(&unit, "ActiveState") != "active" || !u.runtime_dir.join("systemd/private").exists()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{unit} did not start: {}",
            show(&unit, "ActiveState")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs a systemd host (make test-systemd)"]
fn systemd_user_instance_holds_a_rootless_container_and_enforces_its_memory_limit() {
    let u = users::user(1);
    linger(u);
    let k = Kist::as_user(u);
    k.global_flags(&["--systemd-cgroup"]);
    // dd's 64 MiB buffer cannot fit under a 32 MiB limit (no swap here).
    let mut b = k.bundle_sh(
        "dd if=/dev/zero of=/dev/null bs=64M count=1; echo $? >/tmp/dd-status; exec sleep 1000",
    );
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 32 << 20}});
    let id = k.id("sduser");
    // no cgroupsPath: the rootless default, user.slice:kist:<id>
    let unit = format!("kist-{id}.scope");
    k.run_with(&b, &id, &["--detach"]).ok();
    assert_eq!(user_show(u, &unit, "ActiveState"), "active");
    assert_eq!(user_show(u, &unit, "Slice"), "user.slice");
    assert_eq!(user_show(u, &unit, "MemoryMax"), (32u64 << 20).to_string());
    let cg = user_show(u, &unit, "ControlGroup");
    let base = format!("/user.slice/user-{0}.slice/user@{0}.service", u.uid);
    assert_eq!(cg, format!("{base}/user.slice/{unit}"));
    let dir = PathBuf::from(format!("/sys/fs/cgroup{cg}"));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_eq!(read("memory.max").trim(), (32u64 << 20).to_string());
    let pid = k.pid(&id);
    assert!(
        read("cgroup.procs").lines().any(|l| l == pid.to_string()),
        "init {pid} not in {}",
        dir.display()
    );
    // enforced: dd was OOM-killed (SIGKILL, 128+9) in the unit's cgroup
    let status = b.rootfs().join("tmp/dd-status");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !status.exists() {
        assert!(std::time::Instant::now() < deadline, "dd never finished");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "137");
    let events = read("memory.events");
    let kills: u64 = events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "memory.events: {events}");
    // exec from outside the user's subtree: the process runs (in the
    // caller's cgroup, as runc's rootless exec)
    let o = k.cmd(&["exec", &id, "echo", "exec-ok"]).ok();
    assert!(o.stdout.contains("exec-ok"), "{}", o.describe());
    k.delete_force(&id).ok();
    assert_eq!(user_show(u, &unit, "LoadState"), "not-found");
    assert!(!dir.exists(), "{} left behind", dir.display());
    k.assert_gone(&id);

    // No session bus: the user manager's private socket, as systemctl --user.
    let no_bus = || cmd::Opts {
        envs: vec![(
            "DBUS_SESSION_BUS_ADDRESS".into(),
            "unix:path=/nonexistent/bus".into(),
        )],
        ..Default::default()
    };
    let id2 = k.id("sdpriv");
    let unit2 = format!("kist-{id2}.scope");
    let b2 = k.bundle(&["sleep", "1000"]);
    k.track(&id2);
    b2.save();
    let bdir = b2.dir.to_string_lossy().into_owned();
    k.cmd_opts(&["run", "--detach", "--bundle", &bdir, &id2], no_bus())
        .ok();
    assert_eq!(user_show(u, &unit2, "ActiveState"), "active");
    k.cmd_opts(&["delete", "--force", &id2], no_bus()).ok();
    assert_eq!(user_show(u, &unit2, "LoadState"), "not-found");
}

/// Rootless `--systemd-cgroup` needs the user's systemd and cgroup v2; when
/// either is missing kist says which, before anything exists (runc fails
/// later, on dialing the bus).
#[test]
fn kist_only_rootless_systemd_cgroup_says_what_is_missing() {
    // user 2 never lingers: no systemd instance of its own
    let k = Kist::as_user(users::user(2));
    k.global_flags(&["--systemd-cgroup"]);
    let b = k.bundle(&["true"]);
    let id = k.id("sdnouser");
    let o = k.run_with(&b, &id, &[]);
    clean_failure(&o);
    let want = if v2() {
        "loginctl enable-linger"
    } else {
        "needs a cgroup v2 host"
    };
    assert!(o.stderr.contains(want), "{}", o.describe());
    k.assert_gone(&id);
}
