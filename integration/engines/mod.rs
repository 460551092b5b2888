//! End to end: real container engines (containerd 1.6, podman 4.3, Docker
//! 20.10, from their Debian packages) drive the kist under test exactly as
//! they drive runc.
//!
//! Every test starts its own daemon with private state: root, state dir,
//! sockets and cgroup parent all live in the test's [`Kist`] scratch
//! directory or are named after its unique mark, so tests of any module can
//! run in parallel. A daemon costs 0.1-2 s to start, which buys a test that
//! owns everything it checks: the daemon is stopped by its pid when the test
//! ends, then the `Kist` drop guard verifies that no state dir, cgroup, mount or
//! marked process is left (the mark is in the daemon's environment, which
//! shims and conmon inherit, and in every container's environment).
//!
//! Every external command runs with a timeout (`common::CMD_TIMEOUT`), so a
//! hung engine or runtime fails the test instead of eating the CI budget.
//!
//! The engines are required: a missing one fails the test with the package
//! to install, unless `KIST_SKIP_ENGINES=1` (for a machine without apt).

mod containerd;
mod cri;
mod docker;
pub mod image;
mod podman;
mod podman_rootless;

use super::common::{cmd, Kist, Output};
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The most one engine test may take, start and clean-up of its daemons
/// included: every command it runs gets at most what is left of it, so a hung
/// engine fails the test within this bound instead of eating the CI budget.
/// The slowest test takes about 5 s here.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

std::thread_local! {
    /// When the current engine test must be over (set by [`engine_kist`]);
    /// each test runs on its own thread.
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// What is left of the current test's [`TEST_TIMEOUT`], capped at `at_most`;
/// panics when nothing is left (unless already panicking: clean-up still gets
/// a few seconds).
fn budget(at_most: Duration) -> Duration {
    let Some(end) = DEADLINE.with(|d| d.get()) else {
        return at_most;
    };
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() {
        if std::thread::panicking() {
            return at_most.min(Duration::from_secs(5));
        }
        panic!("engine test ran over its {TEST_TIMEOUT:?} budget");
    }
    left.min(at_most)
}

/// How long a daemon may take to answer after being started.
const DAEMON_START: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
const DAEMON_STOP: Duration = Duration::from_secs(15);

/// The test's `Kist` guard, with its `root` where the engine makes kist keep
/// state: `<runtime_root>/<mark>` (the containerd shim appends the namespace,
/// which is the mark; podman and Docker are given that path whole), so the
/// guard's leak check covers the containers the engine created.
pub fn engine_kist() -> Kist {
    DEADLINE.with(|d| d.set(Some(Instant::now() + TEST_TIMEOUT)));
    let mut k = Kist::new();
    k.root = k.dir.join("runtime").join(&k.mark);
    k
}

/// [`engine_kist`] for an engine run by an ordinary user: every command as
/// `u` (see `Kist::as_user`); the caller points `root` at where the engine
/// makes kist keep state.
pub fn engine_kist_as(u: &'static super::common::users::User) -> Kist {
    DEADLINE.with(|d| d.set(Some(Instant::now() + TEST_TIMEOUT)));
    Kist::as_user(u)
}

/// The directory under which engines keep kist's state (see [`engine_kist`]).
pub fn runtime_root(k: &Kist) -> PathBuf {
    k.root
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| k.dir.join("runtime"))
}

/// True when the engine binary is present. When it is missing the test fails
/// (with the package to install) unless KIST_SKIP_ENGINES=1 asks to skip.
pub fn have(bin: &str, package: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    if std::env::var("KIST_SKIP_ENGINES").as_deref() == Ok("1") {
        eprintln!("skipping: {bin} not installed (KIST_SKIP_ENGINES=1)");
        return false;
    }
    panic!("{bin} not found: apt-get install -y --no-install-recommends {package} (or KIST_SKIP_ENGINES=1 to skip engine tests)");
}

/// The kist under test, as an absolute path (engines exec it from elsewhere).
pub fn kist_bin() -> PathBuf {
    let b = super::common::bin();
    std::fs::canonicalize(&b).unwrap_or_else(|e| panic!("{}: {e}", b.display()))
}

/// sha256 of `bytes` in hex; coreutils' sha256sum does it since the suite adds
/// no crates.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("sha256sum: {e}"));
    if let Some(mut i) = c.stdin.take() {
        i.write_all(bytes).expect("write to sha256sum");
    }
    let o = c.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Runs an engine client (ctr, podman, docker) with the test's mark, a
/// timeout and file-backed stdio, like the runtime itself is run.
pub fn tool(k: &Kist, bin: &str, args: &[String], opts: cmd::Opts) -> Output {
    let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    let opts = cmd::Opts {
        timeout: Some(budget(opts.timeout.unwrap_or(super::common::CMD_TIMEOUT))),
        ..opts
    };
    cmd::run(Path::new(bin), &argv, &k.path("tool"), &k.mark, opts)
}

/// `&["a", "b"]` as owned strings, for argument lists mixing literals and paths.
pub fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Polls `f` until it returns true; panics with `what` after `timeout`.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + budget(timeout);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon in the background, stopped by its pid (SIGTERM, then SIGKILL).
pub struct Daemon {
    name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(k: &Kist, bin: &str, args: &[String], envs: &[(&str, &str)]) -> Daemon {
        let name = Path::new(bin)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log = k.path(&format!("{name}.log"));
        let f = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let f2 = f.try_clone().expect("dup log fd");
        let mut c = Command::new(bin);
        c.args(args)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .env("KIST_TEST_MARK", &k.mark);
        for (key, v) in envs {
            c.env(key, v);
        }
        let child = c.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        Daemon {
            name,
            child: Some(child),
            log,
        }
    }

