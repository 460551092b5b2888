//! `kist check`: a bundle validated offline, every problem named by its
//! config field, exit 1; and the completions and man pages `make install`
//! generates. runc has none of these: all tests are kist-only.

use crate::common::Kist;
use serde_json::{json, Value};

fn check(k: &Kist, dir: &std::path::Path, json: bool) -> crate::common::Output {
    let d = dir.to_string_lossy().into_owned();
    let mut args = vec!["check", "--bundle", d.as_str()];
    if json {
        args.extend(["--format", "json"]);
    }
    k.bare(&args)
}

#[test]
fn kist_only_check_accepts_a_good_bundle() {
    let k = Kist::new();
    let b = k.bundle(&["sh", "-c", "true"]);
    let o = check(&k, &b.dir, false).ok();
    assert!(o.stdout.contains(": ok"), "{}", o.describe());
    let o = check(&k, &b.dir, true).ok();
    let v: Value = serde_json::from_str(&o.stdout).expect("json output");
    assert_eq!(v["valid"], json!(true), "{}", o.describe());
    assert_eq!(v["problems"], json!([]));
}

#[test]
fn kist_only_check_names_every_broken_field() {
    let k = Kist::new();
    let mut b = k.bundle(&["not-in-rootfs"]);
    // Parse faults (wrong types, unknown names)...
    b.config["hostname"] = json!(7);
    b.config["process"]["cwd"] = json!(5);
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_NOPE"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .extend([json!({"type": "bogus"}), json!({"type": "user"})]);
    // ...and checks on what parsed.
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["process"]["user"]["uid"] = json!(50);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/x.sock",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["write"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["getpid"], "action": "SCMP_ACT_BOGUS"}
        ]
    });
    std::os::unix::fs::symlink("/etc", b.rootfs().join("escape")).expect("symlink");
    b.add_mount(json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/../../x", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "relative", "type": "tmpfs", "source": "tmpfs"}));
    b.save();
    let nmounts = b.config["mounts"].as_array().expect("mounts").len();

    let o = check(&k, &b.dir, true).code_is(1);
    let v: Value = serde_json::from_str(&o.stdout).expect("json output");
    assert_eq!(v["valid"], json!(false));
    let fields: Vec<String> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["field"].as_str().unwrap_or_default().to_string())
        .collect();
    let ns = b.config["linux"]["namespaces"]
        .as_array()
        .map_or(0, |a| a.len());
    let expected = [
        "hostname".to_string(),
        "process.cwd".to_string(),
        "process.capabilities.bounding[1]".to_string(),
        format!("linux.namespaces[{}].type", ns - 2),
        "linux.seccomp.syscalls[2].action".to_string(),
        "linux.seccomp.syscalls[1].names[0]".to_string(),
        "process.user.uid".to_string(),
        "process.args[0]".to_string(),
        format!("mounts[{}].destination", nmounts - 3),
        format!("mounts[{}].destination", nmounts - 2),
        format!("mounts[{}].destination", nmounts - 1),
    ];
    for f in &expected {
        assert!(fields.contains(f), "no problem for {f} in {fields:?}");
    }
    assert_eq!(
        fields.len(),
        expected.len(),
        "unexpected extra problems: {}",
        o.stdout
    );

    // Text: one line per problem, each starting with its field.
    let o = check(&k, &b.dir, false).code_is(1);
    for f in &expected {
        assert!(
            o.stdout.lines().any(|l| l.starts_with(&format!("{f}: "))),
            "no line for {f}: {}",
            o.stdout
        );
    }
}

#[test]
fn kist_only_check_unreadable_or_garbage_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    b.set_raw(b"{ not json");
    check(&k, &b.dir, false)
        .code_is(1)
        .stdout_has("invalid configuration");
    std::fs::remove_file(b.config_path()).expect("rm config");
    check(&k, &b.dir, false)
        .code_is(1)
        .stdout_has("config.json");
}

#[test]
fn kist_only_completions_and_man_pages_follow_the_cli() {
    let k = Kist::new();
    for (shell, needle) in [("bash", "--store"), ("zsh", "--store"), ("fish", "store")] {
        let o = k.bare(&["completion", shell]).ok();
        assert!(o.stdout.contains(needle), "{shell}: {}", o.describe());
        assert!(
            o.stdout.contains("bundle") && o.stdout.contains("check"),
            "{shell}"
        );
    }
    k.bare(&["completion", "tcsh"]).fail();
    let dir = k.path("man");
    k.bare(&["man", &dir.to_string_lossy()]).ok();
    for page in ["kist.8", "kist-bundle.8", "kist-check.8", "kist-create.8"] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let bundle = std::fs::read_to_string(dir.join("kist-bundle.8")).expect("page");
    assert!(
        bundle.contains("remove") && bundle.contains("store"),
        "{bundle}"
    );
}
