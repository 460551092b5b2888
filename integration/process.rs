//! process.*: args, env, cwd, user, umask, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj.

use crate::common::{cmd::Opts, Kist};
use serde_json::json;

/// Value of a "Key:\tvalue" line of /proc/self/status as printed by the container.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{key} not in status output: {status}"))
}

fn cap_mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | (1u64 << b)))
}

// Capability numbers (linux/capability.h).
const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_AUDIT_WRITE: u32 = 29;

#[test]
fn args_are_passed_verbatim() {
    let k = Kist::new();
    let b = k.bundle(&[
        "sh",
        "-c",
        "for a in \"$@\"; do echo \"[$a]\"; done",
        "argv0",
        "one",
        "two words",
        "",
        "*",
    ]);
    assert_eq!(k.output(&b), "[one]\n[two words]\n[]\n[*]\n");
}

#[test]
fn args0_resolved_through_container_path() {
    let k = Kist::new();
    let mut b = k.bundle(&["myprog"]);
    b.write_file("/opt/tools/myprog", "#!/bin/sh\necho myprog ran\n");
    let p = b.rootfs().join("opt/tools/myprog");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    b.config["process"]["env"] =
        json!(["PATH=/opt/tools:/bin", format!("KIST_TEST_MARK={}", k.mark)]);
    assert_eq!(k.output(&b), "myprog ran\n");
}

#[test]
fn args0_absolute_path() {
    let k = Kist::new();
    let b = k.bundle(&["/bin/echo", "abs"]);
    assert_eq!(k.output(&b), "abs\n");
}

#[test]
fn env_is_exactly_the_config() {
    let k = Kist::new();
    let mut b = k.bundle(&["env"]);
    b.add_env("FOO=bar baz");
    b.add_env("EMPTY=");
    let id = k.id("env");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let opts = Opts {
        envs: vec![("HOST_ONLY_VAR".into(), "leak".into())],
        ..Default::default()
    };
    let o = k.cmd_opts(&["run", "--bundle", &bdir, &id], opts).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines.contains(&"FOO=bar baz"), "{}", o.stdout);
    assert!(lines.contains(&"EMPTY="), "{}", o.stdout);
    assert!(lines.contains(&"TERM=xterm"), "{}", o.stdout);
    assert!(
        !o.stdout.contains("HOST_ONLY_VAR"),
        "host env leaked: {}",
        o.stdout
    );
}

#[test]
fn cwd_is_set_and_created_when_missing() {
    let k = Kist::new();
    let mut b = k.bundle(&["pwd"]);
    b.config["process"]["cwd"] = json!("/work/deep/dir");
    assert_eq!(k.output(&b), "/work/deep/dir\n");
    assert!(b.rootfs().join("work/deep/dir").is_dir());
}

#[test]
fn cwd_existing_dir() {
    let k = Kist::new();
    let mut b = k.bundle(&["pwd"]);
    b.config["process"]["cwd"] = json!("/etc");
    assert_eq!(k.output(&b), "/etc\n");
}

#[test]
fn user_uid_gid() {
    let k = Kist::new();
    let mut b = k.bundle_sh("id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = k.output(&b);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("1000"));
    assert_eq!(l.next(), Some("1000"));
    assert_eq!(status_field(&out, "Uid"), "1000\t1000\t1000\t1000", "{out}");
    assert_eq!(status_field(&out, "Gid"), "1000\t1000\t1000\t1000", "{out}");
    // No supplementary groups are inherited from the runtime.
    assert_eq!(status_field(&out, "Groups"), "", "{out}");
}

#[test]
fn user_additional_gids() {
    let k = Kist::new();
    let mut b = k.bundle(&["grep", "Groups:", "/proc/self/status"]);
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20, 5000]});
    let out = k.output(&b);
    let groups: Vec<&str> = out
        .trim()
        .trim_start_matches("Groups:")
        .split_whitespace()
        .collect();
    for g in ["10", "20", "5000"] {
        assert!(groups.contains(&g), "gid {g} missing: {out}");
    }
}

#[test]
fn user_uid_not_in_passwd() {
    let k = Kist::new();
    let mut b = k.bundle(&["id", "-u"]);
    b.config["process"]["user"] = json!({"uid": 4242, "gid": 4242});
    assert_eq!(k.output(&b), "4242\n");
}

