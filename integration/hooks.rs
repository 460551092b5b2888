//! OCI hooks: each at its lifecycle point, with the state JSON on stdin,
//! args/env passed, timeout honored, failures failing the operation.

use crate::common::{clean_failure, Bundle, Kist};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A host hook that records its name in `dir/order` and its stdin in `dir/<name>.json`.
fn recorder(k: &Kist, dir: &Path, name: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {d}/{name}.json; echo {name} >> {d}/order", d = dir.display())],
        "env": [format!("KIST_TEST_MARK={}", k.mark), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    })
}

fn hook_dir(k: &Kist) -> PathBuf {
    let d = k.path("hooks");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn order(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn state_of(dir: &Path, name: &str) -> Value {
    let s = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
    serde_json::from_str(&s)
        .unwrap_or_else(|e| panic!("{name} hook stdin is not JSON ({e}): {s:?}"))
}

fn with_all_hooks(k: &Kist, b: &mut Bundle, dir: &Path) {
    b.config["hooks"] = json!({
        "prestart": [recorder(k, dir, "prestart")],
        "createRuntime": [recorder(k, dir, "createRuntime")],
        "createContainer": [recorder(k, dir, "createContainer")],
        // startContainer runs inside the container: its path resolves there.
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json; echo startContainer >> /order-in"]}],
        "poststart": [recorder(k, dir, "poststart")],
        "poststop": [recorder(k, dir, "poststop")]
    });
}

#[test]
fn hooks_run_at_their_lifecycle_points() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["sleep", "100"]);
    with_all_hooks(&k, &mut b, &dir);
    let id = k.id("hooks");
    k.create(&b, &id).ok();
    let o = order(&dir);
    let pos = |n: &str| {
        o.iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{n} missing: {o:?}"))
    };
    assert!(pos("prestart") < pos("createContainer"), "{o:?}");
    assert!(pos("createRuntime") < pos("createContainer"), "{o:?}");
    assert!(!o.iter().any(|x| x == "poststop"), "{o:?}");
    assert!(
        !b.rootfs().join("order-in").exists(),
        "startContainer ran during create"
    );
    k.start(&id).ok();
    assert_eq!(
        crate::common::read(&b.rootfs().join("order-in")),
        "startContainer\n"
    );
    assert!(
        order(&dir).iter().any(|x| x == "poststart"),
        "{:?}",
        order(&dir)
    );
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    assert!(
        !order(&dir).iter().any(|x| x == "poststop"),
        "poststop before delete"
    );
    k.delete(&id).ok();
    assert_eq!(order(&dir).last().map(String::as_str), Some("poststop"));
    assert_eq!(order(&dir).len(), 5, "{:?}", order(&dir));
}

/// KIST-ONLY: runc 1.1 runs poststart hooks during `create`, not `start`.
#[test]
fn kist_only_poststart_runs_at_start_not_create() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["sleep", "100"]);
    with_all_hooks(&k, &mut b, &dir);
    let id = k.id("hpost");
    k.create(&b, &id).ok();
    assert_eq!(order(&dir).len(), 3, "after create: {:?}", order(&dir));
    k.start(&id).ok();
    assert_eq!(
        order(&dir).get(3).map(String::as_str),
        Some("poststart"),
        "{:?}",
        order(&dir)
    );
    assert_eq!(state_of(&dir, "poststart")["status"], "running");
}

#[test]
fn hooks_receive_state_on_stdin() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["sleep", "100"]);
    with_all_hooks(&k, &mut b, &dir);
    let id = k.id("hstate");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    let pid = k.pid(&id);
    k.delete_force(&id).ok();
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        let s = state_of(&dir, name);
        assert_eq!(s["id"], json!(id), "{name}: {s}");
        assert_eq!(
            s["bundle"].as_str().map(PathBuf::from),
            Some(bundle.clone()),
            "{name}: {s}"
        );
        assert!(s["ociVersion"].is_string(), "{name}: {s}");
        // createContainer runs inside the container's pid namespace, where the
        // pid differs; poststop runs after the process is gone.
        if name != "poststop" && name != "createContainer" {
            assert_eq!(s["pid"].as_i64(), Some(pid as i64), "{name}: {s}");
        }
    }
    let s: Value = serde_json::from_str(&crate::common::read(
        &b.rootfs().join("startContainer.json"),
    ))
    .unwrap();
    assert_eq!(s["id"], json!(id));
}

