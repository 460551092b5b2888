//! kist run by an ordinary user (`integration/common/users.rs`): rootless
//! mode, its state root, the user namespace made from the unprivileged
//! side, and isolation between users. This host has no cgroup delegated to
//! the users, so every container here runs without cgroups.
//!
//! runc 1.1 is the reference (`KIST_BIN=/usr/sbin/runc`): its default root
//! is `$XDG_RUNTIME_DIR/runc`, so tests of the default root use the name
//! of the runtime under test.

use crate::common::console::ConsoleSocket;
use crate::common::users::{self, user, User};
use crate::common::{bin, clean_failure, is_reference, wait_for_file, wait_sleeping, Kist};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// The runtime's default root for `u`: `$XDG_RUNTIME_DIR/<runtime>`.
fn default_root(u: &User) -> PathBuf {
    let name = if is_reference() { "runc" } else { "kist" };
    u.runtime_dir.join(name)
}

/// Deletes `id` from `u`'s default root when the test ends (the harness
/// only cleans its own `--root`).
fn delete_at_drop(k: &Kist, u: &'static User, id: &str) {
    let (dir, id) = (k.dir.clone(), id.to_string());
    k.on_drop(move || {
        let b = bin().to_string_lossy().into_owned();
        let _ = u.run(&dir, &b, &["delete", "--force", &id]);
    });
}

/// `create` of `b` must fail cleanly, leave nothing, and (kist) name every
/// one of `needles` in its error.
fn create_refused(k: &Kist, b: &crate::common::Bundle, tag: &str, needles: &[&str]) {
    let id = k.id(tag);
    let o = k.create(b, &id);
    clean_failure(&o);
    if !is_reference() {
        for n in needles {
            assert!(o.stderr.contains(n), "expected {n:?} in:\n{}", o.describe());
        }
    }
    k.assert_gone(&id);
}

#[test]
fn rootless_run_as_user_maps_caller_to_root() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle_sh("id -u; id -g; cat /proc/self/uid_map");
    let out = k.output(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    assert_eq!(lines.next(), Some("0"), "{out}");
    let map: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(map, ["0", &u.uid.to_string(), "1"], "{out}");
}

#[test]
fn rootless_spec_is_runcs_rootless_template() {
    let u = user(1);
    let k = Kist::as_user(u);
    let (mine, theirs) = (k.path("kist-spec"), k.path("runc-spec"));
    for d in [&mine, &theirs] {
        std::fs::create_dir_all(d).unwrap();
        users::chown(d, u.uid, u.gid);
    }
    let b = bin().to_string_lossy().into_owned();
    let spec = |runtime: &str, dir: &PathBuf| -> Value {
        u.run(
            &k.dir,
            runtime,
            &["spec", "--rootless", "--bundle", dir.to_str().unwrap()],
        )
        .ok();
        let mut v: Value =
            serde_json::from_str(&crate::common::read(&dir.join("config.json"))).unwrap();
        // Not rootless-specific: the spec version and the runtime's name.
        v["ociVersion"] = json!(null);
        v["hostname"] = json!(null);
        v
    };
    let (a, r) = (spec(&b, &mine), spec("/usr/sbin/runc", &theirs));
    assert_eq!(a, r, "kist spec --rootless differs from runc's");
    assert_eq!(a["linux"]["uidMappings"][0]["hostID"], json!(u.uid));
}

