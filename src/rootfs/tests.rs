//! End-to-end tests of prepare/enter/finish/apply_sysctl on a busybox rootfs.
//!
//! Each scenario runs in a re-executed copy of this test binary under
//! `unshare --mount --pid --uts --fork --propagation private`, so every mount
//! lives in a throwaway mount namespace that disappears with the child and
//! nothing propagates back to the host. The parent only creates and removes
//! the temporary bundle.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const SCENARIO_ENV: &str = "KIST_ROOTFS_TEST_SCENARIO";
const BUNDLE_ENV: &str = "KIST_ROOTFS_TEST_BUNDLE";

struct Bundle(PathBuf);

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_bundle(tag: &str, config: &serde_json::Value) -> Bundle {
    let dir = std::env::temp_dir().join(format!("kist-rootfs-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    // Hostile symlinks in the image: absolute and climbing out.
    std::os::unix::fs::symlink("/etc", rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../tmp", rootfs.join("up")).unwrap();
    std::fs::write(dir.join("hostfile"), b"from-bundle\n").unwrap();
    // Content for tmpcopyup.
    std::fs::create_dir_all(rootfs.join("copied/d")).unwrap();
    std::fs::write(rootfs.join("copied/d/f"), b"copied").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", rootfs.join("copied/l")).unwrap();
    std::fs::set_permissions(
        rootfs.join("copied"),
        std::fs::Permissions::from_mode(0o710),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("data/sub")).unwrap();
    std::fs::write(dir.join("data/sub/f"), b"x").unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(config).unwrap(),
    )
    .unwrap();
    Bundle(dir)
}

fn base_config() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/etc/hostfile", "type": "bind", "source": "hostfile",
             "options": ["rbind", "ro"]},
            {"destination": "/data", "type": "none", "source": "data",
             "options": ["rbind", "rro", "nosuid", "rprivate"]},
            {"destination": "/evil/kist-escape", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/up/kist-escape", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/copied", "type": "tmpfs", "source": "tmpfs",
             "options": ["tmpcopyup"]},
            {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {"destination": "/mnt/sub/file", "type": "bind", "source": "hostfile",
             "options": ["bind"]}
        ],
        "linux": {
            "devices": [
                {"path": "/dev/kistnull", "type": "c", "major": 1, "minor": 3,
                 "fileMode": 384, "uid": 1000, "gid": 1001},
                {"path": "/dev/sub/kistfifo", "type": "p"}
            ],
            "sysctl": {"kernel.domainname": "kist.test"},
            // Only what the test harness really unshares (see run_child).
            "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}],
            "maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/nonexistent",
                            "/etc/hostfile-masked", "/proc/scsi"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/tmp"]
        }
    })
}

