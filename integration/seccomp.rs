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

// ---- issue 9: where kist differed from libseccomp / runc ----

const X86_ARCHES: [&str; 2] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"];

/// A static x86_64 ELF executable running `code`, which must end with an
/// exit syscall. No toolchain needed: the tests probe entry points (int 0x80,
/// syscall(-1)) that busybox never uses.
fn tiny_elf(code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HDRS: u64 = 64 + 56;
    let total = HDRS + code.len() as u64;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + HDRS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(code);
    e
}

/// Machine code: exit(-eax), i.e. the errno of the syscall just made.
const EXIT_WITH_ERRNO: &[u8] = &[
    0xf7, 0xd8, // neg eax
    0x89, 0xc7, // mov edi, eax
    0xb8, 60, 0, 0, 0, // mov eax, SYS_exit
    0x0f, 0x05, // syscall
];

/// Installs the probe `code` (+ exit with its errno) as /probe in `b`.
fn add_probe(b: &crate::common::Bundle, code: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let mut c = code.to_vec();
    c.extend_from_slice(EXIT_WITH_ERRNO);
    let p = b.rootfs().join("probe");
    std::fs::write(&p, tiny_elf(&c)).expect("write probe");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod probe");
}

#[test]
fn masked_eq_masks_the_datum_as_libseccomp() {
    // datum 511 has bits outside mask 255: libseccomp compares with
    // 511 & 255, so umask(0377) is refused (and `umask` still reports 022).
    let k = Kist::new();
    let mut b = k.bundle_sh("umask 0022; umask 0377; umask");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 255, "valueTwo": 511, "op": "SCMP_CMP_MASKED_EQ"}]}]
    });
    let out = k.output(&b);
    assert_eq!(out.trim(), "0022", "umask(0377) was not refused");
}

#[test]
fn conditions_on_one_argument_are_separate_rules() {
    // runc and crun make each condition its own rule: either mode is refused.
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "touch /tmp/f; chmod 700 /tmp/f; echo a=$?; chmod 750 /tmp/f; echo b=$?; chmod 755 /tmp/f; echo c=$?",
    );
    let modes = |i: u32| json!([{"index": i, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": i, "value": 0o750, "op": "SCMP_CMP_EQ"}]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": modes(1)},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": modes(2)}
        ]
    });
    let out = k.output(&b);
    assert!(
        out.contains("a=1") && out.contains("b=1") && out.contains("c=0"),
        "{out}"
    );
}

#[test]
#[cfg(target_arch = "x86_64")]
fn conditional_socket_rule_covers_i386_socketcall() {
    // socketcall(SYS_BIND, NULL) through int 0x80: refused by the filter
    // with 13, else the kernel answers EFAULT (14) for the NULL args.
    let k = Kist::new();
    let mut b = k.bundle(&["/probe"]);
    add_probe(
        &b,
        &[
            0xb8, 102, 0, 0, 0, // mov eax, socketcall
            0xbb, 2, 0, 0, 0, // mov ebx, SYS_BIND
            0x31, 0xc9, // xor ecx, ecx
            0xcd, 0x80, // int 0x80
        ],
    );
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": X86_ARCHES,
        "syscalls": [{"names": ["bind"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
            "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]
    });
    let id = k.id("scsockcall");
    let o = k.run(&b, &id);
    if o.code == libc::ENOSYS {
        eprintln!("skipping: no IA32 emulation on this kernel");
        return;
    }
    o.code_is(13);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn syscall_minus_one_is_not_killed() {
    // A tracer skips a syscall by setting its number to -1; libseccomp lets
    // it reach the default action, so the kernel answers ENOSYS.
    for arches in [json!(X86_ARCHES), json!([])] {
        let k = Kist::new();
        let mut b = k.bundle(&["/probe"]);
        add_probe(
            &b,
            &[
                0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov rax, -1
                0x0f, 0x05, // syscall
            ],
        );
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": arches,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        });
        let id = k.id("scminus1");
        k.run(&b, &id).code_is(libc::ENOSYS);
    }
}

#[test]
fn kist_only_errno_on_an_action_without_errno_is_an_error() {
    // runtime-spec: an errnoRet the action cannot return MUST fail (runc 1.1
    // ignores it); errnos must be below MAX_ERRNO (4095).
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL_THREAD", "errnoRet": 5}]}),
            "linux.seccomp.syscalls[0].errnoRet",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5,
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
            "linux.seccomp.defaultErrnoRet",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]}),
            "linux.seccomp.syscalls[0].errnoRet: 4095",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65535,
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]}),
            "linux.seccomp.defaultErrnoRet: 65535",
        ),
    ];
    for (profile, field) in cases {
        let k = Kist::new();
        let mut b = k.bundle(&["true"]);
        b.config["linux"]["seccomp"] = profile;
        let id = k.id("scerrno");
        k.run(&b, &id).fail().stderr_has(field);
        k.assert_gone(&id);
    }
}

#[test]
fn kist_only_init_that_cannot_exit_ends_promptly() {
    // The profile denies what the init needs after the filter is in (the
    // capability drop, writing its error, exit_group): the init must die
    // (SIGSEGV from glibc's final `hlt`) instead of spinning in the Rust
    // runtime's SIGSEGV handler, whose rt_sigaction is denied; runc 1.1's Go
    // init spins the same way. With noNewPrivileges the filter goes in at
    // `start`, and the created container must still be killable.
    for nnp in [false, true] {
        let k = Kist::new();
        let mut b = k.bundle(&["true"]);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["write", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW"}]
        });
        let id = k.id("scnoexit");
        let t = std::time::Instant::now();
        if nnp {
            k.create(&b, &id).ok();
            // start may report success before the init fails its execve.
            k.start(&id);
            k.kill(&id, "KILL");
            k.wait_status(&id, "stopped");
            k.delete(&id).ok();
        } else {
            let o = k.run(&b, &id).fail();
            assert!(!o.stderr.trim().is_empty(), "{}", o.stderr);
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "nnp={nnp}: took {:?}",
            t.elapsed()
        );
        k.assert_gone(&id);
    }
}