#[test]
fn rootless_default_root_is_xdg_runtime_dir_and_private() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("xdg");
    delete_at_drop(&k, u, &id);
    let bdir = b.dir.to_string_lossy().into_owned();
    k.bare(&["run", "-d", "--bundle", &bdir, &id]).ok();
    let root = default_root(u);
    assert!(root.join(&id).is_dir(), "no state in {}", root.display());
    let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} mode {mode:o}", root.display());
    let st: Value = serde_json::from_str(&k.bare(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(st["status"], "running");
    let list = k.bare(&["list", "-q"]).ok().stdout;
    assert!(list.lines().any(|l| l == id), "{list}");
    k.bare(&["kill", &id, "KILL"]).ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st: Value = serde_json::from_str(&k.bare(&["state", &id]).ok().stdout).unwrap();
        if st["status"] == "stopped" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    k.bare(&["delete", &id]).ok();
    assert!(!root.join(&id).exists());
}

#[test]
fn rootless_lifecycle_create_start_exec_kill_delete() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("life");
    k.create(&b, &id).ok();
    assert_eq!(k.status(&id), "created");
    k.start(&id).ok();
    assert_eq!(k.status(&id), "running");
    let pid = k.pid(&id);
    wait_sleeping(pid);
    let o = k
        .cmd(&["exec", &id, "sh", "-c", "id -u; cat /proc/1/cmdline"])
        .ok();
    assert!(o.stdout.starts_with("0\nsleep"), "{}", o.stdout);
    assert!(!pid_is_root(pid), "the container runs as root on the host");
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

/// KIST-ONLY: runc 1.1's `ps` and `kill --all` need the container's
/// cgroup and fail without one ("unable to get all container pids");
/// kist finds the processes through the container's pid namespace.
#[test]
fn kist_only_rootless_ps_and_kill_all_without_a_cgroup() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle_sh("sleep 100 & exec sleep 100");
    let id = k.id("psall");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    wait_sleeping(pid);
    let ps: Vec<i32> =
        serde_json::from_str(&k.cmd(&["ps", "--format", "json", &id]).ok().stdout).unwrap();
    assert!(ps.contains(&pid) && ps.len() == 2, "{ps:?}");
    k.cmd(&["kill", "--all", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    for p in ps {
        assert!(
            !crate::common::pid_exists(p) || is_zombie(p),
            "pid {p} survived"
        );
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[test]
fn rootless_exec_tty_over_a_console_socket() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("ttyexec");
    k.run_with(&b, &id, &["-d"]).ok();
    let cs = ConsoleSocket::new(&k);
    let pidfile = k.dir.join("exec.pid");
    k.cmd(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        &cs.path_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; echo tty-$((6*7))",
    ])
    .ok();
    let mut pty = cs.recv_master(Duration::from_secs(10));
    let out = pty.expect("tty-42", Duration::from_secs(10));
    assert!(out.contains("/dev/pts/"), "{out}");
    // The detached process was handed to the test process (the harness's
    // subreaper): reap it, or the container's pid namespace cannot end.
    let pid: i32 = crate::common::read(&pidfile).trim().parse().unwrap();
    crate::common::reap_pid(pid);
}

#[test]
fn rootless_pause_without_a_delegated_freezer_fails_clearly() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("pause");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k.cmd(&["pause", &id]);
    clean_failure(&o);
    if !is_reference() {
        o.stderr_has("freezer").stderr_has("no cgroup");
    }
    assert_eq!(k.status(&id), "running");
}

#[test]
fn rootless_memory_limit_without_delegation_fails_naming_the_field() {
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["resources"] = json!({ "memory": { "limit": 67108864 } });
    create_refused(
        &k,
        &b,
        "memlim",
        &["linux.resources.memory.limit", "rootless"],
    );
}

#[test]
fn rootless_update_without_a_cgroup_fails() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("upd");
    k.run_with(&b, &id, &["-d"]).ok();
    clean_failure(&k.cmd(&["update", "--memory", "67108864", &id]));
    assert_eq!(k.status(&id), "running");
}

#[test]
fn rootless_several_ranges_through_newuidmap() {
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle_sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    for (f, own) in [("uidMappings", u.uid), ("gidMappings", u.gid)] {
        b.config["linux"][f] = json!([
            { "containerID": 0, "hostID": own, "size": 1 },
            { "containerID": 1, "hostID": u.sub_start, "size": 65536 }
        ]);
    }
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let out = k.output(&b);
    let rows: Vec<Vec<String>> = out
        .lines()
        .take(4)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let sub = u.sub_start.to_string();
    for (i, own) in [(0, u.uid), (2, u.gid)] {
        assert_eq!(rows[i], ["0", &own.to_string(), "1"], "{out}");
        assert_eq!(rows[i + 1], ["1", sub.as_str(), "65536"], "{out}");
    }
    assert_eq!(out.lines().nth(4), Some("1000"), "{out}");
}

