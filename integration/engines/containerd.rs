//! containerd 1.6 with its runc v2 shim driving kist (`ctr run --runc-binary`,
//! which sets the shim's `BinaryName` runtime option, as a CRI
//! `runtimes.<name>.options.BinaryName` does).

use super::super::common::{cmd, Kist, Output};
use super::{image, kist_bin, strs, tool, wait_until, Daemon, PtyPair, Steps};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
const MIB64: u64 = 64 << 20;

/// A private containerd: config, root, state, sockets and the shim's runtime
/// root under the test's directory; namespace and cgroup parent named after
/// the test's mark.
pub struct Containerd<'a> {
    k: &'a Kist,
    pub sock: PathBuf,
    pub ns: String,
    pub runtime_root: PathBuf,
    state: PathBuf,
    /// Parent of the containers' cgroups, removed (and checked) at the end.
    pub cgroup_root: String,
    pub daemon: Daemon,
    /// Containers whose task and shim socket must be gone at the end.
    ids: RefCell<Vec<String>>,
}

impl<'a> Containerd<'a> {
    /// Starts containerd and imports the test image. None when the engine is
    /// missing and KIST_SKIP_ENGINES=1.
    pub fn start(k: &'a Kist) -> Option<Containerd<'a>> {
        let c = Containerd::start_daemon(k)?;
        let archive = image::build(&k.dir, &k.mark);
        c.ctr(&["images", "import", &archive.to_string_lossy()])
            .ok();
        Some(c)
    }

    /// Starts containerd alone (Docker's), without image.
    pub fn start_daemon(k: &'a Kist) -> Option<Containerd<'a>> {
        if !super::have(CONTAINERD, "containerd") {
            return None;
        }
        let dir = k.path("containerd");
        std::fs::create_dir_all(&dir).expect("mkdir containerd dir");
        let sock = dir.join("c.sock");
        let state = dir.join("state");
        // The CRI plugin and the snapshotters we do not use only slow the start.
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
"#,
            root = dir.join("root").display(),
            state = state.display(),
            sock = sock.display(),
        );
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, config).expect("write containerd config");
        let daemon = Daemon::spawn(
            k,
            CONTAINERD,
            &strs(&["--config", &cfg.to_string_lossy()]),
            &[],
        );
        let mut c = Containerd {
            k,
            sock,
            ns: k.mark.clone(),
            runtime_root: super::runtime_root(k),
            state,
            cgroup_root: format!("/{}", k.mark),
            daemon,
            ids: RefCell::new(Vec::new()),
        };
        wait_until("containerd to answer", super::DAEMON_START, || {
            c.daemon.assert_alive();
            c.sock.exists() && c.ctr(&["version"]).success()
        });
        Some(c)
    }

    /// `ctr --address S --namespace N args...`
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_opts(args, cmd::Opts::default())
    }

    pub fn ctr_opts(&self, args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = strs(&[
            "--address",
            &self.sock.to_string_lossy(),
            "--namespace",
            &self.ns,
        ]);
        v.extend(strs(args));
        tool(self.k, CTR, &v, opts)
    }

    /// The cgroup path (relative to each hierarchy) of container `id`.
    pub fn cgroup(&self, id: &str) -> String {
        format!("{}/{id}", self.cgroup_root)
    }

    /// A fresh container id, cleaned up when the test ends.
    pub fn id(&self, tag: &str) -> String {
        let id = self.k.id(tag);
        self.track(&id);
        id
    }

    /// Checks at the end that `id` has no task nor shim socket left.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// `ctr run` flags that put the container on kist, in its cgroup, with a
    /// cgroup mount (the OCI default spec of ctr has none) and the test's mark.
    pub fn run_flags(&self, id: &str) -> Vec<String> {
        strs(&[
            "--runc-binary",
            &kist_bin().to_string_lossy(),
            "--runc-root",
            &self.runtime_root.to_string_lossy(),
            "--cgroup",
            &self.cgroup(id),
            "--env",
            &format!("KIST_TEST_MARK={}", self.k.mark),
            "--mount",
            "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:nodev:noexec",
        ])
    }

    /// `ctr run [extra] <flags> IMAGE id args...`
    pub fn run(&self, extra: &[&str], id: &str, args: &[&str]) -> Output {
        self.run_opts(extra, id, args, cmd::Opts::default())
    }

    pub fn run_opts(&self, extra: &[&str], id: &str, args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = vec!["run".to_string()];
        v.extend(strs(extra));
        v.extend(self.run_flags(id));
        v.push(image::IMAGE.to_string());
        v.push(id.to_string());
        v.extend(strs(args));
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        self.ctr_opts(&v, opts)
    }

    /// The status column of `ctr task ls` for `id` (RUNNING, PAUSED, STOPPED...).
    pub fn task_status(&self, id: &str) -> String {
        let o = self.ctr(&["task", "ls"]).ok();
        o.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    /// The host pid of the task's init, from `ctr task ls`.
    pub fn task_pid(&self, id: &str) -> i32 {
        let o = self.ctr(&["task", "ls"]).ok();
        o.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        wait_until(
            &format!("task {id} to be {want}"),
            Duration::from_secs(20),
            || self.task_status(id) == want,
        );
    }

    /// containerd's state dir (shims' bundles, with kist's log.json).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state
    }

    /// The runtime's log for `id` (what the shim shows on failure).
    pub fn runtime_log(&self, id: &str) -> String {
        let p = self
            .state
            .join("io.containerd.runtime.v2.task")
            .join(&self.ns)
            .join(id)
            .join("log.json");
        std::fs::read_to_string(p).unwrap_or_default()
    }

    /// The shim's socket: containerd 1.6 puts it in /run/containerd/s, named
    /// by the sha256 of "<address>/<namespace>/<id>", whatever the state dir.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let key = format!("{}/{}/{id}", self.sock.display(), self.ns);
        PathBuf::from("/run/containerd/s").join(super::sha256_hex(key.as_bytes()))
    }
}

