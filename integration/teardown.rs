//! What engines do to containers that have stopped: containerd's shim kills
//! with `--all` after every exit and deletes containers whose forked
//! children outlive their init (pods sharing a pid namespace, hostPID).

use crate::common::{pid_exists, reap_pid, wait_for_file, Bundle, Kist};
use std::time::{Duration, Instant};

/// A container without a pid namespace of its own whose init leaves a
/// `sleep 100` behind; returns its id and the child's host pid.
fn orphaning(k: &Kist, b: &mut Bundle, tag: &str) -> (String, i32) {
    b.set_sh("sleep 100 & echo $! > /child; exit 0");
    let id = k.id(tag);
    k.create(b, &id).ok();
    k.start(&id).ok();
    let f = b.rootfs().join("child");
    wait_for_file(&f);
    k.wait_status(&id, "stopped");
    let child: i32 = loop {
        if let Ok(p) = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            break p;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(alive(child), "child {child} should outlive the init");
    (id, child)
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match stat.rfind(')') {
        Some(i) => !matches!(stat[i + 2..].chars().next(), Some('Z' | 'X') | None),
        None => false,
    }
}

fn wait_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still alive");
        std::thread::sleep(Duration::from_millis(5));
    }
    reap_pid(pid);
}

fn no_pid_ns(k: &Kist) -> Bundle {
    let mut b = k.bundle(&["true"]);
    b.remove_namespace("pid");
    b
}

#[test]
fn kill_all_of_stopped_container_signals_what_is_left_and_succeeds() {
    let k = Kist::new();
    let mut b = no_pid_ns(&k);
    let (id, child) = orphaning(&k, &mut b, "killallstop");
    k.cmd(&["kill", "--all", &id, "9"]).ok();
    wait_dead(child);
    // Nothing left to signal: still fine (containerd repeats it).
    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.delete(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn kill_all_of_stopped_container_with_empty_cgroup_succeeds() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("killallempty");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    k.cmd(&["kill", "--all", &id, "9"]).ok();
    k.cmd(&["kill", "--all", &id, "15"]).ok();
    k.delete(&id).ok();
}

#[test]
fn kill_of_stopped_container_says_container_not_running() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("killstopmsg");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    // containerd's shim matches this text to tell "already stopped".
    k.kill(&id, "9").fail().stderr_has("container not running");
    k.kill(&id, "15").fail().stderr_has("container not running");
    k.delete(&id).ok();
}

#[test]
fn delete_and_delete_force_kill_children_left_without_pid_namespace() {
    let k = Kist::new();
    for delete in [&["delete"][..], &["delete", "--force"]] {
        let mut b = no_pid_ns(&k);
        let (id, child) = orphaning(&k, &mut b, "delorphan");
        let mut args = delete.to_vec();
        args.push(&id);
        k.cmd(&args).ok();
        wait_dead(child);
        k.assert_gone(&id);
    }
}

#[test]
fn delete_kills_children_left_in_a_joined_pid_namespace() {
    let k = Kist::new();
    // The pod's sandbox: its pid namespace is joined by path.
    let sb = k.bundle(&["sleep", "100"]);
    let sandbox = k.id("sandbox");
    k.run_with(&sb, &sandbox, &["-d"]).ok();
    let spid = k.pid(&sandbox);
    let mut b = k.bundle(&["true"]);
    b.set_namespace(serde_json::json!({"type": "pid", "path": format!("/proc/{spid}/ns/pid")}));
    // $! is a pid in the sandbox's namespace: find the child from the host.
    b.set_sh("sleep 100 & touch /ready; exit 0");
    let id = k.id("delpod");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    wait_for_file(&b.rootfs().join("ready"));
    k.wait_status(&id, "stopped");
    let children: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup"))
                .map(|c| c.lines().any(|l| l.ends_with(&format!("/{id}"))))
                .unwrap_or(false)
        })
        .collect();
    assert!(
        !children.is_empty(),
        "the child should still run in {id}'s cgroup"
    );
    k.delete(&id).ok();
    for c in children {
        wait_dead(c);
    }
    assert!(
        crate::common::cgroups_named(&id).is_empty(),
        "{:?}",
        crate::common::cgroups_named(&id)
    );
    k.delete_force(&sandbox).ok();
    reap_pid(spid);
    assert!(!pid_exists(spid) || !alive(spid));
    k.assert_gone(&id);
}

