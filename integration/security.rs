//! Reproductions of container-runtime CVEs, black-box: each test mounts the
//! attack against the runtime under test and checks that it fails (the
//! runtime refuses the config cleanly, or the attack has no effect on the
//! host). Tests run against runc too (`KIST_BIN=$(which runc)`), which is
//! how the attacks themselves are validated.
//!
//! Attacks that could harm the machine if the runtime were vulnerable are
//! written so that the damage stays in the test's directory (a copy of the
//! runtime binary, victim files created by the test) or is only observed,
//! never carried out (a writable host procfs file is read, not written).

use crate::common::{self, clean_failure, cmd, unique, Bundle, Kist, Output};
use serde_json::json;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every capability the test machine grants (it has all but
/// CAP_SYS_RESOURCE): a "privileged" container in the host user namespace.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
];

/// Walks up from the cwd as far as `..` goes and compares where it ends with
/// the process's root: a cwd inside the root can never climb above it, one
/// outside the root (a leaked host directory) climbs to the host's `/`.
const CWD_CHECK: &str = "cd ../../../../../../../../../../../../..; \
     here=$(stat -c %d:%i .); root=$(stat -c %d:%i /); \
     if [ \"$here\" = \"$root\" ]; then echo CWD-INSIDE; else echo CWD-ESCAPED; ls; fi";

fn privileged(b: &mut Bundle) {
    b.set_caps(ALL_CAPS);
    b.config["process"]["noNewPrivileges"] = json!(false);
}

/// The cwd escaped the container if `o` ran and said so.
#[track_caller]
fn assert_cwd_not_escaped(o: &Output, what: &str) {
    if o.success() {
        assert!(
            o.stdout.contains("CWD-INSIDE") && !o.stdout.contains("CWD-ESCAPED"),
            "{what}: the process's cwd is outside the container:\n{}",
            o.describe()
        );
    } else {
        clean_failure(o);
        assert!(
            !o.stdout.contains("CWD-ESCAPED"),
            "{what}: escaped:\n{}",
            o.describe()
        );
    }
}

/// Is `p` a mount point in the host's mount namespace?
fn host_mounted(p: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = p.to_string_lossy();
    mi.lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

/// A host file the attack aims at; the test checks it afterwards.
struct Victim {
    path: PathBuf,
    content: &'static str,
}

impl Victim {
    fn new(k: &Kist, name: &str) -> Victim {
        let path = k.path(name);
        let content = "host victim, must not change\n";
        std::fs::write(&path, content).unwrap();
        Victim { path, content }
    }

    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        assert!(
            !host_mounted(&self.path),
            "{what}: something was mounted over host file {}",
            self.path.display()
        );
        let now = std::fs::read_to_string(&self.path).unwrap_or_else(|e| format!("<{e}>"));
        assert_eq!(
            now,
            self.content,
            "{what}: host file {} changed",
            self.path.display()
        );
        let md = std::fs::symlink_metadata(&self.path).unwrap();
        assert!(md.is_file(), "{what}: host file replaced: {md:?}");
    }
}

/// The default config without its /dev tmpfs, so the image's own /dev (and
/// whatever it planted there) is what the runtime works on.
fn use_image_dev(b: &mut Bundle) {
    if let Some(m) = b.config["mounts"].as_array_mut() {
        m.retain(|m| m["destination"] != "/dev");
    }
    std::fs::create_dir_all(b.rootfs().join("dev/pts")).unwrap();
    std::fs::create_dir_all(b.rootfs().join("dev/shm")).unwrap();
    std::fs::create_dir_all(b.rootfs().join("dev/mqueue")).unwrap();
}

fn wait_for_log(path: &Path, any_of: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if any_of.iter().any(|n| s.contains(n)) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- CVE-2024-21626 / CVE-2016-9962: leaked fds, cwd outside the root ----

#[test]
fn cve_2024_21626_cwd_through_leaked_fd_run() {
    // runc leaked a host directory fd into its init; process.cwd
    // /proc/self/fd/N then made the container start with a host cwd.
    let k = Kist::new();
    let mut b = k.bundle_sh(CWD_CHECK);
    for n in 3..=15 {
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let id = k.id("cwdfd");
        let o = k.run(&b, &id);
        assert_cwd_not_escaped(&o, &format!("process.cwd /proc/self/fd/{n}"));
    }
}

#[test]
fn cve_2024_21626_cwd_through_leaked_fd_exec() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("cwdfdx");
    k.run_with(&b, &id, &["-d"]).ok();
    for n in 3..=15 {
        let cwd = format!("/proc/self/fd/{n}");
        let o = k.cmd(&["exec", "--cwd", &cwd, &id, "sh", "-c", CWD_CHECK]);
        assert_cwd_not_escaped(&o, &format!("exec --cwd {cwd}"));
    }
}

#[test]
fn cve_2024_21626_cwd_through_host_proc_root() {
    // Without a pid namespace the container's /proc shows host processes;
    // /proc/<host pid>/root is the host's root. A privileged process may
    // chdir through it, so the runtime must verify where the cwd ended up.
    let k = Kist::new();
    let mut b = k.bundle_sh(CWD_CHECK);
    b.remove_namespace("pid");
    privileged(&mut b);
    let me = std::process::id();
    for cwd in [
        format!("/proc/{me}/root"),
        format!("/proc/{me}/root/tmp"),
        format!("/proc/{me}/cwd"),
    ] {
        b.config["process"]["cwd"] = json!(cwd);
        let id = k.id("cwdproc");
        let o = k.run(&b, &id);
        assert_cwd_not_escaped(&o, &format!("process.cwd {cwd}"));
    }
}

