//! mounts, root.readonly, rootfsPropagation, maskedPaths, readonlyPaths, and
//! symlink/`..` escape attempts that must never touch the host.

use crate::common::{clean_failure, unique, Bundle, Kist};
use serde_json::json;
use std::path::{Path, PathBuf};

/// One line of /proc/self/mountinfo.
#[derive(Debug)]
struct MountInfo {
    target: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    super_opts: Vec<String>,
}

fn parse_mountinfo(s: &str) -> Vec<MountInfo> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some(MountInfo {
                target: f.get(4)?.to_string(),
                opts: f.get(5)?.split(',').map(str::to_string).collect(),
                optional: f[6..dash].iter().map(|x| x.to_string()).collect(),
                fstype: f.get(dash + 1)?.to_string(),
                super_opts: f
                    .get(dash + 3)
                    .unwrap_or(&"")
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The container's mount table (the last mount on each target wins).
fn container_mounts(k: &Kist, b: &mut Bundle) -> Vec<MountInfo> {
    b.set_args(&["cat", "/proc/self/mountinfo"]);
    parse_mountinfo(&k.output(b))
}

fn find<'a>(m: &'a [MountInfo], target: &str) -> &'a MountInfo {
    m.iter()
        .rev()
        .find(|x| x.target == target)
        .unwrap_or_else(|| panic!("{target} not mounted: {m:#?}"))
}

/// A host directory with one file, for bind mounts.
fn host_dir(k: &Kist, content: &str) -> PathBuf {
    let d = k.path("hostdir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("file"), content).unwrap();
    d
}

/// Mounts a tmpfs on the host under the test dir (unmounted at drop).
fn host_tmpfs(k: &Kist, at: &Path) {
    std::fs::create_dir_all(at).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "kist-it", &at.to_string_lossy()])
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs on {}", at.display());
    let at = at.to_path_buf();
    k.on_drop(move || {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&at)
            .status();
    });
}

#[test]
fn default_mounts_present() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let m = container_mounts(&k, &mut b);
    assert_eq!(find(&m, "/proc").fstype, "proc");
    assert_eq!(find(&m, "/dev").fstype, "tmpfs");
    let pts = find(&m, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(
        pts.super_opts.contains(&"ptmxmode=666".to_string()),
        "{pts:?}"
    );
    assert_eq!(find(&m, "/dev/shm").fstype, "tmpfs");
    assert_eq!(find(&m, "/dev/mqueue").fstype, "mqueue");
    let sys = find(&m, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(sys.opts.contains(&"ro".to_string()), "{sys:?}");
    let shm = find(&m, "/dev/shm");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(shm.opts.contains(&o.to_string()), "{shm:?}");
    }
    // The root is the bundle's rootfs: no host paths are visible.
    assert!(
        !m.iter()
            .any(|x| x.target.starts_with("/work") || x.target.starts_with("/tmp/kist-it")),
        "{m:#?}"
    );
}

#[test]
fn tmpfs_options_applied() {
    let k = Kist::new();
    let mut b = k.bundle_sh("stat -c %a /scratch; df -k /scratch | tail -1");
    b.add_mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777", "size=1m", "nosuid"]}));
    let out = k.output(&b);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("1777"), "{out}");
    let size: u64 = l
        .next()
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert_eq!(size, 1024, "{out}");
}

#[test]
fn bind_dir_and_readonly_bind() {
    let k = Kist::new();
    let d = host_dir(&k, "from host\n");
    let mut b = k.bundle_sh("cat /data/file; echo rw > /data/new && echo wrote; cat /ro/file; (echo x > /ro/y) 2>/dev/null && echo ro-wrote || echo ro-denied");
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": d, "options": ["bind"]}));
    b.add_mount(
        json!({"destination": "/ro", "type": "bind", "source": d, "options": ["bind", "ro"]}),
    );
    assert_eq!(k.output(&b), "from host\nwrote\nfrom host\nro-denied\n");
    assert_eq!(std::fs::read_to_string(d.join("new")).unwrap(), "rw\n");
    assert!(!d.join("y").exists());
}

#[test]
fn bind_file_destination_created() {
    let k = Kist::new();
    let d = host_dir(&k, "file content\n");
    let mut b = k.bundle(&["cat", "/some/new/dir/thefile"]);
    b.add_mount(json!({"destination": "/some/new/dir/thefile", "type": "bind", "source": d.join("file"), "options": ["bind", "ro"]}));
    assert_eq!(k.output(&b), "file content\n");
    assert!(
        b.rootfs().join("some/new/dir/thefile").is_file(),
        "destination should be created as a file"
    );
}