    /// Fails the test if the daemon died (with the end of its log).
    #[track_caller]
    pub fn assert_alive(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                panic!("{} exited ({st}):\n{}", self.name, self.log_tail());
            }
        }
    }

    /// The last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM, wait, SIGKILL if it does not exit in time. Returns false if
    /// it had to be killed.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        if let Ok(Some(_)) = c.try_wait() {
            return true;
        }
        // SAFETY: kill(2) on our own child, not yet reaped, so the pid is ours.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + DAEMON_STOP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A pty pair: the slave becomes the stdio of a client that insists on a
/// terminal (`ctr -t`, `podman -t`), the test reads and writes the master.
pub struct PtyPair {
    pub master: File,
    pub slave: OwnedFd,
    pub seen: String,
}

impl PtyPair {
    pub fn new() -> PtyPair {
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty writes two fds to valid out-pointers; name, termios
        // and winsize may be NULL.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just returned these fds and nothing else owns them.
        let (master, slave) = unsafe { (File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        // SAFETY: fcntl on an fd we own.
        unsafe {
            let fl = libc::fcntl(m, libc::F_GETFL);
            libc::fcntl(m, libc::F_SETFL, fl | libc::O_NONBLOCK);
            libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        PtyPair {
            master,
            slave,
            seen: String::new(),
        }
    }

    /// Opts that make the slave the client's stdin, stdout and stderr.
    pub fn stdio(&self) -> cmd::Opts {
        let s = self.slave.as_raw_fd();
        cmd::Opts {
            fds: vec![(s, 0), (s, 1), (s, 2)],
            ..Default::default()
        }
    }

    /// Reads what is available now (non-blocking) into `seen`.
    pub fn drain(&mut self) -> &str {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        &self.seen
    }
}

/// A `-t` command succeeded and its output on the pty shows `tty_path` and
/// the script's `tty-ok`; `diagnostics` explains a failure.
#[track_caller]
pub fn assert_tty(
    o: &Output,
    pty: &mut PtyPair,
    tty_path: &str,
    diagnostics: impl FnOnce() -> String,
) {
    let seen = pty.drain().to_string();
    if !o.success() {
        panic!("{}\npty: {seen:?}\n{}", o.describe(), diagnostics());
    }
    assert!(
        seen.contains(tty_path) && seen.contains("tty-ok"),
        "pty: {seen:?}"
    );
}

/// Removes the cgroup `rel` (and the empty cgroups below it) from every v1
/// hierarchy and from cgroup2. Returns what the runtime should have removed
/// itself (sub-cgroups other than the `conmon` one podman creates and never
/// removes, as with runc) and what could not be removed at all (processes
/// still inside).
pub fn remove_cgroup_everywhere(rel: &str) -> Vec<String> {
    fn rm_tree(p: &Path, top: bool, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    let c = e.path();
                    if top && e.file_name() != "conmon" {
                        out.push(format!("cgroup {} left behind", c.display()));
                    }
                    rm_tree(&c, false, out);
                }
            }
        }
        if let Err(e) = std::fs::remove_dir(p) {
            if p.exists() {
                out.push(format!("cgroup {} cannot be removed: {e}", p.display()));
            }
        }
    }
    fn busy(p: &Path) -> bool {
        let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
        !procs.trim().is_empty()
            || std::fs::read_dir(p).is_ok_and(|rd| {
                rd.flatten()
                    .any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && busy(&e.path()))
            })
    }
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    let mut roots: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    let dirs: Vec<PathBuf> = roots
        .iter()
        .map(|r| r.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect();
    // conmon (and the cleanup it runs) may outlive the podman command by a
    // moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while dirs.iter().any(|d| busy(d)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in dirs {
        rm_tree(&p, true, &mut out);
    }
    out
}

/// The v1 hierarchy directory of `controller` for a cgroup path, or the
/// cgroup2 one (unified host) when there is no v1 hierarchy for it.
pub fn cgroup_dir(controller: &str, rel: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    let rel = rel.trim_start_matches('/');
    if v1.is_dir() && !v1.join("cgroup.controllers").exists() {
        v1.join(rel)
    } else if Path::new("/sys/fs/cgroup/unified").is_dir() {
        Path::new("/sys/fs/cgroup/unified").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(rel)
    }
}

/// Panics with `problems` unless the thread is already panicking.
pub fn report(what: &str, problems: &[String]) {
    if !problems.is_empty() && !std::thread::panicking() {
        panic!("{what} left things behind:\n{}", problems.join("\n"));
    }
}

/// Runs the independent steps of one engine scenario and reports every
/// failing one at the end, not only the first: when the runtime lacks several
/// commands, one run names them all.
#[derive(Default)]
pub struct Steps {
    failed: Vec<String>,
}

impl Steps {
    pub fn run(&mut self, name: &str, f: impl FnOnce()) {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            self.failed
                .push(format!("--- step {name:?} failed:\n{msg}"));
        }
    }

    #[track_caller]
    pub fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{} step(s) failed:\n{}",
            self.failed.len(),
            self.failed.join("\n")
        );
    }
}