#[test]
fn cve_2024_21626_exec_cwd_through_host_proc_root() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.remove_namespace("pid");
    privileged(&mut b);
    let id = k.id("cwdprocx");
    k.run_with(&b, &id, &["-d"]).ok();
    let cwd = format!("/proc/{}/root", std::process::id());
    let o = k.cmd(&["exec", "--cwd", &cwd, &id, "sh", "-c", CWD_CHECK]);
    assert_cwd_not_escaped(&o, &format!("exec --cwd {cwd}"));
}

#[test]
fn cwd_symlink_to_dotdot_stays_inside() {
    let k = Kist::new();
    let mut b = k.bundle_sh(&format!("pwd; {CWD_CHECK}"));
    symlink("../../../../../../..", b.rootfs().join("up")).unwrap();
    symlink("/../../..", b.rootfs().join("abs-up")).unwrap();
    for cwd in ["/up", "/abs-up", "/up/tmp", "/../../../tmp"] {
        b.config["process"]["cwd"] = json!(cwd);
        let id = k.id("cwdup");
        let o = k.run(&b, &id);
        assert_cwd_not_escaped(&o, &format!("process.cwd {cwd}"));
    }
}

#[test]
fn only_stdio_fds_reach_exec_process() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("fdx");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k
        .cmd(&["exec", &id, "sh", "-c", "ls /proc/$$/fd; true"])
        .ok();
    assert_eq!(o.stdout, "0\n1\n2\n", "{}", o.describe());
}

/// Runs `script` with `kist exec` in container `id` and returns its stdout.
fn exec_sh(k: &Kist, id: &str, script: &str) -> String {
    k.cmd(&["exec", id, "sh", "-c", script]).ok().stdout
}

