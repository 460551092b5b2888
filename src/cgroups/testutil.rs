//! Test helpers: a uniquely named cgroup that is removed on drop, and child
//! processes that are killed and reaped on drop, even when a test fails.

use super::Cgroup;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

pub fn unique_name() -> String {
    format!(
        "kist-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct TestCgroup {
    pub cg: Cgroup,
    pub children: Vec<Child>,
}

impl TestCgroup {
    /// A created cgroup at `/kist-test-<pid>-<n>` in every hierarchy.
    pub fn new() -> TestCgroup {
        let cg = Cgroup::new(Some(&format!("/{}", unique_name())), "unused").unwrap();
        let t = TestCgroup {
            cg,
            children: Vec::new(),
        };
        t.cg.create().unwrap();
        t
    }

    /// Starts `sleep 100` in the cgroup and returns its pid.
    pub fn spawn_sleeper(&mut self) -> i32 {
        let c = Command::new("sleep").arg("100").spawn().unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        self.cg.add_pid(pid).unwrap();
        pid
    }
}

impl TestCgroup {
    /// Runs `sh -c script` in the cgroup (moved in before it may go on)
    /// and returns its stdout.
    pub fn run_in(&self, script: &str) -> String {
        let mut c = Command::new("sh")
            .arg("-c")
            .arg(format!("read x; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = self.cg.add_pid(c.id() as i32);
        if let Some(mut stdin) = c.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
        let out = c.wait_with_output().unwrap();
        r.unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.cg.remove() {
            eprintln!("TestCgroup: remove: {e}");
        }
    }
}

/// A temporary directory standing in for a cgroup: control files are plain
/// files created up front, so the controller writers (which take a
/// directory) can be checked without root or a cgroup mount. A file starts
/// with the content given; writes do not truncate, so give files that are
/// read before they are written a content no longer than what is written.
pub struct FakeDir(pub std::path::PathBuf);

impl FakeDir {
    pub fn new(files: &[(&str, &str)]) -> FakeDir {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir(&dir).unwrap();
        let d = FakeDir(dir);
        for (name, content) in files {
            std::fs::write(d.0.join(name), content).unwrap();
        }
        d
    }

    /// A control file's content, trimmed.
    pub fn get(&self, file: &str) -> String {
        let p = self.0.join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }
}

impl Drop for FakeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An OCI value from its JSON form.
pub fn oci<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}