/// Every step of `create` after which kist's test hook can kill it, in
/// the order of an early launch (a new network namespace and no user
/// namespace: the init is cloned once its cgroup2 directory exists, and
/// the rest of the cgroup, the limits and the start FIFO follow while it
/// makes its network namespace; see container::launch).
const CREATE_STEPS: &[&str] = &[
    "state-dir",
    "recorded",
    "clone",
    "cgroup",
    "limits",
    "listener",
    "pid",
    "placed",
    "hooks",
    "ready",
];

/// KIST-ONLY: runc leaves the cgroups of a `create` killed part-way (and
/// has no hook to kill itself); kist must leave an id that `delete --force`
/// clears completely.
#[test]
fn kist_only_create_killed_after_any_step_can_be_deleted_and_the_id_reused() {
    let k = Kist::new();
    let mut early = k.bundle(&["sleep", "100"]);
    // A hook makes the init stop for the hooks step too.
    early.config["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/true"}]});
    early.save();
    // Without a network namespace of its own the init is cloned after the
    // whole cgroup, the limits and the start FIFO (cgroup, limits,
    // listener, clone).
    let mut late = k.bundle(&["sleep", "100"]);
    late.config["hooks"] = early.config["hooks"].clone();
    late.remove_namespace("network");
    late.save();
    for (b, kind) in [(&early, "early"), (&late, "late")] {
        crash_after_each_step(&k, b, kind);
    }
}

fn crash_after_each_step(k: &Kist, b: &crate::common::Bundle, kind: &str) {
    let bdir = b.dir.to_string_lossy().into_owned();
    for step in CREATE_STEPS {
        let id = k.id(&format!("crash-{kind}-{step}"));
        let o = k.cmd_opts(
            &["create", "--bundle", &bdir, &id],
            crate::common::cmd::Opts {
                envs: vec![("KIST_TEST_CRASH_CREATE".into(), step.to_string())],
                ..Default::default()
            },
        );
        assert_eq!(
            o.code,
            128 + 9,
            "create should be killed after {kind} {step}:\n{}",
            o.describe()
        );
        let list = k.cmd(&["list", "--format", "json"]).ok();
        let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["id"] == id.as_str()))
            .unwrap_or_else(|| panic!("after {kind} {step}: {id} not listed: {}", list.stdout));
        assert_eq!(row["status"], "stopped", "after {kind} {step}: {row}");
        k.delete_force(&id).ok();
        k.assert_gone(&id);
        // The id is free again.
        k.create(b, &id).ok();
        assert_eq!(k.status(&id), "created", "after {kind} {step}");
        k.delete_force(&id).ok();
        k.assert_gone(&id);
    }
}

#[test]
fn kist_only_create_killed_part_way_is_removed_by_plain_delete() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let bdir = b.dir.to_string_lossy().into_owned();
    // After "ready" the init is alive, waiting for a start that never comes.
    let id = k.id("crash-delete");
    let o = k.cmd_opts(
        &["create", "--bundle", &bdir, &id],
        crate::common::cmd::Opts {
            envs: vec![("KIST_TEST_CRASH_CREATE".into(), "ready".into())],
            ..Default::default()
        },
    );
    assert_eq!(o.code, 128 + 9, "{}", o.describe());
    assert_eq!(k.status(&id), "stopped");
    k.start(&id).fail();
    k.delete(&id).ok();
    k.assert_gone(&id);
}