/// `exec -d` with `bin`; returns the host pid of the exec'd process. Its
/// parent, the runtime, exits: the process is reparented to the test (a
/// subreaper) and must be reaped by it, or the container's pid namespace
/// can never finish dying. See `stop`.
fn exec_detached(k: &Kist, bin: &Path, flags: &[&str], id: &str, args: &[&str]) -> i32 {
    let pid_file = k.path("exec.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    let mut a = vec!["exec", "-d", "--pid-file", &pf];
    a.extend_from_slice(flags);
    a.push(id);
    a.extend_from_slice(args);
    cmd_with(k, bin, &a).ok();
    common::read(&pid_file).trim().parse().unwrap()
}

/// Kills the container and reaps the processes `exec_detached` started.
fn stop(k: &Kist, id: &str, pids: &[i32]) {
    let _ = k.kill(id, "KILL");
    for p in pids {
        common::reap_pid(*p);
    }
}

/// For each /proc path, "<path>: ok" or "<path>: denied".
const PROBE_INIT: &str = "for f in exe cwd root; do readlink /proc/1/$f >/dev/null 2>&1 \
     && echo $f:ok || echo $f:denied; done; \
     head -c1 /proc/1/environ >/dev/null 2>&1 && echo environ:ok || echo environ:denied; \
     ( exec 4</proc/1/mem ) 2>/dev/null && echo mem:ok || echo mem:denied; \
     readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd:ok || echo fd:denied";

#[test]
fn kist_only_created_init_is_not_dumpable() {
    // The init of a `created` container runs runtime code (waiting for
    // `start`) with the container's credentials already applied: a process
    // of the container with the very same credentials must still not reach
    // it through /proc (exe is the runtime binary; mem is what ptrace
    // attach needs: same access check).
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("dump");
    k.create(&b, &id).ok();
    let out = exec_sh(&k, &id, PROBE_INIT);
    for f in ["exe", "cwd", "root", "environ", "mem", "fd"] {
        assert!(
            out.contains(&format!("{f}:denied")),
            "/proc/<created init>/{f} reachable from the container:\n{out}"
        );
    }
    // Control: once the user program runs, the same probe reaches it.
    k.start(&id).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = exec_sh(&k, &id, PROBE_INIT);
        if out.contains("exe:ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "probe never reached the started init: {out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `spy` (a shell script that records what it sees in /seen until
/// /stop exists) in running container `id` of bundle `b` while `n` plain
/// execs run into it; returns what it recorded.
fn spy_on_execs(k: &Kist, b: &Bundle, id: &str, spy: &str, n: usize) -> String {
    let spy_pid = exec_detached(k, &common::bin(), &[], id, &["sh", "-c", spy]);
    for _ in 0..n {
        k.cmd(&["exec", id, "true"]).ok();
    }
    std::fs::write(b.rootfs().join("stop"), "").unwrap();
    stop(k, id, &[spy_pid]);
    std::fs::read_to_string(b.rootfs().join("seen")).unwrap_or_default()
}

#[test]
fn exec_child_is_not_dumpable_while_it_runs_runtime_code() {
    // A process in the container scans /proc for new processes and records
    // every exe it can read that is not the image's busybox: the `kist exec`
    // child between clone and exec must never show up.
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("dumpx");
    k.run_with(&b, &id, &["-d"]).ok();
    let spy = "while [ ! -e /stop ]; do for p in /proc/[0-9]*; do \
               e=$(readlink $p/exe 2>/dev/null) || continue; \
               case \"$e\" in /bin/busybox) ;; *) echo \"$p $e\" >> /seen;; esac; \
               done; done";
    let seen = spy_on_execs(&k, &b, &id, spy, 30);
    assert!(
        seen.is_empty(),
        "a container process could read the exe of a runtime process:\n{seen}"
    );
}

#[test]
fn exec_child_never_shows_the_host_root() {
    // The `kist exec` child is visible in the container's pid namespace
    // from its clone on. Until it has joined the container's mount
    // namespace, its /proc/<pid>/root is the host's root: a container
    // process with CAP_SYS_PTRACE (no user namespace) may read host files
    // through it, or ptrace the child, which still has every capability.
    let k = Kist::new();
    let marker = k.path("host-secret");
    std::fs::write(&marker, "HOST-SECRET\n").unwrap();
    let mut b = k.bundle(&["sleep", "100"]);
    privileged(&mut b);
    let id = k.id("hostroot");
    k.run_with(&b, &id, &["-d"]).ok();
    let hunter = format!(
        r#"known=" $$ 1 "
while [ ! -e /stop ]; do
  for p in /proc/[0-9]*; do
    p=${{p#/proc/}}
    case "$known" in *" $p "*) continue;; esac
    if read -r l < "/proc/$p/root{m}" 2>/dev/null; then echo "$p $l" >> /seen; fi
    if read -r l < "/proc/$p/cwd/../../../../../../../../..{m}" 2>/dev/null; then echo "cwd $p $l" >> /seen; fi
  done
done"#,
        m = marker.display()
    );
    let spy = exec_detached(&k, &common::bin(), &[], &id, &["sh", "-c", &hunter]);
    for _ in 0..40 {
        k.cmd(&["exec", &id, "true"]).ok();
    }
    std::fs::write(b.rootfs().join("stop"), "").unwrap();
    stop(&k, &id, &[spy]);
    let seen = std::fs::read_to_string(b.rootfs().join("seen")).unwrap_or_default();
    assert!(
        !seen.contains("HOST-SECRET"),
        "a container process read a host file through a runtime process:\n{seen}"
    );
}

#[test]
fn exec_child_never_shows_the_host_mounts_or_network() {
    // Not every /proc/<pid> file needs ptrace access: mountinfo and net/*
    // are readable by any process that sees the pid, non-dumpable or not.
    // A `kist exec` child visible in the container's pid namespace while
    // still in the host's mount or network namespace would show the host's
    // mount table and interfaces to an unprivileged container (this one has
    // the default capabilities and one clone per exec). The spy compares
    // every new process's first mountinfo line and its interface count
    // with its own, with shell builtins only (no fork between looks).
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("hostns");
    k.run_with(&b, &id, &["-d"]).ok();
    let spy = r#"read -r mine < /proc/self/mountinfo
count() { n=0; while read -r l; do n=$((n+1)); done < "$1"; echo $n; }
ifs=$(count /proc/self/net/dev)
while [ ! -e /stop ]; do
  for p in /proc/[0-9]*; do
    read -r l < "$p/mountinfo" 2>/dev/null || continue
    [ "$l" = "$mine" ] || echo "$p mountinfo: $l" >> /seen
    n=0
    while read -r x; do n=$((n+1)); done < "$p/net/dev" 2>/dev/null
    [ "$n" -le "$ifs" ] || echo "$p net/dev: $n interfaces" >> /seen
  done
done"#;
    let seen = spy_on_execs(&k, &b, &id, spy, 40);
    assert!(
        seen.is_empty(),
        "a container process saw the host's mounts or network through a runtime process:\n{seen}"
    );
}

#[test]
fn init_in_a_joined_pid_namespace_never_shows_the_host_root() {
    // A container that joins the pid namespace of another (pods) must not
    // show up there while its root is still the host's (before
    // pivot_root): a process of the other container with CAP_SYS_PTRACE and
    // no user namespace would read (and write) host files through
    // /proc/<init>/root. kist joins that pid namespace only after
    // pivot_root (runc 1.1 joins it first and is exposed).
    let k = Kist::new();
    let marker = k.path("host-secret");
    std::fs::write(&marker, "HOST-SECRET\n").unwrap();
    let mut a = k.bundle(&["sleep", "100"]);
    privileged(&mut a);
    let ida = k.id("pod");
    k.run_with(&a, &ida, &["-d"]).ok();
    let hunter = format!(
        r#"known=" $$ 1 "
while [ ! -e /stop ]; do
  for p in /proc/[0-9]*; do
    p=${{p#/proc/}}
    case "$known" in *" $p "*) continue;; esac
    if read -r l < "/proc/$p/root{m}" 2>/dev/null; then echo "$p $l" >> /seen; fi
  done
done"#,
        m = marker.display()
    );
    let spy = exec_detached(&k, &common::bin(), &[], &ida, &["sh", "-c", &hunter]);
    let mut b = k.bundle(&["true"]);
    b.set_namespace(json!({"type": "pid", "path": format!("/proc/{}/ns/pid", k.pid(&ida))}));
    for _ in 0..15 {
        let id = k.id("sidecar");
        let o = k.create(&b, &id);
        if o.success() {
            // Our child now (a subreaper): reap it, or the pod's init could
            // not finish dying later.
            let pid = k.pid(&id);
            k.delete_force(&id).ok();
            common::reap_pid(pid);
        } else {
            clean_failure(&o);
        }
    }
    std::fs::write(a.rootfs().join("stop"), "").unwrap();
    stop(&k, &ida, &[spy]);
    let seen = std::fs::read_to_string(a.rootfs().join("seen")).unwrap_or_default();
    assert!(
        !seen.contains("HOST-SECRET"),
        "a container process read a host file through another container's init:\n{seen}"
    );
}

// ---- CVE-2019-5736: overwriting the runtime binary through /proc/PID/exe ----

/// A private copy of the runtime binary in its own directory: the attack
/// tests run it so that a successful attack cannot corrupt the real one.
fn runtime_copy(k: &Kist) -> (PathBuf, Vec<u8>) {
    let dir = k.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = common::bin();
    let name = bin.file_name().unwrap().to_owned();
    let copy = dir.join(name);
    std::fs::copy(&bin, &copy).unwrap();
    let orig = std::fs::read(&copy).unwrap();
    (copy, orig)
}

/// Runs `bin` (not the harness's binary) with `--root` and `args`.
fn cmd_with(k: &Kist, bin: &Path, args: &[&str]) -> Output {
    let mut argv: Vec<std::ffi::OsString> = vec!["--root".into(), k.root.clone().into()];
    argv.extend(args.iter().map(std::ffi::OsString::from));
    cmd::run(bin, &argv, &k.path("cmd"), &k.mark, cmd::Opts::default())
}

/// Holds the exe of `$1` open read-only (allowed), then tries to reopen it
/// for writing through /proc/self/fd until the runtime stops running
/// (ETXTBSY ends): prints WROTE or DENIED <error> to /log.
const HOLD_AND_WRITE: &str = r#"
exec 3<"/proc/$1/exe" || { echo OPENFAIL >> /log; exit 0; }
echo "OPENED $1 $(readlink /proc/self/fd/3)" >> /log
i=0
while [ $i -lt 3000 ]; do
  if ( printf EVIL 1<>/proc/self/fd/3 ) 2>/err; then echo WROTE >> /log; exit 0; fi
  if ! grep -qi busy /err; then echo "DENIED $(cat /err)" >> /log; exit 0; fi
  usleep 5000; i=$((i+1))
done
echo GAVEUP >> /log
"#;

#[track_caller]
fn assert_binary_intact(copy: &Path, orig: &[u8], log: &str) {
    let now = std::fs::read(copy).unwrap();
    assert!(
        now == orig,
        "the runtime binary {} was modified from inside the container (CVE-2019-5736); attacker log:\n{log}",
        copy.display()
    );
    assert!(!log.contains("WROTE"), "attacker wrote: {log}");
}

#[test]
fn cve_2019_5736_created_init_exe_not_writable() {
    // Deterministic variant: the init of a created container runs the
    // runtime binary until `start`. A privileged process exec'd into the
    // container (CAP_SYS_PTRACE in the host user namespace defeats
    // non-dumpable) opens /proc/1/exe read-only, waits for the runtime to
    // stop executing it, then reopens it for writing.
    let k = Kist::new();
    let (kist, orig) = runtime_copy(&k);
    let mut b = k.bundle(&["sleep", "100"]);
    privileged(&mut b);
    b.write_file("/attack.sh", HOLD_AND_WRITE);
    b.save();
    let id = k.id("5736c");
    k.track(&id);
    let bdir = b.dir.to_string_lossy().into_owned();
    cmd_with(&k, &kist, &["create", "--bundle", &bdir, &id]).ok();
    let attacker = exec_detached(&k, &kist, &[], &id, &["sh", "/attack.sh", "1"]);
    let log_path = b.rootfs().join("log");
    let log = wait_for_log(&log_path, &["OPENED", "OPENFAIL"], Duration::from_secs(10));
    cmd_with(&k, &kist, &["start", &id]).ok();
    let log = if log.contains("OPENED") {
        wait_for_log(
            &log_path,
            &["WROTE", "DENIED", "GAVEUP"],
            Duration::from_secs(20),
        )
    } else {
        log
    };
    stop(&k, &id, &[attacker]);
    eprintln!("attacker log: {log}");
    assert_binary_intact(&kist, &orig, &log);
    // The attack itself must have been possible up to the write, or the
    // test proves nothing.
    assert!(
        log.contains("OPENED"),
        "attacker could not open /proc/1/exe: {log}"
    );
    assert!(
        !log.contains("GAVEUP"),
        "the binary stayed busy: is a runtime process still running? {log}"
    );
}

#[test]
fn cve_2019_5736_exec_child_exe_not_writable() {
    // Racing variant: a privileged container loops over new processes and
    // grabs the exe of anything that is not its own busybox while `kist
    // exec` runs into it again and again.
    race_exec_children(true);
}

#[test]
fn cve_2019_5736_exec_after_exec_with_cap_sys_ptrace() {
    // The container's config has no CAP_SYS_PTRACE, but an earlier
    // `exec --cap CAP_SYS_PTRACE` left an attacker running: later plain
    // execs must be protected all the same.
    race_exec_children(false);
}

fn race_exec_children(privileged_config: bool) {
    let k = Kist::new();
    let (kist, orig) = runtime_copy(&k);
    let mut b = k.bundle(&["sleep", "100"]);
    if privileged_config {
        privileged(&mut b);
    } else {
        b.config["process"]["noNewPrivileges"] = json!(false);
    }
    b.write_file("/attack.sh", HOLD_AND_WRITE);
    let hunter = r#"
known=" $$ 1 "
while [ ! -e /stop ]; do
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case "$known" in *" $p "*) continue;; esac
    exec 3<"/proc/$p/exe" 2>/dev/null || continue
    e=$(readlink /proc/self/fd/3)
    exec 3<&-
    known="$known$p "
    case "$e" in /bin/busybox|"") continue;; esac
    echo "GRABBING $p $e" >> /log
    sh /attack.sh "$p" &
  done
done
"#;
    b.write_file("/hunter.sh", hunter);
    b.save();
    let id = k.id("5736x");
    k.track(&id);
    let bdir = b.dir.to_string_lossy().into_owned();
    cmd_with(&k, &kist, &["run", "-d", "--bundle", &bdir, &id]).ok();
    let hunter = if privileged_config {
        exec_detached(&k, &kist, &[], &id, &["sh", "/hunter.sh"])
    } else {
        let caps = ["--cap", "CAP_SYS_PTRACE", "--cap", "CAP_DAC_OVERRIDE"];
        exec_detached(&k, &kist, &caps, &id, &["sh", "/hunter.sh"])
    };
    let log_path = b.rootfs().join("log");
    for _ in 0..40 {
        cmd_with(&k, &kist, &["exec", &id, "true"]).ok();
        if std::fs::read_to_string(&log_path).is_ok_and(|s| s.contains("OPENED")) {
            break;
        }
    }
    std::fs::write(b.rootfs().join("stop"), "").unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log = if log.contains("OPENED") {
        wait_for_log(
            &log_path,
            &["WROTE", "DENIED", "GAVEUP"],
            Duration::from_secs(20),
        )
    } else {
        eprintln!("race_exec_children: the attacker never caught a runtime process");
        log
    };
    stop(&k, &id, &[hunter]);
    eprintln!("attacker log: {log}");
    assert_binary_intact(&kist, &orig, &log);
}

#[test]
fn sealed_runtime_behaves_the_same() {
    // The protection restarts the command from the sealed binary: stdin,
    // stdout, the exit code, --preserve-fds and --pid-file must come out
    // of it as they would without.
    let k = Kist::new();
    let mut b = k.bundle_sh("cat; cat <&3; readlink /proc/self/exe; exit 7");
    privileged(&mut b);
    let src = k.path("fd3");
    std::fs::write(&src, "from fd 3\n").unwrap();
    let f = std::fs::File::open(&src).unwrap();
    let pid_file = k.path("pid");
    let id = k.id("sealed");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let pf = pid_file.to_string_lossy().into_owned();
    let o = k.cmd_opts(
        &[
            "run",
            "--preserve-fds",
            "1",
            "--pid-file",
            &pf,
            "--bundle",
            &bdir,
            &id,
        ],
        cmd::Opts {
            stdin: Some(b"from stdin\n".to_vec()),
            fds: vec![(std::os::fd::AsRawFd::as_raw_fd(&f), 3)],
            ..Default::default()
        },
    );
    assert_eq!(o.code, 7, "{}", o.describe());
    assert_eq!(
        o.stdout,
        "from stdin\nfrom fd 3\n/bin/busybox\n",
        "{}",
        o.describe()
    );
    assert!(pid_file.exists(), "no pid file");
    // And exec, in the foreground, with a terminal-less stdin.
    let mut b = k.bundle(&["sleep", "100"]);
    privileged(&mut b);
    let id = k.id("sealedx");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k.cmd_stdin(&["exec", &id, "sh", "-c", "cat; exit 3"], b"via exec\n");
    assert_eq!(o.code, 3, "{}", o.describe());
    assert_eq!(o.stdout, "via exec\n");
}

// ---- CVE-2021-30465, CVE-2019-19921, CVE-2023-27561/28642: symlinks ----

#[test]
fn mount_destination_through_root_symlink() {
    let k = Kist::new();
    let name = format!("kist-sec-{}", unique());
    let mut b = k.bundle(&["true"]);
    symlink("/", b.rootfs().join("evil")).unwrap();
    symlink("../../../../../../../..", b.rootfs().join("evil2")).unwrap();
    // Host directory the attack aims at: the test's own scratch dir.
    let target = k.dir.join(&name);
    let rel_target = target.strip_prefix("/").unwrap().to_string_lossy();
    b.add_mount(
        json!({"destination": format!("/evil/{rel_target}"), "type": "tmpfs", "source": "tmpfs"}),
    );
    b.add_mount(json!({"destination": format!("/evil2/{rel_target}/b"), "type": "tmpfs", "source": "tmpfs"}));
    let id = k.id("symdst");
    let o = k.run(&b, &id);
    assert!(
        !target.exists() && !host_mounted(&target),
        "mount destination escaped to the host: {}\n{}",
        target.display(),
        o.describe()
    );
    if o.success() {
        assert!(b.rootfs().join(&*rel_target).is_dir());
    } else {
        clean_failure(&o);
    }
}

#[test]
fn cve_2021_30465_symlink_swap_race_on_destination() {
    // A concurrent writer (in the CVE, a second container sharing a volume)
    // swaps a directory in the rootfs with a symlink to a host directory
    // while the runtime mounts beneath it.
    let k = Kist::new();
    let victim = k.path("victim-dir");
    std::fs::create_dir_all(&victim).unwrap();
    let mut b = k.bundle(&["true"]);
    let vol = b.rootfs().join("vol");
    std::fs::create_dir_all(vol.join("real/sub")).unwrap();
    symlink(&victim, vol.join("link")).unwrap();
    for i in 0..8 {
        b.add_mount(
            json!({"destination": format!("/vol/x/sub/m{i}"), "type": "tmpfs", "source": "tmpfs"}),
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        let vol = vol.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::rename(vol.join("real"), vol.join("x"));
                let _ = std::fs::rename(vol.join("x"), vol.join("real"));
                let _ = std::fs::rename(vol.join("link"), vol.join("x"));
                let _ = std::fs::rename(vol.join("x"), vol.join("link"));
            }
        })
    };
    for _ in 0..15 {
        let id = k.id("race");
        let o = k.run(&b, &id);
        if !o.success() {
            clean_failure(&o);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    let entries: Vec<_> = std::fs::read_dir(&victim).unwrap().flatten().collect();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&*victim.to_string_lossy());
    assert!(
        entries.is_empty() && !mounted,
        "the race reached host directory {}: {entries:?} mounted={mounted}",
        victim.display()
    );
}

/// Checks from inside that /proc is a real procfs with masked and
/// read-only paths in force: prints one word per check.
const PROC_CHECK: &str = "stat -f -c %t /proc; \
     [ -s /proc/kcore ] && echo kcore-readable || echo kcore-masked; \
     [ -w /proc/sys/kernel/domainname ] && echo sys-writable || echo sys-ro; true";

#[test]
fn cve_2023_27561_proc_symlink_in_image() {
    // The image's /proc is a symlink; procfs must not be mounted where it
    // points (and masking must not be bypassed), or the run must fail.
    let k = Kist::new();
    let victim = k.path("victim-proc");
    std::fs::create_dir_all(&victim).unwrap();
    for target in [
        victim.to_string_lossy().into_owned(),
        format!("../../../../../../..{}", victim.display()),
        "/tmp".to_string(),
    ] {
        let b = k.bundle_sh(PROC_CHECK);
        std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
        symlink(&target, b.rootfs().join("proc")).unwrap();
        let id = k.id("procsym");
        let o = k.run(&b, &id);
        assert!(
            !host_mounted(&victim) && std::fs::read_dir(&victim).unwrap().next().is_none(),
            "/proc -> {target}: procfs reached the host:\n{}",
            o.describe()
        );
        if o.success() {
            assert!(
                o.stdout.starts_with("9fa0\n")
                    && o.stdout.contains("kcore-masked")
                    && o.stdout.contains("sys-ro"),
                "/proc -> {target}: masking bypassed:\n{}",
                o.describe()
            );
        } else {
            clean_failure(&o);
        }
    }
}

#[test]
fn cve_2019_19921_volume_over_proc() {
    // A volume (bind of a host dir) mounted over /proc after procfs: the
    // runtime must not take it for procfs (LSM labels, sysctls, masking).
    let k = Kist::new();
    let vol = k.path("fakeproc");
    std::fs::create_dir_all(vol.join("sys/net/ipv4")).unwrap();
    std::fs::create_dir_all(vol.join("sys/kernel")).unwrap();
    std::fs::write(vol.join("sys/net/ipv4/ip_forward"), "fake\n").unwrap();
    std::fs::write(vol.join("sys/kernel/domainname"), "fake\n").unwrap();
    let mut b = k.bundle(&["true"]);
    b.add_mount(
        json!({"destination": "/proc", "type": "bind", "source": vol, "options": ["rbind", "rw"]}),
    );
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let id = k.id("volproc");
    let o = k.run(&b, &id);
    if !o.success() {
        clean_failure(&o);
    }
    assert_eq!(
        std::fs::read_to_string(vol.join("sys/net/ipv4/ip_forward")).unwrap(),
        "fake\n",
        "sysctl written into the volume over /proc:\n{}",
        o.describe()
    );
    let names: Vec<_> = std::fs::read_dir(&vol)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec!["sys"], "files created in the volume: {names:?}");
}

// ---- CVE-2025-31133, CVE-2025-52565, CVE-2025-52881: fake /dev, procfs ----

#[test]
fn cve_2025_31133_dev_null_symlink_to_host_file() {
    let k = Kist::new();
    let victim = Victim::new(&k, "victim-null");
    let mut b = k.bundle_sh("echo data > /dev/null; cat /dev/null; true");
    use_image_dev(&mut b);
    symlink(&victim.path, b.rootfs().join("dev/null")).unwrap();
    // Its in-root resolution must not be touched either.
    let inroot = b.rootfs().join(victim.path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inroot.parent().unwrap()).unwrap();
    std::fs::write(&inroot, "in-root\n").unwrap();
    let id = k.id("null");
    let o = k.run(&b, &id);
    if !o.success() {
        clean_failure(&o);
    }
    victim.assert_untouched("image /dev/null -> host file");
}

#[test]
fn cve_2025_31133_masked_path_bind_through_fake_dev_null() {
    // runc masks paths by bind-mounting /dev/null; an image /dev/null that
    // points to a writable procfs file would turn a masked path into a
    // writable one (/proc/sys/kernel/core_pattern: host code execution).
    // Here the result is only read.
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "stat -c '%F %t:%T' /proc/kcore; head -c 200 /proc/kcore | tr -d '\\0'; echo; true",
    );
    use_image_dev(&mut b);
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null")).unwrap();
    let id = k.id("mask");
    let o = k.run(&b, &id);
    if o.success() {
        let first = o.stdout.lines().next().unwrap_or("");
        assert_eq!(
            first,
            "character special file 1:3",
            "/proc/kcore is not masked by the real null device:\n{}",
            o.describe()
        );
        let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
        assert!(
            !o.stdout.contains(core_pattern.trim()),
            "core_pattern reachable through the masked path:\n{}",
            o.describe()
        );
    } else {
        clean_failure(&o);
    }
}

#[test]
fn cve_2025_52565_dev_console_symlink() {
    let k = Kist::new();
    let victim = Victim::new(&k, "victim-console");
    let sock = common::console::ConsoleSocket::new(&k);
    let mut b = k.bundle_sh("echo hi; true");
    use_image_dev(&mut b);
    symlink(&victim.path, b.rootfs().join("dev/console")).unwrap();
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("cons");
    let sp = sock.path_str();
    let o = k.create_with(&b, &id, &["--console-socket", &sp]);
    if o.success() {
        let _ = k.delete_force(&id);
    } else {
        clean_failure(&o);
    }
    victim.assert_untouched("image /dev/console -> host file");
}

#[test]
fn cve_2025_52881_tmpfs_over_proc_sys_before_sysctl() {
    // A mount over /proc/sys (listed in mounts, so it is in place before
    // sysctls are written) must not receive the sysctl writes.
    let k = Kist::new();
    let vol = k.path("fake-proc-sys");
    std::fs::create_dir_all(vol.join("net/ipv4")).unwrap();
    std::fs::write(vol.join("net/ipv4/ip_forward"), "fake\n").unwrap();
    let mut b = k.bundle(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    b.add_mount(json!({"destination": "/proc/sys", "type": "bind", "source": vol, "options": ["rbind", "rw"]}));
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let id = k.id("procsys");
    let o = k.run(&b, &id);
    if !o.success() {
        clean_failure(&o);
    }
    assert_eq!(
        std::fs::read_to_string(vol.join("net/ipv4/ip_forward")).unwrap(),
        "fake\n",
        "sysctl landed in the fake /proc/sys:\n{}",
        o.describe()
    );
    // The same with a tmpfs: no file appears in it.
    let mut b = k.bundle_sh("ls -A /proc/sys; true");
    b.add_mount(json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}));
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.domainname": "x"});
    let id = k.id("procsys2");
    let o = k.run(&b, &id);
    if o.success() {
        assert_eq!(
            o.stdout, "",
            "sysctl created files in the tmpfs over /proc/sys"
        );
    } else {
        clean_failure(&o);
    }
}

// ---- CVE-2022-29162: inheritable capabilities ----

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{key} not in status output: {status}"))
}

