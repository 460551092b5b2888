//! Profiles that were not written for kist: nothing the runtime does after
//! it installs the seccomp filter may need a syscall such a profile denies.
//! What kist makes there is listed in docs/architecture.md ("After the
//! seccomp filter") and must stay within what runc 1.1 makes at that point,
//! or profiles written for runc break containers: `run` and `exec`, with
//! and without noNewPrivileges.

use crate::common::{is_reference, Kist};
use serde_json::{json, Value};

/// What the busybox applets used here (`echo`, `sleep`) call, from strace.
const BUSYBOX: &[&str] = &[
    "arch_prctl",
    "brk",
    "clock_nanosleep",
    "exit_group",
    "getrandom",
    "getuid",
    "mprotect",
    "nanosleep",
    "prlimit64",
    "readlink",
    "rseq",
    "set_robust_list",
    "set_tid_address",
    "write",
];

/// Everything kist may call between installing the filter and execve, as
/// docs/architecture.md lists it (hooks aside).
const KIST_AFTER_FILTER: &[&str] = &[
    "capset",
    "chdir",
    "execve",
    "openat",
    "prctl",
    "setgroups",
    "setresgid",
    "setresuid",
    "write",
];

/// What runc 1.1.5 makes there on top of that (strace of `runc run` and
/// `runc exec`; its Go runtime included), so the tests can be validated
/// against runc with KIST_BIN.
const RUNC_EXTRA: &[&str] = &[
    "capget",
    "close",
    "epoll_ctl",
    "epoll_pwait",
    "faccessat2",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "gettid",
    "madvise",
    "mmap",
    "munmap",
    "newfstatat",
    "read",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_yield",
    "setgid",
    "setuid",
    "sigaltstack",
    "tgkill",
];

const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// Default ERRNO; allows only what busybox needs plus the post-filter list.
fn allow_list_profile() -> Value {
    let mut names: Vec<&str> = BUSYBOX.iter().chain(KIST_AFTER_FILTER).copied().collect();
    if is_reference() {
        names.extend(RUNC_EXTRA);
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ARCHES,
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    })
}

/// Syscalls added after Linux 5.0: a profile from before 2020 (Docker's and
/// containerd's then, and most hand-written ones) does not know them.
const NEWER_THAN_5_0: &[&str] = &[
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
];

/// Docker's default profile (for the default capabilities) as it would have
/// been before Linux 5.1.
fn docker_before_5_1() -> Value {
    let path = format!(
        "{}/integration/fixtures/seccomp/docker-default.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut p = crate::seccomp::moby_to_oci(
        &path,
        &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    );
    let rules = p["syscalls"].as_array_mut().expect("syscalls");
    for r in rules.iter_mut() {
        if let Some(names) = r["names"].as_array_mut() {
            names.retain(|n| !NEWER_THAN_5_0.contains(&n.as_str().unwrap_or("")));
        }
    }
    rules.retain(|r| r["names"].as_array().is_some_and(|n| !n.is_empty()));
    let text = p.to_string();
    for n in NEWER_THAN_5_0 {
        assert!(
            !text.contains(&format!("\"{n}\"")),
            "{n} still in the profile"
        );
    }
    p
}

/// A bundle running `args` under `profile`.
fn bundle_under(k: &Kist, args: &[&str], nnp: bool, profile: &Value) -> crate::common::Bundle {
    let mut b = k.bundle(args);
    b.config["process"]["noNewPrivileges"] = json!(nnp);
    b.config["linux"]["seccomp"] = profile.clone();
    b
}

/// `run` and `exec` under `profile`, with and without noNewPrivileges.
fn run_and_exec_under(profile: &Value) {
    for nnp in [true, false] {
        let k = Kist::new();
        let b = bundle_under(&k, &["echo", "run-ok"], nnp, profile);
        assert_eq!(k.output(&b), "run-ok\n", "run, noNewPrivileges={nnp}");

        let b = bundle_under(&k, &["sleep", "1000"], nnp, profile);
        let id = k.id("scexec");
        k.run_with(&b, &id, &["-d"]).ok();
        let o = k.cmd(&["exec", &id, "echo", "exec-ok"]).ok();
        assert_eq!(o.stdout, "exec-ok\n", "exec, noNewPrivileges={nnp}");
        // The same through --process, with noNewPrivileges the other way.
        let pj = k.path("process.json");
        std::fs::write(
            &pj,
            json!({
                "args": ["echo", "exec-process-ok"], "cwd": "/",
                "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
                "noNewPrivileges": !nnp,
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
            })
            .to_string(),
        )
        .expect("write process.json");
        let o = k
            .cmd(&["exec", "--process", pj.to_str().expect("path"), &id])
            .ok();
        assert_eq!(
            o.stdout, "exec-process-ok\n",
            "exec --process, noNewPrivileges={}",
            !nnp
        );
        k.delete_force(&id).ok();
    }
}

