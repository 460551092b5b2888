//! Whole-module tests: the default profiles of Docker and podman, speed,
//! malformed input, and filters loaded into forked children to check what the
//! kernel really does with them.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

use super::abi::{self, Abi};
use super::moby::{self, DOCKER_DEFAULT_CAPS};
use super::{bpf, compile, compile_json, Filter};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

fn errno_ret(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

/// podman's default capabilities (no CAP_AUDIT_WRITE, unlike Docker).
const PODMAN_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

fn docker_oci(caps: &[&str]) -> Value {
    moby::to_oci(&moby::fixture("docker-default.json"), caps, (6, 1))
}

fn podman_oci(caps: &[&str]) -> Value {
    moby::to_oci(&moby::fixture("podman-default.json"), caps, (6, 1))
}

fn typed(v: &Value) -> LinuxSeccomp {
    serde_json::from_value(v.clone()).expect("valid LinuxSeccomp")
}

fn decide(f: &Filter, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
    let nr = abi
        .lookup(name)
        .unwrap_or_else(|| panic!("{name} on {abi:?}"));
    bpf::run(&f.prog, abi.audit_arch(), nr, args)
}

// ---- default profiles ----

#[test]
fn docker_default_profile() {
    let f = compile(&typed(&docker_oci(DOCKER_DEFAULT_CAPS))).unwrap();
    assert!(!f.uses_notify());
    println!("docker default: {} instructions", f.len());
    for abi in [Abi::X86_64, Abi::I386, Abi::X32] {
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "futex",
            "chroot",
        ] {
            if abi.lookup(name).is_some() {
                assert_eq!(decide(&f, abi, name, [0; 6]), ALLOW, "{abi:?} {name}");
            }
        }
        assert_eq!(
            decide(&f, abi, "mount", [0; 6]),
            errno_ret(libc::EPERM),
            "{abi:?}"
        );
        assert_eq!(
            decide(&f, abi, "unshare", [0; 6]),
            errno_ret(libc::EPERM),
            "{abi:?}"
        );
        assert_eq!(
            decide(&f, abi, "clone3", [0; 6]),
            errno_ret(libc::ENOSYS),
            "{abi:?}"
        );
        // socket(AF_VSOCK) is refused, other families allowed.
        assert_eq!(
            decide(&f, abi, "socket", [40, 1, 0, 0, 0, 0]),
            errno_ret(libc::EPERM)
        );
        assert_eq!(decide(&f, abi, "socket", [2, 1, 0, 0, 0, 0]), ALLOW);
        // clone without namespace flags only.
        assert_eq!(
            decide(&f, abi, "clone", [0x0100_0011, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            decide(
                &f,
                abi,
                "clone",
                [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]
            ),
            errno_ret(libc::EPERM)
        );
        assert_eq!(
            decide(&f, abi, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            decide(&f, abi, "personality", [0x1, 0, 0, 0, 0, 0]),
            errno_ret(libc::EPERM)
        );
    }
    assert_eq!(decide(&f, Abi::X86_64, "arch_prctl", [0; 6]), ALLOW);
    assert_eq!(decide(&f, Abi::I386, "socketcall", [0; 6]), ALLOW);

    let admin = compile_json(&docker_oci(&["CAP_SYS_ADMIN"])).unwrap();
    assert_eq!(decide(&admin, Abi::X86_64, "mount", [0; 6]), ALLOW);
    assert_eq!(decide(&admin, Abi::X86_64, "clone3", [0; 6]), ALLOW);
    assert_eq!(
        decide(
            &admin,
            Abi::X86_64,
            "clone",
            [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]
        ),
        ALLOW
    );
}

#[test]
fn podman_default_profile() {
    let v = podman_oci(PODMAN_DEFAULT_CAPS);
    let f = compile(&typed(&v)).unwrap();
    assert_eq!(f.len(), compile_json(&v).unwrap().len());
    println!("podman default: {} instructions", f.len());
    let enosys = errno_ret(libc::ENOSYS);
    for abi in [Abi::X86_64, Abi::I386, Abi::X32] {
        assert_eq!(decide(&f, abi, "read", [0; 6]), ALLOW);
        assert_eq!(decide(&f, abi, "clone3", [0; 6]), ALLOW);
        // An explicit errnoRet 1 rule, and the ENOSYS default.
        assert_eq!(decide(&f, abi, "bpf", [0; 6]), errno_ret(libc::EPERM));
        assert_eq!(
            decide(&f, abi, "kexec_load", [0; 6]),
            errno_ret(libc::EPERM)
        );
        assert_eq!(decide(&f, abi, "add_key", [0; 6]), enosys);
        // AF_NETLINK + NETLINK_AUDIT refused with EINVAL, other sockets fine.
        assert_eq!(
            decide(&f, abi, "socket", [16, 3, 9, 0, 0, 0]),
            errno_ret(libc::EINVAL)
        );
        assert_eq!(decide(&f, abi, "socket", [16, 3, 0, 0, 0, 0]), ALLOW);
        assert_eq!(decide(&f, abi, "socket", [2, 1, 9, 0, 0, 0]), ALLOW);
    }
    let audit = compile_json(&podman_oci(&["CAP_AUDIT_WRITE", "CAP_SYS_ADMIN"])).unwrap();
    assert_eq!(
        decide(&audit, Abi::X86_64, "socket", [16, 3, 9, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(decide(&audit, Abi::X86_64, "bpf", [0; 6]), ALLOW);
}

/// A profile with `n` rules over real syscall names, a third with args.
fn big_profile(n: usize) -> Value {
    let names: Vec<&str> = super::syscalls::SYSCALLS
        .iter()
        .filter(|(_, nrs)| nrs[0] < 400)
        .map(|(s, _)| *s)
        .collect();
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            let name = names[i % names.len()];
            if i % 3 == 0 {
                json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": (i % 100) + 1,
                       "args": [{"index": i % 6, "value": i as u64 * 0x1_0000_0001, "op": "SCMP_CMP_EQ"}]})
            } else {
                json!({"names": [name, "open", "socketcall"], "action": "SCMP_ACT_ALLOW"})
            }
        })
        .collect();
    json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "syscalls": rules})
}

