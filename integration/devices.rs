//! Default devices, /dev links and linux.devices.

use crate::common::Kist;
use serde_json::json;

/// `stat` of each path as "name type major minor mode uid gid" (hex major/minor).
fn stat_script(paths: &[&str]) -> String {
    format!("stat -c '%n %F %t %T %a %u %g' {}; true", paths.join(" "))
}

#[test]
fn default_devices() {
    let k = Kist::new();
    let b = k.bundle_sh(&stat_script(&[
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ]));
    let out = k.output(&b);
    let want = [
        "/dev/null character special file 1 3 666 0 0",
        "/dev/zero character special file 1 5 666 0 0",
        "/dev/full character special file 1 7 666 0 0",
        "/dev/random character special file 1 8 666 0 0",
        "/dev/urandom character special file 1 9 666 0 0",
        "/dev/tty character special file 5 0 666 0 0",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn default_dev_links() {
    let k = Kist::new();
    let b =
        k.bundle_sh("for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done");
    let out = k.output(&b);
    for want in [
        "fd=/proc/self/fd",
        "stdin=/proc/self/fd/0",
        "stdout=/proc/self/fd/1",
        "stderr=/proc/self/fd/2",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want}: {out}");
    }
    // /dev/ptmx may be a symlink to pts/ptmx or a bind of it; either must work.
    assert!(
        out.contains("ptmx=pts/ptmx") || out.contains("ptmx=/dev/pts/ptmx"),
        "{out}"
    );
}

#[test]
fn default_devices_work() {
    let k = Kist::new();
    let b = k.bundle_sh(
        "echo x > /dev/null && echo null-ok; head -c 5 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c; \
         (echo x > /dev/full) 2>/dev/null || echo full-enospc; echo out > /dev/stdout; true",
    );
    assert_eq!(k.output(&b), "null-ok\n5\n8\nfull-enospc\nout\n");
}

#[test]
fn ptmx_opens_a_new_pty() {
    // busybox `script` needs /dev/ptmx + /dev/pts from the new devpts instance.
    let k = Kist::new();
    let b = k.bundle_sh("ls /dev/pts | grep -c ptmx; stat -c %a /dev/pts/ptmx; true");
    assert_eq!(k.output(&b), "1\n666\n");
}

#[test]
fn dev_is_not_the_host_dev() {
    let k = Kist::new();
    let b = k.bundle_sh("ls /dev | grep -cE '^(sda|vda|nvme0|kmsg|mem)$'; true");
    assert_eq!(k.output(&b), "0\n");
}

#[test]
fn linux_devices_created_with_mode_and_owner() {
    let k = Kist::new();
    let mut b = k.bundle_sh(&stat_script(&[
        "/dev/mynull",
        "/dev/sub/dir/myloop",
        "/dev/myfifo",
    ]));
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620, "uid": 1000, "gid": 1000},
        {"path": "/dev/sub/dir/myloop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 0},
        {"path": "/dev/myfifo", "type": "p", "fileMode": 0o644}
    ]);
    let out = k.output(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"/dev/mynull character special file 1 3 620 1000 1000"),
        "{out}"
    );
    assert_eq!(
        lines.get(1),
        Some(&"/dev/sub/dir/myloop block special file 7 c8 600 0 0"),
        "{out}"
    );
    assert!(
        lines
            .get(2)
            .is_some_and(|l| l.starts_with("/dev/myfifo fifo")),
        "{out}"
    );
}

#[test]
fn linux_devices_allowed_by_rule_are_usable() {
    let k = Kist::new();
    let mut b = k.bundle_sh("echo hi > /dev/mynull && echo usable");
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]);
    if let Some(a) = b.config["linux"]["resources"]["devices"].as_array_mut() {
        a.push(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
    }
    assert_eq!(k.output(&b), "usable\n");
}

#[test]
fn linux_devices_path_outside_dev_stays_in_rootfs() {
    let k = Kist::new();
    let mut b = k.bundle_sh(&stat_script(&["/extra/mynull"]));
    std::os::unix::fs::symlink("/tmp", b.rootfs().join("extra")).unwrap();
    let name = format!("kist-devesc-{}", crate::common::unique());
    b.config["linux"]["devices"] = json!([{"path": format!("/extra/{name}"), "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]);
    let id = k.id("devesc");
    let o = k.run(&b, &id);
    let host = std::path::Path::new("/tmp").join(&name);
    let existed = host.exists();
    let _ = std::fs::remove_file(&host);
    assert!(
        !existed,
        "device node created on the host at {}",
        host.display()
    );
    if o.success() {
        let inside = b.rootfs().join("tmp").join(&name);
        assert!(
            inside.exists(),
            "device should be created inside the rootfs"
        );
    } else {
        crate::common::clean_failure(&o);
    }
}