#[test]
fn cve_2022_29162_no_inheritable_caps() {
    let k = Kist::new();
    for user in [
        json!({"uid": 0, "gid": 0}),
        json!({"uid": 1000, "gid": 1000}),
    ] {
        for caps in [
            json!({"bounding": ALL_CAPS, "effective": ALL_CAPS, "permitted": ALL_CAPS}),
            json!({"bounding": ALL_CAPS, "effective": ALL_CAPS, "permitted": ALL_CAPS, "inheritable": []}),
        ] {
            let mut b = k.bundle(&["grep", "^Cap", "/proc/self/status"]);
            b.config["process"]["capabilities"] = caps.clone();
            b.config["process"]["user"] = user.clone();
            let out = k.output(&b);
            assert_eq!(
                status_field(&out, "CapInh"),
                "0000000000000000",
                "{user} {caps}: {out}"
            );
            assert_eq!(status_field(&out, "CapAmb"), "0000000000000000", "{out}");
            if user["uid"] != 0 {
                // Without inheritable/ambient, execve as non-root drops all.
                assert_eq!(status_field(&out, "CapEff"), "0000000000000000", "{out}");
                assert_eq!(status_field(&out, "CapPrm"), "0000000000000000", "{out}");
            }
        }
    }
}

#[test]
fn cve_2022_29162_exec_has_no_inheritable_caps() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": ALL_CAPS, "effective": ALL_CAPS, "permitted": ALL_CAPS});
    let id = k.id("inhx");
    k.run_with(&b, &id, &["-d"]).ok();
    for user in [&[][..], &["--user", "1000:1000"][..]] {
        let mut args = vec!["exec"];
        args.extend_from_slice(user);
        args.extend_from_slice(&[&id, "grep", "^Cap", "/proc/self/status"]);
        let out = k.cmd(&args).ok().stdout;
        assert_eq!(status_field(&out, "CapInh"), "0000000000000000", "{out}");
        assert_eq!(status_field(&out, "CapAmb"), "0000000000000000", "{out}");
    }
}

