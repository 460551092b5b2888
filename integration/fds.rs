//! File descriptors: only 0/1/2 (+ --preserve-fds) reach the container, and
//! the container cannot reach the runtime binary or the host filesystem.

use crate::common::{cmd::Opts, wait_sleeping, Kist};
use std::os::fd::AsRawFd;

/// The fds of the container's pid 1 (the shell), one per line.
/// `; true` keeps busybox sh from exec'ing `ls` in place of itself.
const LIST_FDS: &str = "ls /proc/$$/fd; true";

#[test]
fn only_stdio_fds_in_container() {
    let k = Kist::new();
    let b = k.bundle_sh(LIST_FDS);
    assert_eq!(k.output(&b), "0\n1\n2\n");
}

/// The fd numbers the host sees open in `pid`.
fn host_fds(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn only_stdio_fds_in_container_after_create_start() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("fdcs");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    let pid = k.pid(&id);
    wait_sleeping(pid);
    assert_eq!(host_fds(pid), vec![0, 1, 2]);
}

#[test]
fn inherited_fds_not_leaked_without_preserve_fds() {
    let k = Kist::new();
    let b = k.bundle_sh(LIST_FDS);
    let f = std::fs::File::open("/etc/hostname").unwrap();
    let id = k.id("leak");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let opts = Opts {
        fds: vec![(f.as_raw_fd(), 3), (f.as_raw_fd(), 4), (f.as_raw_fd(), 9)],
        ..Default::default()
    };
    let o = k.cmd_opts(&["run", "--bundle", &bdir, &id], opts).ok();
    assert_eq!(o.stdout, "0\n1\n2\n");
}

#[test]
fn preserve_fds_passes_exactly_n() {
    let k = Kist::new();
    let b = k.bundle_sh("ls /proc/$$/fd; cat <&3; cat <&4; true");
    let d = k.path("fdsrc");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a"), "from fd 3\n").unwrap();
    std::fs::write(d.join("b"), "from fd 4\n").unwrap();
    let fa = std::fs::File::open(d.join("a")).unwrap();
    let fb = std::fs::File::open(d.join("b")).unwrap();
    let fc = std::fs::File::open(d.join("b")).unwrap();
    let id = k.id("pres");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let opts = Opts {
        fds: vec![
            (fa.as_raw_fd(), 3),
            (fb.as_raw_fd(), 4),
            (fc.as_raw_fd(), 5),
        ],
        ..Default::default()
    };
    let o = k
        .cmd_opts(
            &["run", "--preserve-fds", "2", "--bundle", &bdir, &id],
            opts,
        )
        .ok();
    assert_eq!(o.stdout, "0\n1\n2\n3\n4\nfrom fd 3\nfrom fd 4\n");
}

#[test]
fn preserve_fds_with_create() {
    let k = Kist::new();
    let b = k.bundle_sh("cat <&3 > /got; exec sleep 100");
    let src = k.path("fdsrc");
    std::fs::write(&src, "via create\n").unwrap();
    let f = std::fs::File::open(&src).unwrap();
    let id = k.id("prescr");
    k.track(&id);
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let opts = Opts {
        fds: vec![(f.as_raw_fd(), 3)],
        ..Default::default()
    };
    k.cmd_opts(
        &["create", "--preserve-fds", "1", "--bundle", &bdir, &id],
        opts,
    )
    .ok();
    k.start(&id).ok();
    let pid = k.pid(&id);
    wait_sleeping(pid);
    assert_eq!(crate::common::read(&b.rootfs().join("got")), "via create\n");
    assert_eq!(host_fds(pid), vec![0, 1, 2, 3]);
}

#[test]
fn container_processes_only_run_rootfs_binaries() {
    // No process visible in the container may have the runtime as its exe.
    let k = Kist::new();
    let b = k.bundle_sh("for p in /proc/[0-9]*; do readlink $p/exe; done | sort -u; true");
    let out = k.output(&b);
    assert!(!out.is_empty(), "no processes listed");
    for l in out.lines() {
        assert_eq!(
            l, "/bin/busybox",
            "unexpected executable visible in the container: {out}"
        );
    }
}

#[test]
fn running_init_exe_is_the_user_binary() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("exe");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    wait_sleeping(pid);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    // Shown relative to the container root when it is in another mount namespace.
    assert!(
        exe == b.rootfs().join("bin/busybox") || exe == std::path::Path::new("/bin/busybox"),
        "{exe:?}"
    );
}

#[test]
fn no_runtime_fd_reachable_via_proc() {
    // Every fd the container's init holds is stdio (pipes/files we gave it).
    let k = Kist::new();
    let b = k.bundle_sh(
        "ls -l /proc/$$/fd | grep -v -e '-> pipe:' -e '-> /dev/null' | grep -c -- '->'; true",
    );
    assert_eq!(k.output(&b), "0\n");
}
