//! Test harness shared by every integration module.
//!
//! The binary under test comes from `KIST_BIN` (so the suite can be pointed at
//! runc or crun to check that the expectations themselves are right) and
//! defaults to the kist that cargo built for this test target.
//!
//! Every test gets its own [`Kist`]: a private temp directory holding the
//! `--root` state dir and the bundles, unique container ids, and a Drop guard
//! that force-deletes what the test created and then verifies that nothing is
//! left behind (state, cgroups, mounts, processes).
#![allow(dead_code)]

pub mod bundle;
pub mod cleanup;
pub mod cmd;
pub mod console;
pub mod users;

pub use bundle::Bundle;
pub use cmd::{Output, Spawned};

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

/// How long any single runtime invocation may take before the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static INIT: Once = Once::new();

/// Makes the test process the reaper of the container inits that `create`
/// orphans: pid 1 on the test machines never reaps, so without this they would
/// pile up as zombies and `kill -0` based checks would see them as alive.
fn init_process() {
    INIT.call_once(|| {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(
            rc,
            0,
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        );
    });
}

/// The runtime binary under test.
pub fn bin() -> PathBuf {
    match std::env::var_os("KIST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_kist")),
    }
}

/// True when the suite runs against runc/crun rather than kist; used only to
/// relax assertions on wording that the reference runtimes phrase differently.
pub fn is_reference() -> bool {
    let b = bin();
    let name = b.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("runc") || name.starts_with("crun")
}

/// A unique number for names that must not collide between parallel tests
/// (threads of this process) or concurrent test processes.
pub fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// One test's view of the runtime. Dropping it cleans up and checks for leaks.
pub struct Kist {
    /// Private scratch directory: `root/` is the state dir, bundles go next to it.
    pub dir: PathBuf,
    /// The `--root` passed to every command.
    pub root: PathBuf,
    /// Value of KIST_TEST_MARK in the environment of everything this test
    /// spawns, so leaked processes can be found by scanning /proc/*/environ.
    pub mark: String,
    ids: RefCell<Vec<String>>,
    extra_global: RefCell<Vec<OsString>>,
    ncmd: AtomicUsize,
    /// Extra cleanup actions registered by tests (netns removal, etc.).
    cleanups: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Every command runs as this unprivileged user (see [`Kist::as_user`]).
    pub user: Option<&'static users::User>,
    /// ... placed in this cgroup2 directory first (see [`Kist::in_cgroup`]).
    user_cgroup: RefCell<Option<PathBuf>>,
}

impl Kist {
    pub fn new() -> Kist {
        init_process();
        let mark = format!("kist-it-{}", unique());
        let dir = std::env::temp_dir().join(&mark);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let root = dir.join("root");
        Kist {
            dir,
            root,
            mark,
            ids: RefCell::new(Vec::new()),
            extra_global: RefCell::new(Vec::new()),
            ncmd: AtomicUsize::new(0),
            cleanups: RefCell::new(Vec::new()),
            user: None,
            user_cgroup: RefCell::new(None),
        }
    }

    /// A harness whose every command runs as `u` (clean login environment,
    /// no supplementary groups). The test directory is theirs (0700) and
    /// `bundle()` gives them bundles with runc's `spec --rootless` changes
    /// applied (their uid and gid mapped to 0). `--root` is still passed:
    /// `bare()` runs without it (the default root, `$XDG_RUNTIME_DIR/...`).
    pub fn as_user(u: &'static users::User) -> Kist {
        let mut k = Kist::new();
        users::chown(&k.dir, u.uid, u.gid);
        std::fs::set_permissions(&k.dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", k.dir.display()));
        k.user = Some(u);
        k
    }

    /// From now on every command of this (user's) harness starts in the
    /// cgroup2 directory `dir` (see `users::User::delegated_cgroup2`).
    pub fn in_cgroup(&self, dir: &Path) {
        *self.user_cgroup.borrow_mut() = Some(dir.to_path_buf());
    }

    /// A fresh container id, registered for cleanup. `tag` keeps it readable.
    pub fn id(&self, tag: &str) -> String {
        let id = format!("{tag}-{}", unique());
        self.track(&id);
        id
    }

    /// Registers an id that the test built itself for forced deletion at drop.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.borrow_mut();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// Adds global flags (e.g. `--log FILE`) to every following command.
    pub fn global_flags(&self, flags: &[&str]) {
        self.extra_global
            .borrow_mut()
            .extend(flags.iter().map(OsString::from));
    }

    /// Registers a cleanup action run at drop before the leak checks.
    pub fn on_drop(&self, f: impl FnOnce() + 'static) {
        self.cleanups.borrow_mut().push(Box::new(f));
    }

    /// A new bundle in this test's directory running `args`.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let n = self.ncmd.fetch_add(1, Ordering::SeqCst);
        let mut b = Bundle::new(&self.dir.join(format!("bundle{n}")), args, &self.mark);
        if let Some(u) = self.user {
            u.rootless_config(&mut b.config);
        }
        b.save();
        if let Some(u) = self.user {
            users::chown_tree(&b.dir, u.uid, u.gid);
        }
        b
    }

