//! Tests against the real host cgroups (hybrid here, pure v2 in hack/vm-test).

use super::testutil::TestCgroup;
use super::*;
use nix::sys::signal::Signal;

#[test]
fn state_round_trip() {
    let cg = Cgroup::new(Some("/a/b"), "x").unwrap();
    let s = serde_json::to_string(&cg).unwrap();
    let back: Cgroup = serde_json::from_str(&s).unwrap();
    assert_eq!(cg, back);
}

#[test]
fn paths_confined() {
    let cg = Cgroup::new(Some("/../../etc/x"), "x").unwrap();
    for d in cg.dirs() {
        assert!(d.ends_with("etc/x"), "{}", d.display());
    }
    for d in &cg.v1 {
        assert!(d.path.starts_with(&d.mount));
    }
    let rel = Cgroup::new(Some("../../../r"), "x").unwrap();
    for d in rel.dirs() {
        assert!(d.starts_with(layout::CGROUP_ROOT), "{}", d.display());
        assert!(d.ends_with("r"));
    }
    let def = Cgroup::new(None, "cid").unwrap();
    assert!(def.dirs().iter().all(|d| d.ends_with("cid")));
}

#[test]
fn lifecycle() {
    let mut t = TestCgroup::new();
    for d in t.cg.dirs() {
        assert!(d.is_dir(), "{}", d.display());
    }
    assert_eq!(t.cg.unified_fd().is_some(), t.cg.unified.is_some());
    let pid = t.spawn_sleeper();
    assert_eq!(t.cg.pids().unwrap(), vec![pid]);
    for d in t.cg.dirs() {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{}",
            d.display()
        );
    }
    assert!(!t.cg.is_frozen().unwrap());
    t.cg.freeze().unwrap();
    assert!(t.cg.is_frozen().unwrap());
    t.cg.thaw().unwrap();
    assert!(!t.cg.is_frozen().unwrap());
    // a sub-cgroup the container made: pids and remove must see it
    let sub = t.cg.primary().unwrap().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let pid2 = t.spawn_sleeper();
    std::fs::write(sub.join("cgroup.procs"), pid2.to_string()).unwrap();
    let mut want = vec![pid, pid2];
    want.sort();
    assert_eq!(t.cg.pids().unwrap(), want);
    t.cg.signal_all(Signal::SIGKILL).unwrap();
    for c in &mut t.children {
        c.wait().unwrap();
    }
    t.children.clear();
    assert!(!t.cg.is_frozen().unwrap());
    t.cg.remove().unwrap();
    for d in t.cg.dirs() {
        assert!(!d.exists(), "{}", d.display());
    }
    // removing again is fine
    t.cg.remove().unwrap();
}

#[test]
fn clone_into_cgroup_fd() {
    let t = TestCgroup::new();
    if let Some(fd) = t.cg.unified_fd() {
        use std::os::fd::AsRawFd;
        assert!(fd.as_raw_fd() >= 0);
    }
}