/// CPU time of the calling thread: unlike wall time it does not count the
/// time other processes on a busy machine take from us.
fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best CPU time of `runs` calls of `f`.
fn best_of(runs: usize, mut f: impl FnMut()) -> std::time::Duration {
    (0..runs)
        .map(|_| {
            let t = thread_cpu_time();
            f();
            thread_cpu_time().saturating_sub(t)
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn compile_is_fast() {
    let s = typed(&big_profile(400));
    let t = best_of(21, || {
        std::hint::black_box(compile(&s).unwrap());
    });
    println!("compile 400 rules: {t:?}");
    // Well under 1 ms in release; debug builds are several times slower, and
    // the bound still catches an O(n^2) blowup.
    let limit = if cfg!(debug_assertions) {
        10_000
    } else {
        1_000
    };
    assert!(t.as_micros() < limit, "compile took {t:?}");
}

/// `cargo test --release --lib -- --ignored --nocapture bench_compile`
#[test]
#[ignore]
fn bench_compile() {
    for n in [100, 400, 1000] {
        let s = typed(&big_profile(n));
        let mut len = Ok(0);
        let t = best_of(200, || len = compile(&s).map(|f| f.len()));
        println!("{n} rules: {t:?} per compile, instructions: {len:?}");
    }
    for (name, v) in [
        ("docker default", docker_oci(DOCKER_DEFAULT_CAPS)),
        ("podman default", podman_oci(PODMAN_DEFAULT_CAPS)),
    ] {
        let s = typed(&v);
        let t = best_of(200, || {
            std::hint::black_box(compile(&s).unwrap());
        });
        println!("{name}: {t:?} per compile");
    }
}

// ---- malformed input ----

/// xorshift64*: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

fn random_scalar(r: &mut Rng) -> Value {
    match r.below(9) {
        0 => Value::Null,
        1 => json!(r.below(2) == 1),
        2 => json!(r.next()),
        3 => json!(-(r.below(1000) as i64)),
        4 => json!(r.next() as f64 / 3.0),
        5 => json!(r.below(8)),
        6 => json!("SCMP_ACT_ERRNO"),
        7 => json!("é\u{0}ü\u{10ffff}".repeat(r.below(20))),
        _ => json!(r.pick(&["", "read", "SCMP_ARCH_X86", "SCMP_CMP_EQ", "x"])),
    }
}

fn random_value(r: &mut Rng, depth: u32) -> Value {
    if depth == 0 || r.below(3) == 0 {
        return random_scalar(r);
    }
    if r.below(2) == 0 {
        Value::Array(
            (0..r.below(4))
                .map(|_| random_value(r, depth - 1))
                .collect(),
        )
    } else {
        let keys = [
            "names", "action", "args", "index", "value", "op", "errnoRet", "valueTwo", "zz",
        ];
        let mut m = serde_json::Map::new();
        for _ in 0..r.below(4) {
            m.insert(r.pick(&keys).to_string(), random_value(r, depth - 1));
        }
        Value::Object(m)
    }
}

fn random_profile(r: &mut Rng) -> Value {
    const ACTIONS: &[&str] = &[
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    const OPS: &[&str] = super::profile::OPERATOR_NAMES;
    const NAMES: &[&str] = &[
        "read",
        "write",
        "getpid",
        "socketcall",
        "personality",
        "clone",
        "nope",
        "open",
    ];
    const ARCHES: &[&str] = &[
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_NATIVE",
        "SCMP_ARCH_ARM",
    ];
    // Mostly valid choices, with a rare bad one so every check gets hit.
    fn choose(r: &mut Rng, good: &[&'static str], bad: &'static str) -> &'static str {
        if r.below(40) == 0 {
            bad
        } else {
            good[r.below(good.len())]
        }
    }
    let mut rules = Vec::new();
    for _ in 0..r.below(30) {
        let mut rule = json!({
            "names": (0..r.below(4)).map(|_| choose(r, NAMES, "")).collect::<Vec<_>>(),
            "action": choose(r, ACTIONS, "SCMP_ACT_FOO"),
        });
        if r.below(3) == 0 {
            rule["errnoRet"] = json!(if r.below(40) == 0 {
                r.next() % 70_000
            } else {
                r.next() % 4096
            });
        }
        if r.below(2) == 0 {
            rule["args"] = Value::Array(
                (0..r.below(4))
                    .map(|_| {
                        let index = if r.below(40) == 0 { 6 + r.below(3) } else { r.below(6) };
                        json!({"index": index, "value": r.next(), "valueTwo": r.next(), "op": choose(r, OPS, "BAD")})
                    })
                    .collect(),
            );
        }
        rules.push(rule);
    }
    let mut p = json!({
        "defaultAction": choose(r, ACTIONS, "SCMP_ACT_FOO"),
        "architectures": (0..r.below(4)).map(|_| choose(r, ARCHES, "SCMP_ARCH_Q")).collect::<Vec<_>>(),
        "syscalls": rules,
    });
    if r.below(4) != 0 {
        p["listenerPath"] = json!("/run/agent.sock");
    }
    if r.below(3) == 0 {
        p["flags"] = json!([choose(
            r,
            &["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
            "BAD"
        )]);
    }
    // Now break things at random.
    if r.below(3) == 0 {
        for _ in 0..=r.below(3) {
            mutate(r, &mut p, 4);
        }
    }
    p
}

fn mutate(r: &mut Rng, v: &mut Value, depth: u32) {
    match v {
        Value::Object(m) if depth > 0 && !m.is_empty() && r.below(3) != 0 => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
            if let Some(child) = m.get_mut(&k) {
                mutate(r, child, depth - 1);
            }
        }
        Value::Array(a) if depth > 0 && !a.is_empty() && r.below(3) != 0 => {
            let i = r.below(a.len());
            mutate(r, &mut a[i], depth - 1);
        }
        _ => *v = random_value(r, 3),
    }
}

#[test]
fn malformed_profiles_never_panic() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut rejected) = (0, 0);
    for _ in 0..4000 {
        let p = random_profile(&mut r);
        match compile_json(&p) {
            Ok(f) => {
                ok += 1;
                assert!(f.len() <= bpf::MAX_INSNS);
            }
            Err(e) => {
                rejected += 1;
                assert!(e.to_string().starts_with("linux.seccomp"), "{e}");
            }
        }
        if let Ok(s) = serde_json::from_value::<LinuxSeccomp>(p) {
            let _ = compile(&s);
        }
        // Arbitrary JSON where the object should be.
        let _ = compile_json(&random_value(&mut r, 4));
    }
    println!("fuzz: {ok} accepted, {rejected} rejected");
    assert!(
        ok > 100 && rejected > 100,
        "{ok} accepted, {rejected} rejected"
    );
}

#[test]
fn oversized_profile_is_an_error() {
    let rules: Vec<Value> = (0..3000)
        .map(|i| {
            json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let e =
        compile_json(&json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules})).unwrap_err();
    assert!(e.to_string().contains("kernel's limit of 4096"), "{e}");
}

// ---- in the kernel ----

/// What a child reported.
#[derive(Debug, PartialEq)]
enum Child {
    Exited(i32),
    Killed(Signal),
}

/// Run `f` in a forked child with no_new_privs set and core dumps off; its
/// return value is the exit code. The child only makes raw syscalls (and the
/// allocations glibc makes safe after fork), never prints, and always exits.
fn in_child(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: the child runs `f` and then `_exit`s without returning into the
    // test harness; `f` sticks to syscalls and allocation (safe after fork
    // with glibc), so no lock held by another test thread is needed.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain syscalls on valid arguments in the child.
            let code = unsafe {
                if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0
                    || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                {
                    100
                } else {
                    f()
                }
            };
            // SAFETY: leave without running the parent's atexit/destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, c) => Child::Exited(c),
            WaitStatus::Signaled(_, s, _) => Child::Killed(s),
            other => panic!("unexpected wait status {other:?}"),
        },
    }
}

fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

/// Child helper: 0 when `r` is -1 with errno `want`, else a code saying what
/// happened.
fn expect_errno(r: libc::c_long, want: i32) -> i32 {
    if r == -1 && errno() == want {
        0
    } else if r == -1 {
        10 + errno().min(100)
    } else {
        1
    }
}

fn filter(v: Value) -> Filter {
    compile_json(&v).unwrap()
}

#[test]
fn kernel_errno_allow_and_kill() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
        {"names": ["getpgrp"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getsid"], "action": "SCMP_ACT_KILL"},
        {"names": ["setsid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["getpriority"], "action": "SCMP_ACT_TRAP"}
    ]}));
    let ok = |f: &Filter| f.install().map(|fd| fd.is_none()).unwrap_or(false);
    let r = in_child(|| {
        if !ok(&f) {
            return 2;
        }
        // SAFETY: raw syscalls without pointer arguments.
        let e1 = expect_errno(unsafe { libc::syscall(libc::SYS_getppid) }, 42);
        if e1 != 0 {
            return e1;
        }
        // SAFETY: as above.
        let e2 = expect_errno(unsafe { libc::syscall(libc::SYS_getpgrp) }, libc::EPERM);
        if e2 != 0 {
            return 20 + e2;
        }
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
            return 3;
        }
        0
    });
    assert_eq!(r, Child::Exited(0));
    for sys in [libc::SYS_getsid, libc::SYS_setsid, libc::SYS_getpriority] {
        let r = in_child(|| {
            if !ok(&f) {
                return 2;
            }
            // SAFETY: raw syscall; the filter kills before it runs.
            unsafe { libc::syscall(sys, 0, 0) };
            4
        });
        assert_eq!(r, Child::Killed(Signal::SIGSYS), "syscall {sys}");
    }
}

#[test]
fn kernel_arg_comparisons() {
    let big = 0x1_0000_0005u64;
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,
         "args": [{"index": 0, "value": big, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12,
         "args": [{"index": 1, "value": 0xff00_0000_0000_00f0u64, "valueTwo": 0x0100_0000_0000_0010u64, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 5, "value": 0x8000_0000_0000_0000u64, "op": "SCMP_CMP_GE"},
                  {"index": 4, "value": u64::MAX, "op": "SCMP_CMP_LT"}]}
    ]}));
    let r = in_child(|| {
        if f.install().is_err() {
            return 2;
        }
        let call = |a: [u64; 6]| {
            // SAFETY: getppid ignores its arguments; the filter sees them.
            unsafe { libc::syscall(libc::SYS_getppid, a[0], a[1], a[2], a[3], a[4], a[5]) }
        };
        let cases: [([u64; 6], i32); 8] = [
            ([big, 0, 0, 0, 0, 0], 11),
            ([5, 0, 0, 0, 0, 0], 0),
            ([0x2_0000_0005, 0, 0, 0, 0, 0], 0),
            ([0, 0x01ab_0000_0000_0015, 0, 0, 0, 0], 12),
            ([0, 0x02ab_0000_0000_0015, 0, 0, 0, 0], 0),
            ([0, 0, 0, 0, 0, 0x8000_0000_0000_0001], 13),
            ([0, 0, 0, 0, u64::MAX, 0x8000_0000_0000_0001], 0),
            ([0, 0, 0, 0, 0, 0x7fff_ffff_ffff_ffff], 0),
        ];
        for (i, (args, want)) in cases.iter().enumerate() {
            let r = call(*args);
            let good = if *want == 0 {
                r > 0
            } else {
                expect_errno(r, *want) == 0
            };
            if !good {
                return 30 + i as i32;
            }
        }
        0
    });
    assert_eq!(r, Child::Exited(0));
}

/// int 0x80 from 64-bit code: enters through the i386 ABI.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, a0: u32, a1: u32) -> i32 {
    let ret: i32;
    // SAFETY: int 0x80 clobbers only eax (the result) in 64-bit mode. Callers
    // pass no pointers the kernel would dereference, or the filter refuses
    // the call before the kernel reads them. rbx is reserved by LLVM, so
    // swap it in and out around the call.
    unsafe {
        std::arch::asm!(
            "xchg {a0:r}, rbx",
            "int 0x80",
            "xchg {a0:r}, rbx",
            a0 = inout(reg) u64::from(a0) => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") a1,
        );
    }
    ret
}

#[test]
#[cfg(target_arch = "x86_64")]
fn kernel_i386_and_x32_entry_points_are_covered() {
    let i386_getpid = Abi::I386.lookup("getpid").unwrap();
    // Without a filter int 0x80 works only with IA32 emulation on.
    assert_eq!(
        in_child(|| if int80(i386_getpid, 0, 0) > 0 { 0 } else { 1 }),
        Child::Exited(0),
        "int 0x80 getpid failed: this test needs a kernel with IA32 emulation"
    );
    let rules = json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9},
        {"names": ["listen"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8}
    ]);
    // Listed: the i386 rules deny it as on x86_64.
    let listed = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules}));
    let r = in_child(|| {
        if listed.install().is_err() {
            return 2;
        }
        if int80(i386_getpid, 0, 0) != -9 {
            return 3;
        }
        // listen is refused through socketcall(SYS_LISTEN, args) too; the
        // args pointer is never read.
        if int80(abi::I386_SOCKETCALL, 4, 0) != -8 {
            return 6;
        }
        // Other i386 syscalls stay allowed.
        if int80(Abi::I386.lookup("getppid").unwrap(), 0, 0) <= 0 {
            return 4;
        }
        // x32 numbering: denied too (whether or not the kernel has x32).
        // SAFETY: raw syscall without pointer arguments.
        let r = unsafe { libc::syscall(Abi::X32.lookup("getpid").unwrap() as libc::c_long) };
        expect_errno(r, 9)
    });
    assert_eq!(r, Child::Exited(0));

    // Not listed: i386 and x32 entry points are a bad arch and get killed.
    let native_only = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    let r = in_child(|| {
        if native_only.install().is_err() {
            return 2;
        }
        int80(Abi::I386.lookup("getppid").unwrap(), 0, 0);
        5
    });
    assert_eq!(r, Child::Killed(Signal::SIGSYS));
    let r = in_child(|| {
        if native_only.install().is_err() {
            return 2;
        }
        // SAFETY: raw syscall without pointer arguments.
        unsafe { libc::syscall(Abi::X32.lookup("getppid").unwrap() as libc::c_long) };
        5
    });
    assert_eq!(r, Child::Killed(Signal::SIGSYS));
}

