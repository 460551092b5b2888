//! Docker 20.10 (Debian's docker.io) with `dockerd --add-runtime kist=PATH
//! --default-runtime kist`, on a containerd of its own.
//!
//! The `docker` client is called by its full path: /usr/local/bin may hold
//! another one.

use super::super::common::{cmd, Kist, Output};
use super::containerd::Containerd;
use super::{image, kist_bin, strs, tool, wait_until, Daemon, PtyPair, Steps};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const DOCKERD: &str = "/usr/sbin/dockerd";
const DOCKER: &str = "/usr/bin/docker";
const MIB64: u64 = 64 << 20;

/// dockerd creates /run/docker/plugins whatever its exec root; one dockerd at
/// a time lets the last one remove it when it was not there before.
static ONE_DOCKERD: Mutex<()> = Mutex::new(());

/// A private dockerd: data root, exec root (which holds kist's state, in
/// `runtime-runc/moby`), pid file, socket, daemon.json and cgroup parent under
/// the test's directory or named after its mark; its containerd is private too.
pub struct Docker<'a> {
    k: &'a Kist,
    dir: PathBuf,
    sock: PathBuf,
    daemon: Daemon,
    plugins_existed: bool,
    /// Dropped after dockerd is stopped (field order): stops containerd, checks
    /// that no task, shim socket or cgroup under the parent is left.
    containerd: Containerd<'a>,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl<'a> Docker<'a> {
    pub fn start(k: &'a Kist) -> Option<Docker<'a>> {
        if !super::have(DOCKERD, "docker.io") {
            return None;
        }
        let one = ONE_DOCKERD.lock().unwrap_or_else(|e| e.into_inner());
        let mut containerd = Containerd::start_daemon(k)?;
        // Docker's containerd namespace; the shim sockets are named after it.
        containerd.ns = "moby".to_string();
        let dir = k.path("docker");
        std::fs::create_dir_all(&dir).expect("mkdir docker dir");
        let conf = dir.join("daemon.json");
        std::fs::write(&conf, "{}\n").expect("write daemon.json");
        let sock = dir.join("docker.sock");
        let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let plugins_existed = Path::new("/run/docker/plugins").exists();
        let daemon = Daemon::spawn(
            k,
            DOCKERD,
            &strs(&[
                "--config-file",
                &conf.to_string_lossy(),
                "--containerd",
                &containerd.sock.to_string_lossy(),
                "--data-root",
                &d("data"),
                "--exec-root",
                &d("exec"),
                "--pidfile",
                &d("dockerd.pid"),
                "-H",
                &format!("unix://{}", sock.display()),
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--bridge=none",
                "--storage-driver",
                "vfs",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
                "--cgroup-parent",
                &containerd.cgroup_root,
                "--add-runtime",
                &format!("kist={}", kist_bin().display()),
                "--default-runtime",
                "kist",
                // info drowns the errors in gRPC chatter in failure messages.
                "--log-level",
                "warn",
            ]),
            &[],
        );
        let mut dk = Docker {
            k,
            dir,
            sock,
            daemon,
            plugins_existed,
            containerd,
            _one: one,
        };
        wait_until("dockerd to answer", super::DAEMON_START, || {
            dk.daemon.assert_alive();
            dk.sock.exists() && dk.docker(&["version"]).success()
        });
        let archive = image::build(&k.dir, &k.mark);
        dk.docker(&["load", "-i", &archive.to_string_lossy()]).ok();
        Some(dk)
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_opts(args, cmd::Opts::default())
    }

    pub fn docker_opts(&self, args: &[&str], mut opts: cmd::Opts) -> Output {
        let mut v = strs(&["-H", &format!("unix://{}", self.sock.display())]);
        v.extend(strs(args));
        opts.envs.push((
            "DOCKER_CONFIG".into(),
            self.dir.join("client").to_string_lossy().into(),
        ));
        tool(self.k, DOCKER, &v, opts)
    }

    /// `docker run --network none --env MARK flags... IMAGE args...`; the
    /// container id (from --cidfile) is tracked for the shim-socket check.
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Output {
        let cidfile = self.k.path("cid");
        let cid = cidfile.to_string_lossy().into_owned();
        let mark = format!("KIST_TEST_MARK={}", self.k.mark);
        let mut v = vec![
            "run",
            "--network",
            "none",
            "--cidfile",
            &cid,
            "--env",
            &mark,
        ];
        v.extend_from_slice(flags);
        v.push(image::IMAGE);
        v.extend_from_slice(args);
        let o = self.docker(&v);
        if let Ok(id) = std::fs::read_to_string(&cidfile) {
            self.containerd.track(id.trim());
        }
        o
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, name])
            .ok()
            .stdout
            .trim()
            .to_string()
    }

    /// The end of dockerd's and kist's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("dockerd log:\n{}\n", self.daemon.log_tail());
        let state = self
            .containerd
            .state_dir()
            .join("io.containerd.runtime.v2.task/moby");
        if let Ok(rd) = std::fs::read_dir(state) {
            for e in rd.flatten() {
                let log = std::fs::read_to_string(e.path().join("log.json")).unwrap_or_default();
                out.push_str(&format!("kist log of {:?}:\n{log}\n", e.file_name()));
            }
        }
        out
    }

    /// Container state dirs in the runtime roots dockerd gives its runtimes
    /// (`<exec-root>/runtime-<type>/moby`).
    fn kist_states(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.dir.join("exec")) else {
            return out;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("runtime-") {
                if let Ok(rd) = std::fs::read_dir(e.path().join("moby")) {
                    out.extend(rd.flatten().map(|c| c.path()));
                }
            }
        }
        out
    }
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let o = self.docker(&["ps", "-aq"]);
        if !o.stdout.trim().is_empty() {
            if !std::thread::panicking() {
                problems.push(format!("containers left: {}", o.stdout.trim()));
            }
            let ids: Vec<String> = o.stdout.split_whitespace().map(str::to_string).collect();
            let mut v = vec!["rm", "--force"];
            v.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&v);
        }
        if !self.daemon.stop() {
            problems.push(format!(
                "dockerd ignored SIGTERM:\n{}",
                self.daemon.log_tail()
            ));
        }
        for e in self.kist_states() {
            problems.push(format!("kist state {} left behind", e.display()));
        }
        if !self.plugins_existed {
            let _ = std::fs::remove_dir("/run/docker/plugins");
            let _ = std::fs::remove_dir("/run/docker");
        }
        super::report("dockerd", &problems);
    }
}