#[test]
fn allow_list_of_what_busybox_needs_runs_and_execs() {
    run_and_exec_under(&allow_list_profile());
}

#[test]
fn docker_profile_from_before_linux_5_1_runs_and_execs() {
    run_and_exec_under(&docker_before_5_1());
}

/// The same list with a non-root user (setgroups, setresgid, setresuid
/// after the filter without noNewPrivileges) and a cwd only root can enter
/// (the privileged chdir, before the filter).
#[test]
fn allow_list_with_a_non_root_user_and_root_only_cwd() {
    let k = Kist::new();
    for nnp in [true, false] {
        let mut b = k.bundle(&["echo", "user-ok"]);
        std::fs::set_permissions(
            b.rootfs().join("root"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod /root");
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
        b.config["process"]["cwd"] = json!("/root");
        b.config["linux"]["seccomp"] = allow_list_profile();
        assert_eq!(k.output(&b), "user-ok\n", "noNewPrivileges={nnp}");
    }
}

/// A cwd root cannot enter but the process user can (root squashed on NFS;
/// here: the runtime runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH):
/// the chdir is retried after the user switch, which without
/// noNewPrivileges comes after the filter, and the cwd check that follows
/// must not need getcwd, which the allow-list denies.
#[test]
fn cwd_retried_as_the_user_under_the_allow_list() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    let home = b.rootfs().join("home/user");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod /home/user");
    std::os::unix::fs::chown(&home, Some(1000), Some(1000)).expect("chown /home/user");
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["linux"]["seccomp"] = allow_list_profile();
    let id = k.id("scretry");
    k.run_with(&b, &id, &["-d"]).ok();
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-dac_override,-dac_read_search"])
        .arg(crate::common::bin())
        .arg("--root")
        .arg(&k.root)
        .args([
            "exec",
            "--user",
            "1000:1000",
            "--cwd",
            "/home/user",
            &id,
            "echo",
            "retry-ok",
        ])
        .env("KIST_TEST_MARK", &k.mark)
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "retry-ok\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    k.delete_force(&id).ok();
}

/// A notify profile that otherwise allows only the list: its fd reaches
/// `listenerPath` from `run` (with and without noNewPrivileges) and from
/// `exec`, with nothing after the filter but write, read and close.
#[test]
fn notify_fd_reaches_the_listener_under_the_allow_list() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    let k = Kist::new();
    let sock = k.path("listener.sock");
    let listener = UnixListener::bind(&sock).expect("bind listener");
    let mut profile = allow_list_profile();
    profile["syscalls"][0]["names"]
        .as_array_mut()
        .expect("names")
        .extend([json!("read"), json!("close")]);
    profile["syscalls"]
        .as_array_mut()
        .expect("syscalls")
        .push(json!({"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}));
    profile["listenerPath"] = json!(sock);
    // One connection per process that installs the filter.
    let accept = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..3 {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .ok();
            let mut buf = vec![0u8; 65536];
            let n = conn.read(&mut buf).expect("read state");
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    });
    let b = bundle_under(&k, &["echo", "run-ok"], true, &profile);
    assert_eq!(k.output(&b), "run-ok\n", "run, noNewPrivileges");
    let b = bundle_under(&k, &["sleep", "1000"], false, &profile);
    let id = k.id("scnotify");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k.cmd(&["exec", &id, "echo", "exec-ok"]).ok();
    assert_eq!(o.stdout, "exec-ok\n");
    let got = accept.join().expect("listener thread");
    for msg in &got {
        let v: Value = serde_json::from_str(msg).unwrap_or_else(|e| panic!("{e}: {msg}"));
        assert_eq!(v["fds"], json!(["seccompFd"]), "{msg}");
    }
    k.delete_force(&id).ok();
}