#[test]
fn non_root_user_cannot_write_root_owned_dirs() {
    let k = Kist::new();
    let mut b = k.bundle_sh("touch /root/x 2>/dev/null && echo wrote || echo denied");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    assert_eq!(k.output(&b), "denied\n");
}

#[test]
fn umask_from_config() {
    let k = Kist::new();
    let mut b = k.bundle_sh("umask; touch /tmp/f; stat -c %a /tmp/f");
    b.config["process"]["user"]["umask"] = json!(0o077);
    assert_eq!(k.output(&b), "0077\n600\n");
}

#[test]
fn umask_default_is_0022() {
    let k = Kist::new();
    let b = k.bundle(&["sh", "-c", "umask"]);
    assert_eq!(k.output(&b), "0022\n");
}

#[test]
fn rlimits_applied() {
    let k = Kist::new();
    let mut b = k.bundle_sh("ulimit -n; ulimit -Hn; grep -E 'Max (open files|processes|core file size)' /proc/self/limits");
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
        {"type": "RLIMIT_NPROC", "soft": 111, "hard": 222},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    ]);
    let out = k.output(&b);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("321"), "{out}");
    assert_eq!(l.next(), Some("654"), "{out}");
    let proc_line = out
        .lines()
        .find(|l| l.starts_with("Max processes"))
        .unwrap_or("");
    let f: Vec<&str> = proc_line.split_whitespace().collect();
    assert_eq!(&f[2..4], &["111", "222"], "{out}");
}

#[test]
fn rlimit_unknown_type_fails() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]);
    let id = k.id("rlbad");
    crate::common::clean_failure(&k.run(&b, &id));
    k.assert_gone(&id);
}

#[test]
fn capabilities_default_set() {
    let k = Kist::new();
    let b = k.bundle(&["grep", "^Cap", "/proc/self/status"]);
    let out = k.output(&b);
    let want = cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE]);
    for f in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&out, f), want, "{f}: {out}");
    }
    // Ambient caps need to be inheritable too; the default has none.
    assert_eq!(status_field(&out, "CapInh"), cap_mask(&[]), "{out}");
    assert_eq!(status_field(&out, "CapAmb"), cap_mask(&[]), "{out}");
}

#[test]
fn capabilities_each_set_independent() {
    let k = Kist::new();
    let mut b = k.bundle(&["grep", "^Cap", "/proc/self/status"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_CHOWN"]
    });
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = k.output(&b);
    assert_eq!(
        status_field(&out, "CapBnd"),
        cap_mask(&[CAP_CHOWN, CAP_KILL, CAP_SYS_ADMIN]),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapInh"),
        cap_mask(&[CAP_CHOWN]),
        "{out}"
    );
    // A non-root exec without ambient caps drops permitted/effective.
    assert_eq!(status_field(&out, "CapEff"), cap_mask(&[]), "{out}");
    assert_eq!(status_field(&out, "CapAmb"), cap_mask(&[]), "{out}");
}

