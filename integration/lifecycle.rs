//! create / start / kill / delete / run and the state machine between them.

use crate::common::{pid_exists, wait_for_file, Kist};

#[test]
fn run_foreground_prints_and_exits_zero() {
    let k = Kist::new();
    let o = k.sh("echo hello from the container").ok();
    assert_eq!(o.stdout, "hello from the container\n");
}

#[test]
fn run_propagates_exit_code() {
    let k = Kist::new();
    k.sh("exit 42").code_is(42);
}

#[test]
fn run_removes_container_afterwards() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("rm");
    k.run(&b, &id).ok();
    k.state(&id).fail().stderr_has("does not exist");
    k.assert_gone(&id);
}

#[test]
fn run_keep_leaves_stopped_container() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("keep");
    k.run_with(&b, &id, &["--keep"]).ok();
    assert_eq!(k.status(&id), "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn run_killed_by_signal_exits_128_plus_signal() {
    let k = Kist::new();
    let b = k.bundle_sh("touch /ready; exec sleep 100");
    let id = k.id("sigexit");
    let bdir = b.dir.to_string_lossy().into_owned();
    b.save();
    let sp = k.spawn(&["run", "--bundle", &bdir, &id]);
    wait_for_file(&b.rootfs().join("ready"));
    k.kill(&id, "KILL").ok();
    sp.wait().code_is(128 + 9);
}

#[test]
fn run_stdin_is_callers() {
    let k = Kist::new();
    let b = k.bundle(&["cat"]);
    let id = k.id("stdin");
    let bdir = b.dir.to_string_lossy().into_owned();
    let o = k
        .cmd_stdin(&["run", "--bundle", &bdir, &id], b"piped input\n")
        .ok();
    assert_eq!(o.stdout, "piped input\n");
}

#[test]
fn run_stderr_is_callers() {
    let k = Kist::new();
    let o = k.sh("echo to-stderr >&2; echo to-stdout").ok();
    assert_eq!(o.stdout, "to-stdout\n");
    assert!(o.stderr.contains("to-stderr"), "{}", o.describe());
}

#[test]
fn run_forwards_signals() {
    let k = Kist::new();
    let b = k.bundle_sh(
        "trap 'echo got-term; exit 7' TERM; touch /ready; while true; do sleep 0.05; done",
    );
    let id = k.id("fwd");
    let bdir = b.dir.to_string_lossy().into_owned();
    b.save();
    let sp = k.spawn(&["run", "--bundle", &bdir, &id]);
    wait_for_file(&b.rootfs().join("ready"));
    sp.signal(libc::SIGTERM);
    let o = sp.wait();
    assert_eq!(o.code, 7, "{}", o.describe());
    assert!(o.stdout.contains("got-term"), "{}", o.describe());
}

#[test]
fn run_detach_then_kill_and_delete() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("det");
    k.run_with(&b, &id, &["--detach"]).ok();
    assert_eq!(k.status(&id), "running");
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn create_start_full_cycle() {
    let k = Kist::new();
    let b = k.bundle_sh("echo started; sleep 100");
    let id = k.id("cycle");
    let created = k.create(&b, &id).ok();
    assert_eq!(k.status(&id), "created");
    let pid = k.pid(&id);
    assert!(pid_exists(pid), "init pid {pid} should exist while created");
    // The user process must not have run yet.
    assert_eq!(created.stdout_now(), "");
    k.start(&id).ok();
    assert_eq!(k.status(&id), "running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !created.stdout_now().contains("started") {
        assert!(
            std::time::Instant::now() < deadline,
            "container output never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The init of a pid namespace ignores TERM without a handler: use KILL.
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.state(&id).fail().stderr_has("does not exist");
    k.assert_gone(&id);
}

#[test]
fn container_exits_by_itself_becomes_stopped() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("exit");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn start_twice_fails() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("twice");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.start(&id).fail();
    assert_eq!(k.status(&id), "running");
}

#[test]
fn start_of_stopped_container_fails() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("stopstart");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    k.start(&id).fail();
}