// ---- cgroupsPath and container-id traversal ----

/// Directories named `name` anywhere the traversal could have created one.
fn dirs_named(name: &str) -> Vec<PathBuf> {
    let mut found = common_cgroup_dirs(name);
    for top in ["/", "/sys", "/sys/fs", "/sys/fs/cgroup"] {
        let p = Path::new(top).join(name);
        if p.exists() {
            found.push(p);
        }
    }
    found.sort();
    found.dedup();
    found
}

fn common_cgroup_dirs(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(name) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 6, &mut out);
    out
}

/// The hierarchy roots (`/sys/fs/cgroup/<controller>`, or the v2 root).
fn hierarchy_roots() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mi.lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

#[test]
fn cgroups_path_traversal_stays_in_hierarchy() {
    let k = Kist::new();
    let name = format!("kist-cgesc-{}", unique());
    for path in [
        format!("../../../../{name}"),
        format!("/../../../{name}"),
        format!("/a/../../../../{name}"),
    ] {
        let mut b = k.bundle_sh("cat /proc/self/cgroup");
        b.config["linux"]["cgroupsPath"] = json!(path);
        let id = k.id("cgesc");
        let o = k.run(&b, &id);
        let leftovers = dirs_named(&name);
        for d in &leftovers {
            let _ = std::fs::remove_dir(d);
        }
        assert!(
            leftovers.is_empty(),
            "cgroupsPath {path:?}: left {leftovers:?}:\n{}",
            o.describe()
        );
        if !o.success() {
            clean_failure(&o);
        }
    }
}