impl Drop for Containerd<'_> {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let quiet = |c: &Containerd, a: &[&str]| {
            let _ = c.ctr(a);
        };
        // Whatever a failed test left running goes through the engine first,
        // so that the shims exit and clean up after themselves.
        let ids = self.ids.borrow().clone();
        for id in ids.iter().map(String::as_str) {
            if !self.task_status(id).is_empty() {
                if !std::thread::panicking() {
                    problems.push(format!("task {id} still exists at the end of the test"));
                }
                quiet(self, &["task", "kill", "--all", "--signal", "SIGKILL", id]);
                quiet(self, &["task", "delete", "--force", id]);
            }
            quiet(self, &["container", "delete", id]);
        }
        if !self.daemon.stop() {
            problems.push(format!(
                "containerd ignored SIGTERM:\n{}",
                self.daemon.log_tail()
            ));
        }
        for id in &ids {
            let s = self.shim_socket(id);
            if s.exists() {
                problems.push(format!("shim socket {} of {id} left behind", s.display()));
                let _ = std::fs::remove_file(&s);
            }
        }
        problems.extend(super::remove_cgroup_everywhere(&self.cgroup_root));
        super::report("containerd", &problems);
    }
}

#[test]
fn containerd_run_to_completion_with_output_and_exit_code() {
    let k = super::engine_kist();
    let Some(c) = Containerd::start(&k) else {
        return;
    };
    let c = &c;
    let mut steps = Steps::default();
    steps.run("run --rm: output and exit code", || {
        let id = c.id("ctr-run");
        let o = c.run(
            &["--rm"],
            &id,
            &["sh", "-c", "echo out-$((6*7)); echo err-line >&2; exit 3"],
        );
        assert_eq!(
            o.code,
            3,
            "ctr run should exit with the container's code:\n{}\nruntime log:\n{}",
            o.describe(),
            c.runtime_log(&id)
        );
        assert!(o.stdout.contains("out-42"), "{}", o.describe());
        assert!(o.stderr.contains("err-line"), "{}", o.describe());
        assert_eq!(c.task_status(&id), "", "--rm left the task");
        let o = c.ctr(&["containers", "ls", "-q"]).ok();
        assert!(
            !o.stdout.contains(&id),
            "--rm left the container: {}",
            o.stdout
        );
    });
    steps.run(
        "run --rm --tty (init on a pty: create --console-socket)",
        || {
            let id = c.id("ctr-tty");
            // ctr insists on a terminal for itself: give it a pty.
            let mut pty = PtyPair::new();
            let o = c.run_opts(
                &["--rm", "--tty"],
                &id,
                // The pause keeps the pty's slave open until the shim's copy
                // has read the output: a pty hung up by its last slave drops
                // what was not read yet (seen under load, with runc too).
                &["sh", "-c", "tty; echo tty-ok; sleep 0.5; exit 5"],
                pty.stdio(),
            );
            let seen = pty.drain().to_string();
            assert_eq!(
                o.code,
                5,
                "{}\npty: {seen:?}\nruntime log:\n{}",
                o.describe(),
                c.runtime_log(&id)
            );
            assert!(
                seen.contains("/dev/pts/0") && seen.contains("tty-ok"),
                "pty: {seen:?}"
            );
        },
    );
    steps.finish();
}

