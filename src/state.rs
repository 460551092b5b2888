//! The state directory: `<root>/<id>/state.json`, its lock, and the status of
//! a container derived from its process rather than trusted from a file.
//!
//! Layout of `<root>/<id>/`:
//! - `state.json`: written once by `create` (atomically), read by every other command;
//! - `start.sock`: present while the container is `created`; a FIFO (the
//!   name predates that) whose write end the init opens, blocking until
//!   `start` opens it for reading to let the user program run.
//!
//! Every command on an id takes an exclusive flock on the directory, so
//! concurrent commands on the same container are serialized.

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, ErrorKind, Result};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
/// The start FIFO (runc's exec.fifo); the name is kept from when it was a
/// socket, for tools and older state directories.
pub const START_SOCKET: &str = "start.sock";

/// The format of state.json this kist writes. 1: before the field existed
/// (cgroupfs only); 2: `version` and `cgroup.driver` recorded. A kist
/// reads every older version (new fields have defaults) and refuses a
/// newer one rather than misreading it.
pub const STATE_VERSION: u32 = 2;

fn legacy_version() -> u32 {
    1
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct State {
    /// See [`STATE_VERSION`].
    #[serde(default = "legacy_version")]
    pub version: u32,
    pub id: String,
    /// Host pid of the container's init process.
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat when the container was created: a pid
    /// that is reused later has another start time.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub cgroup: Cgroup,
    /// The configuration the container was created with: hooks for
    /// `start`/`delete` and what `exec` must join come from here, never from
    /// a bundle that may have changed since.
    pub config: Spec,
    /// Set from the first save (before any cgroup exists) until `create`
    /// has finished. Nobody sees it while `create` runs (it holds the
    /// lock); a state still marked afterwards was left by a `create` that
    /// was killed part-way: it reads as `stopped`, and `delete` kills what
    /// it had started and removes what it had made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's rule for ids: one path component of `[A-Za-z0-9_.+-]`, so an id
/// can never name a path outside the state root.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::new("invalid container id: it is empty"));
    }
    if id.len() > 1024 {
        return Err(Error::new(format!(
            "invalid container id: {} bytes long, at most 1024 are allowed",
            id.len()
        )));
    }
    if id == "." || id == ".." {
        return Err(Error::new(format!("invalid container id {id:?}")));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
    {
        return Err(Error::new(format!(
            "invalid container id {id:?}: character {c:?} is not allowed (only [A-Za-z0-9_.+-])"
        )));
    }
    Ok(())
}

/// The state directory's name: the id itself, except for ids too long to be
/// a file name (ids may be 1024 bytes, names only 255), which get a name
/// made from a 128-bit hash behind a `~`, a character no id may contain.
pub fn dir_name(id: &str) -> String {
    if id.len() <= 200 {
        return id.to_string();
    }
    let fnv = |seed: u64| {
        id.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "~{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// A container's state directory with its lock held.
pub struct Container {
    pub dir: PathBuf,
    _lock: Flock<File>,
}

impl Container {
    /// Creates `<root>/<id>` (failing if it exists) and locks it.
    pub fn create(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        // Private, as runc's: the states name bundles, pids and configs.
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("create state root {}", root.display()))?;
        }
        let dir = root.join(dir_name(id));
        if let Err(e) = fs::create_dir(&dir) {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(Error::new(format!("container with id {id} already exists"))
                    .with_kind(ErrorKind::AlreadyExists));
            }
            return Err(Error::io(format!("create state dir {}", dir.display()), e));
        }
        match lock(&dir) {
            Ok(lock) => Ok(Container { dir, _lock: lock }),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// Opens and locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = root.join(dir_name(id));
        let lock = lock(&dir).map_err(|e| match e.errno() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => not_exist(id),
            _ => e,
        })?;
        // A concurrent delete may have removed the directory while we waited.
        if !dir.join(STATE_FILE).exists() {
            return Err(not_exist(id));
        }
        Ok(Container { dir, _lock: lock })
    }

    /// Opens a state directory by its name (for `list`).
    pub fn open_dir(root: &Path, name: &str) -> Result<Container> {
        let dir = root.join(name);
        let lock = lock(&dir)?;
        Ok(Container { dir, _lock: lock })
    }

    pub fn load(&self) -> Result<State> {
        let path = self.dir.join(STATE_FILE);
        let data = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        parse_state(&data).with_context(|| format!("parse {}", path.display()))
    }

    /// Writes state.json atomically: a reader sees the old file or the new one.
    pub fn save(&self, state: &State) -> Result<()> {
        let data =
            serde_json::to_vec(state).map_err(|e| Error::new(format!("serialize state: {e}")))?;
        write_atomic(&self.dir.join(STATE_FILE), &data)
    }

    /// The raw fd holding the lock: a forked child must close it, or it
    /// would keep the container locked for as long as it lives.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self._lock.as_raw_fd()
    }

    pub fn start_socket(&self) -> PathBuf {
        self.dir.join(START_SOCKET)
    }

    /// Gives up the lock while keeping nothing else: `run` must not hold it
    /// while the container runs, or `kill` and `state` would block.
    pub fn unlock(self) {}

    /// Removes the state directory; the lock goes with the handle.
    pub fn remove(self) -> Result<()> {
        // Usually only state.json is left: two syscalls instead of a
        // directory walk, which handles whatever else there is.
        let _ = fs::remove_file(self.dir.join(STATE_FILE));
        if fs::remove_dir(&self.dir).is_ok() {
            return Ok(());
        }
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("remove state dir {}", self.dir.display()))
    }
}

