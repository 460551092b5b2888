//! Id-mapped mounts (runtime-spec 1.2 `idmap`/`ridmap`, mount
//! `uidMappings`/`gidMappings`) and mount sources a user namespace's root
//! cannot reach: both are opened by the runtime on the host side.

use crate::common::{clean_failure, Bundle, Kist};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const HOST: u32 = 200000;

fn userns(b: &mut Bundle) {
    b.set_namespace(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST, "size": 65536}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
}

/// The container's root (host uid 200000) must be able to reach the test's
/// own directories; only what a test closes on purpose stays closed.
fn open_up(k: &Kist, b: &Bundle) {
    for p in [k.dir.clone(), b.dir.clone(), b.rootfs()] {
        chmod(&p, 0o755);
    }
}

fn add(b: &mut Bundle, m: Value) {
    let dest = m["destination"]
        .as_str()
        .expect("destination")
        .trim_start_matches('/');
    std::fs::create_dir_all(b.rootfs().join(dest)).expect("mkdir destination");
    b.add_mount(m);
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
}

/// A host directory holding file `f`, both owned by `uid:gid`.
fn host_dir(k: &Kist, name: &str, uid: u32, gid: u32) -> PathBuf {
    let d = k.path(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("f"), "x").expect("write");
    chown(&d, uid, gid);
    chown(&d.join("f"), uid, gid);
    d
}

/// A bind mount; the destination is made in the rootfs beforehand (the
/// container's root may not write to a rootfs owned by host root).
fn bind(src: &Path, dest: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": "bind", "source": src, "options": opts})
}

#[test]
fn idmapped_bind_shows_host_root_files_as_root() {
    let k = Kist::new();
    let src = host_dir(&k, "data", 0, 0);
    let mut b = k.bundle_sh(
        "stat -c %u:%g /plain/f /mapped/f; id -u; touch /mapped/new && stat -c %u:%g /mapped/new",
    );
    userns(&mut b);
    open_up(&k, &b);
    add(&mut b, bind(&src, "/plain", &["bind"]));
    // Bare idmap: the container's own mappings, as runc does.
    add(&mut b, bind(&src, "/mapped", &["bind", "idmap"]));
    let out = k.output(&b);
    let lines: Vec<&str> = out.lines().collect();
    // Unmapped host root shows as the overflow id without the mapping...
    assert_eq!(lines.first(), Some(&"65534:65534"), "{out}");
    // ...and as the container's root with it.
    assert_eq!(lines.get(1), Some(&"0:0"), "{out}");
    assert_eq!(lines.get(2), Some(&"0"), "{out}");
    assert_eq!(lines.get(3), Some(&"0:0"), "{out}");
    // The host's files are untouched, and what the container's root wrote
    // through the mount belongs to host root.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(src.join("f")).expect("stat").uid(), 0);
    let md = std::fs::metadata(src.join("new")).expect("file written through the mount");
    assert_eq!((md.uid(), md.gid()), (0, 0));
}

#[test]
fn ridmap_maps_every_mount_of_an_rbind_tree() {
    let k = Kist::new();
    let src = host_dir(&k, "tree", 0, 0);
    let sub = src.join("sub");
    std::fs::create_dir(&sub).expect("mkdir sub");
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=755", "kist-it-idmap"])
        .arg(&sub)
        .status()
        .expect("mount tmpfs");
    assert!(st.success());
    let s2 = sub.clone();
    k.on_drop(move || {
        let _ = nix::mount::umount2(&s2, nix::mount::MntFlags::MNT_DETACH);
    });
    std::fs::write(sub.join("g"), "y").expect("write");
    let mut b = k.bundle_sh("stat -c %u /r/f /r/sub/g /t/f /t/sub/g");
    userns(&mut b);
    open_up(&k, &b);
    add(&mut b, bind(&src, "/r", &["rbind", "ridmap"]));
    // idmap on an rbind maps the top mount only.
    add(&mut b, bind(&src, "/t", &["rbind", "idmap"]));
    let out = k.output(&b);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got, ["0", "0", "0", "65534"], "{out}");
}

#[test]
fn explicit_mapping_of_a_directory_owned_by_a_non_root_host_uid() {
    let k = Kist::new();
    let src = host_dir(&k, "owned", 1000, 1001);
    let mut b = k.bundle_sh("stat -c %u:%g /m/f; touch /m/f && echo writable");
    userns(&mut b);
    open_up(&k, &b);
    // Host uid 1000 (gid 1001) is seen through the mount as host 200005
    // (200006), which is the container's uid 5 (gid 6).
    let mut m = bind(&src, "/m", &["bind", "idmap"]);
    m["uidMappings"] = json!([{"containerID": 1000, "hostID": HOST + 5, "size": 1}]);
    m["gidMappings"] = json!([{"containerID": 1001, "hostID": HOST + 6, "size": 1}]);
    add(&mut b, m);
    b.config["process"]["user"] = json!({"uid": 5, "gid": 6});
    let out = k.output(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["5:6", "writable"],
        "{out}"
    );
}