#[test]
fn cgroups_path_traversal_creates_nothing_outside_while_running() {
    let k = Kist::new();
    let name = format!("kist-cgesc2-{}", unique());
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["linux"]["cgroupsPath"] = json!(format!("../../../../../{name}"));
    let id = k.id("cgesc2");
    let o = k.run_with(&b, &id, &["-d"]);
    let found = dirs_named(&name);
    let hier = hierarchy_roots();
    let outside: Vec<_> = found
        .iter()
        .filter(|d| !hier.iter().any(|h| d.starts_with(h) && *d != h))
        .collect();
    if o.success() {
        let _ = k.delete_force(&id);
    } else {
        clean_failure(&o);
    }
    for d in &found {
        let _ = std::fs::remove_dir(d);
    }
    assert!(
        outside.is_empty(),
        "cgroup created outside every hierarchy: {outside:?}"
    );
}

#[test]
fn id_traversal_never_reaches_another_root() {
    // A container in another state root, and commands from this root with
    // ids that would point at it if joined to a path.
    let k = Kist::new();
    let other = Kist::new();
    let b = other.bundle(&["sleep", "100"]);
    let id = other.id("victim");
    other.run_with(&b, &id, &["-d"]).ok();
    let rel = format!(
        "../../{}/root/{id}",
        other.dir.file_name().unwrap().to_string_lossy()
    );
    let abs = other.root.join(&id).to_string_lossy().into_owned();
    for bad in [rel.as_str(), abs.as_str(), "../x", "/abs", "a/../../b"] {
        for args in [
            vec!["kill", bad, "KILL"],
            vec!["delete", "--force", bad],
            vec!["delete", bad],
            vec!["state", bad],
            vec!["start", bad],
            vec!["exec", bad, "true"],
        ] {
            let o = k.cmd(&args);
            clean_failure(&o);
        }
        let o = k.cmd(&["kill", "--all", bad, "KILL"]);
        clean_failure(&o);
    }
    assert_eq!(other.status(&id), "running");
    assert!(other.root.join(&id).exists());
    // And nothing was created in this test's root for them.
    let entries: Vec<_> = std::fs::read_dir(&k.root)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "{entries:?}");
}

// ---- found while testing the above ----

#[test]
fn foreground_output_keeps_flowing_after_a_forwarded_signal() {
    // The foreground copy loop read its signalfd until empty with blocking
    // reads: after forwarding one signal it stopped copying stdio until the
    // next signal (an exec's stdin never reached EOF: hang).
    let k = Kist::new();
    let b = k.bundle_sh(
        "trap 'echo got' USR1; i=0; while [ $i -lt 100 ]; do echo tick$i; sleep 0.05; i=$((i+1)); done",
    );
    let id = k.id("sigflow");
    k.track(&id);
    let bdir = b.dir.to_string_lossy().into_owned();
    let run = k.spawn(&["run", "--bundle", &bdir, &id]);
    let out = &run.stdout_path;
    wait_for_log(out, &["tick2"], Duration::from_secs(10));
    run.signal(libc::SIGUSR1);
    let seen = wait_for_log(out, &["tick20"], Duration::from_secs(3));
    assert!(
        seen.contains("got") && seen.contains("tick20"),
        "output stalled after a forwarded signal: {seen:?}"
    );
    assert!(run.wait().success());
}
