//! linux.namespaces: new and joined by path, id mappings, hostname/domainname.

use crate::common::{is_reference, netns, Kist};
use serde_json::json;

const ALL: [(&str, &str); 7] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
    ("user", "user"),
];

fn host_ns(file: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{file}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `readlink /proc/self/ns/<file>` for each namespace, from inside.
fn container_ns(k: &Kist, b: &mut crate::common::Bundle) -> Vec<(String, String)> {
    let script: String = ALL
        .iter()
        .map(|(_, f)| format!("echo {f}=$(readlink /proc/self/ns/{f});"))
        .collect();
    b.set_sh(&script);
    let out = k.output(b);
    assert_eq!(out.lines().count(), ALL.len(), "{out}");
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn requested_namespaces_are_new_others_shared() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let got = container_ns(&k, &mut b);
    let new: Vec<&str> = vec!["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    for (f, v) in &got {
        if new.contains(&f.as_str()) {
            assert_ne!(v, &host_ns(f), "{f} namespace should be new");
        } else {
            assert_eq!(v, &host_ns(f), "{f} namespace should be the host's");
        }
    }
}

#[test]
fn without_namespaces_everything_is_shared() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config.as_object_mut().unwrap().remove("hostname");
    // A mount namespace is always needed for the rootfs.
    for ty in ["pid", "network", "ipc", "uts", "cgroup"] {
        b.remove_namespace(ty);
    }
    // /sys needs a private network namespace.
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/sys");
    for (f, v) in container_ns(&k, &mut b) {
        if f != "mnt" {
            assert_eq!(v, host_ns(&f), "{f} namespace should be the host's");
        }
    }
}

#[test]
fn pid_namespace_makes_process_pid_1() {
    let k = Kist::new();
    let b = k.bundle_sh("echo $$; ps -o pid,comm | wc -l");
    let out = k.output(&b);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("1"));
    // header + sh + ps + wc at most: host processes are invisible.
    let n: usize = l.next().unwrap_or("0").trim().parse().unwrap_or(0);
    assert!(n <= 5, "too many visible processes: {out}");
}

#[test]
fn uts_hostname() {
    let k = Kist::new();
    let mut b = k.bundle_sh("hostname");
    b.config["hostname"] = json!("box-name");
    assert_eq!(k.output(&b), "box-name\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "box-name");
}

/// KIST-ONLY: runc 1.1 ignores `domainname`.
#[test]
fn kist_only_uts_domainname() {
    let k = Kist::new();
    let mut b = k.bundle_sh("cat /proc/sys/kernel/domainname");
    b.config["domainname"] = json!("example.org");
    assert_eq!(k.output(&b), "example.org\n");
}

#[test]
fn network_namespace_has_only_loopback() {
    let k = Kist::new();
    let b = k.bundle_sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_eq!(k.output(&b), "lo\n");
}

#[test]
fn join_network_namespace_by_path() {
    let k = Kist::new();
    let path = netns(&k);
    let want = {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", std::fs::metadata(&path).unwrap().ino())
    };
    let mut b = k.bundle(&["readlink", "/proc/self/ns/net"]);
    b.set_namespace(json!({"type": "network", "path": path}));
    assert_eq!(k.output(&b).trim(), want);
}

#[test]
fn join_namespaces_of_another_container() {
    let k = Kist::new();
    let a = k.bundle(&["sleep", "100"]);
    let ida = k.id("nsa");
    k.run_with(&a, &ida, &["-d"]).ok();
    let pid = k.pid(&ida);
    let mut b = k.bundle_sh(
        "for n in net ipc uts; do readlink /proc/self/ns/$n; done; ps -o comm | grep -c sleep",
    );
    b.remove_namespace("pid");
    for (ty, f) in [
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("pid", "pid"),
    ] {
        b.set_namespace(json!({"type": ty, "path": format!("/proc/{pid}/ns/{f}")}));
    }
    let out = k.output(&b);
    let expect: Vec<String> = ["net", "ipc", "uts"]
        .iter()
        .map(|f| {
            std::fs::read_link(format!("/proc/{pid}/ns/{f}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..3],
        &expect.iter().map(String::as_str).collect::<Vec<_>>()[..],
        "{out}"
    );
    // Joined pid namespace: container A's sleep is visible.
    assert_eq!(lines.get(3), Some(&"1"), "{out}");
}

#[test]
fn ipc_namespace_isolates_sysv_ipc() {
    let k = Kist::new();
    let b = k.bundle_sh("cat /proc/sysvipc/shm | wc -l");
    // Only the header line: host segments are not visible.
    assert_eq!(k.output(&b).trim(), "1");
}

#[test]
fn cgroup_namespace_root() {
    let k = Kist::new();
    let b = k.bundle(&["cat", "/proc/self/cgroup"]);
    let out = k.output(&b);
    assert!(out.lines().count() > 0, "empty /proc/self/cgroup");
    for line in out.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        assert_eq!(path, "/", "cgroup namespace root should be /: {out}");
    }
}

#[test]
fn user_namespace_with_mappings() {
    let k = Kist::new();
    let mut b = k.bundle_sh("id -u; cat /proc/self/uid_map /proc/self/gid_map");
    b.set_namespace(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // The rootfs must be reachable by the mapped root.
    let rootfs = b.rootfs();
    for p in [k.dir.clone(), b.dir.clone(), rootfs.clone()] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    // sysfs cannot be mounted from a user namespace that doesn't own the netns
    // on some kernels; keep it but make it a bind of the host's as runc docs suggest.
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
    let out = k.output(&b);
    let fields: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(fields[0], vec!["0"], "{out}");
    assert_eq!(fields[1], vec!["0", "100000", "65536"], "{out}");
    assert_eq!(fields[2], vec!["0", "100000", "65536"], "{out}");
}

#[test]
fn user_namespace_process_is_unprivileged_on_host() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.set_namespace(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1000}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 1000}]);
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
    let id = k.id("userns");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    crate::common::wait_sleeping(pid);
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = st.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(1), Some("200000"), "{st}");
}

