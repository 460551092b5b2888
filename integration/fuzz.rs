//! Mutation fuzzing of config.json through `kist create`: the config parser,
//! the validation steps and everything `create` applies (mounts, cgroups,
//! seccomp compilation, namespaces) must turn any input into a clean
//! success or a clean error, never a panic, and must leave nothing behind on
//! failure.
//!
//! Deterministic: a fixed-seed PRNG generates the inputs, so a failure
//! reproduces with the same seed. `KIST_FUZZ_SEED` and `KIST_FUZZ_ITERS`
//! override the defaults for longer local runs. Every input that crashed the
//! runtime is written to `integration/fixtures/fuzz/` and replayed by
//! `fuzz_regressions` from then on.
//!
//! The mutations are kept from harming the machine: hooks are dropped (they
//! would run host programs), root.path and cgroupsPath are pinned, and bind
//! mount sources are confined to a scratch directory of the test.

use crate::common::{Bundle, Kist, Output};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const STRINGS: &[&str] = &[
    "",
    ".",
    "..",
    "/",
    "../../../..",
    "/../../../tmp",
    "/proc/self/fd/3",
    "/proc/1/root",
    "\u{0}",
    "a\u{0}b",
    "é∂😀",
    "\n",
    "-1",
    "0",
    "4294967296",
    "rbind",
    "bind",
    "ro",
    "tmpfs",
    "proc",
    "sysfs",
    "devpts",
    "cgroup",
    "overlay",
    "user",
    "pid",
    "network",
    "mount",
    "cgroup",
    "time",
    "CAP_SYS_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_BOGUS",
    "SCMP_ACT_KILL",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_NOTIFY",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_BOGUS",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_BOGUS",
    "read",
    "not_a_syscall",
    "RLIMIT_NOFILE",
    "RLIMIT_BOGUS",
    "rwm",
    "c",
    "b",
    "p",
    "u",
    "x",
    "private",
    "rshared",
    "nosuid,nodev",
    "mode=0777",
    "size=1k",
    "uid=0",
    "%s%n%x",
    "${PATH}",
    "kernel.domainname",
    "net.ipv4.ip_forward",
    "vm.swappiness",
];

const KEYS: &[&str] = &[
    "ociVersion",
    "process",
    "root",
    "hostname",
    "domainname",
    "mounts",
    "linux",
    "annotations",
    "args",
    "env",
    "cwd",
    "user",
    "uid",
    "gid",
    "umask",
    "additionalGids",
    "capabilities",
    "rlimits",
    "noNewPrivileges",
    "oomScoreAdj",
    "terminal",
    "consoleSize",
    "namespaces",
    "uidMappings",
    "gidMappings",
    "devices",
    "resources",
    "sysctl",
    "seccomp",
    "maskedPaths",
    "readonlyPaths",
    "rootfsPropagation",
    "personality",
    "timeOffsets",
    "memory",
    "cpu",
    "pids",
    "blockIO",
    "hugepageLimits",
    "network",
    "unified",
    "limit",
    "shares",
    "quota",
    "period",
    "cpus",
    "mems",
    "rdma",
    "containerID",
    "hostID",
    "size",
    "path",
    "type",
    "destination",
    "source",
    "options",
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "flags",
    "syscalls",
    "names",
    "action",
    "errnoRet",
    "args",
    "index",
    "value",
    "valueTwo",
    "op",
    "listenerPath",
    "major",
    "minor",
    "fileMode",
    "allow",
    "access",
];

fn random_number(r: &mut Rng) -> Value {
    match r.below(14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(255),
        4 => json!(65536),
        5 => json!(2147483647),
        6 => json!(2147483648u64),
        7 => json!(4294967295u64),
        8 => json!(4294967296u64),
        9 => json!(i64::MAX),
        10 => json!(i64::MIN),
        11 => json!(u64::MAX),
        12 => json!(1.5),
        _ => json!(1e308),
    }
}

fn random_string(r: &mut Rng) -> String {
    match r.below(6) {
        0 => "a".repeat(1 + r.below(5000)),
        1 => format!("/{}", r.pick(STRINGS)),
        2 => format!("{}/{}", r.pick(STRINGS), r.pick(STRINGS)),
        _ => r.pick(STRINGS).to_string(),
    }
}

