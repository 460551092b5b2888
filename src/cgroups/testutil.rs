//! Test helpers: a uniquely named cgroup that is removed on drop, and child
//! processes that are killed and reaped on drop, even when a test fails.

use super::Cgroup;
use std::process::{Child, Command};
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
