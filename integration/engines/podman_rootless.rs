//! Rootless podman 4.3: an ordinary user (`users.rs`, with /etc/subuid and
//! /etc/subgid ranges) runs podman with kist as `--runtime`.
//!
//! podman makes its user namespace (the user as 0, the subordinate range
//! above it, through newuidmap) and runs conmon and the runtime inside it:
//! kist is uid 0 there with no privilege on the host, detects it, and keeps
//! its state in `$XDG_RUNTIME_DIR/kist` (podman passes no `--root`, as to
//! runc, whose state goes to `$XDG_RUNTIME_DIR/runc`). The calls are the
//! rootful ones (engine-calls.md) minus every cgroup: on this hybrid host
//! rootless podman asks for none (no `linux.cgroupsPath`, empty resources),
//! exactly as it does with runc and crun.
//!
//! Each test gets a private `XDG_RUNTIME_DIR`, storage, run root and tmp dir
//! inside its own directory, so tests running side by side as the same user
//! share nothing, not even podman's pause process (which holds the user
//! namespace between commands and lives as long as that tmp dir's
//! pause.pid says: the drop guard stops it by that pid).

use super::super::common::users::{self, User};
use super::super::common::{cmd, Kist, Output};
use super::{image, kist_bin, podman, strs, tool, PtyPair, Steps};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const PODMAN: &str = "/usr/bin/podman";
const SLIRP: &str = "/usr/bin/slirp4netns";

pub struct RootlessPodman<'a> {
    k: &'a Kist,
    user: &'static User,
    dir: PathBuf,
    xdg: PathBuf,
    conf: PathBuf,
    runtime: PathBuf,
}

impl<'a> RootlessPodman<'a> {
    /// `k` must come from [`super::engine_kist_as`]; its root becomes the
    /// kist state dir podman's calls use.
    pub fn new(k: &'a mut Kist) -> Option<RootlessPodman<'a>> {
        if !super::have(PODMAN, "podman conmon") || !super::have(SLIRP, "slirp4netns") {
            return None;
        }
        let user = k.user.expect("RootlessPodman needs Kist::as_user");
        let dir = k.dir.join("podman");
        let xdg = dir.join("xdg");
        // where the runtime keeps state by default when rootless
        let name = if super::super::common::is_reference() {
            kist_bin()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            "kist".into()
        };
        k.root = xdg.join(name);
        for d in [&dir, &xdg] {
            std::fs::create_dir_all(d).expect("mkdir");
            users::chown(d, user.uid, user.gid);
        }
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).expect("chmod xdg");
        // Named runc so that podman passes kist the json log flags it gives
        // the runtimes it knows.
        let runtime = dir.join("runc");
        std::os::unix::fs::symlink(kist_bin(), &runtime).expect("symlink runc -> kist");
        let conf = dir.join("containers.conf");
        std::fs::write(&conf, podman::containers_conf(&k.mark, &dir.join("net")))
            .expect("write containers.conf");
        let k: &'a Kist = k;
        let p = RootlessPodman {
            k,
            user,
            dir,
            xdg,
            conf,
            runtime,
        };
        let archive = image::build(&k.dir, &k.mark);
        users::chown(&archive, user.uid, user.gid);
        ok(&p, p.podman(&["load", "-i", &archive.to_string_lossy()]));
        Some(p)
    }

    pub fn podman(&self, args: &[&str]) -> Output {
        self.podman_opts(args, cmd::Opts::default())
    }

    /// `podman <private dirs> args...` as the user, with the private
    /// XDG_RUNTIME_DIR.
    pub fn podman_opts(&self, args: &[&str], mut opts: cmd::Opts) -> Output {
        let mut v = podman::private_flags(&self.dir, &self.runtime);
        v.extend(strs(args));
        opts.as_user = Some(self.user);
        opts.envs.extend([
            ("CONTAINERS_CONF".into(), self.conf.to_string_lossy().into()),
            ("XDG_RUNTIME_DIR".into(), self.xdg.to_string_lossy().into()),
        ]);
        tool(self.k, PODMAN, &v, opts)
    }

