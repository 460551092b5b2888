//! A Kubernetes pod with `hostUsers: false`, as containerd's CRI plugin
//! (2.x, the first with user-namespaced pods) hands it to the runtime: a
//! sandbox (pause) container with a new user namespace and the CNI network
//! namespace joined by path, then an app container that joins the
//! sandbox's user, pid, ipc, uts and network namespaces by path and gets
//! its volumes and the sandbox's /etc/hosts as bind mounts carrying the
//! pod's mappings (`uidMappings`/`gidMappings`, no option). The sources
//! sit under containerd's 0700 state directories. containerd 1.6 on this
//! machine has no user-namespaced pods, so the shapes are built here.

use crate::common::{netns, Bundle, Kist};
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const HOST: u32 = 300000;

fn pod_map() -> Value {
    json!([{"containerID": 0, "hostID": HOST, "size": 65536}])
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// What the CRI adds to every container: annotations, no terminal, the
/// rootfs owned by the pod's root (containerd idmaps the snapshot).
fn cri_common(b: &mut Bundle, kind: &str, sandbox_id: &str) {
    b.config["annotations"] = json!({
        "io.kubernetes.cri.container-type": kind,
        "io.kubernetes.cri.sandbox-id": sandbox_id,
        "io.kubernetes.cri.sandbox-namespace": "default",
    });
    let chown = |p: &Path| std::os::unix::fs::lchown(p, Some(HOST), Some(HOST)).expect("chown");
    chown(&b.rootfs());
    for d in ["etc", "tmp", "dev", "proc", "sys", "data"] {
        let p = b.rootfs().join(d);
        std::fs::create_dir_all(&p).expect("mkdir");
        chown(&p);
    }
    std::fs::write(b.rootfs().join("etc/hosts"), "").expect("hosts");
    std::fs::write(b.rootfs().join("dev/termination-log"), "").ok();
}

#[test]
fn userns_pod_shaped_as_containerd_cri_sends_it() {
    let k = Kist::new();
    let net = netns(&k);
    // containerd's state lives in 0700 directories of host root.
    let state = k.path("var-lib-containerd");
    let sandbox_dir = state.join("io.containerd.grpc.v1.cri/sandboxes/sb1");
    let volume = state.join("kubelet/pods/p1/volumes/kubernetes.io~empty-dir/data");
    std::fs::create_dir_all(&sandbox_dir).expect("mkdir");
    std::fs::create_dir_all(&volume).expect("mkdir");
    std::fs::write(
        sandbox_dir.join("hosts"),
        "127.0.0.1 localhost\n10.0.0.5 pod\n",
    )
    .expect("hosts");
    std::fs::write(volume.join("seed"), "seed\n").expect("seed");
    chmod(&state, 0o700);

    // The sandbox: new user namespace, the CNI netns by path.
    let mut sb = k.bundle(&["sleep", "100"]);
    let sid = k.id("sandbox");
    cri_common(&mut sb, "sandbox", &sid);
    for d in [&k.dir, &sb.dir] {
        chmod(d, 0o711);
    }
    sb.set_namespace(json!({"type": "user"}));
    sb.set_namespace(json!({"type": "network", "path": net}));
    sb.remove_namespace("cgroup");
    sb.config["linux"]["uidMappings"] = pod_map();
    sb.config["linux"]["gidMappings"] = pod_map();
    k.run_with(&sb, &sid, &["-d"]).ok();
    let spid = k.pid(&sid);

    // The app container joins the sandbox's namespaces by path.
    let mut app = k.bundle_sh(
        "stat -c %u:%g /etc/hosts /data/seed; tail -n1 /etc/hosts; \
         echo hi > /data/out && stat -c %u:%g /data/out; id -u; \
         readlink /proc/self/ns/user; echo $$",
    );
    let aid = k.id("app");
    cri_common(&mut app, "container", &sid);
    chmod(&app.dir, 0o711);
    for (ty, ns) in [
        ("user", "user"),
        ("pid", "pid"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("network", "net"),
    ] {
        app.set_namespace(json!({"type": ty, "path": format!("/proc/{spid}/ns/{ns}")}));
    }
    app.remove_namespace("cgroup");
    for (src, dest) in [
        (sandbox_dir.join("hosts"), "/etc/hosts"),
        (volume.clone(), "/data"),
    ] {
        app.add_mount(json!({
            "destination": dest, "type": "bind", "source": src,
            "options": ["rbind", "rprivate", "rw"],
            "uidMappings": pod_map(), "gidMappings": pod_map(),
        }));
    }
    let out = k.run(&app, &aid).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    let user_ns = std::fs::read_link(format!("/proc/{spid}/ns/user")).expect("ns");
    assert_eq!(
        lines[..6],
        [
            "0:0",
            "0:0",
            "10.0.0.5 pod",
            "0:0",
            "0",
            user_ns.to_str().expect("utf8")
        ],
        "{out}"
    );
    // In the pod's pid namespace, not its init.
    assert_ne!(lines.get(6), Some(&"1"), "{out}");
    // Written through the idmapped volume as the pod's root: host root.
    let md = std::fs::metadata(volume.join("out")).expect("out");
    assert_eq!((md.uid(), md.gid()), (0, 0));
    k.delete_force(&sid).ok();
}