#[test]
fn bind_without_type_uses_options() {
    // runc treats "options": ["bind"] as a bind even with type "none" or absent.
    let k = Kist::new();
    let d = host_dir(&k, "typeless\n");
    let mut b = k.bundle(&["cat", "/t1/file", "/t2/file"]);
    b.add_mount(json!({"destination": "/t1", "type": "none", "source": d, "options": ["rbind"]}));
    b.add_mount(json!({"destination": "/t2", "source": d, "options": ["bind"]}));
    assert_eq!(k.output(&b), "typeless\ntypeless\n");
}

#[test]
fn rbind_includes_submounts_bind_does_not() {
    let k = Kist::new();
    let d = host_dir(&k, "top\n");
    host_tmpfs(&k, &d.join("sub"));
    std::fs::write(d.join("sub/inner"), "inner\n").unwrap();
    let mut b = k.bundle_sh("cat /r/sub/inner; ls /b/sub | wc -l");
    b.add_mount(json!({"destination": "/r", "type": "bind", "source": d, "options": ["rbind"]}));
    b.add_mount(json!({"destination": "/b", "type": "bind", "source": d, "options": ["bind"]}));
    assert_eq!(k.output(&b), "inner\n0\n");
}

#[test]
fn recursive_readonly_rro() {
    let k = Kist::new();
    let d = host_dir(&k, "top\n");
    host_tmpfs(&k, &d.join("sub"));
    let mut b = k.bundle_sh("(touch /r/x) 2>/dev/null && echo top-rw || echo top-ro; (touch /r/sub/x) 2>/dev/null && echo sub-rw || echo sub-ro");
    b.add_mount(
        json!({"destination": "/r", "type": "bind", "source": d, "options": ["rbind", "rro"]}),
    );
    assert_eq!(k.output(&b), "top-ro\nsub-ro\n");
}

#[test]
fn plain_ro_rbind_leaves_submounts_writable() {
    let k = Kist::new();
    let d = host_dir(&k, "top\n");
    host_tmpfs(&k, &d.join("sub"));
    let mut b = k.bundle_sh("(touch /r/x) 2>/dev/null && echo top-rw || echo top-ro; (touch /r/sub/x) 2>/dev/null && echo sub-rw || echo sub-ro");
    b.add_mount(
        json!({"destination": "/r", "type": "bind", "source": d, "options": ["rbind", "ro"]}),
    );
    assert_eq!(k.output(&b), "top-ro\nsub-rw\n");
}

#[test]
fn mount_flags_nosuid_nodev_noexec() {
    let k = Kist::new();
    let d = host_dir(&k, "#!/bin/sh\necho executed\n");
    std::fs::set_permissions(
        d.join("file"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut b = k.bundle_sh("/x/file 2>/dev/null || echo blocked; /y/file");
    b.add_mount(
        json!({"destination": "/x", "type": "bind", "source": d, "options": ["bind", "noexec"]}),
    );
    b.add_mount(json!({"destination": "/y", "type": "bind", "source": d, "options": ["bind"]}));
    assert_eq!(k.output(&b), "blocked\nexecuted\n");
}

#[test]
fn propagation_options() {
    let k = Kist::new();
    let d = host_dir(&k, "p\n");
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": "/shared", "type": "bind", "source": d, "options": ["rbind", "rshared"]}));
    b.add_mount(json!({"destination": "/private", "type": "bind", "source": d, "options": ["rbind", "rprivate"]}));
    let m = container_mounts(&k, &mut b);
    let shared = find(&m, "/shared");
    assert!(
        shared.optional.iter().any(|o| o.starts_with("shared:")),
        "{shared:?}"
    );
    let private = find(&m, "/private");
    assert!(private.optional.is_empty(), "{private:?}");
}

#[test]
fn rootfs_propagation_private_by_default_host_sees_no_container_mounts() {
    let k = Kist::new();
    let mut b = k.bundle_sh("mount -t tmpfs none /tmp && touch /ready && sleep 100");
    b.set_caps(&["CAP_SYS_ADMIN"]);
    let id = k.id("prop");
    k.run_with(&b, &id, &["-d"]).ok();
    crate::common::wait_for_file(&b.rootfs().join("ready"));
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(&b.rootfs().join("tmp").to_string_lossy().into_owned()),
        "container mount leaked to host"
    );
}

/// KIST-ONLY: runc 1.1 leaves the container's `/` private on a host whose `/`
/// is private; the spec asks for the rootfs mount to get this propagation.
#[test]
fn kist_only_rootfs_propagation_shared() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["rootfsPropagation"] = json!("shared");
    let m = container_mounts(&k, &mut b);
    let root = find(&m, "/");
    assert!(
        root.optional.iter().any(|o| o.starts_with("shared:")),
        "{root:?}"
    );
}

