//! pause / resume through the freezer, and what works on a paused container.

use crate::cgroups::{assert_cgroup_gone, detached_at, read_cg, v2};
use crate::common::{pid_exists, reap_pid, wait_for_file, Kist};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A container that appends a line to /count every 20 ms.
fn counter(k: &Kist, tag: &str) -> (String, std::path::PathBuf) {
    let mut b = k.bundle_sh("while true; do echo x >> /count; sleep 0.02; done");
    let id = detached_at(k, &mut b, tag);
    let count = b.rootfs().join("count");
    wait_for_file(&count);
    (id, count)
}

fn lines(p: &std::path::Path) -> usize {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .count()
}

fn frozen(id: &str) -> bool {
    if v2() {
        read_cg("", id, "cgroup.freeze") == "1"
    } else {
        read_cg("freezer", id, "freezer.state") == "FROZEN"
    }
}

fn list_status(k: &Kist, id: &str) -> String {
    let o = k.cmd(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    v.as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .map(|c| c["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let k = Kist::new();
    let (id, count) = counter(&k, "pause");
    k.cmd(&["pause", &id]).ok();
    assert_eq!(k.status(&id), "paused");
    assert_eq!(list_status(&k, &id), "paused");
    assert!(frozen(&id));
    let before = lines(&count);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&count), before, "a paused container kept running");
    // runc: pausing twice fails, resuming a running container fails
    k.cmd(&["pause", &id]).fail().stderr_has("not running");
    k.cmd(&["resume", &id]).ok();
    assert_eq!(k.status(&id), "running");
    assert_eq!(list_status(&k, &id), "running");
    assert!(!frozen(&id));
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines(&count) <= before {
        assert!(Instant::now() < deadline, "resumed container does not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.cmd(&["resume", &id]).fail().stderr_has("not paused");
    k.delete_force(&id).ok();
    assert_cgroup_gone(&id);
}

#[test]
fn pause_of_a_stopped_container_fails() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let id = detached_at(&k, &mut b, "pstop");
    k.wait_status(&id, "stopped");
    k.cmd(&["pause", &id]).fail().stderr_has("not running");
    k.cmd(&["resume", &id]).fail().stderr_has("not paused");
    k.cmd(&["pause", "no-such-container-xyz"])
        .fail()
        .stderr_has("does not exist");
    k.delete(&id).ok();
}

#[test]
fn kill_of_a_paused_container_works() {
    let k = Kist::new();
    let (id, _) = counter(&k, "pkill");
    let pid = k.pid(&id);
    k.cmd(&["pause", &id]).ok();
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    reap_pid(pid);
    assert!(!pid_exists(pid));
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

#[test]
fn kill_all_of_a_paused_container_reaches_every_process() {
    let k = Kist::new();
    let mut b = k.bundle_sh("sleep 1000 & sleep 1001 & : > /ready; wait");
    b.remove_namespace("pid");
    let id = detached_at(&k, &mut b, "pkillall");
    wait_for_file(&b.rootfs().join("ready"));
    let o = k.cmd(&["ps", "-f", "json", &id]).ok();
    let pids: Vec<i32> = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(pids.len(), 3, "{pids:?}");
    k.cmd(&["pause", &id]).ok();
    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    for p in pids {
        reap_pid(p);
        while pid_exists(p) {
            assert!(Instant::now() < deadline, "pid {p} survived kill --all");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
}

#[test]
fn delete_force_of_a_paused_container_works() {
    let k = Kist::new();
    let (id, _) = counter(&k, "pdel");
    k.cmd(&["pause", &id]).ok();
    k.delete(&id).fail().stderr_has("paused");
    k.delete_force(&id).ok();
    assert_cgroup_gone(&id);
    k.assert_gone(&id);
}

#[test]
fn a_created_container_can_be_paused_resumed_and_started() {
    let k = Kist::new();
    let mut b = k.bundle_sh("echo started");
    let id = k.id("pcreated");
    crate::cgroups::place(&mut b, &id);
    let o = k.create(&b, &id).ok();
    k.cmd(&["pause", &id]).ok();
    assert_eq!(k.status(&id), "paused");
    k.cmd(&["resume", &id]).ok();
    assert_eq!(k.status(&id), "created");
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    assert_eq!(o.stdout_now(), "started\n");
    k.delete(&id).ok();
    assert_cgroup_gone(&id);
}