/// Like `in_child`, but a child still running after `secs` is killed and
/// reported as None (a filter that makes it spin must fail the test, not
/// hang it).
fn in_child_within(secs: u64, f: impl FnOnce() -> i32) -> Option<Child> {
    use nix::sys::wait::WaitPidFlag;
    // SAFETY: as in `in_child`.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // SAFETY: plain syscall; then leave without unwinding.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::_exit(f())
            }
        }
        ForkResult::Parent { child } => {
            let mut guard = ChildGuard(child);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
            loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                    WaitStatus::StillAlive if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    // Dropping the guard kills and reaps it.
                    WaitStatus::StillAlive => return None,
                    WaitStatus::Exited(_, c) => {
                        guard.0 = nix::unistd::Pid::from_raw(0);
                        return Some(Child::Exited(c));
                    }
                    WaitStatus::Signaled(_, s, _) => {
                        guard.0 = nix::unistd::Pid::from_raw(0);
                        return Some(Child::Killed(s));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Issue 9: where kist differed from libseccomp/runc, checked in the kernel.
#[test]
#[cfg(target_arch = "x86_64")]
fn kernel_libseccomp_semantics() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
        // Datum bits outside the mask are masked off (libseccomp).
        {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 255, "valueTwo": 511, "op": "SCMP_CMP_MASKED_EQ"}]},
        // Two conditions on one argument: either denies (runc).
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        // A conditional socket rule also covers socketcall on i386.
        {"names": ["bind"], "action": "SCMP_ACT_ERRNO", "errnoRet": 15,
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}
    ]}));
    let i386_getpid = Abi::I386.lookup("getpid").unwrap();
    let ia32 = in_child(|| if int80(i386_getpid, 0, 0) > 0 { 0 } else { 1 }) == Child::Exited(0);
    let r = in_child(|| {
        if f.install().is_err() {
            return 2;
        }
        // SAFETY: umask and getppid take no pointers.
        if expect_errno(unsafe { libc::syscall(libc::SYS_umask, 0xff) }, 13) != 0 {
            return 3;
        }
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_umask, 0o22) } < 0 {
            return 4;
        }
        for (a0, want) in [(1, 14), (2, 14)] {
            // SAFETY: as above.
            if expect_errno(unsafe { libc::syscall(libc::SYS_getppid, a0) }, want) != 0 {
                return 5;
            }
        }
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_getppid, 3) } <= 0 {
            return 6;
        }
        // socketcall(SYS_BIND, args): refused before the args are read.
        if ia32 && int80(abi::I386_SOCKETCALL, 2, 0) != -15 {
            return 7;
        }
        // syscall(-1), as a tracer skips a syscall: not killed as a bad
        // arch, the kernel's ENOSYS.
        // SAFETY: no such syscall; nothing is read.
        expect_errno(unsafe { libc::syscall(-1) }, libc::ENOSYS)
    });
    assert_eq!(r, Child::Exited(0));
}

/// A filter that denies what exiting needs: the process must still die
/// (glibc's _exit ends in `hlt`, a SIGSEGV), not spin in the Rust runtime's
/// SIGSEGV handler whose rt_sigaction the filter refuses.
#[test]
fn kernel_process_that_cannot_exit_dies_of_sigsegv() {
    for allowed in [json!(["rt_sigreturn"]), json!(["rt_sigaction"]), json!([])] {
        let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}));
        let r = in_child_within(10, || {
            if f.install().is_err() {
                return 2;
            }
            // Returning exits through exit_group, which is denied.
            0
        });
        assert_eq!(r, Some(Child::Killed(Signal::SIGSEGV)), "allowed {allowed}");
    }
}

#[test]
fn kernel_docker_default_profile() {
    let f = compile(&typed(&docker_oci(DOCKER_DEFAULT_CAPS))).unwrap();
    let r = in_child(|| {
        if f.install().is_err() {
            return 2;
        }
        // SAFETY: raw syscalls; pointer arguments are null where allowed.
        unsafe {
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 3;
            }
            let e = expect_errno(
                libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER),
                libc::EPERM,
            );
            if e != 0 {
                return 40 + e;
            }
            let e = expect_errno(libc::syscall(libc::SYS_clone3, 0, 0), libc::ENOSYS);
            if e != 0 {
                return 60 + e;
            }
            let e = expect_errno(
                libc::syscall(libc::SYS_socket, 40, libc::SOCK_STREAM, 0),
                libc::EPERM,
            );
            if e != 0 {
                return 80 + e;
            }
            // A syscall newer than everything the profile names: ENOSYS.
            let e = expect_errno(libc::syscall(1000), libc::ENOSYS);
            if e != 0 {
                return 120 + e.min(100);
            }
        }
        0
    });
    assert_eq!(r, Child::Exited(0));
}

#[test]
fn kernel_flags_are_accepted() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
                  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_LOG"}]}));
    let r = in_child(|| match f.install() {
        // SAFETY: raw syscall without arguments.
        Ok(None) => i32::from(unsafe { libc::syscall(libc::SYS_getppid) } <= 0),
        Ok(Some(_)) => 3,
        Err(e) => 10 + e.errno().unwrap_or(90).min(100),
    });
    assert_eq!(r, Child::Exited(0));
}

#[test]
fn kernel_install_without_no_new_privs_fails_cleanly() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    // Drop CAP_SYS_ADMIN in the child and clear no_new_privs... the latter
    // cannot be cleared, so fork without in_child's prctl.
    // SAFETY: see in_child; the child only makes syscalls and exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = (|| {
                if caps::drop(
                    None,
                    caps::CapSet::Effective,
                    caps::Capability::CAP_SYS_ADMIN,
                )
                .is_err()
                {
                    return 2;
                }
                match f.install() {
                    Err(e)
                        if e.errno() == Some(libc::EACCES)
                            && e.to_string().contains("no_new_privs") =>
                    {
                        0
                    }
                    _ => 1,
                }
            })();
            // SAFETY: leave the child without unwinding into the harness.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            assert_eq!(
                waitpid(child, None).expect("waitpid"),
                WaitStatus::Exited(child, 0)
            );
        }
    }
}

/// A unique temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("kist-seccomp-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).expect("mkdir temp");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Receive one message with up to one fd from a connected unix socket.
fn recv_with_fd(sock: &OwnedFd) -> (Vec<u8>, Option<OwnedFd>) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS gave us a fresh fd that nothing else owns.
            fd = fds.first().map(|&raw| unsafe { OwnedFd::from_raw_fd(raw) });
        }
    }
    let n = msg.bytes;
    buf.truncate(n);
    (buf, fd)
}