    /// `podman run flags... IMAGE args...`
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Output {
        self.run_opts(flags, args, cmd::Opts::default())
    }

    pub fn run_opts(&self, flags: &[&str], args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = vec!["run"];
        v.extend_from_slice(flags);
        v.push(image::IMAGE);
        v.extend_from_slice(args);
        self.podman_opts(&v, opts)
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        ok(self, self.podman(&["inspect", "-f", format, name]))
            .stdout
            .trim()
            .to_string()
    }

    /// Container state dirs kist keeps in the private XDG_RUNTIME_DIR.
    fn kist_states(&self) -> Vec<String> {
        std::fs::read_dir(&self.k.root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// kist's log of podman's calls (conmon passes `--log`), for failures.
    fn runtime_logs(&self) -> String {
        let mut out = String::new();
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg("for f in $(find \"$1\" -name oci-log 2>/dev/null); do echo \"$f:\"; cat \"$f\"; done")
            .arg("sh")
            .arg(&self.dir)
            .output()
            .map(|o| out.push_str(&String::from_utf8_lossy(&o.stdout)));
        out
    }

    /// podman's pause process, if running.
    fn pause_pid(&self) -> Option<i32> {
        let s = std::fs::read_to_string(self.dir.join("tmp/pause.pid")).ok()?;
        let pid: i32 = s.trim().parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
        (comm.contains("podman") && !zombie).then_some(pid)
    }
}

impl Drop for RootlessPodman<'_> {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let o = self.podman(&["ps", "-aq"]);
        if !o.stdout.trim().is_empty() {
            problems.push(format!("containers left: {}", o.stdout.trim()));
            let _ = self.podman(&["rm", "--force", "--all", "--time", "0"]);
        }
        for id in self.kist_states() {
            problems.push(format!(
                "kist state of {id} left in {}",
                self.k.root.display()
            ));
        }
        // podman's own, not a leak: it stays for the next podman command.
        if let Some(pid) = self.pause_pid() {
            // SAFETY: kill(2) on the pid podman recorded in this test's
            // private tmp dir, checked above to be podman's pause process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            super::super::common::reap_pid(pid);
        }
        if !std::thread::panicking() {
            super::report("rootless podman", &problems);
        }
    }
}

#[track_caller]
fn ok(p: &RootlessPodman, o: Output) -> Output {
    assert!(
        o.success(),
        "{}\nruntime logs:\n{}",
        o.describe(),
        p.runtime_logs()
    );
    o
}

/// A rootless podman for `k` (from `engine_kist_as`).
fn rootless_podman(k: &mut Kist) -> Option<RootlessPodman<'_>> {
    RootlessPodman::new(k)
}

fn rootless_kist() -> Kist {
    super::engine_kist_as(users::user(3))
}