#[test]
fn delete_running_fails_without_force() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("delrun");
    k.run_with(&b, &id, &["-d"]).ok();
    k.delete(&id).fail();
    assert_eq!(k.status(&id), "running");
    k.delete_force(&id).ok();
    k.assert_gone(&id);
}

/// KIST-ONLY: runc 1.1 deletes (kills) a created container without --force.
#[test]
fn kist_only_delete_created_fails_without_force() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("delcr");
    k.create(&b, &id).ok();
    k.delete(&id).fail();
    assert_eq!(k.status(&id), "created");
    k.delete_force(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn delete_force_kills_running_container() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("delf");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    k.delete_force(&id).ok();
    crate::common::reap_pid(pid);
    assert!(
        !pid_exists(pid),
        "container pid {pid} survived delete --force"
    );
    k.assert_gone(&id);
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let k = Kist::new();
    k.delete_force("never-created-here").ok();
}

#[test]
fn kill_stopped_container_fails() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("killstop");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    k.kill(&id, "KILL").fail();
}

#[test]
fn kill_created_container_stops_it() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("killcr");
    k.create(&b, &id).ok();
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
}

#[test]
fn kill_default_signal_is_term() {
    let k = Kist::new();
    let b = k.bundle_sh(
        "trap 'echo term > /got; exit 0' TERM; touch /ready; while true; do sleep 0.05; done",
    );
    let id = k.id("killdef");
    k.run_with(&b, &id, &["-d"]).ok();
    wait_for_file(&b.rootfs().join("ready"));
    k.cmd(&["kill", &id]).ok();
    wait_for_file(&b.rootfs().join("got"));
    k.wait_status(&id, "stopped");
}

#[test]
fn kill_accepts_names_with_and_without_sig_and_numbers() {
    let k = Kist::new();
    let b = k.bundle_sh(
        "trap 'echo usr1 >> /got' USR1; trap 'echo usr2 >> /got' USR2; trap 'echo hup >> /got' HUP; \
         touch /ready; while true; do sleep 0.05; done",
    );
    let id = k.id("killnames");
    k.run_with(&b, &id, &["-d"]).ok();
    wait_for_file(&b.rootfs().join("ready"));
    let got = b.rootfs().join("got");
    let wait_lines = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let s = std::fs::read_to_string(&got).unwrap_or_default();
            if s.lines().count() >= n {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "signals not delivered: {s:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    k.kill(&id, "USR1").ok();
    wait_lines(1);
    k.kill(&id, "SIGUSR2").ok();
    wait_lines(2);
    k.kill(&id, "1").ok();
    let s = wait_lines(3);
    assert_eq!(s, "usr1\nusr2\nhup\n");
    k.kill(&id, "9").ok();
    k.wait_status(&id, "stopped");
}

#[test]
fn kill_all_kills_every_process() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    // --all matters without a pid namespace: nothing else kills the children.
    b.remove_namespace("pid");
    b.set_sh("sleep 100 & sleep 100 & touch /ready; wait");
    let id = k.id("killall");
    k.run_with(&b, &id, &["-d"]).ok();
    wait_for_file(&b.rootfs().join("ready"));
    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn same_id_twice_fails() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("dup");
    k.create(&b, &id).ok();
    k.create(&b, &id).fail().stderr_has("exist");
    assert_eq!(k.status(&id), "created");
}

#[test]
fn id_reusable_after_delete() {
    let k = Kist::new();
    let b = k.bundle(&["echo", "ran"]);
    let id = k.id("reuse");
    assert_eq!(k.run(&b, &id).ok().stdout, "ran\n");
    assert_eq!(k.run(&b, &id).ok().stdout, "ran\n");
}

/// KIST-ONLY: runc refuses to create a container without `process`.
#[test]
fn kist_only_start_without_process_fails_but_create_succeeds() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config.as_object_mut().unwrap().remove("process");
    let id = k.id("noproc");
    k.create(&b, &id).ok();
    assert_eq!(k.status(&id), "created");
    k.start(&id).fail();
    k.delete_force(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn pid_file_written_by_create() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("pidf");
    let pf = k.path("pidfile");
    let pfs = pf.to_string_lossy().into_owned();
    k.create_with(&b, &id, &["--pid-file", &pfs]).ok();
    let content = crate::common::read(&pf);
    assert_eq!(
        content.trim().parse::<i32>().ok(),
        Some(k.pid(&id)),
        "pid file: {content:?}"
    );
}