#[test]
fn containerd_detached_task_exec_ps_pause_resume_term() {
    let k = super::engine_kist();
    let Some(c) = Containerd::start(&k) else {
        return;
    };
    let id = c.id("ctr-task");
    // pid 1 of a pid namespace has no default action for TERM: trap it.
    let o = c.run(
        &["--detach"],
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 1 & wait $!; done",
        ],
    );
    assert!(
        o.success(),
        "{}\nruntime log:\n{}",
        o.describe(),
        c.runtime_log(&id)
    );
    c.wait_status(&id, "RUNNING");
    let pid = c.task_pid(&id);
    assert!(pid > 0, "no pid for {id}");
    // Proves the leak check of shim sockets looks at the right path.
    assert!(
        c.shim_socket(&id).exists(),
        "no shim socket at {}",
        c.shim_socket(&id).display()
    );
    let c = &c;
    let id = id.as_str();
    let log = || c.runtime_log(id);
    let mut steps = Steps::default();

    steps.run("exec without a terminal", || {
        let o = c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            id,
            "sh",
            "-c",
            "echo exec-out; exit 4",
        ]);
        assert_eq!(o.code, 4, "{}\nruntime log:\n{}", o.describe(), log());
        assert!(o.stdout.contains("exec-out"), "{}", o.describe());
    });

    // Twice: each `exec --tty` must leave the container as it found it.
    for n in 1..=2 {
        let exec_id = format!("tty{n}");
        steps.run(&format!("exec --tty #{n}"), || {
            // ctr insists on a terminal for itself: give it a pty.
            let mut pty = PtyPair::new();
            let o = c.ctr_opts(
                &[
                    "task",
                    "exec",
                    "--tty",
                    "--exec-id",
                    &exec_id,
                    id,
                    "sh",
                    "-c",
                    // See the pause in the run --tty step above.
                    "tty; echo tty-ok; sleep 0.5",
                ],
                pty.stdio(),
            );
            let seen = pty.drain().to_string();
            assert!(
                o.success(),
                "{}\npty: {seen:?}\nruntime log:\n{}",
                o.describe(),
                log()
            );
            assert!(
                seen.contains("/dev/pts/") && seen.contains("tty-ok"),
                "pty: {seen:?}"
            );
        });
    }
    steps.run("exec --tty mounted nothing in the container", || {
        // ctr's shim may hold a pty master after its process exits, which
        // hides a second failure: look at the container's mounts directly.
        let o = c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "mounts",
            id,
            "cat",
            "/proc/self/mountinfo",
        ]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        assert!(
            !o.stdout.contains(" /dev/console "),
            "exec --tty left a mount on /dev/console:\n{}",
            o.stdout
        );
    });

    steps.run("ps (kist ps --format json)", || {
        let o = c.ctr(&["task", "ps", id]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        assert!(
            o.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
            "ps does not list init {pid}: {}",
            o.describe()
        );
    });

    steps.run("pause/resume against the host freezer", || {
        let freezer = super::cgroup_dir("freezer", &c.cgroup(id));
        let state = || {
            std::fs::read_to_string(freezer.join("freezer.state"))
                .or_else(|_| std::fs::read_to_string(freezer.join("cgroup.freeze")))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let o = c.ctr(&["task", "pause", id]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        c.wait_status(id, "PAUSED");
        let s = state();
        assert!(s == "FROZEN" || s == "1", "freezer of {id}: {s:?}");
        let o = c.ctr(&["task", "resume", id]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        c.wait_status(id, "RUNNING");
        let s = state();
        assert!(s == "THAWED" || s == "0", "freezer of {id}: {s:?}");
    });

    steps.run("kill TERM, delete", || {
        c.ctr(&["task", "kill", "--signal", "SIGTERM", id]).ok();
        c.wait_status(id, "STOPPED");
        let o = c.ctr(&["task", "delete", id]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        // ctr reports a non-zero exit status as a warning on stderr.
        assert!(
            o.stderr.contains("exit code 7"),
            "exit status of {id}: {}",
            o.describe()
        );
        c.ctr(&["container", "delete", id]).ok();
    });
    steps.finish();
}

#[test]
fn containerd_kill_metrics_and_memory_limit() {
    let k = super::engine_kist();
    let Some(c) = Containerd::start(&k) else {
        return;
    };
    let id = c.id("ctr-mem");
    let o = c.run(
        &["--detach", "--memory-limit", &MIB64.to_string()],
        &id,
        &["sleep", "1000"],
    );
    assert!(
        o.success(),
        "{}\nruntime log:\n{}",
        o.describe(),
        c.runtime_log(&id)
    );
    c.wait_status(&id, "RUNNING");
    let c = &c;
    let id = id.as_str();
    let log = || c.runtime_log(id);
    let mut steps = Steps::default();

    steps.run("memory limit in the host cgroup and inside", || {
        let mem = super::cgroup_dir("memory", &c.cgroup(id));
        let host = std::fs::read_to_string(mem.join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(mem.join("memory.max")))
            .unwrap_or_else(|e| panic!("{}: {e}", mem.display()));
        assert_eq!(host.trim(), MIB64.to_string(), "host cgroup {}", mem.display());
        let o = c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "mem",
            id,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        ]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        assert_eq!(o.stdout.trim(), MIB64.to_string(), "limit seen inside");
    });

    steps.run("metrics", || {
        // The shim reads the cgroup that kist set up.
        let o = c.ctr(&["task", "metrics", id]);
        assert!(o.success(), "{}", o.describe());
        assert!(
            o.stdout.contains(&MIB64.to_string()),
            "metrics lack the limit: {}",
            o.stdout
        );
    });

    steps.run("kill KILL, delete", || {
        // sleep as pid 1 ignores TERM; KILL cannot be ignored.
        c.ctr(&["task", "kill", "--signal", "SIGKILL", id]).ok();
        c.wait_status(id, "STOPPED");
        let o = c.ctr(&["task", "delete", id]);
        assert!(o.success(), "{}\nruntime log:\n{}", o.describe(), log());
        c.ctr(&["container", "delete", id]).ok();
    });
    steps.finish();
}