#[track_caller]
fn ok(d: &Docker, o: Output) -> Output {
    assert!(o.success(), "{}\n{}", o.describe(), d.logs());
    o
}

#[test]
fn docker_run_exec_update_pause_kill_rm() {
    let k = super::engine_kist();
    let Some(d) = Docker::start(&k) else {
        return;
    };
    let d = &d;
    let mut steps = Steps::default();
    steps.run("run --rm: output and exit code", || {
        let o = d.run(&["--rm"], &["sh", "-c", "echo out-$((6*7)); exit 3"]);
        assert_eq!(o.code, 3, "{}\n{}", o.describe(), d.logs());
        assert!(o.stdout.contains("out-42"), "{}", o.describe());
    });

    let name = k.id("dk");
    let name = name.as_str();
    // pid 1 of a pid namespace has no default action for TERM: trap it.
    let o = d.run(
        &["-d", "--name", name],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 1 & wait $!; done",
        ],
    );
    ok(d, o);
    steps.run("default seccomp profile is applied", || {
        // dockerd always sends its default profile; it must be enforced
        // (mode 2: filter), not ignored.
        let o = ok(
            d,
            d.docker(&["exec", name, "grep", "^Seccomp:", "/proc/self/status"]),
        );
        assert!(o.stdout.contains('2'), "{}", o.describe());
    });
    steps.run("exec", || {
        let o = d.docker(&["exec", name, "sh", "-c", "echo exec-out; exit 4"]);
        assert_eq!(o.code, 4, "{}\n{}", o.describe(), d.logs());
        assert!(o.stdout.contains("exec-out"), "{}", o.describe());
    });
    // Twice: each `exec -t` must leave the container as it found it.
    for n in 1..=2 {
        steps.run(&format!("exec -t #{n}"), || {
            // The client insists on a terminal for itself: give it a pty.
            let mut pty = PtyPair::new();
            let o = d.docker_opts(
                &["exec", "-t", name, "sh", "-c", "tty; echo tty-ok"],
                pty.stdio(),
            );
            let seen = pty.drain().to_string();
            assert!(o.success(), "{}\npty: {seen:?}\n{}", o.describe(), d.logs());
            assert!(
                seen.contains("/dev/pts/") && seen.contains("tty-ok"),
                "pty: {seen:?}"
            );
        });
    }
    steps.run("update --memory (kist update --resources -)", || {
        let want = MIB64.to_string();
        ok(d, d.docker(&["update", "--memory", "64m", "--memory-swap", "128m", name]));
        let id = d.inspect(name, "{{.Id}}");
        let mem = super::cgroup_dir("memory", &d.containerd.cgroup(&id));
        let host = std::fs::read_to_string(mem.join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(mem.join("memory.max")))
            .unwrap_or_else(|e| panic!("{}: {e}", mem.display()));
        assert_eq!(host.trim(), want, "host cgroup {}", mem.display());
        let o = ok(
            d,
            d.docker(&[
                "exec",
                name,
                "sh",
                "-c",
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
            ]),
        );
        assert_eq!(o.stdout.trim(), want, "limit seen inside: {}", o.describe());
    });
    steps.run("pause/unpause", || {
        ok(d, d.docker(&["pause", name]));
        assert_eq!(d.inspect(name, "{{.State.Status}}"), "paused");
        ok(d, d.docker(&["unpause", name]));
        assert_eq!(d.inspect(name, "{{.State.Status}}"), "running");
    });
    steps.run("kill", || {
        ok(d, d.docker(&["kill", name]));
        let o = ok(d, d.docker(&["wait", name]));
        assert_eq!(o.stdout.trim(), "137", "{}", o.describe());
    });
    steps.run("rm", || {
        ok(d, d.docker(&["rm", name]));
        let o = d.docker(&["ps", "-aq"]).ok();
        assert!(o.stdout.trim().is_empty(), "{}", o.describe());
    });
    steps.finish();
}