/// KIST-ONLY: runc 1.1 has no time namespace support.
#[test]
fn kist_only_time_namespace_offsets() {
    let k = Kist::new();
    let mut b = k.bundle(&["cat", "/proc/uptime"]);
    b.set_namespace(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    let up: f64 = k
        .output(&b)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(up - host > 863000.0, "container uptime {up}, host {host}");
}

/// A bundle without a mount namespace (and so without masked or read-only
/// paths, which need one).
fn no_mount_ns_bundle(k: &Kist, script: &str) -> crate::common::Bundle {
    let mut b = k.bundle_sh(script);
    b.remove_namespace("mount");
    let linux = b.config["linux"].as_object_mut().unwrap();
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    b
}

/// Detaches what runc 1.1 leaves mounted on the host below `dir` after a
/// container without a mount namespace (kist leaves nothing: see the
/// kist_only test), so the reference run does not trip the leak check.
fn reference_leftovers(dir: &std::path::Path) {
    if !is_reference() {
        return;
    }
    let mut left = crate::common::cleanup::mounts_under(dir);
    left.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in left {
        let _ = nix_umount(&m);
    }
}

fn nix_umount(p: &std::path::Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: umount2 on a NUL-terminated path; MNT_DETACH never blocks.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Without a mount namespace the container is set up in the runtime's own
/// and entered with chroot (runc 1.1): it sees its rootfs, with its own
/// proc and dev, from the host's mount namespace.
#[test]
fn without_a_mount_namespace_runs_chrooted_in_the_runtimes_namespace() {
    let k = Kist::new();
    let b = no_mount_ns_bundle(
        &k,
        "cat /marker; test -c /dev/null && echo dev-ok; test -d /proc/self && echo proc-ok; \
         readlink /proc/self/ns/mnt",
    );
    b.write_file("marker", "in-the-rootfs\n");
    let out = k.output(&b);
    reference_leftovers(&b.rootfs());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["in-the-rootfs", "dev-ok", "proc-ok"], "{out}");
    assert_eq!(
        lines.get(3).copied(),
        Some(host_ns("mnt").as_str()),
        "{out}"
    );
}

/// runc 1.1 leaves the rootfs bind and every mount of the container on the
/// host after delete; kist's mounts are there while the container runs and
/// gone after delete (and after a foreground run).
#[test]
fn kist_only_without_a_mount_namespace_delete_leaves_no_mount() {
    let k = Kist::new();
    let mut b = no_mount_ns_bundle(&k, "true");
    k.output(&b);
    let left = crate::common::cleanup::mounts_under(&b.rootfs());
    assert!(left.is_empty(), "mounts left after run: {left:?}");

    b.set_args(&["sleep", "100"]);
    let id = k.id("nomntns");
    k.run_with(&b, &id, &["-d"]).ok();
    let proc_ = b.rootfs().join("proc");
    let held = crate::common::cleanup::mounts_under(&b.rootfs());
    assert!(
        held.contains(&proc_),
        "no proc mount at {proc_:?}: {held:?}"
    );
    k.delete_force(&id).ok();
    let left = crate::common::cleanup::mounts_under(&b.rootfs());
    assert!(left.is_empty(), "mounts left after delete: {left:?}");
}

/// runc refuses masked and read-only paths without a private mount
/// namespace: they would be applied to the host's /proc and /sys.
#[test]
fn without_a_mount_namespace_masked_paths_are_refused() {
    let k = Kist::new();
    for field in ["maskedPaths", "readonlyPaths"] {
        let mut b = no_mount_ns_bundle(&k, "true");
        b.config["linux"][field] = json!(["/proc/kcore"]);
        let id = k.id("nomntmask");
        let o = k.run(&b, &id);
        crate::common::clean_failure(&o);
        o.stderr_has("without a private");
        k.assert_gone(&id);
        let left = crate::common::cleanup::mounts_under(&b.rootfs());
        assert!(left.is_empty(), "{field}: mounts left: {left:?}");
    }
}

/// `exec` into a container without a mount namespace runs at the
/// container's root (the init's chroot); runc 1.1 leaves it at the host's.
#[test]
fn kist_only_exec_without_a_mount_namespace_sees_the_container_root() {
    let k = Kist::new();
    let b = no_mount_ns_bundle(&k, "sleep 100");
    b.write_file("marker", "in-the-rootfs\n");
    let id = k.id("nomntexec");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = k.cmd(&["exec", &id, "cat", "/marker"]).ok();
    assert_eq!(o.stdout, "in-the-rootfs\n", "{}", o.describe());
    let o = k.cmd(&["exec", &id, "ls", "/"]).ok();
    assert!(
        !o.stdout.contains("work"),
        "host root visible: {}",
        o.stdout
    );
}

/// linux.rootfsPropagation without a mount namespace would change the
/// propagation of the host's `/` (runc 1.1 applies it there): refused.
#[test]
fn kist_only_without_a_mount_namespace_rootfs_propagation_is_refused() {
    let k = Kist::new();
    let mut b = no_mount_ns_bundle(&k, "true");
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    let id = k.id("nomntprop");
    let o = k.run(&b, &id);
    crate::common::clean_failure(&o);
    o.stderr_has("linux.rootfsPropagation");
    k.assert_gone(&id);
}

/// A mount namespace given by path is joined and the rootfs is set up in
/// it (runc 1.1): a mount that exists only in that namespace, below the
/// rootfs, is what the container sees.
#[test]
fn join_mount_namespace_by_path() {
    let k = Kist::new();
    let b = k.bundle(&["cat", "/mnt/marker"]);
    let mnt = b.rootfs().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs marker {0} && echo only-in-the-joined-ns > {0}/marker && exec sleep 100",
        mnt.display()
    );
    let mut holder = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .spawn()
        .expect("spawn unshare");
    let pid = holder.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .contains(" marker ")
    {
        assert!(std::time::Instant::now() < deadline, "holder never mounted");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut b = b;
    b.set_namespace(json!({"type": "mount", "path": format!("/proc/{pid}/ns/mnt")}));
    let id = k.id("joinmnt");
    let o = k.run(&b, &id);
    let _ = holder.kill();
    let _ = holder.wait();
    let o = o.ok();
    assert_eq!(o.stdout, "only-in-the-joined-ns\n", "{}", o.describe());
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .contains(" marker "),
        "the marker mount leaked into the host's namespace"
    );
}