#[test]
fn hooks_get_args_and_env() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo \"$0|$1|$2|$HOOKVAR\" > {}/args", dir.display()), "zero", "one two", "three"],
        "env": ["HOOKVAR=hv", format!("KIST_TEST_MARK={}", k.mark)]
    }]});
    k.run(&b, &k.id("hargs")).ok();
    assert_eq!(
        crate::common::read(&dir.join("args")),
        "zero|one two|three|hv\n"
    );
}

#[test]
fn hooks_in_run_foreground() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["true"]);
    with_all_hooks(&k, &mut b, &dir);
    k.run(&b, &k.id("hrun")).ok();
    let o = order(&dir);
    for n in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        assert!(o.iter().any(|x| x == n), "{n} did not run: {o:?}");
    }
    assert_eq!(o.last().map(String::as_str), Some("poststop"));
}

fn failing_hook(k: &Kist, code: i32) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("exit {code}")], "env": [format!("KIST_TEST_MARK={}", k.mark)]})
}

#[test]
fn failing_create_hooks_fail_create_and_clean_up() {
    for point in ["prestart", "createRuntime", "createContainer"] {
        let k = Kist::new();
        let dir = hook_dir(&k);
        let mut b = k.bundle(&["sleep", "100"]);
        b.config["hooks"] =
            json!({ point: [failing_hook(&k, 3)], "poststop": [recorder(&k, &dir, "poststop")] });
        let id = k.id("hfail");
        let o = k.create(&b, &id);
        clean_failure(&o);
        k.state(&id).fail();
        k.assert_gone(&id);
    }
}

#[test]
fn later_hooks_do_not_run_after_a_failure() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [failing_hook(&k, 1), recorder(&k, &dir, "second")],
                               "createContainer": [recorder(&k, &dir, "createContainer")]});
    let id = k.id("hstop");
    clean_failure(&k.create(&b, &id));
    assert_eq!(order(&dir), Vec::<String>::new());
    k.assert_gone(&id);
}

#[test]
fn hook_timeout_is_honored() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1,
        "env": [format!("KIST_TEST_MARK={}", k.mark)]
    }]});
    let id = k.id("htime");
    let t = std::time::Instant::now();
    let o = k.create(&b, &id);
    clean_failure(&o);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "timeout not honored: {:?}",
        t.elapsed()
    );
    k.assert_gone(&id);
}

#[test]
fn hook_path_missing_fails_cleanly() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({"prestart": [{"path": "/no/such/hook"}]});
    let id = k.id("hmiss");
    clean_failure(&k.create(&b, &id));
    k.assert_gone(&id);
}

/// KIST-ONLY: runc 1.1 reports success from `start` when startContainer fails.
#[test]
fn kist_only_failing_start_container_hook_fails_start() {
    let k = Kist::new();
    let mut b = k.bundle(&["sh", "-c", "echo ran > /ran"]);
    b.config["hooks"] =
        json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}]});
    let id = k.id("hsc");
    k.create(&b, &id).ok();
    clean_failure(&k.start(&id));
    assert!(
        !b.rootfs().join("ran").exists(),
        "process ran although startContainer failed"
    );
}

#[test]
fn failing_poststop_hook_does_not_block_delete() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({"poststop": [failing_hook(&k, 1)]});
    let id = k.id("hps");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    let _ = k.delete(&id);
    k.state(&id).fail();
    k.assert_gone(&id);
}

/// runc runs createContainer hooks with the root filesystem as their
/// working directory: hooks written for runc use paths relative to it.
#[test]
fn create_container_hooks_run_from_the_rootfs() {
    let k = Kist::new();
    let dir = hook_dir(&k);
    let mut b = k.bundle(&["true"]);
    b.config["hooks"] = json!({
        "createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("pwd -P > {d}/cwd; test -x bin/busybox && echo relative-ok >> {d}/cwd", d = dir.display())],
            "env": [format!("KIST_TEST_MARK={}", k.mark), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        }]
    });
    let id = k.id("hookcwd");
    k.create(&b, &id).ok();
    let rootfs = std::fs::canonicalize(b.rootfs()).expect("canonicalize rootfs");
    assert_eq!(
        crate::common::read(&dir.join("cwd")),
        format!("{}\nrelative-ok\n", rootfs.display())
    );
    k.delete_force(&id).ok();
}

/// runc installs the seccomp filter before it runs the startContainer
/// hooks, with and without noNewPrivileges: what the profile denies the
/// container, it denies them too.
#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    for nnp in [true, false] {
        let k = Kist::new();
        let mut b = k.bundle(&["cat", "/hook-rc"]);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        });
        b.config["hooks"] = json!({
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /from-hook 2>/dev/null; echo rc=$? > /hook-rc"]}]
        });
        assert_eq!(k.output(&b), "rc=1\n", "noNewPrivileges={nnp}");
    }
}
