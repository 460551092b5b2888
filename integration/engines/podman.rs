//! podman 4.3 (with conmon) driving kist through `--runtime`.
//!
//! podman passes `--log-format=json --log F` only to runtimes whose file name it
//! knows, so it gets kist through a symlink named `runc`.
//!
//! kist keeps its state in its default root (/run/kist), as it does for any
//! podman user: podman 4.3 passes `--runtime-flag root=...` to create and start
//! but not to its `delete --force`, so a private root would leave every
//! container's state behind. Container ids are 64 random hex digits, so tests
//! running side by side do not collide there; the leak check looks for
//! containers whose bundle lies in this test's directory.

use super::super::common::{cmd, Kist, Output};
use super::{image, kist_bin, strs, tool, PtyPair, Steps};
use std::path::{Path, PathBuf};

const PODMAN: &str = "/usr/bin/podman";
const MIB64: u64 = 64 << 20;

/// podman with private storage, run root, tmp dir (events, file locks),
/// containers.conf and cgroup parent. There is no daemon: conmon monitors
/// each container.
pub struct Podman<'a> {
    k: &'a Kist,
    dir: PathBuf,
    conf: PathBuf,
    runtime: PathBuf,
    pub cgroup_parent: String,
}

impl<'a> Podman<'a> {
    pub fn new(k: &'a Kist) -> Option<Podman<'a>> {
        if !super::have(PODMAN, "podman conmon") {
            return None;
        }
        let dir = k.path("podman");
        std::fs::create_dir_all(&dir).expect("mkdir podman dir");
        let runtime = dir.join("runc");
        std::os::unix::fs::symlink(kist_bin(), &runtime).expect("symlink runc -> kist");
        let conf = dir.join("containers.conf");
        std::fs::write(&conf, containers_conf(&k.mark, &dir.join("net")))
            .expect("write containers.conf");
        let p = Podman {
            k,
            dir,
            conf,
            runtime,
            cgroup_parent: format!("/{}", k.mark),
        };
        let archive = image::build(&k.dir, &k.mark);
        p.podman(&["load", "-i", &archive.to_string_lossy()]).ok();
        Some(p)
    }

    /// `podman <private flags> args...`
    pub fn podman(&self, args: &[&str]) -> Output {
        self.podman_opts(args, cmd::Opts::default())
    }

    pub fn podman_opts(&self, args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = private_flags(&self.dir, &self.runtime);
        v.extend(strs(args));
        let mut opts = opts;
        opts.envs
            .push(("CONTAINERS_CONF".into(), self.conf.to_string_lossy().into()));
        tool(self.k, PODMAN, &v, opts)
    }

    /// `podman run --cgroup-parent P flags... IMAGE args...`
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Output {
        self.run_opts(flags, args, cmd::Opts::default())
    }

    pub fn run_opts(&self, flags: &[&str], args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = vec!["run", "--cgroup-parent", &self.cgroup_parent];
        v.extend_from_slice(flags);
        if !flags.contains(&"--rootfs") {
            v.push(image::IMAGE);
        }
        v.extend_from_slice(args);
        self.podman_opts(&v, opts)
    }

    /// `podman inspect -f FORMAT name`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.podman(&["inspect", "-f", format, name])
            .ok()
            .stdout
            .trim()
            .to_string()
    }