#[test]
fn kernel_notify_sends_fd_and_state_to_listener() {
    use nix::sys::socket::{
        accept, bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
    };

    let dir = TempDir::new("notify");
    let sock_path = dir.0.join("agent.sock");
    let listener = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    bind(
        listener.as_raw_fd(),
        &UnixAddr::new(&sock_path).expect("addr"),
    )
    .expect("bind");
    listen(&listener, Backlog::new(1).expect("backlog")).expect("listen");

    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock_path, "listenerMetadata": "hello agent",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(f.uses_notify());
    assert_eq!(f.listener_path(), Some(sock_path.as_path()));
    assert_eq!(f.listener_metadata(), "hello agent");

    // SAFETY: see in_child; the child makes syscalls, allocates and exits.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = (|| {
                // SAFETY: prctl with constant arguments.
                if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                    return 2;
                }
                let Ok(Some(fd)) = f.install() else { return 3 };
                let state = json!({"ociVersion": "1.2.0", "id": "c1", "status": "creating",
                                   "pid": std::process::id(), "bundle": "/bundle"});
                if super::send_to_listener(&sock_path, fd.as_fd(), &state, f.listener_metadata())
                    .is_err()
                {
                    return 4;
                }
                drop(fd);
                // Blocks until the agent answers; the agent says 4242.
                // SAFETY: raw syscall without arguments.
                let r = unsafe { libc::syscall(libc::SYS_getppid) };
                if r == 4242 {
                    0
                } else {
                    5
                }
            })();
            // SAFETY: leave the child without unwinding into the harness.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };

    let mut guard = ChildGuard(child);
    // Don't hang if the child never connects.
    let mut pfd = [nix::poll::PollFd::new(
        listener.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16)).expect("poll");
    assert_eq!(n, 1, "the child never connected to the listener");
    let conn = accept(listener.as_raw_fd()).expect("accept");
    // SAFETY: accept returned a fresh fd that we now own.
    let conn = unsafe { OwnedFd::from_raw_fd(conn) };
    let (body, notify_fd) = recv_with_fd(&conn);
    let msg: Value = serde_json::from_slice(&body).expect("state json");
    assert_eq!(msg["fds"], json!(["seccompFd"]));
    assert_eq!(msg["metadata"], "hello agent");
    assert_eq!(msg["pid"], child.as_raw());
    assert_eq!(msg["state"]["id"], "c1");
    assert_eq!(msg["ociVersion"], "1.2.0");
    let notify_fd = notify_fd.expect("fd with SCM_RIGHTS");

    // Act as the agent: take the child's getppid and make it return 4242.
    // SAFETY: zeroed C structs are valid; the ioctls get pointers to them.
    unsafe {
        let mut req: libc::seccomp_notif = std::mem::zeroed();
        let r = libc::ioctl(
            notify_fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req,
        );
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        assert_eq!(req.data.nr as libc::c_long, libc::SYS_getppid);
        assert_eq!(req.pid as i32, child.as_raw());
        let mut resp: libc::seccomp_notif_resp = std::mem::zeroed();
        resp.id = req.id;
        resp.val = 4242;
        let r = libc::ioctl(
            notify_fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        );
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    }
    assert_eq!(guard.wait(), WaitStatus::Exited(child, 0));
}

/// Kills and reaps a child the test did not get to reap (failed assert), so
/// a child blocked in a notified syscall does not outlive the test.
struct ChildGuard(nix::unistd::Pid);

impl ChildGuard {
    fn wait(&mut self) -> WaitStatus {
        let st = waitpid(self.0, None).expect("waitpid");
        self.0 = nix::unistd::Pid::from_raw(0);
        st
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.0.as_raw() > 0 {
            let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
            let _ = waitpid(self.0, None);
        }
    }
}

#[test]
fn features_lists() {
    assert!(super::enabled());
    assert_eq!(super::supported_actions().len(), 9);
    assert_eq!(super::supported_operators().len(), 7);
    assert!(super::supported_archs().contains(&"SCMP_ARCH_X32"));
    // Kernel 5.19+ knows all four.
    assert_eq!(super::supported_flags(), super::known_flags());
}

// ---- differential test: BPF against a direct reading of the profile ----

/// Every host kist has tables for, native ABI first.
const HOSTS: &[&[Abi]] = &[
    &[Abi::X86_64, Abi::I386, Abi::X32],
    &[Abi::Aarch64, Abi::Arm],
    &[Abi::Arm],
    &[Abi::Riscv64],
    &[Abi::Ppc64le],
    &[Abi::S390x],
];

/// The ABI a syscall with this arch and number arrives through on `host`.
fn abi_of(host: &[Abi], arch: u32, nr: u32) -> Option<Abi> {
    let x32 = arch == abi::AUDIT_ARCH_X86_64 && nr >= abi::X32_SYSCALL_BIT && nr != u32::MAX;
    host.iter()
        .copied()
        .find(|a| a.audit_arch() == arch && (*a == Abi::X32) == x32)
}

/// Run a compiled filter in the interpreter, as the kernel of `host` would.
fn run_on(prog: &[libc::sock_filter], host: &[Abi], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let big_endian = abi_of(host, arch, nr).is_some_and(|a| a.big_endian());
    let d = super::interp::SeccompData::new(arch, nr, args, big_endian);
    super::interp::run(prog, &d).unwrap_or_else(|e| panic!("invalid program: {e}"))
}

/// What the profile means for one syscall on `host`, evaluated straight
/// from the rules (the semantics `codegen` documents), without BPF.
fn reference(p: &super::profile::Profile, host: &[Abi], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    use super::profile::{Action, Op};
    let bad = libc::SECCOMP_RET_KILL_THREAD;
    let native = host[0];
    let listed = |a: Abi| p.listed.contains(&a) || (p.native_listed && a == native);
    let in_filter = |a: Abi| a == native || listed(a);
    let Some(abi) = abi_of(host, arch, nr) else {
        return bad;
    };
    if !in_filter(abi) {
        return bad;
    }
    let default = p.default.ret();
    if nr == u32::MAX {
        return default;
    }
    let names_nr = |r: &super::profile::Rule| -> Vec<u32> {
        r.names.iter().filter_map(|n| abi.lookup(n)).collect()
    };
    // (conditions, action) in profile order.
    let mut applies: Vec<(Vec<super::profile::Cond>, Action)> = Vec::new();
    for r in p.rules.iter().filter(|r| r.action.ret() != default) {
        if names_nr(r).contains(&nr) {
            applies.push((r.conds.clone(), r.action));
        }
        if abi.multiplexed() {
            for n in &r.names {
                let cond = match abi::mux(n) {
                    Some(m @ abi::Mux::Socket(c)) if m.syscall() == nr => (Op::Eq, u64::from(c), 0),
                    Some(m @ abi::Mux::Ipc(c)) if m.syscall() == nr => {
                        (Op::MaskedEq, 0xffff, u64::from(c))
                    }
                    _ => continue,
                };
                let c = super::profile::Cond {
                    index: 0,
                    op: cond.0,
                    value: cond.1,
                    value_two: cond.2,
                };
                let mut conds = vec![c];
                conds.extend(r.conds.iter().filter(|c| c.index != 0));
                applies.push((conds, r.action));
            }
        }
    }
    let direct_unconditional = p
        .rules
        .iter()
        .find(|r| r.action.ret() != default && r.conds.is_empty() && names_nr(r).contains(&nr));
    if let Some(r) = direct_unconditional {
        return r.action.ret();
    }
    for (conds, action) in &applies {
        let holds = conds.iter().all(|c| {
            let (mut a, mut v, mut d) = (args[c.index as usize], c.value, c.value_two);
            if !abi.wide_args() {
                (a, v, d) = (a & 0xffff_ffff, v & 0xffff_ffff, d & 0xffff_ffff);
            }
            match c.op {
                Op::Ne => a != v,
                Op::Lt => a < v,
                Op::Le => a <= v,
                Op::Eq => a == v,
                Op::Ge => a >= v,
                Op::Gt => a > v,
                Op::MaskedEq => a & v == d & v,
            }
        });
        if holds {
            return action.ret();
        }
    }
    let stub = !p.default.is_permissive()
        && p.default != Action::Errno(libc::ENOSYS as u16)
        && listed(abi);
    let max = p.rules.iter().flat_map(names_nr).max();
    if stub && max.is_some_and(|m| nr > m) {
        return Action::Errno(libc::ENOSYS as u16).ret();
    }
    default
}