    /// A bundle running `sh -c script`.
    pub fn bundle_sh(&self, script: &str) -> Bundle {
        self.bundle(&["sh", "-c", script])
    }

    /// A path in this test's directory that nothing uses yet.
    pub fn path(&self, name: &str) -> PathBuf {
        let n = self.ncmd.fetch_add(1, Ordering::SeqCst);
        self.dir.join(format!("{name}.{n}"))
    }

    fn argv(&self, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--root".into(), self.root.clone().into_os_string()];
        v.extend(self.extra_global.borrow().iter().cloned());
        v.extend(args.iter().map(OsString::from));
        v
    }

    /// Runs the runtime with `--root` and `args`, stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_opts(args, cmd::Opts::default())
    }

    /// Runs the runtime with no `--root` flag at all (for `--version`, `--help`, `spec`...).
    pub fn bare(&self, args: &[&str]) -> Output {
        let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.exec(argv, cmd::Opts::default())
    }

    /// Runs with stdin fed from `input`.
    pub fn cmd_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.cmd_opts(
            args,
            cmd::Opts {
                stdin: Some(input.to_vec()),
                ..Default::default()
            },
        )
    }

    pub fn cmd_opts(&self, args: &[&str], opts: cmd::Opts) -> Output {
        let argv = self.argv(args);
        self.exec(argv, opts)
    }

    fn exec(&self, argv: Vec<OsString>, mut opts: cmd::Opts) -> Output {
        opts.as_user = opts.as_user.or(self.user);
        opts.cgroup = opts.cgroup.or_else(|| self.user_cgroup.borrow().clone());
        let n = self.ncmd.fetch_add(1, Ordering::SeqCst);
        cmd::run(
            &bin(),
            &argv,
            &self.dir.join(format!("cmd{n}")),
            &self.mark,
            opts,
        )
    }

    /// Starts the runtime in the background (foreground `run` with signals etc.).
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        self.spawn_opts(args, cmd::Opts::default())
    }

    pub fn spawn_opts(&self, args: &[&str], mut opts: cmd::Opts) -> Spawned {
        opts.as_user = opts.as_user.or(self.user);
        opts.cgroup = opts.cgroup.or_else(|| self.user_cgroup.borrow().clone());
        let n = self.ncmd.fetch_add(1, Ordering::SeqCst);
        cmd::spawn(
            &bin(),
            &self.argv(args),
            &self.dir.join(format!("cmd{n}")),
            &self.mark,
            opts,
        )
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Output {
        self.create_with(b, id, &[])
    }

    pub fn create_with(&self, b: &Bundle, id: &str, flags: &[&str]) -> Output {
        self.track(id);
        b.save();
        let bdir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", &bdir];
        args.extend_from_slice(flags);
        args.push(id);
        self.cmd(&args)
    }

    pub fn start(&self, id: &str) -> Output {
        self.cmd(&["start", id])
    }

    pub fn state(&self, id: &str) -> Output {
        self.cmd(&["state", id])
    }

    /// `state` parsed; panics (with the runtime's stderr) when it fails.
    pub fn state_json(&self, id: &str) -> serde_json::Value {
        let o = self.state(id).ok();
        serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("state {id}: stdout is not JSON ({e}): {:?}", o.stdout))
    }

    pub fn status(&self, id: &str) -> String {
        self.state_json(id)["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state_json(id)["pid"].as_i64().unwrap_or(0) as i32
    }

    pub fn kill(&self, id: &str, sig: &str) -> Output {
        self.cmd(&["kill", id, sig])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.cmd(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.cmd(&["delete", "--force", id])
    }

    /// Foreground `run`; the container's stdio are the output files.
    pub fn run(&self, b: &Bundle, id: &str) -> Output {
        self.run_with(b, id, &[])
    }

    pub fn run_with(&self, b: &Bundle, id: &str, flags: &[&str]) -> Output {
        self.track(id);
        b.save();
        let bdir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["run", "--bundle", &bdir];
        args.extend_from_slice(flags);
        args.push(id);
        self.cmd(&args)
    }

    /// Convenience: foreground-run `sh -c script` in a default bundle.
    pub fn sh(&self, script: &str) -> Output {
        let b = self.bundle_sh(script);
        let id = self.id("sh");
        self.run(&b, &id)
    }

    /// Foreground-runs bundle `b` under a fresh id, asserts success and
    /// returns the container's stdout.
    #[track_caller]
    pub fn output(&self, b: &Bundle) -> String {
        let id = self.id("out");
        self.run(b, &id).ok().stdout
    }

    /// Polls `state` until the status is `want` (or fails after the timeout).
    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("container {id}: status stayed {s:?}, wanted {want:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts that no trace of `id` remains: no state entry, no cgroup, no
    /// process, and no mount under this test's directory.
    pub fn assert_gone(&self, id: &str) {
        let problems = cleanup::leftovers(self, &[id.to_string()]);
        assert!(
            problems.is_empty(),
            "container {id} left things behind:\n{}",
            problems.join("\n")
        );
    }
}

impl Default for Kist {
    fn default() -> Self {
        Kist::new()
    }
}

impl Drop for Kist {
    fn drop(&mut self) {
        cleanup::drop_kist(self);
    }
}

/// Reads a file that must exist, with the path in the panic message.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Waits until `path` exists (e.g. a file the container writes), up to 10 s.
pub fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Does a process with this pid exist (zombies count as existing)?
pub fn pid_exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// cgroup directories (any hierarchy) whose name contains `name`.
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    cleanup::cgroups_named(name)
}

/// Reaps one container pid that was reparented to the test process.
pub fn reap_pid(pid: i32) {
    cleanup::reap(pid);
}

/// Asserts an expected failure was a clean one: non-zero, no panic, an error
/// message on stderr.
#[track_caller]
pub fn clean_failure(o: &Output) {
    assert!(o.code != 0, "expected failure:\n{}", o.describe());
    assert!(
        o.code != 101 && o.code != 128 + libc::SIGABRT && o.code != 128 + libc::SIGSEGV,
        "runtime crashed (exit {}):\n{}",
        o.code,
        o.describe()
    );
    assert!(
        !o.stderr.contains("panicked at"),
        "runtime panicked:\n{}",
        o.describe()
    );
    assert!(
        !o.stderr.trim().is_empty(),
        "failure without an error message:\n{}",
        o.describe()
    );
}

/// Waits until `pid` has exec'd `sleep 100`: `start` (and `run -d`) may return
/// a moment before the container init replaces itself with the user process.
pub fn wait_sleeping(pid: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd == b"sleep\x00100\x00" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} never exec'd `sleep 100`; runs {:?}",
            String::from_utf8_lossy(&cmd)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A network namespace made with `ip netns add` for this test and deleted
/// when the test's Kist is dropped; returns its path.
pub fn netns(k: &Kist) -> String {
    let name = format!("kist-it-{}", unique());
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("ip netns add");
    assert!(st.success(), "ip netns add {name}");
    let n2 = name.clone();
    k.on_drop(move || {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &n2])
            .status();
    });
    format!("/var/run/netns/{name}")
}