fn random_value(r: &mut Rng, depth: usize) -> Value {
    match r.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(r.below(2) == 0),
        2 => random_number(r),
        3 | 4 => json!(random_string(r)),
        5 => Value::Array(
            (0..r.below(4))
                .map(|_| random_value(r, depth + 1))
                .collect(),
        ),
        6 => {
            let mut m = Map::new();
            for _ in 0..r.below(4) {
                m.insert(r.pick(KEYS).to_string(), random_value(r, depth + 1));
            }
            Value::Object(m)
        }
        _ => {
            // Deep nesting.
            let mut v = json!([]);
            for _ in 0..r.below(200) {
                v = json!([v]);
            }
            v
        }
    }
}

/// Paths (as key/index lists) of every node in `v`.
fn nodes(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(Step::Key(k.clone()));
                nodes(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                nodes(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in path {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

fn mutate(r: &mut Rng, doc: &mut Value) {
    let mut all = Vec::new();
    nodes(doc, &mut Vec::new(), &mut all);
    let path = r.pick(&all).clone();
    match r.below(6) {
        // Replace the node.
        0 | 1 => {
            if let Some(n) = at(doc, &path) {
                *n = random_value(r, path.len());
            }
        }
        // Remove it from its parent.
        2 => {
            if let Some((last, parent)) = path.split_last() {
                match (at(doc, parent), last) {
                    (Some(Value::Object(m)), Step::Key(k)) => {
                        m.remove(k);
                    }
                    (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        // Add a child.
        3 => {
            let key = r.pick(KEYS).to_string();
            let val = random_value(r, path.len() + 1);
            match at(doc, &path) {
                Some(Value::Object(m)) => {
                    m.insert(key, val);
                }
                Some(Value::Array(a)) => {
                    let dup = a.first().cloned();
                    a.push(match dup {
                        Some(d) if r.below(2) == 0 => d,
                        _ => val,
                    });
                }
                _ => {}
            }
        }
        // Tweak a string or a number in place.
        _ => {
            let s = random_string(r);
            let n = random_number(r);
            if let Some(node) = at(doc, &path) {
                match node {
                    Value::String(old) => {
                        if r.below(2) == 0 {
                            old.push_str(&s);
                        } else {
                            *old = s;
                        }
                    }
                    Value::Number(_) => *node = n,
                    _ => {}
                }
            }
        }
    }
}

/// Keeps a mutated config from reaching outside the test (see the module
/// doc).
fn defuse(doc: &mut Value, scratch: &Path) {
    let Some(m) = doc.as_object_mut() else {
        return;
    };
    m.remove("hooks");
    if m.contains_key("root") {
        m.insert("root".into(), json!({"path": "rootfs", "readonly": false}));
    }
    if let Some(l) = m.get_mut("linux").and_then(|l| l.as_object_mut()) {
        l.remove("cgroupsPath");
    }
    if let Some(mounts) = m.get_mut("mounts").and_then(|v| v.as_array_mut()) {
        for mt in mounts.iter_mut() {
            if let Some(src) = mt.get_mut("source") {
                let risky = match src.as_str() {
                    Some(s) => s.starts_with('/') || s.contains(".."),
                    None => false,
                };
                if risky {
                    *src = json!(scratch);
                }
            }
        }
    }
}

/// The config mutations start from: the harness default plus the parts it
/// lacks (seccomp, devices, user-facing odds and ends).
fn base(b: &Bundle) -> Value {
    let mut c = b.config.clone();
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["mkdirat", "getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    });
    c["linux"]["devices"] = json!([{"path": "/dev/fuzz0", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
    c["linux"]["sysctl"] = json!({"kernel.domainname": "fuzz"});
    c["process"]["user"]["additionalGids"] = json!([1, 2]);
    c["process"]["oomScoreAdj"] = json!(10);
    c["annotations"] = json!({"a": "b"});
    c
}

fn crashed(o: &Output) -> bool {
    o.code == 101 || o.code >= 128 || o.stderr.contains("panicked at")
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/fixtures/fuzz")
}

/// Feeds `bytes` as config.json to `create`; returns a description of what
/// went wrong, if anything did.
fn try_config(
    k: &Kist,
    bundle: &Path,
    bytes: &[u8],
    tag: &str,
    stats: &mut Vec<String>,
) -> Option<String> {
    std::fs::write(bundle.join("config.json"), bytes).expect("write config.json");
    let id = k.id(tag);
    let bdir = bundle.to_string_lossy().into_owned();
    let o = k.cmd(&["create", "--bundle", &bdir, &id]);
    stats.push(if o.success() {
        "created".to_string()
    } else {
        // Which step refused the input: the error's field, without the
        // config's path and the value.
        let cfg = bundle.join("config.json").to_string_lossy().into_owned();
        let e = o.stderr.replace(&cfg, "config.json");
        e.split(':')
            .take(3)
            .collect::<Vec<_>>()
            .join(":")
            .chars()
            .take(60)
            .collect()
    });
    if crashed(&o) {
        let _ = k.cmd(&["delete", "--force", &id]);
        return Some(format!("runtime crashed:\n{}", o.describe()));
    }
    if o.success() {
        let pid = serde_json::from_str::<Value>(&k.state(&id).stdout)
            .ok()
            .and_then(|v| v["pid"].as_i64())
            .unwrap_or(0) as i32;
        let d = k.cmd(&["delete", "--force", &id]);
        // The init was reparented to the test (a subreaper).
        crate::common::reap_pid(pid);
        if !d.success() || crashed(&d) {
            return Some(format!(
                "delete after a successful create failed:\n{}",
                d.describe()
            ));
        }
    } else if o.stderr.trim().is_empty() {
        return Some(format!("failure without a message:\n{}", o.describe()));
    }
    let left = leftovers(k, &id);
    if !left.is_empty() {
        return Some(format!(
            "left behind ({}):\n{}\n{}",
            if o.success() {
                "after delete"
            } else {
                "failed create"
            },
            left.join("\n"),
            o.describe()
        ));
    }
    None
}

/// What `create` (failed, or undone by `delete`) may not leave: the state
/// dir, a cgroup, a mount under the test's directory, a process.
fn leftovers(k: &Kist, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    if k.root.join(id).exists() {
        out.push(format!("state dir {}", k.root.join(id).display()));
    }
    let mut stack = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name().to_string_lossy().contains(id) {
                    out.push(format!("cgroup {}", e.path().display()));
                }
                if depth < 6 {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    let dir = k.dir.to_string_lossy().into_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in mi.lines() {
        if l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)) {
            out.push(format!("mount {l}"));
        }
    }
    let needle = format!("KIST_TEST_MARK={}", k.mark);
    let marked = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter(|e| {
                std::fs::read(e.path().join("environ"))
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .any(|kv| kv == needle.as_bytes())
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    // Killed processes take a moment to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut procs = marked();
    while !procs.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        procs = marked();
    }
    if !procs.is_empty() {
        out.push(format!("processes {procs:?}"));
    }
    out
}

fn save_fixture(bytes: &[u8], why: &str) -> PathBuf {
    let dir = fixtures_dir();
    let _ = std::fs::create_dir_all(&dir);
    // FNV-1a: a stable name, so the same input is saved once.
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let p = dir.join(format!("crash-{h:016x}.json"));
    let _ = std::fs::write(&p, bytes);
    let _ = std::fs::write(p.with_extension("txt"), why);
    p
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fuzz_create_with_mutated_configs() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let scratch = k.path("bind-src");
    std::fs::create_dir_all(&scratch).unwrap();
    let seed = env_u64("KIST_FUZZ_SEED", 0x6b69_7374);
    let iters = env_u64("KIST_FUZZ_ITERS", 200);
    let mut r = Rng::new(seed);
    let base = base(&b);
    let mut problems = Vec::new();
    let mut stats = Vec::new();
    for i in 0..iters {
        let mut doc = base.clone();
        for _ in 0..1 + r.below(4) {
            mutate(&mut r, &mut doc);
        }
        defuse(&mut doc, &scratch);
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        // Now and then break the JSON itself.
        if r.below(10) == 0 && !bytes.is_empty() {
            match r.below(3) {
                0 => bytes.truncate(r.below(bytes.len())),
                1 => {
                    let at = r.below(bytes.len());
                    bytes[at] = r.next() as u8;
                }
                _ => bytes.insert(r.below(bytes.len()), b'\xff'),
            }
        }
        if let Some(why) = try_config(&k, &b.dir, &bytes, "fuzz", &mut stats) {
            let saved = save_fixture(&bytes, &why);
            problems.push(format!(
                "iteration {i} (seed {seed:#x}), input saved to {}:\n{why}",
                saved.display()
            ));
        }
    }
    // Shown with --nocapture: how far the inputs got.
    let mut counts = std::collections::BTreeMap::new();
    for s in stats {
        *counts.entry(s).or_insert(0) += 1;
    }
    eprintln!("fuzz outcomes (seed {seed:#x}, {iters} inputs): {counts:#?}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn fuzz_regressions() {
    let Ok(rd) = std::fs::read_dir(fixtures_dir()) else {
        return;
    };
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        if let Some(why) = try_config(&k, &b.dir, &bytes, "fuzzreg", &mut Vec::new()) {
            problems.push(format!("{}:\n{why}", f.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