#[test]
fn bad_mount_mappings_are_rejected_naming_the_field() {
    let k = Kist::new();
    let src = host_dir(&k, "data", 0, 0);
    let good = json!([{"containerID": 0, "hostID": HOST, "size": 65536}]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"uidMappings": [{"containerID": 0, "hostID": HOST, "size": 0}], "gidMappings": good}),
            "uidMappings[0].size",
        ),
        (json!({"uidMappings": good}), "gidMappings: missing"),
        (
            json!({"uidMappings": good, "gidMappings": [
                {"containerID": 0, "hostID": HOST, "size": 10},
                {"containerID": 5, "hostID": 1, "size": 10}]}),
            "gidMappings[1]: overlaps",
        ),
        (
            json!({"uidMappings": [{"containerID": 4294967000u32, "hostID": 0, "size": 1000}],
                   "gidMappings": good}),
            "uidMappings[0]: containerID",
        ),
    ];
    for (extra, want) in cases {
        let mut b = k.bundle(&["true"]);
        userns(&mut b);
        open_up(&k, &b);
        let mut m = bind(&src, "/m", &["bind", "idmap"]);
        for (key, v) in extra.as_object().expect("object") {
            m[key] = v.clone();
        }
        add(&mut b, m);
        let i = b.config["mounts"].as_array().expect("mounts").len() - 1;
        let id = k.id("badmap");
        let o = k.run(&b, &id);
        clean_failure(&o);
        let field = format!("mounts[{i}].{want}");
        assert!(
            o.stderr.contains(&field),
            "want {field:?}:\n{}",
            o.describe()
        );
        k.assert_gone(&id);
    }
    // Bare idmap without a user namespace has no mapping to take.
    let mut b = k.bundle(&["true"]);
    add(&mut b, bind(&src, "/m", &["bind", "idmap"]));
    let i = b.config["mounts"].as_array().expect("mounts").len() - 1;
    let id = k.id("badmap");
    let o = k.run(&b, &id);
    clean_failure(&o);
    assert!(
        o.stderr
            .contains(&format!("mounts[{i}].options: idmap without")),
        "{}",
        o.describe()
    );
    k.assert_gone(&id);
}

#[test]
fn userns_bind_source_under_a_0700_parent() {
    let k = Kist::new();
    let parent = k.path("private");
    std::fs::create_dir(&parent).expect("mkdir");
    chmod(&parent, 0o700);
    std::fs::create_dir(parent.join("dir")).expect("mkdir");
    std::fs::write(parent.join("dir/f"), "secret-ok").expect("write");
    chmod(&parent.join("dir"), 0o755);
    chmod(&parent.join("dir/f"), 0o644);
    let mut b = k.bundle(&["cat", "/m/f"]);
    userns(&mut b);
    open_up(&k, &b);
    add(&mut b, bind(&parent.join("dir"), "/m", &["bind", "ro"]));
    assert_eq!(k.output(&b), "secret-ok");
}

#[test]
fn kist_only_userns_bundle_under_a_0700_directory() {
    let k = Kist::new();
    let mut b = k.bundle_sh("id -u; cat /etc/marker");
    userns(&mut b);
    open_up(&k, &b);
    b.write_file("etc/marker", "inside\n");
    chmod(&b.dir, 0o700);
    chmod(&k.dir, 0o700);
    // A relative bind source is taken from the (closed) bundle directory.
    std::fs::create_dir(b.dir.join("vol")).expect("mkdir");
    std::fs::write(b.dir.join("vol/v"), "vol").expect("write");
    add(
        &mut b,
        json!({"destination": "/vol", "type": "bind", "source": "vol", "options": ["rbind"]}),
    );
    b.set_sh("id -u; cat /etc/marker; cat /vol/v");
    let out = k.output(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0", "inside", "vol"],
        "{out}"
    );
}

#[test]
fn features_report_idmap() {
    let k = Kist::new();
    let out = k.cmd(&["features"]).ok().stdout;
    let v: Value = serde_json::from_str(&out).expect("features json");
    assert_eq!(
        v["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true),
        "{out}"
    );
    let opts = v["mountOptions"].as_array().expect("mountOptions");
    for o in ["idmap", "ridmap"] {
        assert!(opts.contains(&json!(o)), "{o} missing from {out}");
    }
}