#[test]
fn rootless_mapping_outside_the_users_ranges_is_refused() {
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle(&["true"]);
    // Host root: never the user's to map.
    b.config["linux"]["uidMappings"] = json!([
        { "containerID": 0, "hostID": u.uid, "size": 1 },
        { "containerID": 1, "hostID": 0, "size": 1 }
    ]);
    create_refused(&k, &b, "badmap", &["linux.uidMappings[1]", "/etc/subuid"]);
}

#[test]
fn rootless_config_without_a_user_namespace_is_refused() {
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle(&["true"]);
    b.remove_namespace("user");
    create_refused(&k, &b, "nouserns", &["linux.namespaces", "user namespace"]);
    // The same config with its user namespace back runs.
    b.set_namespace(json!({ "type": "user" }));
    let id = k.id("userns");
    k.run(&b, &id).ok();
}

/// KIST-ONLY: runc 1.1.5 fails on a `sysfs` mount without a network
/// namespace of the container's own (EPERM); kist binds the host's /sys
/// read-only instead, as later runc releases do.
#[test]
fn kist_only_rootless_sysfs_falls_back_to_a_read_only_bind_of_the_hosts() {
    let u = user(1);
    let k = Kist::as_user(u);
    // sysfs as in a root config: no network namespace of the user's own.
    let mut b = k.bundle_sh("ls /sys/kernel >/dev/null && echo listed; touch /sys/x || echo ro");
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for m in mounts.iter_mut() {
        if m["destination"] == "/sys" {
            *m = json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
                         "options": ["nosuid", "noexec", "nodev", "ro"] });
        }
    }
    let out = k.output(&b);
    assert_eq!(out.trim(), "listed\nro", "{out}");
}

#[test]
fn rootless_host_devices_are_bound_in() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle_sh("echo hi > /dev/null && head -c 4 /dev/zero | wc -c; ls -l /dev/null");
    let out = k.output(&b);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("4"), "{out}");
    assert!(l.next().unwrap_or("").starts_with('c'), "{out}");
}

#[test]
fn rootless_hooks_run_as_the_user() {
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle(&["true"]);
    let (pre, post) = (k.dir.join("prestart.out"), k.dir.join("poststop.out"));
    let hook = |p: &PathBuf| json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("id -u > {}", p.display())] });
    b.config["hooks"] = json!({ "prestart": [hook(&pre)], "poststop": [hook(&post)] });
    let id = k.id("hooks");
    k.run(&b, &id).ok();
    wait_for_file(&post);
    for p in [&pre, &post] {
        assert_eq!(
            crate::common::read(p).trim(),
            u.uid.to_string(),
            "{}",
            p.display()
        );
    }
}