#[test]
fn rootfs_propagation_private() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["rootfsPropagation"] = json!("private");
    let m = container_mounts(&k, &mut b);
    let root = find(&m, "/");
    assert!(root.optional.is_empty(), "{root:?}");
}

#[test]
fn cgroup_mount() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
    let m = container_mounts(&k, &mut b);
    let cg: Vec<&MountInfo> = m
        .iter()
        .filter(|x| x.target.starts_with("/sys/fs/cgroup"))
        .collect();
    assert!(
        cg.iter()
            .any(|x| x.fstype == "cgroup" || x.fstype == "cgroup2"),
        "{m:#?}"
    );
    for x in &cg {
        if x.fstype.starts_with("cgroup") {
            assert!(x.opts.contains(&"ro".to_string()), "{x:?}");
        }
    }
}

#[test]
fn root_readonly() {
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "(touch /x) 2>/dev/null && echo rw || echo ro; touch /dev/shm/ok && echo shm-rw",
    );
    b.config["root"]["readonly"] = json!(true);
    assert_eq!(k.output(&b), "ro\nshm-rw\n");
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn root_path_absolute() {
    let k = Kist::new();
    let mut b = k.bundle(&["echo", "abs-root"]);
    b.config["root"]["path"] = json!(b.rootfs());
    assert_eq!(k.output(&b), "abs-root\n");
}

#[test]
fn masked_paths() {
    let k = Kist::new();
    // Some kernels lack /proc/kcore: use a default-masked proc file that exists.
    let procf = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("no default-masked /proc file on this kernel");
    let mut b = k.bundle_sh(&format!(
        "wc -c < {procf}; ls /sys/firmware | wc -l; ls /masked-dir | wc -l; wc -c < /masked-file"
    ));
    b.write_file("/masked-dir/secret", "s");
    b.write_file("/masked-file", "secret");
    if let Some(a) = b.config["linux"]["maskedPaths"].as_array_mut() {
        a.push(json!("/masked-dir"));
        a.push(json!("/masked-file"));
        a.push(json!("/does/not/exist"));
    }
    assert_eq!(k.output(&b), "0\n0\n0\n0\n");
}

#[test]
fn readonly_paths() {
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo rw || echo ro; (touch /rodir/x) 2>/dev/null && echo rw || echo ro",
    );
    b.write_file("/rodir/keep", "");
    if let Some(a) = b.config["linux"]["readonlyPaths"].as_array_mut() {
        a.push(json!("/rodir"));
        a.push(json!("/does/not/exist"));
    }
    assert_eq!(k.output(&b), "ro\nro\n");
}

#[test]
fn sysctl_applied() {
    let k = Kist::new();
    let mut b = k.bundle(&[
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/shmmni",
    ]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    assert_eq!(k.output(&b), "1\n1234\n");
}

#[test]
fn sysctl_not_namespaced_rejected() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    let before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let id = k.id("sysctl");
    clean_failure(&k.run(&b, &id));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
}

// ---- escapes: nothing outside the rootfs may be created or mounted over ----

/// Asserts the host path neither exists nor is a mount point.
fn host_untouched(k: &Kist, p: &Path) {
    let existed = p.exists();
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounted = host
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&p.to_string_lossy()));
    if existed {
        let p2 = p.to_path_buf();
        k.on_drop(move || {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&p2)
                .status();
            let _ = std::fs::remove_dir_all(&p2).or_else(|_| std::fs::remove_file(&p2));
        });
    }
    assert!(
        !existed && !mounted,
        "host path {} was touched (exists={existed}, mounted={mounted})",
        p.display()
    );
}