#[test]
fn capabilities_ambient_survive_exec_as_non_root() {
    let k = Kist::new();
    let mut b = k.bundle(&["grep", "^Cap", "/proc/self/status"]);
    b.set_caps(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = k.output(&b);
    let want = cap_mask(&[CAP_CHOWN, CAP_NET_BIND_SERVICE]);
    assert_eq!(status_field(&out, "CapEff"), want, "{out}");
    assert_eq!(status_field(&out, "CapAmb"), want, "{out}");
}

#[test]
fn capabilities_empty_means_none() {
    let k = Kist::new();
    let mut b = k.bundle(&["grep", "^Cap", "/proc/self/status"]);
    b.set_caps(&[]);
    let out = k.output(&b);
    for f in ["CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(status_field(&out, f), cap_mask(&[]), "{f}: {out}");
    }
}

#[test]
fn capabilities_enforced() {
    // Without CAP_CHOWN root cannot chown a file it does not own.
    let k = Kist::new();
    let mut b = k.bundle_sh("touch /tmp/f && chown 1000 /tmp/f && chown 0 /tmp/f 2>/dev/null && echo chowned || echo denied");
    b.set_caps(&["CAP_KILL"]);
    assert_eq!(k.output(&b), "denied\n");
    b.set_caps(&["CAP_CHOWN"]);
    assert_eq!(k.output(&b), "chowned\n");
}

#[test]
fn no_new_privileges() {
    let k = Kist::new();
    let mut b = k.bundle(&["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(status_field(&k.output(&b), "NoNewPrivs"), "1");
    b.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(status_field(&k.output(&b), "NoNewPrivs"), "0");
}

#[test]
fn oom_score_adj() {
    let k = Kist::new();
    let mut b = k.bundle(&["cat", "/proc/self/oom_score_adj"]);
    b.config["process"]["oomScoreAdj"] = json!(567);
    assert_eq!(k.output(&b), "567\n");
}

#[test]
fn exit_status_of_the_process() {
    let k = Kist::new();
    for code in [0, 1, 3, 126, 255] {
        k.sh(&format!("exit {code}")).code_is(code);
    }
}

/// runc chdirs to process.cwd while still root and again after the user
/// switch only if that failed: a cwd the user cannot reach but root can
/// works.
#[test]
fn cwd_only_root_can_reach_is_entered_before_the_user_switch() {
    let k = Kist::new();
    let b0 = k.bundle(&["pwd"]);
    let mut b = b0;
    std::fs::set_permissions(
        b.rootfs().join("root"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod /root");
    b.config["process"]["user"] = json!({"uid": 42, "gid": 42});
    b.config["process"]["cwd"] = json!("/root");
    assert_eq!(k.output(&b), "/root\n");
}

/// `exec --user 0` without CAP_DAC_OVERRIDE into a directory only its owner
/// (uid 1000) may enter: the chdir happens while the exec process still
/// holds every capability, as in runc.
#[test]
fn exec_cwd_entered_before_capabilities_are_dropped() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let home = b.rootfs().join("home/user");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod /home/user");
    std::os::unix::fs::chown(&home, Some(1000), Some(1000)).expect("chown /home/user");
    let id = k.id("execcwd");
    k.run_with(&b, &id, &["-d"]).ok();
    // The default capabilities have no CAP_DAC_OVERRIDE: root as a plain
    // user cannot enter the directory once they are applied.
    k.cmd(&[
        "exec",
        "--user",
        "0",
        &id,
        "sh",
        "-c",
        "ls /home/user >/dev/null 2>&1 || echo no-access",
    ])
    .ok()
    .stdout_has("no-access");
    let o = k
        .cmd(&["exec", "--user", "0", "--cwd", "/home/user", &id, "pwd"])
        .ok();
    assert_eq!(o.stdout, "/home/user\n");
    k.delete_force(&id).ok();
}

/// The runtime ignores SIGPIPE for itself; the user program starts with
/// every signal at its default, as under runc (a pipeline's writer must die
/// when its reader goes away).
#[test]
fn user_program_does_not_inherit_ignored_sigpipe() {
    // Only SIGPIPE: the test harness may pass other ignored signals on.
    let sigpipe_ignored = |out: &str| {
        let hex = out.trim().trim_start_matches("SigIgn:").trim();
        let mask = u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        mask & (1 << (libc::SIGPIPE - 1)) != 0
    };
    let k = Kist::new();
    let b = k.bundle(&["grep", "SigIgn", "/proc/self/status"]);
    let out = k.output(&b);
    assert!(!sigpipe_ignored(&out), "run: {out}");
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("sigpipe");
    k.run_with(&b, &id, &["-d"]).ok();
    let out = k
        .cmd(&["exec", &id, "grep", "SigIgn", "/proc/self/status"])
        .ok()
        .stdout;
    assert!(!sigpipe_ignored(&out), "exec: {out}");
    k.delete_force(&id).ok();
}

/// The init waits for `start` by reopening the state dir's FIFO through
/// /proc/self/fd (after the seccomp filter, with only openat, as runc
/// does): like runc, a container without procfs at /proc is refused, with
/// an error that says so, and nothing is left behind.
#[test]
fn container_without_proc_is_refused_with_a_reason() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    if let Some(m) = b.config["mounts"].as_array_mut() {
        m.retain(|m| m["destination"] != "/proc");
    }
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    let id = k.id("noproc");
    let o = k.run(&b, &id);
    crate::common::clean_failure(&o);
    assert!(o.stderr.contains("/proc/self/fd"), "{}", o.describe());
    k.assert_gone(&id);
}