#[test]
fn pid_file_written_by_run_detach() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("pidfd");
    let pf = k.path("pidfile");
    let pfs = pf.to_string_lossy().into_owned();
    k.run_with(&b, &id, &["-d", "--pid-file", &pfs]).ok();
    let content = crate::common::read(&pf);
    assert_eq!(content.trim().parse::<i32>().ok(), Some(k.pid(&id)));
}

#[test]
fn many_containers_in_one_root() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let ids: Vec<String> = (0..5).map(|i| k.id(&format!("many{i}"))).collect();
    for id in &ids {
        k.create(&b, id).ok();
    }
    for id in &ids {
        k.start(id).ok();
        assert_eq!(k.status(id), "running");
    }
    for id in &ids {
        k.delete_force(id).ok();
    }
    for id in &ids {
        k.assert_gone(id);
    }
}

/// KIST-ONLY: runc 1.1 lets a losing `create` remove the winner's state.
#[test]
fn kist_only_concurrent_creates_on_one_id_one_wins() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("conc");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let racers: Vec<_> = (0..4)
        .map(|_| k.spawn(&["create", "--bundle", &bdir, &id]))
        .collect();
    let results: Vec<_> = racers.into_iter().map(|s| s.wait()).collect();
    let wins = results.iter().filter(|o| o.success()).count();
    let all: Vec<_> = results.iter().map(|o| o.describe()).collect();
    assert_eq!(wins, 1, "exactly one create must succeed: {all:#?}");
    assert_eq!(k.status(&id), "created");
    k.delete_force(&id).ok();
    k.assert_gone(&id);
}

#[test]
fn concurrent_start_and_delete_stay_consistent() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("conc2");
    k.create(&b, &id).ok();
    let states: Vec<_> = (0..3).map(|_| k.spawn(&["state", &id])).collect();
    let s1 = k.spawn(&["start", &id]);
    let s2 = k.spawn(&["delete", "--force", &id]);
    let _ = s1.wait();
    s2.wait().ok();
    for s in states {
        let o = s.wait();
        if o.success() {
            let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| {
                panic!(
                    "state printed invalid JSON during a race ({e}): {}",
                    o.describe()
                )
            });
            assert_eq!(v["id"], serde_json::json!(id));
        }
    }
    k.state(&id).fail();
    k.assert_gone(&id);
}

#[test]
fn container_gets_a_cgroup_removed_on_delete() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("cg");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.lines()
            .any(|l| l.ends_with(&format!("/{id}")) || l.contains(&format!("{id}."))),
        "{cg}"
    );
    assert!(!crate::common::cgroups_named(&id).is_empty());
    k.delete_force(&id).ok();
    crate::common::reap_pid(pid);
    assert!(
        crate::common::cgroups_named(&id).is_empty(),
        "{:?}",
        crate::common::cgroups_named(&id)
    );
}

#[test]
fn cgroups_path_honored() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    let id = k.id("cgpath");
    let parent = format!("kist-it-cg-{}", crate::common::unique());
    b.config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{parent}/{id}"));
    let p2 = parent.clone();
    k.on_drop(move || {
        for d in crate::common::cgroups_named(&p2) {
            let _ = std::fs::remove_dir(d);
        }
    });
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/{parent}/{id}");
    let pids = cg
        .lines()
        .find(|l| l.split(':').nth(1) == Some("pids"))
        .unwrap_or("");
    assert!(pids.ends_with(&want), "pids cgroup should be {want}: {cg}");
    k.delete_force(&id).ok();
    crate::common::reap_pid(pid);
    assert!(
        crate::common::cgroups_named(&id).is_empty(),
        "{:?}",
        crate::common::cgroups_named(&id)
    );
}