#[test]
fn podman_rootless_run_exec_stop_rm() {
    let mut k = rootless_kist();
    let Some(p) = rootless_podman(&mut k) else {
        return;
    };
    let p = &p;
    let uid = p.user.uid;
    let mut steps = Steps::default();
    steps.run(
        "run --rm: output, exit code, podman's user namespace",
        || {
            let o = p.run(
                &["--rm"],
                &["sh", "-c", "id -u; cat /proc/self/uid_map; exit 3"],
            );
            assert_eq!(o.code, 3, "{}\n{}", o.describe(), p.runtime_logs());
            let lines: Vec<Vec<&str>> = o
                .stdout
                .lines()
                .map(|l| l.split_whitespace().collect())
                .collect();
            assert_eq!(lines.first(), Some(&vec!["0"]), "{}", o.describe());
            // root in the container is the user, the rest their subordinate ids
            assert_eq!(
                lines.get(1),
                Some(&vec!["0", &*uid.to_string(), "1"]),
                "{}",
                o.describe()
            );
            assert_eq!(
                lines.get(2),
                Some(&vec![
                    "1",
                    &*p.user.sub_start.to_string(),
                    &*p.user.sub_count.to_string()
                ]),
                "{}",
                o.describe()
            );
        },
    );
    let name = p.k.id("rl-d");
    let name = name.as_str();
    steps.run("run -d", || {
        ok(
            p,
            p.run(
                &["-d", "--name", name],
                &[
                    "sh",
                    "-c",
                    "trap 'exit 7' TERM; while :; do sleep 1 & wait $!; done",
                ],
            ),
        );
        assert_eq!(p.inspect(name, "{{.State.Status}}"), "running");
        // kist kept the state where rootless runc keeps its own
        let id = p.inspect(name, "{{.Id}}");
        let st = p.k.root.join(&id);
        assert!(st.is_dir(), "{} missing", st.display());
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&st).unwrap());
        assert_eq!(owner, uid, "{} not the user's", st.display());
    });
    steps.run("exec", || {
        let o = p.podman(&["exec", name, "sh", "-c", "echo exec-out; exit 4"]);
        assert_eq!(o.code, 4, "{}\n{}", o.describe(), p.runtime_logs());
        assert!(o.stdout.contains("exec-out"), "{}", o.describe());
    });
    steps.run("exec -t", || {
        let mut pty = PtyPair::new();
        let o = p.podman_opts(
            &["exec", "-t", name, "sh", "-c", "tty; echo tty-ok"],
            pty.stdio(),
        );
        super::assert_tty(&o, &mut pty, "/dev/pts/", || p.runtime_logs());
    });
    steps.run("stop", || {
        ok(p, p.podman(&["stop", "--time", "10", name]));
        assert_eq!(p.inspect(name, "{{.State.ExitCode}}"), "7");
    });
    steps.run("rm leaves nothing", || {
        ok(p, p.podman(&["rm", name]));
        let o = ok(p, p.podman(&["ps", "-aq"]));
        assert!(o.stdout.trim().is_empty(), "{}", o.describe());
        assert!(p.kist_states().is_empty(), "{:?}", p.kist_states());
    });
    steps.finish();
}

#[test]
fn podman_rootless_keep_id_and_networks() {
    let mut k = rootless_kist();
    let Some(p) = rootless_podman(&mut k) else {
        return;
    };
    let p = &p;
    let u = p.user;
    let mut steps = Steps::default();
    steps.run("--userns=keep-id", || {
        let o = ok(
            p,
            p.run(
                &["--rm", "--userns=keep-id"],
                &["sh", "-c", "id -u; id -g; touch /tmp/x && echo wrote"],
            ),
        );
        let got: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(
            got,
            [&*u.uid.to_string(), &*u.gid.to_string(), "wrote"],
            "{}",
            o.describe()
        );
    });
    steps.run("--network none", || {
        let o = ok(
            p,
            p.run(&["--rm", "--network", "none"], &["ip", "-o", "link"]),
        );
        let links: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(links.len(), 1, "{}", o.describe());
        assert!(links[0].contains("lo:"), "{}", o.describe());
    });
    steps.run("slirp4netns", || {
        // slirp4netns opens /dev/net/tun as the user: udev makes it 0666
        // on a standard system; this VM has no udev.
        let tun = Path::new("/dev/net/tun");
        let mode = std::fs::metadata(tun)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o006 != 0o006 {
            let _ = std::fs::set_permissions(tun, std::fs::Permissions::from_mode(0o666));
        }
        let o = ok(
            p,
            p.run(
                &["--rm", "--network", "slirp4netns"],
                &["sh", "-c", "ip -o -4 addr show; ip route"],
            ),
        );
        // slirp4netns's fixed addresses: 10.0.2.100 on tap0, gateway .2
        assert!(
            o.stdout
                .lines()
                .any(|l| l.contains("tap0") && l.contains("10.0.2.100/24")),
            "{}",
            o.describe()
        );
        assert!(
            o.stdout.contains("default via 10.0.2.2 dev tap0"),
            "{}",
            o.describe()
        );
    });
    steps.finish();
}