#[test]
fn rootless_root_only_host_file_stays_unreadable() {
    let u = user(1);
    let k = Kist::as_user(u);
    let secret = std::env::temp_dir().join(format!("kist-secret-{}", crate::common::unique()));
    std::fs::write(&secret, "top secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s2 = secret.clone();
    k.on_drop(move || {
        let _ = std::fs::remove_file(&s2);
    });
    let mut b = k.bundle_sh("cat /secret && echo READ || echo denied");
    b.add_mount(json!({ "destination": "/secret", "type": "bind",
                        "source": secret.to_str().unwrap(), "options": ["rbind", "ro"] }));
    b.write_file("secret", "");
    let out = k.output(&b);
    assert!(
        !out.contains("top secret") && out.contains("denied"),
        "{out}"
    );
}

#[test]
fn rootless_other_user_cannot_see_or_touch_the_containers() {
    let (u1, u2) = (user(1), user(2));
    let k1 = Kist::as_user(u1);
    let k2 = Kist::as_user(u2);
    let b = k1.bundle(&["sleep", "100"]);
    let id = k1.id("mine");
    delete_at_drop(&k1, u1, &id);
    let bdir = b.dir.to_string_lossy().into_owned();
    k1.bare(&["run", "-d", "--bundle", &bdir, &id]).ok();
    // Their own default root: nothing of the first user's.
    let list = k2.bare(&["list", "-q"]);
    assert!(!list.stdout.lines().any(|l| l == id), "{}", list.stdout);
    clean_failure(&k2.bare(&["state", &id]));
    // Pointed at the first user's root: refused by the kernel, nothing done.
    let other = default_root(u1).to_string_lossy().into_owned();
    for args in [
        vec!["state", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", "--force", id.as_str()],
    ] {
        let mut argv = vec!["--root", other.as_str()];
        argv.extend(args);
        let o = k2.bare(&argv);
        clean_failure(&o);
        if !is_reference() {
            o.stderr_has("permission denied");
        }
    }
    let st: Value = serde_json::from_str(&k1.bare(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    // Nor can the second user signal the first one's container directly.
    let pid = st["pid"].as_i64().unwrap() as i32;
    let o = u2.run(&k1.dir, "/bin/kill", &["-9", &pid.to_string()]);
    assert!(!o.success(), "{}", o.describe());
}

#[test]
fn rootless_as_root_of_a_user_namespace_like_rootless_podman() {
    // podman runs its runtime as uid 0 of a user namespace it made, with no
    // real privileges: kist must detect rootless mode by itself.
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle_sh("id -u; ls /dev/null /sys/kernel >/dev/null && echo ok");
    b.remove_namespace("user");
    if let Some(l) = b.config["linux"].as_object_mut() {
        l.remove("uidMappings");
        l.remove("gidMappings");
    }
    b.save();
    let id = k.id("inuserns");
    let root = k.dir.join("root").to_string_lossy().into_owned();
    let bdir = b.dir.to_string_lossy().into_owned();
    let b = bin().to_string_lossy().into_owned();
    let o = as_root_in_own_userns(
        u,
        &k.dir,
        &[&b, "--root", &root, "run", "--bundle", &bdir, &id],
    );
    k.track(&id);
    assert!(o.success(), "{}", o.describe());
    assert_eq!(o.stdout, "0\nok\n", "{}", o.describe());
}

#[test]
fn rootless_in_a_user_namespace_uses_the_xdg_root_for_every_command() {
    // As podman drives it: no --root, uid 0 of the caller's user namespace
    // with USER and XDG_RUNTIME_DIR of the user; run -d, exec, list, kill,
    // delete all find the same state.
    let u = user(1);
    let k = Kist::as_user(u);
    let mut b = k.bundle(&["sleep", "100"]);
    b.remove_namespace("user");
    if let Some(l) = b.config["linux"].as_object_mut() {
        l.remove("uidMappings");
        l.remove("gidMappings");
    }
    b.save();
    let id = k.id("podmanlike");
    delete_at_drop(&k, u, &id);
    let (bdir, rt) = (
        b.dir.to_string_lossy().into_owned(),
        bin().to_string_lossy().into_owned(),
    );
    let script = format!(
        "set -e; R={rt}; $R run -d --bundle {bdir} {id} </dev/null >/dev/null 2>&1; \
         $R exec {id} id -u; $R list -q; $R kill {id} KILL; \
         while $R state {id} | grep -q running; do sleep 0.05; done; $R delete {id}; echo deleted"
    );
    let o = as_root_in_own_userns(u, &k.dir, &["/bin/sh", "-c", &script]);
    assert!(o.success(), "{}", o.describe());
    assert_eq!(o.stdout, format!("0\n{id}\ndeleted\n"), "{}", o.describe());
    assert!(!default_root(u).join(&id).exists());
}

#[test]
fn rootless_flag_takes_true_false_auto() {
    let k = Kist::new();
    for v in ["true", "auto", "false"] {
        let b = k.bundle(&["true"]);
        let id = k.id("flag");
        let bdir = b.dir.to_string_lossy().into_owned();
        k.cmd(&["--rootless", v, "run", "--bundle", &bdir, &id])
            .ok();
    }
    let b = k.bundle(&["true"]);
    let id = k.id("flagbad");
    let bdir = b.dir.to_string_lossy().into_owned();
    clean_failure(&k.cmd(&["--rootless", "maybe", "run", "--bundle", &bdir, &id]));
    k.assert_gone(&id);
}

fn pid_is_root(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn rootless_events_stats_without_a_cgroup_reads_empty() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("stats");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k.cmd(&["events", "--stats", &id]).ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["data"]["memory"]["usage"]["limit"], json!(0), "{v}");
}

#[test]
fn rootless_privileged_process_settings_fail_naming_the_field() {
    let u = user(1);
    let k = Kist::as_user(u);
    let cases = [
        ("oomScoreAdj", json!(-500), "process.oomScoreAdj"),
        (
            "rlimits",
            json!([{ "type": "RLIMIT_NOFILE", "hard": 1u64 << 40, "soft": 1024 }]),
            "process.rlimits",
        ),
    ];
    for (key, value, field) in cases {
        let mut b = k.bundle(&["true"]);
        b.config["process"][key] = value;
        let id = k.id("priv");
        let o = k.run(&b, &id);
        clean_failure(&o);
        if !is_reference() {
            o.stderr_has(field);
        }
        k.assert_gone(&id);
    }
}

/// The cgroup2 path of `pid` (its `0::` line).
fn cgroup2_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap_or_default()
}

/// KIST-ONLY on a hybrid host: runc 1.1 rootless leaves the container in
/// the runtime's own cgroup2 directory (its v1 manager makes nothing in a
/// cgroup2 subtree delegated to the user); kist makes the container's
/// cgroup there, so the freezer works (on a pure v2 host runc does too).
#[test]
fn kist_only_rootless_delegated_cgroup2_subtree_holds_the_container() {
    let u = user(1);
    let k = Kist::as_user(u);
    let runtime_cg = u.delegated_cgroup2(&k);
    k.in_cgroup(&runtime_cg);
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("deleg");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    let top = runtime_cg
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let cg = cgroup2_of(pid);
    assert!(
        cg.contains(&format!("/{top}/")) && cg.ends_with(&id),
        "init in {cg:?}"
    );
    // An exec'd process joins it (the root of the container's cgroupns;
    // outside it, the path would read "/.." or deeper).
    let o = k.cmd(&["exec", &id, "cat", "/proc/self/cgroup"]).ok();
    assert!(o.stdout.lines().any(|l| l == "0::/"), "{}", o.stdout);
    // The freezer of the delegated cgroup: pause and resume work.
    k.cmd(&["pause", &id]).ok();
    assert_eq!(k.status(&id), "paused");
    k.cmd(&["resume", &id]).ok();
    assert_eq!(k.status(&id), "running");
    k.cmd(&["kill", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    k.delete(&id).ok();
    k.assert_gone(&id);
}

/// `spec --rootless` then `run` as the user, with and without a cgroup
/// namespace; returns each run's output lines.
fn run_spec_template(k: &Kist, u: &'static User) -> Vec<Vec<String>> {
    let b = k.bundle(&["true"]);
    std::fs::remove_file(b.config_path()).unwrap();
    let bdir = b.dir.to_string_lossy().into_owned();
    let runtime = bin().to_string_lossy().into_owned();
    u.run(&k.dir, &runtime, &["spec", "--rootless", "--bundle", &bdir])
        .ok();
    let mut config: Value = serde_json::from_str(&crate::common::read(&b.config_path())).unwrap();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["sh", "-c",
        "id -u; ls /sys/fs/cgroup | grep -c .; touch /sys/fs/cgroup/x 2>/dev/null || echo cgroup-ro"]);
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("KIST_TEST_MARK={}", k.mark)));
    let mut outs = Vec::new();
    for cgroupns in [false, true] {
        if cgroupns {
            let ns = config["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "cgroup");
            ns.push(json!({ "type": "cgroup" }));
        }
        b.set_raw(config.to_string().as_bytes());
        let id = k.id("template");
        let out = k.run(&b, &id).ok().stdout;
        outs.push(out.lines().map(str::to_string).collect());
    }
    outs
}

#[test]
fn rootless_spec_template_runs_as_is() {
    // What a user does by hand: `spec --rootless` in a bundle holding a
    // rootfs, then `run`.
    let u = user(1);
    let k = Kist::as_user(u);
    for l in run_spec_template(&k, u) {
        assert_eq!(l.first().map(String::as_str), Some("0"), "{l:?}");
        let entries = l.get(1).and_then(|n| n.parse::<u32>().ok());
        if pure_cgroup2() {
            // No cgroup of its own on a pure v2 host (nothing delegated):
            // /sys/fs/cgroup is masked with an empty tmpfs, as runc does.
            assert_eq!(entries, Some(0), "{l:?}");
        } else {
            // Hybrid: the host's hierarchies, bound in one per directory.
            assert!(entries.unwrap_or(0) > 0, "{l:?}");
        }
    }
}

/// KIST-ONLY: the template's `/sys/fs/cgroup` mount asks for `ro`; runc
/// 1.1.5 rootless on a hybrid host leaves its tmpfs writable.
#[test]
fn kist_only_rootless_cgroup_mount_is_read_only_as_asked() {
    let u = user(1);
    let k = Kist::as_user(u);
    for l in run_spec_template(&k, u) {
        assert_eq!(l.get(2).map(String::as_str), Some("cgroup-ro"), "{l:?}");
    }
}

fn pure_cgroup2() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/unified").exists()
        && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[test]
fn rootless_memory_limit_in_a_delegated_cgroup2_subtree() {
    // Pure v2 (hack/vm-test): the limit goes into the container's cgroup
    // below the delegated one. Hybrid (here): memory is a v1 controller
    // nobody delegated, so the field is refused.
    let u = user(1);
    let k = Kist::as_user(u);
    let runtime_cg = u.delegated_cgroup2(&k);
    let top = runtime_cg.parent().unwrap().to_path_buf();
    if pure_cgroup2() {
        // What systemd's Delegate= leaves: controllers enabled down to it.
        let _ = std::fs::write(
            top.parent().unwrap().join("cgroup.subtree_control"),
            "+memory",
        );
    }
    k.in_cgroup(&runtime_cg);
    let mut b = k.bundle_sh("cat /sys/fs/cgroup/memory.max 2>/dev/null; echo done");
    b.config["linux"]["resources"] = json!({ "memory": { "limit": 33554432 } });
    b.add_mount(
        json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                        "options": ["nosuid", "noexec", "nodev", "ro"] }),
    );
    let id = k.id("delegmem");
    let o = k.run(&b, &id);
    if pure_cgroup2() {
        assert_eq!(o.ok().stdout, "33554432\ndone\n");
    } else {
        clean_failure(&o);
        if !is_reference() {
            o.stderr_has("linux.resources.memory.limit");
        }
    }
}

/// Runs `argv` as `u`, but as uid 0 of a user namespace of its own (with a
/// mount namespace), as rootless podman runs the runtime.
#[track_caller]
fn as_root_in_own_userns(
    u: &'static User,
    dir: &std::path::Path,
    argv: &[&str],
) -> crate::common::cmd::Output {
    let mut args = vec!["--user", "--map-root-user", "--mount", "--"];
    args.extend_from_slice(argv);
    u.run(dir, "/usr/bin/unshare", &args)
}
