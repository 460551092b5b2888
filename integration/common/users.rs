//! Ordinary (unprivileged) users for the rootless tests.
//!
//! [`user`] makes, once per test run and idempotently across runs and
//! concurrent test processes (an flock serialises them), the users
//! `kistrl1`, `kistrl2`, ... with a home directory, non-overlapping
//! `/etc/subuid` and `/etc/subgid` ranges and an `XDG_RUNTIME_DIR`
//! (`/run/user/<uid>`, 0700, theirs), the way a login would leave them.
//!
//! Running as one of them: [`Kist::as_user`](super::Kist::as_user) gives a
//! test harness whose every command (kist, and the bundles it builds) runs
//! as that user with a clean environment; [`User::run`] runs any other
//! program that way; [`User::command`] gives a `Command` set up the same way.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use super::cmd::{self, Output};

/// One test user. Its subordinate ranges are `sub_start..sub_start+sub_count`
/// in both /etc/subuid and /etc/subgid.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// `/run/user/<uid>`.
    pub runtime_dir: PathBuf,
    pub sub_start: u32,
    pub sub_count: u32,
}

const MAX_USERS: usize = 3;
const SUB_COUNT: u32 = 65536;
const LOCK: &str = "/run/lock/kist-test-users.lock";

/// Test user number `n` (1-based, at most 3): `kistrl<n>`, created on first use.
pub fn user(n: usize) -> &'static User {
    static USERS: [OnceLock<User>; MAX_USERS] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    assert!(
        (1..=MAX_USERS).contains(&n),
        "test user {n}: 1..={MAX_USERS}"
    );
    USERS[n - 1].get_or_init(|| ensure(&format!("kistrl{n}")))
}

/// Does the machine let us make users (root, with useradd)? Tests that need
/// one are pointless otherwise; they panic with this explanation.
fn require_root() {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the rootless tests create users: run the suite as root"
    );
}

/// Holds the flock for as long as it lives.
struct Locked(#[allow(dead_code)] File);

fn lock() -> Locked {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .unwrap_or_else(|e| panic!("open {LOCK}: {e}"));
    // SAFETY: flock(2) on an fd we own; blocks until the lock is ours.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {LOCK}: {}", std::io::Error::last_os_error());
    Locked(f)
}

fn ensure(name: &str) -> User {
    require_root();
    let _l = lock();
    if lookup(name).is_none() {
        let st = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", "--user-group", name])
            .status()
            .unwrap_or_else(|e| panic!("useradd {name}: {e}"));
        assert!(st.success(), "useradd {name}: {st}");
    }
    let (uid, gid, home) =
        lookup(name).unwrap_or_else(|| panic!("user {name} missing after useradd"));
    let home = PathBuf::from(home);
    if !home.is_dir() {
        std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("mkdir {}: {e}", home.display()));
        chown(&home, uid, gid);
        chmod(&home, 0o700);
    }
    let sub_start = ensure_subids(Path::new("/etc/subuid"), name, uid);
    let sub_start_g = ensure_subids(Path::new("/etc/subgid"), name, gid);
    assert_eq!(
        sub_start, sub_start_g,
        "{name}: /etc/subuid and /etc/subgid ranges start apart ({sub_start} vs {sub_start_g}); fix them by hand"
    );
    let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
    std::fs::create_dir_all(&runtime_dir)
        .unwrap_or_else(|e| panic!("mkdir {}: {e}", runtime_dir.display()));
    chown(&runtime_dir, uid, gid);
    chmod(&runtime_dir, 0o700);
    User {
        name: name.to_string(),
        uid,
        gid,
        home,
        runtime_dir,
        sub_start,
        sub_count: SUB_COUNT,
    }
}

/// (uid, gid, home) from /etc/passwd.
fn lookup(name: &str) -> Option<(u32, u32, String)> {
    let pw = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    pw.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[0] == name {
            Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string()))
        } else {
            None
        }
    })
}

/// Entries of a subuid/subgid file: (owner, start, count).
fn sub_entries(file: &Path) -> Vec<(String, u64, u64)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            if f.len() != 3 {
                return None;
            }
            Some((f[0].to_string(), f[1].parse().ok()?, f[2].parse().ok()?))
        })
        .collect()
}

/// Makes sure `name` owns exactly one range of SUB_COUNT ids in `file` that
/// overlaps no other entry (useradd may have given one already); returns its start.
fn ensure_subids(file: &Path, name: &str, id: u32) -> u32 {
    let entries = sub_entries(file);
    let owner = |o: &str| o == name || o == id.to_string();
    let mine: Vec<&(String, u64, u64)> = entries.iter().filter(|e| owner(&e.0)).collect();
    let others: Vec<&(String, u64, u64)> = entries.iter().filter(|e| !owner(&e.0)).collect();
    let overlaps = |s: u64, c: u64| others.iter().any(|o| s < o.1 + o.2 && o.1 < s + c);
    if let [m] = mine.as_slice() {
        if m.2 >= u64::from(SUB_COUNT) && !overlaps(m.1, m.2) {
            return m.1 as u32;
        }
    }
    // Rewrite the file: our range after every other one (and above the
    // login.defs minimum), theirs untouched.
    let start = others
        .iter()
        .map(|o| o.1 + o.2)
        .chain([100_000])
        .max()
        .unwrap_or(100_000);
    let start = start.div_ceil(u64::from(SUB_COUNT)) * u64::from(SUB_COUNT);
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out: String = text
        .lines()
        .filter(|l| !l.split(':').next().is_some_and(owner))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("{name}:{start}:{SUB_COUNT}\n"));
    std::fs::write(file, out).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    start as u32
}

pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Gives `p` and everything below it (symlinks themselves, not their
/// targets) to `uid:gid`.
pub fn chown_tree(p: &Path, uid: u32, gid: u32) {
    chown(p, uid, gid);
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return;
    };
    if meta.is_dir() {
        let rd = std::fs::read_dir(p).unwrap_or_else(|e| panic!("readdir {}: {e}", p.display()));
        for e in rd.flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

impl User {
    /// The environment a login would give: HOME, USER, LOGNAME,
    /// XDG_RUNTIME_DIR, PATH, and nothing else.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.home.display().to_string()),
            ("USER".into(), self.name.clone()),
            ("LOGNAME".into(), self.name.clone()),
            (
                "XDG_RUNTIME_DIR".into(),
                self.runtime_dir.display().to_string(),
            ),
            (
                "PATH".into(),
                "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin".into(),
            ),
        ]
    }

    /// A `Command` that runs `program` as this user (no supplementary
    /// groups), with [`User::env`] only, in the home directory.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        self.apply(&mut c);
        c.current_dir(&self.home);
        c
    }

    /// Switches an already built command to this user and a clean environment.
    pub fn apply(&self, c: &mut Command) {
        c.env_clear().envs(self.env()).uid(self.uid).gid(self.gid);
    }

    /// Like [`User::apply`], and first (still as root) moves the process
    /// into the cgroup2 directory `cgroup`: a user may only move its own
    /// processes between cgroups below one it was delegated, so a test
    /// puts the runtime there for it, as a login manager would.
    pub fn apply_in_cgroup(&self, c: &mut Command, cgroup: &Path) {
        use std::os::unix::ffi::OsStrExt;
        c.env_clear().envs(self.env());
        let procs = std::ffi::CString::new(cgroup.join("cgroup.procs").as_os_str().as_bytes())
            .expect("cgroup path without NUL");
        let (uid, gid) = (self.uid, self.gid);
        // SAFETY: the closure runs between fork and exec and calls only the
        // async-signal-safe open, write, close, setgroups, setresgid and
        // setresuid on memory it owns.
        unsafe {
            c.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// A cgroup2 directory delegated to this user (owner of the directory
    /// and of its cgroup.procs, cgroup.threads and cgroup.subtree_control,
    /// as systemd's `Delegate=` does), with a `runtime` child delegated the
    /// same way for the runtime's own processes: on a pure cgroup v2 host
    /// the runtime makes the container's cgroup next to its own. Removed
    /// when `k` is dropped (after its containers). On a hybrid host it is
    /// in the cgroup2 hierarchy at /sys/fs/cgroup/unified.
    pub fn delegated_cgroup2(&self, k: &super::Kist) -> PathBuf {
        let mount = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|m| {
                m.join("cgroup.subtree_control").exists()
                    || m.join("cgroup.procs").exists() && m.join("cgroup.controllers").exists()
            })
            .expect("no cgroup2 hierarchy mounted");
        let top = mount.join(format!("kist-rl-{}", super::unique()));
        let runtime = top.join("runtime");
        for d in [&top, &runtime] {
            std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            for f in [
                "",
                "cgroup.procs",
                "cgroup.threads",
                "cgroup.subtree_control",
            ] {
                chown(&d.join(f), self.uid, self.gid);
            }
        }
        let top2 = top.clone();
        k.on_drop(move || {
            let _ = std::fs::remove_dir(top2.join("runtime"));
            let _ = std::fs::remove_dir(&top2);
        });
        runtime
    }

    /// Runs `program args` as this user with file-backed stdio (the output
    /// files go under `dir`), stdin from /dev/null, the usual timeout.
    #[track_caller]
    pub fn run(&'static self, dir: &Path, program: &str, args: &[&str]) -> Output {
        self.run_opts(dir, program, args, cmd::Opts::default())
    }

    #[track_caller]
    pub fn run_opts(
        &'static self,
        dir: &Path,
        program: &str,
        args: &[&str],
        mut opts: cmd::Opts,
    ) -> Output {
        opts.as_user = Some(self);
        let argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        let n = super::unique();
        cmd::run(
            Path::new(program),
            &argv,
            &dir.join(format!("user-cmd{n}")),
            "",
            opts,
        )
    }

    /// runc's `spec --rootless` transformation applied to a test config:
    /// a user namespace mapping this user to 0 (single ids), no network
    /// namespace, /sys rbind-mounted read-only, no uid=/gid= mount options,
    /// no `linux.resources`.
    pub fn rootless_config(&self, config: &mut Value) {
        rootless_config(config, self.uid, self.gid);
    }
}

/// See [`User::rootless_config`]: the library's own `spec --rootless`
/// transformation, which `rootless_spec_is_runcs_rootless_template` checks
/// against runc's output.
pub fn rootless_config(config: &mut Value, uid: u32, gid: u32) {
    kist::rootless::to_rootless_spec(config, uid, gid);
}