/// Reads state.json of this version or an older one.
pub fn parse_state(data: &[u8]) -> Result<State> {
    #[derive(Deserialize)]
    struct Version {
        #[serde(default = "legacy_version")]
        version: u32,
    }
    let v: Version = serde_json::from_slice(data).map_err(|e| Error::new(e.to_string()))?;
    if v.version > STATE_VERSION {
        return Err(Error::new(format!(
            "state format version {} is newer than this kist's ({STATE_VERSION}): use the kist that created the container",
            v.version
        )));
    }
    serde_json::from_slice(data).map_err(|e| Error::new(e.to_string()))
}

/// A valid id with no container state under `root`.
pub fn is_gone(root: &Path, id: &str) -> bool {
    // Only a definite "no such file": a root the caller may not enter
    // (another user's) is not "gone".
    validate_id(id).is_ok()
        && matches!(
            root.join(dir_name(id)).join(STATE_FILE).try_exists(),
            Ok(false)
        )
}

/// Removes the state directory of `id` if it holds no state: left by a
/// `create` killed between making the directory and its first save, when
/// nothing else existed yet. A directory that is gone is fine.
pub fn remove_unrecorded(root: &Path, id: &str) -> Result<()> {
    let Ok(c) = Container::open_dir(root, &dir_name(id)) else {
        return Ok(());
    };
    if c.dir.join(STATE_FILE).exists() {
        return Err(Error::new(format!(
            "container {id}: created while being deleted, try again"
        )));
    }
    c.remove()
}

pub fn not_exist(id: &str) -> Error {
    Error::new(format!("container {id} does not exist")).with_kind(ErrorKind::NotFound)
}

fn lock(dir: &Path) -> Result<Flock<File>> {
    let f = File::open(dir).with_context(|| format!("open state dir {}", dir.display()))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::os(format!("lock state dir {}", dir.display()), e))
}

/// Write to a temporary file in the same directory, then rename over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let res = File::create(&tmp)
        .and_then(|mut f| f.write_all(data))
        .and_then(|_| replace(&tmp, path));
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("write {}", path.display()), e));
    }
    Ok(())
}

/// Puts `tmp` in the place of `path`. A rename over an existing file makes
/// ext4 (auto_da_alloc) start writing the new file's data to disk at once,
/// a block I/O on every state save (~70 µs in a VM, twice per `create`);
/// exchanging the two names and unlinking the old data does not. Where the
/// exchange is not possible (no `path` yet, a filesystem without
/// RENAME_EXCHANGE), a plain rename. Either way a reader sees the old or
/// the new file whole, and a crash in between leaves `tmp`, which removing
/// the state directory takes with it.
fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags};
    match renameat2(None, tmp, None, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => {
            let _ = fs::remove_file(tmp);
            Ok(())
        }
        Err(_) => fs::rename(tmp, path),
    }
}

/// What /proc/<pid>/stat says about a process.
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let data = crate::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // After state come fields 4..; starttime is field 22, i.e. 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

impl State {
    /// The status, derived from the process: alive only when its pid still
    /// has the recorded start time and is not a zombie (pid 1 here does not
    /// reap orphans, so a dead container can linger as one).
    pub fn status(&self, dir: &Path) -> Status {
        if self.creating || !self.is_alive() {
            return Status::Stopped;
        }
        // Frozen first, as runc: a created container can be paused too.
        if self.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        if dir.join(START_SOCKET).exists() {
            return Status::Created;
        }
        Status::Running
    }

