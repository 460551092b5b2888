//! User namespaces combined with namespaces joined by path: the launch where
//! a middle process joins first, then creates the rest (podman's --uidmap
//! with its own network namespace, or joining another container's user
//! namespace).

use crate::common::{netns, Bundle, Kist};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn mapped(k: &Kist, b: &mut Bundle) {
    b.set_namespace(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    for p in [k.dir.clone(), b.dir.clone(), b.rootfs()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

#[test]
fn new_user_namespace_with_joined_network_namespace() {
    let k = Kist::new();
    let path = netns(&k);
    let want = std::fs::read_link("/proc/self/ns/net").ok();
    let mut b =
        k.bundle_sh("id -u; cat /proc/self/uid_map; readlink /proc/self/ns/net; echo pid=$$");
    mapped(&k, &mut b);
    b.set_namespace(json!({"type": "network", "path": path}));
    let out = k.output(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "{out}");
    assert_eq!(
        lines
            .get(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "200000", "65536"]),
        "{out}"
    );
    let ns = {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", std::fs::metadata(&path).expect("netns").ino())
    };
    assert_eq!(lines.get(2), Some(&ns.as_str()), "{out}");
    assert_ne!(
        lines.get(2).map(|s| s.to_string()),
        want.map(|p| p.to_string_lossy().into_owned())
    );
    // The pid namespace is still new: the process is its init.
    assert_eq!(lines.get(3), Some(&"pid=1"), "{out}");
}

#[test]
fn join_another_containers_user_namespace() {
    let k = Kist::new();
    let mut a = k.bundle(&["sleep", "100"]);
    mapped(&k, &mut a);
    let ida = k.id("usera");
    k.run_with(&a, &ida, &["-d"]).ok();
    let pid = k.pid(&ida);
    let mut b = k.bundle_sh("cat /proc/self/uid_map; readlink /proc/self/ns/user");
    mapped(&k, &mut b);
    b.config["linux"]
        .as_object_mut()
        .expect("linux")
        .remove("uidMappings");
    b.config["linux"]
        .as_object_mut()
        .expect("linux")
        .remove("gidMappings");
    b.set_namespace(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    let out = k.output(&b);
    let want = std::fs::read_link(format!("/proc/{pid}/ns/user")).expect("ns link");
    assert!(out.contains("200000"), "{out}");
    assert!(
        out.trim_end().ends_with(want.to_string_lossy().as_ref()),
        "{out}"
    );
}