/// Docker's default profile as moby sends it on each architecture, compiled
/// for that host and run in the interpreter with its byte order.
#[test]
fn per_architecture_docker_default() {
    let moby_profile = moby::fixture("docker-default.json");
    let hosts: [(&str, &str, &[Abi]); 5] = [
        ("arm64", "SCMP_ARCH_AARCH64", HOSTS[1]),
        ("arm", "SCMP_ARCH_ARM", HOSTS[2]),
        ("riscv64", "SCMP_ARCH_RISCV64", HOSTS[3]),
        ("ppc64le", "SCMP_ARCH_PPC64LE", HOSTS[4]),
        ("s390x", "SCMP_ARCH_S390X", HOSTS[5]),
    ];
    let eperm = errno_ret(libc::EPERM);
    for (goarch, scmp, host) in hosts {
        let v = moby::to_oci_for(&moby_profile, DOCKER_DEFAULT_CAPS, (6, 1), goarch, scmp);
        let p = super::profile::from_json(&v).unwrap();
        let prog = super::codegen::generate(&p, host).unwrap();
        println!("{goarch}: {} instructions", prog.len());
        for &abi in host {
            let run = |name: &str, args: [u64; 6]| {
                let nr = abi
                    .lookup(name)
                    .unwrap_or_else(|| panic!("{name} on {abi:?}"));
                run_on(&prog, host, abi.audit_arch(), nr, args)
            };
            for name in ["read", "write", "openat", "execve", "exit_group", "futex"] {
                assert_eq!(run(name, [0; 6]), ALLOW, "{goarch} {abi:?} {name}");
            }
            assert_eq!(run("mount", [0; 6]), eperm, "{goarch} {abi:?}");
            assert_eq!(run("unshare", [0; 6]), eperm, "{goarch} {abi:?}");
            assert_eq!(
                run("clone3", [0; 6]),
                errno_ret(libc::ENOSYS),
                "{goarch} {abi:?}"
            );
            assert_eq!(
                run("socket", [40, 1, 0, 0, 0, 0]),
                eperm,
                "{goarch} {abi:?}"
            );
            assert_eq!(run("socket", [2, 1, 0, 0, 0, 0]), ALLOW, "{goarch} {abi:?}");
            assert_eq!(run("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
            assert_eq!(
                run("personality", [1, 0, 0, 0, 0, 0]),
                eperm,
                "{goarch} {abi:?}"
            );
            // s390x's clone takes the flags second (Docker has a rule for it).
            let newuser = libc::CLONE_NEWUSER as u64;
            let flags = |f: u64| {
                if abi == Abi::S390x {
                    [0, f, 0, 0, 0, 0]
                } else {
                    [f, 0, 0, 0, 0, 0]
                }
            };
            assert_eq!(run("clone", flags(0x0100_0011)), ALLOW, "{goarch} {abi:?}");
            assert_eq!(run("clone", flags(newuser)), eperm, "{goarch} {abi:?}");
            // A number above every syscall: runc's ENOSYS stub, on the
            // ABIs the archMap lists (none for a 32-bit arm host).
            let want = if p.listed.contains(&abi) {
                errno_ret(libc::ENOSYS)
            } else {
                eperm
            };
            assert_eq!(
                run_on(&prog, host, abi.audit_arch(), 0x000f_fff0, [0; 6]),
                want,
                "{goarch} {abi:?}"
            );
        }
        // Any other architecture is killed.
        for other in Abi::ALL
            .into_iter()
            .filter(|a| !host.contains(a) && *a != Abi::X32)
        {
            assert_eq!(
                run_on(&prog, host, other.audit_arch(), 0, [0; 6]),
                libc::SECCOMP_RET_KILL_THREAD,
                "{goarch}: {other:?}"
            );
        }
    }
}

/// The actions generated profiles use (NOTIFY would need a listener).
const FUZZ_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL",
];

#[test]
fn bpf_matches_reference_semantics() {
    const OPS: &[&str] = super::profile::OPERATOR_NAMES;
    const ACTIONS: &[&str] = FUZZ_ACTIONS;
    let all = super::syscalls::SYSCALLS;
    let mut r = Rng(0x1234_5678_9abc_def1);
    let values = [
        0u64,
        1,
        5,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        u64::MAX,
        1 << 63,
    ];
    let (mut checks, mut longest, mut too_big) = (0, 0, 0);
    let mut per_host = [0; HOSTS.len()];
    for round in 0..300 {
        // Some profiles big enough to need long jumps.
        let n_rules = if round % 7 == 0 {
            150 + r.below(150)
        } else {
            r.below(40)
        };
        let mut rules = Vec::new();
        for _ in 0..n_rules {
            let names: Vec<&str> = (0..1 + r.below(3))
                .map(|_| all[r.below(all.len())].0)
                .collect();
            let action = ACTIONS[r.below(ACTIONS.len())];
            let mut rule = json!({"names": names, "action": action});
            if action == "SCMP_ACT_ERRNO" {
                rule["errnoRet"] = json!(r.below(50));
            }
            if r.below(2) == 0 {
                rule["args"] = Value::Array(
                    (0..1 + r.below(3))
                        .map(|_| {
                            json!({"index": r.below(6), "value": values[r.below(values.len())] ^ r.below(3) as u64,
                                   "valueTwo": values[r.below(values.len())] & 0xf, "op": OPS[r.below(OPS.len())]})
                        })
                        .collect(),
                );
            }
            rules.push(rule);
        }
        let host = HOSTS[round % HOSTS.len()];
        let mut arches: Vec<&str> = abi::TABLE_ARCH_NAMES
            .into_iter()
            .filter(|_| r.below(3) == 0)
            .collect();
        if r.below(4) == 0 {
            arches.push("SCMP_ARCH_NATIVE");
        }
        let default = ACTIONS[r.below(ACTIONS.len())];
        let mut v = json!({"defaultAction": default, "architectures": arches, "syscalls": rules});
        if default == "SCMP_ACT_ERRNO" {
            v["defaultErrnoRet"] = json!(r.below(40));
        }
        let p = super::profile::from_json(&v).unwrap();
        let f = match super::codegen::generate(&p, host) {
            Ok(prog) => prog,
            Err(e) => {
                assert!(e.to_string().contains("limit of 4096"), "{e}");
                too_big += 1;
                continue;
            }
        };
        longest = longest.max(f.len());
        per_host[round % HOSTS.len()] += 1;
        for _ in 0..400 {
            let a = if r.below(6) == 0 {
                Abi::ALL[r.below(Abi::ALL.len())]
            } else {
                host[r.below(host.len())]
            };
            let arch = a.audit_arch();
            let nr = match r.below(8) {
                0 => r.below(500) as u32,
                1 if a == Abi::X32 => abi::X32_SYSCALL_BIT | r.below(600) as u32,
                2 => r.next() as u32,
                3 => u32::MAX,
                4 if a.multiplexed() => {
                    if r.below(2) == 0 {
                        abi::I386_SOCKETCALL
                    } else {
                        abi::I386_IPC
                    }
                }
                _ => {
                    let (_, nrs) = all[r.below(all.len())];
                    match abi::nr_on(nrs, a) {
                        Some(n) => n,
                        None => continue,
                    }
                }
            };
            let arch = if r.below(40) == 0 { 0xdead_beef } else { arch };
            let mut args = [0u64; 6];
            for a in &mut args {
                *a = values[r.below(values.len())] ^ r.below(3) as u64;
            }
            if r.below(2) == 0 {
                // A plausible multiplexer call number, sometimes with ipc
                // version bits.
                args[0] = r.below(26) as u64 | if r.below(4) == 0 { 1 << 16 } else { 0 };
            }
            let want = reference(&p, host, arch, nr, args);
            let got = run_on(&f, host, arch, nr, args);
            assert_eq!(
                got, want,
                "round {round} host {host:?}: arch {arch:#x} nr {nr:#x} args {args:x?}\n{v}"
            );
            checks += 1;
        }
    }
    println!("{checks} decisions checked; longest program {longest}, {too_big} over the limit; profiles per host {per_host:?}");
    assert!(per_host.iter().all(|&n| n > 30), "{per_host:?}");
    // Programs long enough that jumps need trampolines were covered.
    assert!(longest > 1000, "longest program {longest}");
}

// ---- differential test: kist's BPF against libseccomp's ----

/// libseccomp's name for each host's native architecture (HOSTS order).
const LIBSECCOMP_NATIVE: [&str; 6] = ["X86_64", "AARCH64", "ARM", "RISCV64", "PPC64LE", "S390X"];

/// Compile `reqs` (host index, profile) with libseccomp through
/// hack/libseccomp-bpf: Ok(program) or Err(libseccomp's refusal).
fn libseccomp_compile(reqs: &[(usize, Value)]) -> Vec<Result<Vec<libc::sock_filter>, String>> {
    use std::io::Write;
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/libseccomp-bpf");
    let mut child = std::process::Command::new(helper)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{helper}: {e}"));
    let mut input = String::new();
    for (h, p) in reqs {
        input += &json!({"arch": LIBSECCOMP_NATIVE[*h], "profile": p}).to_string();
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("helper output");
    writer.join().expect("writer").expect("write to helper");
    assert!(
        out.status.success(),
        "{helper} failed ({}); it needs Debian's python3-seccomp (hack/install-deps)",
        out.status
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let res: Vec<_> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("helper JSON");
            if let Some(e) = v.get("error") {
                return Err(e.as_str().unwrap_or("?").to_string());
            }
            Ok(v["bpf"]
                .as_array()
                .expect("bpf")
                .iter()
                .map(|i| libc::sock_filter {
                    code: i[0].as_u64().unwrap_or(0) as u16,
                    jt: i[1].as_u64().unwrap_or(0) as u8,
                    jf: i[2].as_u64().unwrap_or(0) as u8,
                    k: i[3].as_u64().unwrap_or(0) as u32,
                })
                .collect())
        })
        .collect();
    assert_eq!(res.len(), reqs.len(), "one answer per profile");
    res
}

/// How many distinct actions the rules matching this syscall have (direct
/// and multiplexer forms), as `reference` reads the rules.
fn matching_actions(p: &super::profile::Profile, abi: Abi, nr: u32, args: [u64; 6]) -> usize {
    let mut one = p.clone();
    let mut actions: Vec<u32> = Vec::new();
    for r in &p.rules {
        one.rules = vec![r.clone()];
        // Alone, with a default no rule returns, the rule decides iff it
        // matches.
        one.default = super::profile::Action::Trace(0xfff0);
        one.listed.clear();
        one.native_listed = false;
        let host = [abi];
        let host: &[Abi] = if abi == Abi::X32 {
            &[Abi::X86_64, Abi::X32]
        } else {
            &host
        };
        if abi == Abi::X32 {
            one.listed.push(Abi::X32);
        }
        let got = reference(&one, host, abi.audit_arch(), nr, args);
        if got != one.default.ret() && !actions.contains(&got) {
            actions.push(got);
        }
    }
    actions.len()
}

/// Generated profiles on every architecture, compiled by kist and by
/// libseccomp (as runc drives it), both run in the interpreter on generated
/// `seccomp_data`: every decision must agree except for the documented
/// design differences (docs/architecture.md), which are counted.
#[test]
fn differential_against_libseccomp() {
    const OPS: &[&str] = super::profile::OPERATOR_NAMES;
    const ACTIONS: &[&str] = FUZZ_ACTIONS;
    let values = [
        0u64,
        1,
        2,
        5,
        0x40,
        0xff,
        0x1ff,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        u64::MAX,
        1 << 63,
    ];
    let mut r = Rng(0x005e_ed0f_d1ff);
    // Names libseccomp 2.5.4 knows: nothing numbered past its tables.
    let known = |nrs: &[u32; super::syscalls::ABIS]| {
        nrs.iter().all(|&n| {
            n == super::syscalls::NONE
                || n < 450
                || (0xf0000..0xf0010).contains(&n)
                || n & abi::X32_SYSCALL_BIT != 0 && n & 0xffff < 450
        })
    };
    let mut reqs = Vec::new();
    for round in 0..360 {
        let h = round % HOSTS.len();
        let host = HOSTS[h];
        // Names of this host (plus socket/ipc calls for the multiplexers).
        let names: Vec<&str> = super::syscalls::SYSCALLS
            .iter()
            .filter(|(_, nrs)| known(nrs) && host.iter().any(|&a| abi::nr_on(*nrs, a).is_some()))
            // The helper builds a ppc64 filter from an x86_64 libseccomp,
            // which translates this name to 363 (switch_endian's number);
            // the kernel's and a native libseccomp's is 256.
            .filter(|(n, _)| *n != "sys_debug_setcontext")
            .map(|(n, _)| *n)
            .collect();
        let muxed = [
            "bind", "connect", "socket", "sendto", "recvmsg", "msgrcv", "semop", "shmat",
        ];
        let mut rules = Vec::new();
        for _ in 0..1 + r.below(if round % 9 == 0 { 40 } else { 15 }) {
            let n: Vec<&str> = (0..1 + r.below(3))
                .map(|_| {
                    if r.below(4) == 0 {
                        muxed[r.below(muxed.len())]
                    } else {
                        names[r.below(names.len())]
                    }
                })
                .collect();
            let action = ACTIONS[r.below(ACTIONS.len())];
            let mut rule = json!({"names": n, "action": action});
            if action == "SCMP_ACT_ERRNO" {
                rule["errnoRet"] = json!(1 + r.below(60));
            }
            if r.below(2) == 0 {
                rule["args"] = Value::Array(
                    (0..1 + r.below(3))
                        .map(|_| {
                            json!({"index": r.below(6), "value": values[r.below(values.len())],
                                   "valueTwo": values[r.below(values.len())], "op": OPS[r.below(OPS.len())]})
                        })
                        .collect(),
                );
            }
            rules.push(rule);
        }
        let arches: Vec<&str> = host
            .iter()
            .filter(|_| r.below(2) == 0)
            .map(|a| a.name())
            .collect();
        let default = ACTIONS[r.below(ACTIONS.len())];
        let mut v = json!({"defaultAction": default, "architectures": arches, "syscalls": rules});
        if default == "SCMP_ACT_ERRNO" {
            v["defaultErrnoRet"] = json!(1 + r.below(60));
        }
        reqs.push((h, v));
    }
    // Issue 9's cases first: a datum outside its mask, a conditional
    // socket rule on i386 (socketcall), two conditions on one argument.
    let x86 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"];
    for v in [
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": x86, "syscalls": [
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 255, "valueTwo": 511, "op": "SCMP_CMP_MASKED_EQ"}]}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": x86, "syscalls": [
            {"names": ["bind", "connect"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": x86, "syscalls": [
            {"names": ["chmod", "personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}),
    ] {
        reqs.insert(0, (0, v));
    }
    let lib = libseccomp_compile(&reqs);

    let (mut compared, mut refused, mut probes, mut stub, mut ipc) = (0, 0, 0, 0, 0);
    let (mut merged, mut overlap) = (0, 0);
    // Whether two rules for `nr` compare one 64-bit argument by range.
    let range_merge = |p: &super::profile::Profile, abi: Abi, nr: u32| {
        use super::profile::Op;
        let mut seen = [0; 6];
        for r in p
            .rules
            .iter()
            .filter(|r| r.names.iter().any(|n| abi.lookup(n) == Some(nr)))
        {
            for c in r
                .conds
                .iter()
                .filter(|c| matches!(c.op, Op::Lt | Op::Le | Op::Gt | Op::Ge))
            {
                seen[c.index as usize] += 1;
            }
        }
        abi.wide_args() && seen.iter().any(|&n| n > 1)
    };
    let mut diffs = Vec::new();
    for ((h, v), lib) in reqs.iter().zip(lib) {
        let host = HOSTS[*h];
        let lib = match lib {
            Ok(p) => p,
            Err(_) => {
                // libseccomp refuses it (runc would fail the container).
                refused += 1;
                continue;
            }
        };
        let p = super::profile::from_json(v).unwrap();
        let Ok(ours) = super::codegen::generate(&p, host) else {
            continue;
        };
        compared += 1;
        // Numbers of the names this profile uses, per ABI.
        let used: Vec<(Abi, u32)> = p
            .rules
            .iter()
            .flat_map(|r| r.names.iter())
            .flat_map(|n| {
                host.iter()
                    .filter_map(move |&a| a.lookup(n).map(|nr| (a, nr)))
            })
            .collect();
        let rule_values: Vec<u64> = p
            .rules
            .iter()
            .flat_map(|r| r.conds.iter())
            .flat_map(|c| {
                [
                    c.value,
                    c.value_two,
                    c.value & c.value_two,
                    c.value.wrapping_add(1),
                    c.value.wrapping_sub(1),
                ]
            })
            .collect();
        for _ in 0..500 {
            let mut abi = host[r.below(host.len())];
            let nr = match r.below(10) {
                0..=4 if !used.is_empty() => {
                    let (a, nr) = used[r.below(used.len())];
                    abi = a;
                    nr
                }
                5 if abi.multiplexed() => [abi::I386_SOCKETCALL, abi::I386_IPC][r.below(2)],
                6 => u32::MAX,
                7 if abi == Abi::X32 => abi::X32_SYSCALL_BIT | r.below(500) as u32,
                _ => r.below(500) as u32,
            };
            let abi = if abi == Abi::X32 && nr & abi::X32_SYSCALL_BIT == 0 {
                Abi::X86_64
            } else {
                abi
            };
            let arch = if r.below(50) == 0 {
                0xdead_beef
            } else {
                abi.audit_arch()
            };
            let mut args = [0u64; 6];
            for a in &mut args {
                *a = if !rule_values.is_empty() && r.below(2) == 0 {
                    rule_values[r.below(rule_values.len())]
                } else {
                    values[r.below(values.len())]
                };
            }
            if abi.multiplexed() && r.below(2) == 0 {
                args[0] = r.below(26) as u64 | if r.below(6) == 0 { 1 << 16 } else { 0 };
            }
            probes += 1;
            let got = run_on(&ours, host, arch, nr, args);
            let want = run_on(&lib, host, arch, nr, args);
            if got == want {
                continue;
            }
            // runc's ENOSYS stub: ours answers ENOSYS where libseccomp alone
            // has the default action.
            let enosys = errno_ret(libc::ENOSYS);
            if got == enosys
                && want == p.default.ret()
                && reference(&p, host, arch, nr, args) == enosys
            {
                stub += 1;
                continue;
            }
            // ipc(2) version bits: we compare the low 16 bits of the call.
            if abi.multiplexed() && nr == abi::I386_IPC && args[0] >> 16 != 0 {
                ipc += 1;
                continue;
            }
            // Conditional rules with different actions that all match: we
            // take the first in profile order, libseccomp's tree the one
            // its argument order reaches first.
            if matching_actions(&p, abi, nr, args) > 1 {
                overlap += 1;
                continue;
            }
            // libseccomp 2.5 merges two range comparisons (LT/LE/GT/GE) of
            // one 64-bit argument into a tree that compares the low word
            // with the second rule's high word; we follow the rules.
            if got == reference(&p, host, arch, nr, args) && range_merge(&p, abi, nr) {
                merged += 1;
                continue;
            }
            diffs.push(format!(
                "{host:?} arch {arch:#x} nr {nr} args {args:x?}: kist {got:#x}, libseccomp {want:#x}\n  {v}"
            ));
        }
    }
    println!(
        "differential: {} profiles generated, {refused} refused by libseccomp, {compared} compared, \
         {probes} probes; documented differences: {stub} ENOSYS stub, {ipc} ipc version bits, \
         {merged} libseccomp range-merge bug, {overlap} overlapping rules with different actions; \
         {} other differences",
        reqs.len(),
        diffs.len()
    );
    for d in diffs.iter().take(5) {
        println!("{d}");
    }
    assert!(compared > 200, "only {compared} profiles compared");
    assert!(
        diffs.is_empty(),
        "{} decisions differ from libseccomp",
        diffs.len()
    );
}
