//! linux.namespaces: new and joined by path, id mappings, hostname/domainname.

use crate::common::{netns, Kist};
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