#[test]
fn absolute_symlink_destination_stays_in_rootfs() {
    let k = Kist::new();
    let name = format!("kist-escape-{}", unique());
    let mut b = k.bundle(&["true"]);
    std::os::unix::fs::symlink("/etc", b.rootfs().join("evil")).unwrap();
    b.add_mount(
        json!({"destination": format!("/evil/{name}"), "type": "tmpfs", "source": "tmpfs"}),
    );
    let id = k.id("esc1");
    let o = k.run(&b, &id);
    host_untouched(&k, &Path::new("/etc").join(&name));
    if o.success() {
        assert!(
            b.rootfs().join("etc").join(&name).exists(),
            "mount should land inside the rootfs"
        );
    } else {
        clean_failure(&o);
    }
}

#[test]
fn relative_symlink_destination_stays_in_rootfs() {
    let k = Kist::new();
    let name = format!("kist-escape-{}", unique());
    let mut b = k.bundle(&["true"]);
    std::os::unix::fs::symlink("../../../../../../../../tmp", b.rootfs().join("evil")).unwrap();
    b.add_mount(
        json!({"destination": format!("/evil/{name}"), "type": "tmpfs", "source": "tmpfs"}),
    );
    let id = k.id("esc2");
    let o = k.run(&b, &id);
    host_untouched(&k, &Path::new("/tmp").join(&name));
    if o.success() {
        assert!(
            b.rootfs().join("tmp").join(&name).exists(),
            "mount should land inside the rootfs"
        );
    } else {
        clean_failure(&o);
    }
}

#[test]
fn dotdot_destination_stays_in_rootfs() {
    let k = Kist::new();
    let name = format!("kist-escape-{}", unique());
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": format!("/../../../../../../../../tmp/{name}"), "type": "tmpfs", "source": "tmpfs"}));
    let id = k.id("esc3");
    let o = k.run(&b, &id);
    host_untouched(&k, &Path::new("/tmp").join(&name));
    if o.success() {
        assert!(
            b.rootfs().join("tmp").join(&name).exists(),
            "mount should land inside the rootfs"
        );
    } else {
        clean_failure(&o);
    }
}

#[test]
fn relative_destination_dotdot_stays_in_rootfs() {
    let k = Kist::new();
    let name = format!("kist-escape-{}", unique());
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": format!("../../../../../../../../tmp/{name}"), "type": "tmpfs", "source": "tmpfs"}));
    let id = k.id("esc4");
    let o = k.run(&b, &id);
    if !o.success() {
        clean_failure(&o);
    }
    host_untouched(&k, &Path::new("/tmp").join(&name));
}

#[test]
fn bind_file_onto_symlink_does_not_overwrite_host_file() {
    let k = Kist::new();
    let target = k.path("host-victim");
    std::fs::write(&target, "original\n").unwrap();
    let src = k.path("src");
    std::fs::write(&src, "payload\n").unwrap();
    let mut b = k.bundle(&["true"]);
    std::os::unix::fs::symlink(&target, b.rootfs().join("link")).unwrap();
    b.add_mount(
        json!({"destination": "/link", "type": "bind", "source": src, "options": ["bind"]}),
    );
    let id = k.id("esc5");
    let o = k.run(&b, &id);
    if !o.success() {
        clean_failure(&o);
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "original\n");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(&*target.to_string_lossy()),
        "host file was mounted over"
    );
}

#[test]
fn cwd_symlink_does_not_escape() {
    let k = Kist::new();
    let name = format!("kist-escape-{}", unique());
    let mut b = k.bundle(&["pwd"]);
    std::os::unix::fs::symlink("/tmp", b.rootfs().join("evil")).unwrap();
    b.config["process"]["cwd"] = json!(format!("/evil/{name}"));
    let id = k.id("esc6");
    let o = k.run(&b, &id);
    if o.success() {
        assert!(
            b.rootfs().join("tmp").join(&name).is_dir(),
            "cwd should be created inside the rootfs"
        );
    } else {
        clean_failure(&o);
    }
    host_untouched(&k, &Path::new("/tmp").join(&name));
}

#[test]
fn container_cannot_see_host_filesystem() {
    let k = Kist::new();
    let marker = k.path("host-marker");
    std::fs::write(&marker, "x").unwrap();
    let b = k.bundle_sh(&format!(
        "ls {m} 2>/dev/null && echo visible || echo hidden; ls /proc/1/root/{m} 2>/dev/null && echo visible || echo hidden; [ -e /work ] && echo work || echo nowork",
        m = marker.display()
    ));
    assert_eq!(k.output(&b), "hidden\nhidden\nnowork\n");
}
