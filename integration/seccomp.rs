//! linux.seccomp end to end: the filter is installed in the container with
//! and without no_new_privs, engines' default profiles load and behave, and
//! SCMP_ACT_NOTIFY hands the listener the notify fd with the state.

use crate::common::Kist;
use serde_json::{json, Value};
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::time::Duration;

fn deny_mkdir() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    })
}

#[test]
fn errno_rule_applies_with_and_without_no_new_privs() {
    for nnp in [true, false] {
        let k = Kist::new();
        let mut b = k.bundle_sh("mkdir /tmp/x 2>&1; echo rc=$?");
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = deny_mkdir();
        let out = k.output(&b);
        assert!(
            out.contains("Permission denied") && out.contains("rc=1"),
            "nnp={nnp}: {out}"
        );
    }
}

#[test]
fn kill_action_kills_the_process() {
    let k = Kist::new();
    let mut b = k.bundle(&["mkdir", "/tmp/x"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]
    });
    let id = k.id("sckill");
    // SIGSYS is 31: run exits 128+31.
    k.run(&b, &id).code_is(128 + 31);
}

#[test]
fn unknown_action_names_the_rule() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}, {"names": ["rmdir"], "action": "SCMP_ACT_BOGUS"}]
    });
    let id = k.id("scbad");
    k.run(&b, &id)
        .fail()
        .stderr_has("linux.seccomp.syscalls[1]");
    k.assert_gone(&id);
}

/// The moby-format profile filtered for a capability set, as engines send it.
pub(crate) fn moby_to_oci(path: &str, caps: &[&str]) -> Value {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let moby: Value = serde_json::from_slice(&data).expect("profile JSON");
    let has_cap = |v: &Value| {
        v.get("caps")
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.iter().any(|c| caps.contains(&c.as_str().unwrap_or(""))))
    };
    let arch_ok = |v: &Value, want: bool| {
        v.get("arches").and_then(|a| a.as_array()).map(|a| {
            a.iter()
                .any(|a| a == "amd64" || a == "x86_64" || a == "x32" || a == "x86")
                == want
        })
    };
    let mut rules = Vec::new();
    for s in moby["syscalls"].as_array().expect("syscalls") {
        let inc = s.get("includes").cloned().unwrap_or(json!({}));
        let exc = s.get("excludes").cloned().unwrap_or(json!({}));
        if inc.get("caps").is_some() && !has_cap(&inc) {
            continue;
        }
        if arch_ok(&inc, true) == Some(false) {
            continue;
        }
        if exc.get("caps").is_some() && has_cap(&exc) {
            continue;
        }
        if arch_ok(&exc, true) == Some(true) {
            continue;
        }
        let mut r = json!({"names": s["names"], "action": s["action"]});
        for f in ["args", "errnoRet"] {
            if let Some(v) = s.get(f) {
                r[f] = v.clone();
            }
        }
        rules.push(r);
    }
    json!({
        "defaultAction": moby["defaultAction"],
        "defaultErrnoRet": moby.get("defaultErrnoRet").cloned().unwrap_or(json!(1)),
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules
    })
}

#[test]
fn engine_default_profiles_run_a_shell_and_deny_unshare() {
    for fixture in ["docker-default.json", "podman-default.json"] {
        let path = format!(
            "{}/integration/fixtures/seccomp/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let k = Kist::new();
        let mut b = k.bundle_sh(
            "echo hi > /tmp/f && cat /tmp/f; unshare -U true 2>/dev/null; echo unshare=$?",
        );
        b.config["linux"]["seccomp"] = moby_to_oci(
            &path,
            &[
                "CAP_CHOWN",
                "CAP_KILL",
                "CAP_NET_BIND_SERVICE",
                "CAP_AUDIT_WRITE",
            ],
        );
        let out = k.output(&b);
        assert!(out.starts_with("hi\n"), "{fixture}: {out}");
        // Docker's profile gives unshare only to CAP_SYS_ADMIN; podman's
        // allows it (nested rootless containers).
        if fixture.starts_with("docker") {
            assert!(
                !out.contains("unshare=0"),
                "{fixture}: unshare allowed: {out}"
            );
        }
    }
}

#[test]
fn notify_sends_fd_and_state_to_listener() {
    let k = Kist::new();
    let sock = k.path("listener.sock");
    let listener = UnixListener::bind(&sock).expect("bind listener");
    let mut b = k.bundle_sh("mkdir /tmp/n; echo rc=$?; sleep 100");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-42",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let id = k.id("scnotify");
    // create sends the fd before returning: accept in this thread meanwhile.
    let accept = std::thread::spawn(move || {
        listener.set_nonblocking(false).ok();
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let mut buf = vec![0u8; 65536];
        let n = conn.read(&mut buf).expect("read state");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    k.run_with(&b, &id, &["-d"]).ok();
    let msg = accept.join().expect("listener thread");
    let v: Value = serde_json::from_str(&msg).unwrap_or_else(|e| panic!("{e}: {msg}"));
    assert_eq!(v["metadata"], "meta-42", "{msg}");
    assert_eq!(v["state"]["id"], id.as_str(), "{msg}");
    assert_eq!(v["fds"], json!(["seccompFd"]), "{msg}");
    k.delete_force(&id).ok();
}