    /// Containers in kist's default root whose bundle is in this test's directory.
    fn kist_containers(&self) -> Vec<String> {
        let o = tool(
            self.k,
            &kist_bin().to_string_lossy(),
            &strs(&["list", "--format", "json"]),
            cmd::Opts::default(),
        );
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
        let dir = self.k.dir.to_string_lossy();
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["bundle"].as_str().is_some_and(|b| b.starts_with(&*dir)))
                    .filter_map(|c| c["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What kist logged for podman's calls (conmon passes `--log`), for
    /// failure messages.
    pub fn runtime_logs(&self) -> String {
        let mut out = String::new();
        let root = self.dir.join("runroot");
        walk(&root, &mut |p| {
            if p.file_name()
                .is_some_and(|n| n == "oci-log" || n == "log.json")
            {
                out.push_str(&format!(
                    "{}:\n{}\n",
                    p.display(),
                    std::fs::read_to_string(p).unwrap_or_default()
                ));
            }
        });
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let o = self.podman(&["ps", "-aq"]);
        if !o.stdout.trim().is_empty() {
            if !std::thread::panicking() {
                problems.push(format!("containers left: {}", o.stdout.trim()));
            }
            let _ = self.podman(&["rm", "--force", "--all", "--time", "0"]);
        }
        problems.extend(super::remove_cgroup_everywhere(&self.cgroup_parent));
        for id in self.kist_containers() {
            problems.push(format!("kist state of {id} left behind in /run/kist"));
            let _ = tool(
                self.k,
                &kist_bin().to_string_lossy(),
                &strs(&["delete", "--force", &id]),
                cmd::Opts::default(),
            );
        }
        super::report("podman", &problems);
    }
}

/// containers.conf for a test's podman (rootful or rootless). Default
/// ulimits of podman (nofile and nproc 1048576) exceed this VM's hard limits
/// and root here lacks CAP_SYS_RESOURCE to raise them. File locks instead
/// of the default shared-memory ones keep podman's lock state in this
/// test's tmpdir rather than in /dev/shm; the network config dir (where
/// podman puts its cni.lock) is private too. Left outside: podman's
/// blob-info cache in /var/lib/containers/cache (rootless:
/// ~/.local/share/containers/cache), which podman 4.3 has no setting for (a
/// cache any podman use creates). No network unless a test asks for one.
pub fn containers_conf(mark: &str, net_dir: &Path) -> String {
    format!(
        r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
env = ["KIST_TEST_MARK={mark}"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
[network]
network_config_dir = "{net}"
"#,
        net = net_dir.display()
    )
}

/// podman's flags for private storage, run root and tmp dir under `dir`,
/// and `runtime`.
pub fn private_flags(dir: &Path, runtime: &Path) -> Vec<String> {
    let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
    strs(&[
        "--root",
        &d("root"),
        "--runroot",
        &d("runroot"),
        "--tmpdir",
        &d("tmp"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--runtime",
        &runtime.to_string_lossy(),
    ])
}

/// A `-t` command succeeded and its output on the pty shows `tty_path`
/// and the script's `tty-ok`.
#[track_caller]
fn tty_ok(p: &Podman, o: &Output, pty: &mut PtyPair, tty_path: &str) {
    super::assert_tty(o, pty, tty_path, || p.runtime_logs());
}

/// The output of a `podman run` that must succeed, with kist's log on failure.
#[track_caller]
fn ok(p: &Podman, o: Output) -> Output {
    assert!(
        o.success(),
        "{}\nruntime logs:\n{}",
        o.describe(),
        p.runtime_logs()
    );
    o
}

#[test]
fn podman_run_rm_output_and_exit_codes() {
    let k = super::engine_kist();
    let Some(p) = Podman::new(&k) else {
        return;
    };
    let p = &p;
    let mut steps = Steps::default();
    steps.run("output and exit code", || {
        let o = p.run(
            &["--rm"],
            &["sh", "-c", "echo out-$((6*7)); echo err-line >&2; exit 3"],
        );
        assert_eq!(o.code, 3, "{}\n{}", o.describe(), p.runtime_logs());
        assert!(o.stdout.contains("out-42"), "{}", o.describe());
        assert!(o.stderr.contains("err-line"), "{}", o.describe());
    });
    // podman maps the runtime's error wording to 127 (no such command) and
    // 126 (not executable), as it does for runc's.
    steps.run("missing command: exit 127", || {
        let o = p.run(&["--rm"], &["/no/such/command"]);
        assert_eq!(o.code, 127, "{}", o.describe());
    });
    steps.run("not executable: exit 126", || {
        let o = p.run(&["--rm"], &["/etc/passwd"]);
        assert_eq!(o.code, 126, "{}", o.describe());
    });
    steps.finish();
}

#[test]
fn podman_detached_exec_top_pause_stop_rm() {
    let k = super::engine_kist();
    let Some(p) = Podman::new(&k) else {
        return;
    };
    let name = k.id("pm-d");
    // pid 1 of a pid namespace has no default action for TERM: trap it so
    // that `stop` does not have to wait for its KILL.
    let o = p.run(
        &["-d", "--name", &name],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 1 & wait $!; done",
        ],
    );
    ok(&p, o);
    let p = &p;
    let name = name.as_str();
    let mut steps = Steps::default();

    steps.run("exec", || {
        let o = p.podman(&["exec", name, "sh", "-c", "echo exec-out; exit 4"]);
        assert_eq!(o.code, 4, "{}\n{}", o.describe(), p.runtime_logs());
        assert!(o.stdout.contains("exec-out"), "{}", o.describe());
    });
    // Twice: each `exec -t` must leave the container as it found it.
    for n in 1..=2 {
        steps.run(&format!("exec -t #{n}"), || {
            let mut pty = PtyPair::new();
            let o = p.podman_opts(
                &["exec", "-t", name, "sh", "-c", "tty; echo tty-ok"],
                pty.stdio(),
            );
            tty_ok(p, &o, &mut pty, "/dev/pts/");
        });
    }
    steps.run("top", || {
        let o = ok(p, p.podman(&["top", name]));
        assert!(
            o.stdout.contains("sleep") || o.stdout.contains("sh"),
            "{}",
            o.describe()
        );
    });
    steps.run("pause/unpause", || {
        ok(p, p.podman(&["pause", name]));
        assert_eq!(p.inspect(name, "{{.State.Status}}"), "paused");
        ok(p, p.podman(&["unpause", name]));
        assert_eq!(p.inspect(name, "{{.State.Status}}"), "running");
    });
    steps.run("stop", || {
        ok(p, p.podman(&["stop", "--time", "10", name]));
        assert_eq!(p.inspect(name, "{{.State.ExitCode}}"), "7");
    });
    steps.run("rm", || {
        ok(p, p.podman(&["rm", name]));
        let o = p.podman(&["ps", "-aq"]).ok();
        assert!(o.stdout.trim().is_empty(), "{}", o.describe());
    });
    steps.finish();
}

#[test]
fn podman_limits_and_security_options() {
    let k = super::engine_kist();
    let Some(p) = Podman::new(&k) else {
        return;
    };
    let p = &p;
    let mut steps = Steps::default();
    steps.run("--memory", || {
        let o = p.run(
            &["--rm", "--memory", "64m"],
            &["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"],
        );
        let o = ok(p, o);
        assert_eq!(o.stdout.trim(), MIB64.to_string(), "{}", o.describe());
    });
    steps.run("--read-only", || {
        let o = p.run(
            &["--rm", "--read-only"],
            &[
                "sh",
                "-c",
                "touch /x && echo wrote; touch /tmp/y && echo tmp-ok",
            ],
        );
        let o = ok(p, o);
        assert!(!o.stdout.contains("wrote"), "{}", o.describe());
        assert!(
            o.stderr.contains("Read-only file system"),
            "{}",
            o.describe()
        );
        assert!(
            o.stdout.contains("tmp-ok"),
            "podman mounts a tmpfs on /tmp: {}",
            o.describe()
        );
    });
    steps.run("--user 1000:1000", || {
        let o = ok(p, p.run(&["--rm", "--user", "1000:1000"], &["id"]));
        assert!(
            o.stdout.contains("uid=1000") && o.stdout.contains("gid=1000"),
            "{}",
            o.describe()
        );
    });
    steps.run("default seccomp profile is applied", || {
        // podman always sends its default profile; it must be enforced
        // (mode 2: filter), not ignored.
        let o = ok(
            p,
            p.run(&["--rm"], &["grep", "^Seccomp:", "/proc/self/status"]),
        );
        assert!(o.stdout.contains('2'), "{}", o.describe());
    });
    steps.run("--cap-drop ALL", || {
        let o = ok(
            p,
            p.run(
                &["--rm", "--cap-drop", "ALL"],
                &["grep", "^Cap", "/proc/self/status"],
            ),
        );
        for l in o.stdout.lines() {
            assert!(l.ends_with("0000000000000000"), "{l}\n{}", o.describe());
        }
    });
    steps.finish();
}

#[test]
fn podman_tty_rootfs_and_uidmap() {
    let k = super::engine_kist();
    let Some(p) = Podman::new(&k) else {
        return;
    };
    let p = &p;
    let mut steps = Steps::default();
    steps.run("-t", || {
        let mut pty = PtyPair::new();
        let o = p.run_opts(
            &["--rm", "-t"],
            &["sh", "-c", "tty; echo tty-ok"],
            pty.stdio(),
        );
        tty_ok(p, &o, &mut pty, "/dev/pts/0");
    });
    steps.run("--rootfs DIR", || {
        let b = k.bundle(&["true"]);
        b.write_file("/marker", "from-rootfs-dir\n");
        let rootfs = b.rootfs().to_string_lossy().into_owned();
        let o = ok(
            p,
            p.run(&["--rm", "--rootfs", &rootfs], &["/bin/cat", "/marker"]),
        );
        assert!(o.stdout.contains("from-rootfs-dir"), "{}", o.describe());
    });
    // Container root is host uid/gid 100000 in both user-namespace steps.
    const USERNS: [&str; 5] = [
        "--rm",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:65536",
    ];
    steps.run("--uidmap (user namespace)", || {
        let o = p.run(&USERNS, &["sh", "-c", "cat /proc/self/uid_map; id -u"]);
        let o = ok(p, o);
        let map: Vec<&str> = o
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(map, ["0", "100000", "65536"], "{}", o.describe());
    });
    steps.run("--uidmap with an :idmap volume", || {
        // A host-root directory, seen as the container's root through the
        // id-mapped mount podman asks for.
        let vol = k.path("idmap-vol");
        std::fs::create_dir_all(&vol).expect("mkdir");
        std::fs::write(vol.join("f"), "x").expect("write");
        let v = format!("{}:/data:idmap", vol.display());
        let args: Vec<&str> = USERNS.iter().copied().chain(["-v", v.as_str()]).collect();
        let o = p.run(&args, &["stat", "-c", "%u:%g", "/data/f"]);
        let o = ok(p, o);
        assert_eq!(o.stdout.trim(), "0:0", "{}", o.describe());
    });
    steps.finish();
}