/// Runs `scenario` in a child in fresh namespaces; returns (success, output).
fn run_child(scenario: &str, bundle: &Path, extra: &[&str]) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--pid",
        "--uts",
        "--fork",
        "--propagation",
        "private",
    ])
    .args(extra)
    .arg(exe)
    .args([
        "--exact",
        "rootfs::tests::child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SCENARIO_ENV, scenario)
    .env(BUNDLE_ENV, bundle);
    if std::env::var_os("KIST_ROOTFS_TEST_SHOW").is_some() {
        cmd.env("KIST_ROOTFS_TEST_SHOW", "1");
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("KIST_ROOTFS_TEST_SHOW").is_some() {
        println!("{text}");
    }
    (out.status.success(), text)
}

/// Like run_child, but first runs the shell snippet `pre` (with `$1` set to
/// `arg`) as root in an outer private mount namespace, then the child under
/// `unshare <inner...>`.
fn run_child_after(
    scenario: &str,
    bundle: &Path,
    pre: &str,
    arg: &Path,
    inner: &[&str],
) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let script = format!("{pre} && shift && exec \"$@\"");
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(arg)
        .arg("unshare")
        .args(inner)
        .args(["--fork", "--propagation", "private"])
        .arg(exe)
        .args([
            "--exact",
            "rootfs::tests::child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_ENV, scenario)
        .env(BUNDLE_ENV, bundle)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("KIST_ROOTFS_TEST_SHOW").is_some() {
        println!("{text}");
    }
    (out.status.success(), text)
}

/// Mounts a `nosuid,nodev,noexec` tmpfs at `<bundle>/locked` outside the
/// child's user namespace, so that these flags are locked inside it.
fn run_child_with_locked_mount(scenario: &str, bundle: &Path) -> (bool, String) {
    let locked = bundle.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    run_child_after(
        scenario,
        bundle,
        r#"mount -t tmpfs -o nosuid,nodev,noexec,size=1m kistlocked "$1""#,
        &locked,
        &[
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--uts",
            "--ipc",
            "--net",
        ],
    )
}

/// The end-to-end tests need root, util-linux `unshare` and a static
/// busybox. They are `#[ignore]`d so that `cargo test` passes as any user;
/// `make test` runs them with `--include-ignored`, and there a missing
/// prerequisite is a failure, not a silent pass.
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root (run by `make test`)"
    );
    assert!(
        Command::new("unshare").arg("--version").output().is_ok(),
        "needs util-linux unshare(1)"
    );
    assert!(
        Path::new("/bin/busybox").is_file(),
        "needs a static /bin/busybox (hack/install-deps)"
    );
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_default_pivot() {
    require_root();
    let b = make_bundle("pivot", &base_config());
    let (ok, out) = run_child("full", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("SCENARIO OK"), "{out}");
    assert!(!Path::new("/etc/kist-escape").exists());
    assert!(!Path::new("/tmp/kist-escape").exists());
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_no_pivot_userns_devices_console_cgroupns() {
    require_root();
    // Host nodes are bind-mounted in this mode, so only list existing ones.
    let mut cfg = base_config();
    cfg["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/kistnull", "type": "c", "major": 1, "minor": 3}
    ]);
    cfg["linux"]["devices"][0]["path"] = "/dev/null".into();
    let b = make_bundle("nopivot", &cfg);
    let (ok, out) = run_child("nopivot", &b.0, &["--cgroup"]);
    assert!(ok, "{out}");
    assert!(out.contains("SCENARIO OK"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_rootfs_propagation() {
    require_root();
    for (mode, want_shared) in [("rshared", true), ("private", false), ("rslave", false)] {
        let mut cfg = base_config();
        cfg["linux"]["rootfsPropagation"] = mode.into();
        let b = make_bundle(&format!("prop-{mode}"), &cfg);
        let scenario = if want_shared {
            "expect-shared-root"
        } else {
            "full"
        };
        let (ok, out) = run_child(scenario, &b.0, &[]);
        assert!(ok, "{mode}: {out}");
        assert!(out.contains("SCENARIO OK"), "{mode}: {out}");
    }
    let mut cfg = base_config();
    cfg["linux"]["rootfsPropagation"] = "bogus".into();
    let b = make_bundle("prop-bogus", &cfg);
    let (ok, out) = run_child("expect-prepare-error", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("linux.rootfsPropagation \"bogus\""), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_user_namespace() {
    require_root();
    let mut cfg = base_config();
    cfg["linux"]["namespaces"] = serde_json::json!([
        {"type": "user"}, {"type": "mount"}, {"type": "pid"}, {"type": "uts"},
        {"type": "ipc"}, {"type": "network"}
    ]);
    // Host nodes are bind-mounted in a user namespace: list existing ones.
    cfg["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/fuse-or-null", "type": "c", "major": 1, "minor": 3}
    ]);
    cfg["linux"]["devices"][0]["path"] = "/dev/null".into();
    // The child has its own network namespace: a net sysctl is allowed and
    // only affects it.
    cfg["linux"]["sysctl"]["net.ipv4.ip_forward"] = "1".into();
    let b = make_bundle("userns", &cfg);
    let (ok, out) = run_child(
        "userns",
        &b.0,
        &["--user", "--map-root-user", "--ipc", "--net"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("SCENARIO OK"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_bind_remount_keeps_locked_flags() {
    require_root();
    let mut cfg = base_config();
    cfg["linux"]["namespaces"] = serde_json::json!([
        {"type": "user"}, {"type": "mount"}, {"type": "pid"}, {"type": "uts"},
        {"type": "ipc"}, {"type": "network"}
    ]);
    cfg["linux"]["devices"] = serde_json::json!([]);
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/locked", "type": "bind",
        "source": "locked", "options": ["bind", "ro"]}));
    let b = make_bundle("locked", &cfg);
    let (ok, out) = run_child_with_locked_mount("locked", &b.0);
    assert!(ok, "{out}");
    assert!(out.contains("SCENARIO OK"), "{out}");

    // Asking to clear a locked flag must fail, naming the mount.
    let mut cfg = base_config();
    cfg["linux"]["namespaces"] = serde_json::json!([{"type": "user"}, {"type": "mount"}]);
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.clear();
    mounts.push(serde_json::json!({"destination": "/locked", "type": "bind",
        "source": "locked", "options": ["bind", "suid"]}));
    let b = make_bundle("locked-clear", &cfg);
    let (ok, out) = run_child_with_locked_mount("expect-prepare-error", &b.0);
    assert!(ok, "{out}");
    assert!(out.contains("mounts[0].destination \"/locked\""), "{out}");
    assert!(out.contains("locked"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_cgroup_on_pure_v2_host() {
    require_root();
    // Make the host look like a pure cgroup v2 one (only in a throwaway mount
    // namespace): a cgroup2 mount directly on /sys/fs/cgroup.
    let pre = r#"mount -t cgroup2 -o nosuid,nodev,noexec kistcg2 /sys/fs/cgroup"#;
    for (tag, extra) in [("v2-ns", true), ("v2-nons", false)] {
        let b = make_bundle(tag, &base_config());
        let mut inner = vec!["--mount", "--pid", "--uts"];
        if extra {
            inner.push("--cgroup");
        }
        let scenario = if extra { "cgroup2-ns" } else { "cgroup2-bind" };
        let (ok, out) = run_child_after(scenario, &b.0, pre, Path::new("/"), &inner);
        assert!(ok, "{tag}: {out}");
        assert!(out.contains("SCENARIO OK"), "{tag}: {out}");
    }
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_fd_based_mount_survives_path_swap() {
    require_root();
    let b = make_bundle("swap", &base_config());
    let (ok, out) = run_child("swap", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("SCENARIO OK"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_proc_on_symlink_is_refused() {
    require_root();
    let b = make_bundle("evilproc", &base_config());
    let proc = b.0.join("rootfs/proc");
    std::fs::remove_dir(&proc).unwrap();
    std::os::unix::fs::symlink("/etc", &proc).unwrap();
    let (ok, out) = run_child("expect-prepare-error", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("mounts[0].destination \"/proc\""), "{out}");
    assert!(out.contains("ordinary directory"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_mount_through_symlink_onto_proc_is_refused() {
    require_root();
    let mut cfg = base_config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    let i = mounts.len();
    mounts.push(serde_json::json!({"destination": "/data2/sys", "type": "bind", "source": "data"}));
    let b = make_bundle("viaproc", &cfg);
    std::os::unix::fs::symlink("/proc", b.0.join("rootfs/data2")).unwrap();
    let (ok, out) = run_child("expect-prepare-error", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("mounts[{i}].destination")), "{out}");
    assert!(out.contains("resolves to \"/proc/sys\""), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_magic_link_in_destination_is_refused() {
    require_root();
    // /proc/self/root is a magic link to the real root: following it from
    // inside the container root would escape it.
    let mut cfg = base_config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.truncate(1);
    mounts.push(
        serde_json::json!({"destination": "/esc/tmp/kist-magic", "type": "tmpfs",
        "source": "tmpfs"}),
    );
    let b = make_bundle("magic", &cfg);
    std::os::unix::fs::symlink("/proc/self/root", b.0.join("rootfs/esc")).unwrap();
    let (ok, out) = run_child("expect-prepare-error", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("mounts[1].destination \"/esc/tmp/kist-magic\""),
        "{out}"
    );
    assert!(out.contains("os error 40"), "{out}");
    assert!(!Path::new("/tmp/kist-magic").exists());
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_planted_dev_null_is_refused_for_masking() {
    require_root();
    // No /dev tmpfs: the image's /dev is used, with /dev/null a symlink to
    // something the attacker wants bind-mounted over masked paths.
    let mut cfg = base_config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev/"));
    let b = make_bundle("evilnull", &cfg);
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.0.join("rootfs/dev/null"))
        .unwrap();
    let (ok, out) = run_child("mask-with-planted-null", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("linux.maskedPaths"), "{out}");
    assert!(out.contains("/dev/null"), "{out}");
    // enter() also refuses to hand the planted node to stdio.
    let (ok, out) = run_child("expect-late-error", &b.0, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("reopen /dev/null"), "{out}");
}

#[test]
#[ignore = "needs root (make test)"]
fn e2e_errors_name_the_field() {
    require_root();
    let mut cfg = base_config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    let i = mounts.len();
    mounts.push(
        serde_json::json!({"destination": "/x", "type": "bind", "source": "/nonexistent-kist"}),
    );
    let b = make_bundle("errfield", &cfg);
    let (ok, out) = run_child("expect-prepare-error", &b.0, &[]);
    assert!(ok, "{out}");
    let want = format!("mounts[{i}].destination \"/x\": mounts[{i}].source \"/nonexistent-kist\"");
    assert!(out.contains(&want), "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
}

fn rootfs_cfg<'a>(
    spec: &'a oci_spec::runtime::Spec,
    rootfs: &'a Path,
    bundle: &'a Path,
    sources: &'a Sources,
) -> RootfsConfig<'a> {
    RootfsConfig {
        sources,
        spec,
        rootfs,
        bundle,
        no_pivot: false,
        host_mount_ns: false,
        joined_mount_ns: false,
        in_new_userns: false,
        cgroupns: false,
        defer_proc: false,
        cgroup2_dir: None,
    }
}

/// The child side: only does something when started by `run_child` (with
/// `--ignored`), so it is not counted as a test of its own.
#[test]
#[ignore = "helper: run by the e2e tests"]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO_ENV) else {
        return;
    };
    let bundle = PathBuf::from(std::env::var(BUNDLE_ENV).unwrap());
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let rootfs = std::fs::canonicalize(bundle.join("rootfs")).unwrap();
    let sources = match Sources::open(&spec, &bundle, &rootfs) {
        Ok(s) => s,
        Err(e) if scenario == "expect-prepare-error" => {
            println!("ERROR: {e}");
            return;
        }
        Err(e) => panic!("open sources: {e}"),
    };
    // The runtime clones the init with the rootfs as its cwd.
    std::env::set_current_dir(&rootfs).unwrap();
    let mut cfg = rootfs_cfg(&spec, &rootfs, &bundle, &sources);
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut console = None;
    let step = |name: &str, r: crate::error::Result<()>| {
        if let Err(e) = r {
            panic!("{name}: {e}");
        }
    };

    match scenario.as_str() {
        "expect-prepare-error" => {
            let e = prepare(&cfg).expect_err("prepare should fail");
            println!("ERROR: {e}");
            return;
        }
        "expect-late-error" => {
            prepare(&cfg).unwrap();
            let e = enter(&cfg)
                .and_then(|_| finish(&cfg))
                .expect_err("enter or finish should fail");
            println!("ERROR: {e}");
            return;
        }
        "mask-with-planted-null" => {
            prepare(&cfg).unwrap();
            // Skip enter()'s own /dev/null check to exercise finish()'s.
            pivot::pivot(sources.root().unwrap()).unwrap();
            let e = finish(&cfg).expect_err("finish should fail");
            println!("ERROR: {e}");
            return;
        }
        "swap" => {
            swap_race(&rootfs);
            println!("SCENARIO OK");
            return;
        }
        "userns" => {
            cfg.in_new_userns = true;
        }
        "cgroup2-ns" | "cgroup2-bind" => {
            cfg.cgroupns = scenario == "cgroup2-ns";
            step("prepare", prepare(&cfg));
            step("enter", enter(&cfg));
            let st = nix::sys::statfs::statfs("/sys/fs/cgroup").unwrap();
            assert_eq!(st.filesystem_type(), nix::sys::statfs::CGROUP2_SUPER_MAGIC);
            assert!(Path::new("/sys/fs/cgroup/cgroup.procs").exists());
            assert!(rofs("/sys/fs/cgroup/cgroup.procs"));
            // Only our own cgroup is visible: our pid (1 in the new pid ns)
            // is listed at the top.
            let procs = std::fs::read_to_string("/sys/fs/cgroup/cgroup.procs").unwrap();
            assert!(!procs.is_empty(), "{procs}");
            let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let line = mi
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup"))
                .unwrap();
            println!("{line}");
            println!("SCENARIO OK");
            return;
        }
        "locked" => {
            cfg.in_new_userns = true;
            step("prepare", prepare(&cfg));
            step("enter", enter(&cfg));
            let st = nix::sys::statvfs::statvfs("/locked").unwrap();
            let f = st.flags();
            use nix::sys::statvfs::FsFlags;
            assert!(f.contains(FsFlags::ST_RDONLY), "{f:?}");
            assert!(f.contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV), "{f:?}");
            println!("SCENARIO OK");
            return;
        }
        "nopivot" => {
            cfg.no_pivot = true;
            cfg.in_new_userns = true;
            cfg.cgroupns = true;
            console = Some(pty.slave.as_raw_fd());
        }
        _ => {}
    }
    step("prepare", prepare(&cfg));
    step("enter", enter(&cfg));
    if let Some(c) = console {
        step("console", mount_console(c));
    }
    step("sysctl", apply_sysctl(&spec));
    step("finish", finish(&cfg));
    check_inside(&cfg, console.is_some());
    if scenario == "expect-shared-root" {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = mi
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .unwrap();
        assert!(root.contains(" shared:"), "{root}");
    }
    if std::env::var_os("KIST_ROOTFS_TEST_SHOW").is_some() {
        print!(
            "{}",
            std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
        );
    }
    println!("SCENARIO OK");
}

/// Resolves a destination, then swaps the path for a symlink pointing out of
/// the rootfs (what a concurrent attacker would do) before mounting: the
/// mount must land on the object that was resolved, never outside.
fn swap_race(rootfs: &Path) {
    let outside = rootfs.parent().unwrap().join("outside");
    std::fs::create_dir_all(outside.join("b")).unwrap();
    let root = resolve::open_root(rootfs).unwrap();
    let fd = resolve::ensure(root.as_fd(), Path::new("/a/b"), resolve::Kind::Dir).unwrap();
    std::fs::rename(rootfs.join("a"), rootfs.join("a-moved")).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("a")).unwrap();
    mounts::mount_fs("tmpfs", fd.as_fd(), "tmpfs", 0, "").unwrap();
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    assert_eq!(
        dev(&outside.join("b")),
        dev(&outside),
        "mounted outside the rootfs"
    );
    assert_ne!(dev(&rootfs.join("a-moved/b")), dev(rootfs));
    // And a fresh resolution through the planted symlink stays inside.
    let fd = resolve::ensure(root.as_fd(), Path::new("/a/c"), resolve::Kind::Dir).unwrap();
    let real = std::fs::read_link(sys::fd_path(fd.as_fd())).unwrap();
    assert!(real.starts_with(rootfs), "{real:?}");
    assert!(!outside.join("c").exists());
}

fn busybox_works() {
    let st = Command::new("/bin/busybox")
        .args([
            "sh",
            "-c",
            "test -c /dev/null && echo x > /dev/null && test -d /proc/1 && ls /dev/pts >/dev/null",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "busybox sh in the container failed: {st}");
}

fn rofs(p: &str) -> bool {
    match std::fs::OpenOptions::new().append(true).open(p) {
        Err(e) => e.raw_os_error() == Some(libc::EROFS),
        Ok(_) => false,
    }
}

fn check_inside(cfg: &RootfsConfig, console: bool) {
    assert!(
        Path::new("/bin/busybox").is_file(),
        "busybox missing: not in rootfs?"
    );
    assert_eq!(std::env::current_dir().unwrap(), PathBuf::from("/"));
    busybox_works();
    // Nothing of the host root is reachable.
    assert!(!Path::new(cfg.rootfs).join("bin/busybox").exists());
    // proc is a fresh instance of the new pid namespace.
    let me = std::fs::read_link("/proc/self").unwrap();
    assert!(me.to_string_lossy().parse::<u32>().unwrap() < 100, "{me:?}");
    // Default and spec devices.
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    for d in [
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        assert!(
            std::fs::metadata(d).unwrap().file_type().is_char_device(),
            "{d}"
        );
    }
    if !cfg.in_new_userns {
        let kn = std::fs::metadata("/dev/kistnull").unwrap();
        assert!(kn.file_type().is_char_device());
        assert_eq!(kn.permissions().mode() & 0o7777, 0o600);
        assert_eq!((kn.uid(), kn.gid()), (1000, 1001));
        assert!(std::fs::metadata("/dev/sub/kistfifo")
            .unwrap()
            .file_type()
            .is_fifo());
    }
    assert_eq!(
        std::fs::read_link("/dev/ptmx").unwrap(),
        PathBuf::from("pts/ptmx")
    );
    assert_eq!(
        std::fs::read_link("/dev/fd").unwrap(),
        PathBuf::from("/proc/self/fd")
    );
    assert_eq!(
        std::fs::read_link("/dev/stdin").unwrap(),
        PathBuf::from("/proc/self/fd/0")
    );
    assert!(Path::new("/dev/pts/ptmx").exists());
    assert!(Path::new("/dev/mqueue").is_dir());
    if console {
        let c = std::fs::metadata("/dev/console").unwrap();
        assert!(c.file_type().is_char_device());
    }
    // Binds: file (ro) and dir (recursively ro).
    assert_eq!(std::fs::read("/etc/hostfile").unwrap(), b"from-bundle\n");
    assert!(rofs("/etc/hostfile"));
    assert!(rofs("/data/sub/f"));
    // Mounts through hostile symlinks landed inside the rootfs.
    let etc = std::fs::metadata("/etc").unwrap();
    let esc = std::fs::metadata("/etc/kist-escape").unwrap();
    assert_ne!(
        etc.dev(),
        esc.dev(),
        "tmpfs not mounted at rootfs /etc/kist-escape"
    );
    assert!(Path::new("/tmp/kist-escape").is_dir());
    // sysfs ro, cgroups present.
    assert!(
        rofs("/sys/kernel/mm/transparent_hugepage/enabled")
            || !Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists()
    );
    assert!(Path::new("/sys/fs/cgroup").is_dir());
    let cg: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(!cg.is_empty(), "no cgroup mounts");
    // Masked and read-only paths.
    if Path::new("/proc/kcore").exists() {
        let k = std::fs::metadata("/proc/kcore").unwrap();
        assert_eq!(k.rdev(), nix::sys::stat::makedev(1, 3));
    }
    if Path::new("/proc/acpi").exists() {
        assert_eq!(std::fs::read_dir("/proc/acpi").unwrap().count(), 0);
    }
    assert!(rofs("/proc/sys/kernel/domainname"));
    assert!(!Path::new("/proc/sysrq-trigger").exists() || rofs("/proc/sysrq-trigger"));
    // readonlyPaths are recursive: the tmpfs below /tmp is read-only too.
    assert!(
        matches!(std::fs::write("/tmp/kist-escape/x", b""), Err(e) if e.raw_os_error() == Some(libc::EROFS))
    );
    // sysctl applied.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname")
            .unwrap()
            .trim(),
        "kist.test"
    );
    if let Some(v) = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .and_then(|m| m.get("net.ipv4.ip_forward"))
    {
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            v
        );
    }
    // Read-only root.
    assert!(
        matches!(std::fs::create_dir("/newdir"), Err(e) if e.raw_os_error() == Some(libc::EROFS))
    );
    // tmpcopyup: a writable tmpfs holding a copy of the image content, with
    // the directory's mode; symlinks are copied, not followed.
    assert_eq!(std::fs::read("/copied/d/f").unwrap(), b"copied");
    assert_eq!(
        std::fs::read_link("/copied/l").unwrap(),
        PathBuf::from("/etc/passwd")
    );
    assert_eq!(
        std::fs::metadata("/copied").unwrap().permissions().mode() & 0o7777,
        0o710
    );
    std::fs::write("/copied/new", b"").unwrap();
    assert_ne!(std::fs::metadata("/copied").unwrap().dev(), etc.dev());
    // A read-only tmpfs can still receive mount points (delayed read-only).
    assert_eq!(std::fs::read("/mnt/sub/file").unwrap(), b"from-bundle\n");
    assert!(
        matches!(std::fs::create_dir("/mnt/x"), Err(e) if e.raw_os_error() == Some(libc::EROFS))
    );
}
