//! Tear-down and leak checks run when a test's [`Kist`] is dropped.

use super::{Kist, CMD_TIMEOUT};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn drop_kist(k: &mut Kist) {
    let ids: Vec<String> = k.ids.borrow().clone();
    let mut pids = Vec::new();
    for id in &ids {
        if let Some(pid) = state_pid(k, id) {
            pids.push(pid);
        }
        let _ = k.cmd_opts(&["delete", "--force", id], quick());
    }
    for pid in pids {
        reap(pid);
    }
    for f in k.cleanups.borrow_mut().drain(..) {
        f();
    }
    let mut problems = leftovers(k, &ids);
    // Whatever naming the runtime uses for state (hashed long ids...), once
    // every container is deleted the state dir holds nothing but hidden
    // runtime-global files such as a lock.
    if let Ok(rd) = std::fs::read_dir(&k.root) {
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                problems.push(format!(
                    "state entry {} left after deleting every container",
                    e.path().display()
                ));
            }
        }
    }
    force_clean(k, &ids);
    let mounts = mounts_under(&k.dir);
    if mounts.is_empty() && std::env::var_os("KIST_KEEP_TMP").is_none() {
        let _ = std::fs::remove_dir_all(&k.dir);
    }
    if !problems.is_empty() && !std::thread::panicking() {
        panic!("test left things behind:\n{}", problems.join("\n"));
    }
}

fn quick() -> super::cmd::Opts {
    super::cmd::Opts {
        timeout: Some(CMD_TIMEOUT),
        ..Default::default()
    }
}

fn state_pid(k: &Kist, id: &str) -> Option<i32> {
    let o = k.cmd_opts(&["state", id], quick());
    if !o.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&o.stdout).ok()?;
    v["pid"].as_i64().map(|p| p as i32).filter(|p| *p > 0)
}

/// Waits for a container pid that was reparented to us (we are a subreaper).
/// Only this pid: waitpid(-1) would steal the children of parallel tests.
pub fn reap(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on one specific pid with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WALL) };
        if r != 0 || Instant::now() > deadline {
            // r == pid: reaped; r == -1 (ECHILD): not our child, someone else reaps.
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Everything that still references these ids or this test's directory.
pub fn leftovers(k: &Kist, ids: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for id in ids.iter().filter(|i| valid_id(i)) {
        let st = k.root.join(id);
        if st.exists() {
            problems.push(format!("state dir {} still exists", st.display()));
        }
        for cg in cgroups_named(id) {
            problems.push(format!("cgroup {} still exists", cg.display()));
        }
    }
    // Processes may take a moment to disappear after SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut procs = test_processes(k, ids);
    while !procs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        procs = test_processes(k, ids);
    }
    for (pid, cmd) in procs {
        problems.push(format!("process {pid} ({cmd}) still running"));
    }
    for m in mounts_under(&k.dir) {
        problems.push(format!(
            "mount {} still present in the host mount namespace",
            m.display()
        ));
    }
    problems
}

/// Best effort removal of whatever `leftovers` found so one buggy test does
/// not break the machine for the next ones.
fn force_clean(k: &Kist, ids: &[String]) {
    for (pid, _) in test_processes(k, ids) {
        // SAFETY: kill(2) on a pid whose environment carries this test's unique mark.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid);
    }
    for id in ids.iter().filter(|i| valid_id(i)) {
        for cg in cgroups_named(id) {
            let _ = std::fs::remove_dir(&cg);
        }
    }
    let mut mounts = mounts_under(&k.dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in mounts {
        if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
            // SAFETY: umount2 on a NUL-terminated path; MNT_DETACH never blocks.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Ids the harness generates or tests use on purpose as valid ones; invalid
/// ids ("..", "a/b") must not be joined to paths by the leak checks.
fn valid_id(id: &str) -> bool {
    id.len() >= 3
        && id.len() <= 1024
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
}

/// cgroup directories (any hierarchy, any depth up to 6) whose name contains `id`.
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(id) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 6, &mut out);
    out
}

/// Live (non-zombie) processes that belong to this test: their environment
/// holds KIST_TEST_MARK=<mark> (everything the test spawns, and container
/// processes, whose config env carries it) or mentions the test's directory
/// (runtime helpers that replace their environment, like runc's init), or
/// they sit in a cgroup named after one of the test's container ids.
pub fn test_processes(k: &Kist, ids: &[String]) -> Vec<(i32, String)> {
    let needle = format!("KIST_TEST_MARK={}", k.mark);
    let dir = k.dir.to_string_lossy().into_owned();
    let ids: Vec<&String> = ids.iter().filter(|i| valid_id(i)).collect();
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let by_env = env.split(|b| *b == 0).any(|kv| {
            kv == needle.as_bytes() || String::from_utf8_lossy(kv).contains(dir.as_str())
        });
        let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        let by_cgroup = cg.lines().any(|l| {
            let path = l.splitn(3, ':').nth(2).unwrap_or("");
            path.split('/')
                .any(|comp| ids.iter().any(|id| comp.contains(id.as_str())))
        });
        if !(by_env || by_cgroup) {
            continue;
        }
        // A zombie holds nothing; reap it if it is ours (it belongs to this
        // test, so no other test is waiting for it), otherwise ignore it.
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let mut f = after_comm.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid: i32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state == "Z" || state == "X" {
            if ppid == me {
                reap(pid);
            }
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        out.push((pid, cmd.trim().to_string()));
    }
    out
}

/// Mount points in our mount namespace at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