    /// The container's processes: those of its cgroup or, with no cgroup
    /// at all (rootless, nothing delegated), those in the init's pid
    /// namespace when it has its own, else the init alone.
    pub fn pids(&self) -> Result<Vec<i32>> {
        if !self.cgroup.is_empty() {
            return self.cgroup.pids();
        }
        if !self.is_alive() {
            return Ok(Vec::new());
        }
        let own_pidns =
            crate::namespaces::creates(&self.config, oci_spec::runtime::LinuxNamespaceType::Pid);
        if !own_pidns {
            return Ok(vec![self.pid]);
        }
        let ns_of = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let Some(ns) = ns_of(&self.pid.to_string()) else {
            return Ok(Vec::new());
        };
        let rd = fs::read_dir("/proc").context("list /proc")?;
        let mut out: Vec<i32> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let pid = name.to_str()?.parse::<i32>().ok()?;
                (ns_of(name.to_str()?).as_ref() == Some(&ns)).then_some(pid)
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Signals every process of the container (see [`State::pids`]); with
    /// a cgroup, frozen around it (`Cgroup::signal_all`).
    pub fn signal_all(&self, sig: impl Into<Option<nix::sys::signal::Signal>>) -> Result<()> {
        let sig = sig.into();
        if !self.cgroup.is_empty() {
            return self.cgroup.signal_all(sig);
        }
        for pid in self.pids()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(Error::os(
                        format!(
                            "kill --all: signal {} to pid {pid}",
                            sig.map_or("0", |s| s.as_str())
                        ),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    pub fn is_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some(st) => st.start_time == self.start_time && !matches!(st.state, 'Z' | 'X' | 'x'),
            None => false,
        }
    }

    /// The state given to hooks on stdin.
    pub fn hook_state(&self, status: &str) -> Vec<u8> {
        hook_state(&self.id, status, self.pid, &self.bundle, &self.config)
    }

    /// The OCI state object plus runc's extra fields, keys in runc's order
    /// (`state` and `list --format json` output is matched as text by
    /// scripts); annotations only when there are some, as runc.
    pub fn to_json(&self, status: Status) -> StateView<'_> {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        StateView {
            oci_version: crate::OCI_VERSION,
            id: &self.id,
            pid,
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: self.config.annotations().as_ref(),
            owner: &self.owner,
        }
    }
}

/// runc's `cState`: the field order is the output order.
#[derive(Serialize)]
pub struct StateView<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "no_annotations")]
    pub annotations: Option<&'a HashMap<String, String>>,
    pub owner: &'a str,
}

fn no_annotations(a: &Option<&HashMap<String, String>>) -> bool {
    a.is_none_or(|a| a.is_empty())
}

/// The OCI state object hooks get on stdin; also used by the init, which
/// has no `State` yet.
pub fn hook_state(id: &str, status: &str, pid: i32, bundle: &Path, config: &Spec) -> Vec<u8> {
    let v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": config.annotations().clone().unwrap_or_default(),
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("kist-write-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("state.json");
        write_atomic(&f, b"first").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"first");
        // The second save exchanges names: the old data must be gone.
        write_atomic(&f, b"second, longer").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"second, longer");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"], "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids() {
        for ok in ["a", "abc-DEF_1.2+3", "x".repeat(1024).as_str()] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "é",
            "a\0b",
            "x".repeat(1025).as_str(),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    /// A state.json written by kist before the cgroup manager seam (no
    /// `version`, no `cgroup.driver`): still read, as cgroupfs.
    #[test]
    fn reads_version_1_state() {
        let st = parse_state(include_bytes!("testdata/state-v1.json")).unwrap();
        assert_eq!(st.version, 1);
        assert_eq!(st.id, "fixold1");
        assert_eq!(st.cgroup.driver, crate::cgroups::Driver::Cgroupfs);
        assert_eq!(st.cgroup.mode, crate::cgroups::Mode::Hybrid);
        assert_eq!(
            st.cgroup.v1_path("freezer"),
            Some(Path::new("/sys/fs/cgroup/freezer/fixold1"))
        );
        // Written back as the current version, with the same cgroup.
        let mut again = st.clone();
        again.version = STATE_VERSION;
        let back = parse_state(&serde_json::to_vec(&again).unwrap()).unwrap();
        assert_eq!(back.version, STATE_VERSION);
        assert_eq!(back.cgroup, st.cgroup);
    }

    #[test]
    fn refuses_newer_state() {
        let mut v: serde_json::Value =
            serde_json::from_slice(include_bytes!("testdata/state-v1.json")).unwrap();
        v["version"] = serde_json::json!(STATE_VERSION + 1);
        let e = parse_state(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn own_stat_parses() {
        let st = proc_stat(std::process::id() as i32).expect("stat of self");
        assert!(matches!(st.state, 'R' | 'S'), "{}", st.state);
        assert!(st.start_time > 0);
    }
}
