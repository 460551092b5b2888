//! Spawning the runtime with a timeout and file-backed stdio.
//!
//! stdout/stderr go to files rather than pipes on purpose: `create` and
//! `run -d` hand their stdio to the container process, so a pipe would not
//! reach EOF until the container exits and the harness would hang.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::CMD_TIMEOUT;

#[derive(Default)]
pub struct Opts {
    /// Bytes fed on stdin (via a file); None means /dev/null.
    pub stdin: Option<Vec<u8>>,
    pub envs: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Working directory of the runtime process.
    pub cwd: Option<PathBuf>,
    /// Extra fds for the runtime: (fd in the test process, fd number in the
    /// child). The test keeps the source open until the command is spawned.
    pub fds: Vec<(RawFd, RawFd)>,
    /// Run as this unprivileged user with only its login environment
    /// (see `users.rs`); `envs` and KIST_TEST_MARK are added to it.
    pub as_user: Option<&'static super::users::User>,
    /// With `as_user`: the cgroup2 directory the process is moved into
    /// first (see `User::apply_in_cgroup`).
    pub cgroup: Option<PathBuf>,
    /// Runs in the child between fork and exec (e.g. to install a seccomp
    /// filter on the runtime); must be async-signal-safe.
    pub pre_exec: Option<fn() -> std::io::Result<()>>,
}

/// The result of one runtime invocation.
#[derive(Debug, Clone)]
pub struct Output {
    pub argv: Vec<String>,
    /// Exit code, or 128+signal when the runtime itself was killed.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The files behind stdout/stderr; a detached container keeps writing to
    /// them after the command returned, so tests re-read them later.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Asserts exit 0 and returns self for chaining.
    #[track_caller]
    pub fn ok(self) -> Output {
        assert!(self.code == 0, "expected success:\n{}", self.describe());
        self
    }

    /// Asserts a non-zero exit and returns self for chaining.
    #[track_caller]
    pub fn fail(self) -> Output {
        assert!(self.code != 0, "expected failure:\n{}", self.describe());
        self
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Output {
        assert!(
            self.code == code,
            "expected exit code {code}:\n{}",
            self.describe()
        );
        self
    }

    /// Asserts stderr contains `needle` (case-insensitive).
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Output {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to contain {needle:?}:\n{}",
            self.describe()
        );
        self
    }

    /// Asserts stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Output {
        assert!(
            self.stdout.contains(needle),
            "expected stdout to contain {needle:?}:\n{}",
            self.describe()
        );
        self
    }

    /// Current content of stdout (for detached containers still writing).
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        format!(
            "  command: {}\n  exit: {}\n  stdout: {:?}\n  stderr: {:?}",
            self.argv.join(" "),
            self.code,
            truncate(&self.stdout),
            truncate(&self.stderr)
        )
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(4000) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(crate) fn exit_code(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    }
}

/// A runtime process running in the background.
pub struct Spawned {
    pub pid: i32,
    argv: Vec<String>,
    rx: Receiver<ExitStatus>,
    done: bool,
    timeout: Duration,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Spawned {
    /// Sends a signal to the runtime process (not to the container).
    pub fn signal(&self, sig: i32) {
        if !self.done {
            // SAFETY: kill(2) with a pid we spawned and have not reaped yet
            // (the waiter thread has not reported), so it cannot be recycled.
            unsafe { libc::kill(self.pid, sig) };
        }
    }

    /// Has it exited (without blocking)?
    pub fn try_wait(&mut self) -> Option<Output> {
        match self.rx.try_recv() {
            Ok(st) => Some(self.finish(st)),
            Err(_) => None,
        }
    }

    /// Waits for exit, failing the test after the timeout.
    #[track_caller]
    pub fn wait(mut self) -> Output {
        match self.rx.recv_timeout(self.timeout) {
            Ok(st) => self.finish(st),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                self.signal(libc::SIGKILL);
                let _ = self.rx.recv_timeout(Duration::from_secs(5));
                self.done = true;
                let err = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                panic!(
                    "timed out after {:?}: {}\n  stderr so far: {err:?}",
                    self.timeout,
                    self.argv.join(" ")
                );
            }
        }
    }

    fn finish(&mut self, st: ExitStatus) -> Output {
        self.done = true;
        Output {
            argv: self.argv.clone(),
            code: exit_code(st),
            stdout: std::fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr_path).unwrap_or_default(),
            stdout_path: self.stdout_path.clone(),
            stderr_path: self.stderr_path.clone(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.done {
            self.signal(libc::SIGKILL);
            let _ = self.rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

pub fn spawn(bin: &Path, argv: &[OsString], dir: &Path, mark: &str, opts: Opts) -> Spawned {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let file = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
    let stdin = match &opts.stdin {
        Some(bytes) => {
            let p = dir.join("stdin");
            std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
            Stdio::from(File::open(&p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())))
        }
        None => Stdio::null(),
    };
    let mut c = Command::new(bin);
    if let Some(u) = opts.as_user {
        match &opts.cgroup {
            Some(cg) => u.apply_in_cgroup(&mut c, cg),
            None => u.apply(&mut c),
        }
        c.current_dir(&u.home);
    }
    c.args(argv)
        .stdin(stdin)
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .env("KIST_TEST_MARK", mark);
    if !opts.fds.is_empty() {
        let fds = opts.fds.clone();
        // SAFETY: the closure runs between fork and exec and only calls the
        // async-signal-safe fcntl(2) and dup2(2) on fds the test owns.
        unsafe {
            c.pre_exec(move || {
                // Move sources out of the way first so a target number can
                // never clobber a source that is still to be copied.
                let mut high = Vec::with_capacity(fds.len());
                for (src, _) in &fds {
                    let h = libc::fcntl(*src, libc::F_DUPFD, 200);
                    if h < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    high.push(h);
                }
                for (h, (_, dst)) in high.iter().zip(&fds) {
                    // dup2 clears FD_CLOEXEC on the new descriptor.
                    if libc::dup2(*h, *dst) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(*h);
                }
                Ok(())
            });
        }
    }
    if let Some(f) = opts.pre_exec {
        // SAFETY: Opts::pre_exec is documented to be async-signal-safe.
        unsafe {
            c.pre_exec(f);
        }
    }
    if let Some(d) = &opts.cwd {
        c.current_dir(d);
    }
    for (k, v) in &opts.envs {
        c.env(k, v);
    }
    let mut printable = vec![bin.display().to_string()];
    printable.extend(argv.iter().map(|a| a.to_string_lossy().into_owned()));
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let pid = child.id() as i32;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        if let Ok(st) = child.wait() {
            let _ = tx.send(st);
        }
    });
    Spawned {
        pid,
        argv: printable,
        rx,
        done: false,
        timeout: opts.timeout.unwrap_or(CMD_TIMEOUT),
        stdout_path,
        stderr_path,
    }
}

#[track_caller]
pub fn run(bin: &Path, argv: &[OsString], dir: &Path, mark: &str, opts: Opts) -> Output {
    spawn(bin, argv, dir, mark, opts).wait()
}
