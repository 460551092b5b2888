//! Bad input: every case fails cleanly (no panic, an error message) and
//! leaves nothing behind (state dir, cgroup, mounts, processes).
//!
//! Tests named `kist_only_*` check the wording kist promises (the failing
//! step/config field and the OS error); runc phrases these differently.

use crate::common::{clean_failure, Bundle, Kist, Output};
use serde_json::json;

/// Creates `b` under a fresh id, expects a clean failure and no leftovers.
pub(crate) fn create_fails(k: &Kist, b: &Bundle, tag: &str) -> Output {
    let id = k.id(tag);
    let o = k.create(b, &id);
    clean_failure(&o);
    k.state(&id).fail().stderr_has("does not exist");
    k.assert_gone(&id);
    o
}

/// Same through `run` (foreground).
fn run_fails(k: &Kist, b: &Bundle, tag: &str) -> Output {
    let id = k.id(tag);
    let o = k.run(b, &id);
    clean_failure(&o);
    k.state(&id).fail();
    k.assert_gone(&id);
    o
}

fn root_is_empty(k: &Kist) -> bool {
    match std::fs::read_dir(&k.root) {
        Ok(mut rd) => rd.next().is_none(),
        Err(_) => true,
    }
}

#[test]
fn malformed_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    b.set_raw(b"{ this is not json");
    create_fails(&k, &b, "malformed");
    run_fails(&k, &b, "malformed-run");
}

#[test]
fn empty_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    b.set_raw(b"");
    create_fails(&k, &b, "empty");
}

#[test]
fn truncated_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let full = serde_json::to_vec(&b.config).unwrap();
    b.set_raw(&full[..full.len() / 2]);
    create_fails(&k, &b, "trunc");
}

#[test]
fn config_wrong_types() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["args"] = json!("not-an-array");
    create_fails(&k, &b, "types");
    b.config["process"]["args"] = json!(["true"]);
    b.config["process"]["user"]["uid"] = json!(-5);
    create_fails(&k, &b, "types2");
}

#[test]
fn config_json_array_root() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    b.set_raw(b"[1,2,3]");
    create_fails(&k, &b, "arr");
}

#[test]
fn deeply_nested_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let mut s = String::from("{\"annotations\":");
    s.push_str(&"[".repeat(100_000));
    s.push_str(&"]".repeat(100_000));
    s.push('}');
    b.set_raw(s.as_bytes());
    create_fails(&k, &b, "deep");
}

#[test]
fn huge_config_garbage() {
    // 64 MiB of junk must be rejected without exhausting memory or time.
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let mut s = vec![b' '; 64 << 20];
    s.extend_from_slice(b"{ oops");
    b.set_raw(&s);
    create_fails(&k, &b, "huge");
}

#[test]
fn huge_but_valid_config_runs_or_fails_cleanly() {
    let k = Kist::new();
    let mut b = k.bundle(&["echo", "ran"]);
    let annotations: serde_json::Map<String, serde_json::Value> = (0..20_000)
        .map(|i| (format!("org.example.key{i}"), json!("x".repeat(100))))
        .collect();
    b.config["annotations"] = json!(annotations);
    let id = k.id("hugeok");
    let o = k.run(&b, &id);
    if o.success() {
        assert_eq!(o.stdout, "ran\n");
    } else {
        clean_failure(&o);
    }
    k.assert_gone(&id);
}

#[test]
fn missing_config() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    std::fs::remove_file(b.config_path()).unwrap();
    let bdir = b.dir.to_string_lossy().into_owned();
    let id = k.id("nocfg");
    let o = k.cmd(&["create", "--bundle", &bdir, &id]);
    clean_failure(&o);
    k.assert_gone(&id);
}

#[test]
fn missing_bundle_dir() {
    let k = Kist::new();
    let id = k.id("nobundle");
    let missing = k.path("does-not-exist");
    let o = k.cmd(&["create", "--bundle", &missing.to_string_lossy(), &id]);
    clean_failure(&o);
    k.assert_gone(&id);
}

#[test]
fn missing_rootfs() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    create_fails(&k, &b, "norootfs");
    run_fails(&k, &b, "norootfs-run");
}

#[test]
fn args0_not_found() {
    let k = Kist::new();
    let b = k.bundle(&["no-such-binary-xyz"]);
    let o = run_fails(&k, &b, "noargs0");
    o.stderr_has("no-such-binary-xyz");
}

#[test]
fn args0_absolute_not_found() {
    let k = Kist::new();
    let b = k.bundle(&["/bin/no-such-binary-xyz"]);
    run_fails(&k, &b, "noargs0abs");
}

#[test]
fn args0_not_executable() {
    let k = Kist::new();
    let b = k.bundle(&["/etc/passwd"]);
    run_fails(&k, &b, "noexec");
}

#[test]
fn empty_args() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["args"] = json!([]);
    run_fails(&k, &b, "emptyargs");
}

#[test]
fn relative_cwd_rejected() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["cwd"] = json!("relative/dir");
    run_fails(&k, &b, "relcwd");
}

/// KIST-ONLY: runc only warns about unknown capabilities.
#[test]
fn kist_only_unknown_capability() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.set_caps(&["CAP_KILL", "CAP_NOT_A_REAL_CAP"]);
    let o = create_fails(&k, &b, "badcap");
    o.stderr_has("CAP_NOT_A_REAL_CAP");
}

#[test]
fn unsupported_namespace_type() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.set_namespace(json!({"type": "bogus-ns"}));
    create_fails(&k, &b, "badns");
}

#[test]
fn namespace_path_missing() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.set_namespace(json!({"type": "network", "path": "/proc/self/ns/no-such-thing"}));
    create_fails(&k, &b, "badnspath");
}

#[test]
fn bad_mount_type() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.add_mount(json!({"destination": "/mnt", "type": "no-such-fs", "source": "none"}));
    create_fails(&k, &b, "badmount");
}

#[test]
fn bind_mount_source_missing() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let missing = k.path("missing-source");
    b.add_mount(
        json!({"destination": "/mnt", "type": "bind", "source": missing, "options": ["bind"]}),
    );
    create_fails(&k, &b, "badbind");
}

#[test]
fn invalid_signal() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("badsig");
    k.run_with(&b, &id, &["-d"]).ok();
    for sig in ["SIGNOPE", "NOPE", "999", "-1", "SIG"] {
        let o = k.kill(&id, sig);
        clean_failure(&o);
    }
    assert_eq!(k.status(&id), "running");
}

#[test]
fn invalid_ids_rejected_before_any_file_is_created() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let long = "a".repeat(1025);
    for id in [
        "bad/id",
        "..",
        ".",
        "with space",
        "semi;colon",
        "new\nline",
        "star*",
        long.as_str(),
        "../escape",
    ] {
        let o = k.create(&b, id);
        clean_failure(&o);
        assert!(
            root_is_empty(&k),
            "create {id:?} left files in {}",
            k.root.display()
        );
        let o = k.run(&b, id);
        clean_failure(&o);
        assert!(
            root_is_empty(&k),
            "run {id:?} left files in {}",
            k.root.display()
        );
    }
    // Nothing may have been created next to the root either (../escape).
    assert!(!k.dir.join("escape").exists());
}

#[test]
fn empty_id_rejected() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let bdir = b.dir.to_string_lossy().into_owned();
    clean_failure(&k.cmd(&["create", "--bundle", &bdir, ""]));
    clean_failure(&k.cmd(&["create", "--bundle", &bdir]));
    assert!(root_is_empty(&k));
}

#[test]
fn valid_id_charset_accepted() {
    let k = Kist::new();
    let b = k.bundle(&["echo", "ran"]);
    let id = format!("Ab_9.+-{}", crate::common::unique());
    k.track(&id);
    assert_eq!(k.run(&b, &id).ok().stdout, "ran\n");
}

/// KIST-ONLY: runc uses the id as a file name and fails beyond NAME_MAX (255).
#[test]
fn kist_only_id_of_1024_bytes_accepted() {
    let k = Kist::new();
    let b = k.bundle(&["echo", "ran"]);
    let u = crate::common::unique();
    let id = format!("{}-{u}", "x".repeat(1023 - u.len()));
    assert_eq!(id.len(), 1024);
    k.track(&id);
    assert_eq!(k.run(&b, &id).ok().stdout, "ran\n");
}

#[test]
fn unknown_id_fails_everywhere() {
    let k = Kist::new();
    for args in [
        vec!["start", "ghost-id"],
        vec!["state", "ghost-id"],
        vec!["kill", "ghost-id"],
        vec!["kill", "ghost-id", "KILL"],
        vec!["delete", "ghost-id"],
    ] {
        let o = k.cmd(&args);
        clean_failure(&o);
        o.stderr_has("does not exist");
    }
    k.cmd(&["delete", "--force", "ghost-id"]).ok();
}

#[test]
fn unknown_subcommand_and_flag_fail() {
    let k = Kist::new();
    clean_failure(&k.cmd(&["frobnicate"]));
    clean_failure(&k.cmd(&["create", "--no-such-flag", "x"]));
    assert!(root_is_empty(&k));
}

#[test]
fn failing_create_leaves_nothing_in_parallel() {
    // Many failures at once must not leak or corrupt each other.
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    b.save();
    let bdir = b.dir.to_string_lossy().into_owned();
    let ids: Vec<String> = (0..6).map(|i| k.id(&format!("par{i}"))).collect();
    let sp: Vec<_> = ids
        .iter()
        .map(|id| k.spawn(&["create", "--bundle", &bdir, id]))
        .collect();
    for s in sp {
        clean_failure(&s.wait());
    }
    for id in &ids {
        k.assert_gone(id);
    }
}

// ---- kist-only: wording that names the step/field and the OS error ----

/// KIST-ONLY: runc says only "container does not exist".
#[test]
fn kist_only_unknown_id_message_names_the_id() {
    let k = Kist::new();
    k.state("ghost-id-42")
        .fail()
        .stderr_has("container ghost-id-42 does not exist");
}

/// KIST-ONLY: the failing mount is named by its index in config.json.
#[test]
fn kist_only_bad_mount_names_field_and_os_error() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let n = b.config["mounts"].as_array().unwrap().len();
    b.add_mount(json!({"destination": "/mnt", "type": "no-such-fs", "source": "none"}));
    let o = create_fails(&k, &b, "fieldmount");
    o.stderr_has(&format!("mounts[{n}]"))
        .stderr_has("no such device");
}

/// KIST-ONLY: the bind source that is missing is named with its path.
#[test]
fn kist_only_bind_source_missing_names_field_and_path() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    let n = b.config["mounts"].as_array().unwrap().len();
    let missing = k.path("missing-source");
    b.add_mount(
        json!({"destination": "/mnt", "type": "bind", "source": missing, "options": ["bind"]}),
    );
    let o = create_fails(&k, &b, "fieldbind");
    o.stderr_has(&format!("mounts[{n}]"))
        .stderr_has(&missing.to_string_lossy())
        .stderr_has("no such file or directory");
}

/// KIST-ONLY: the capability field is named.
#[test]
fn kist_only_unknown_capability_names_field() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["capabilities"]["effective"] = json!(["CAP_KILL", "CAP_BOGUS"]);
    let o = create_fails(&k, &b, "fieldcap");
    o.stderr_has("process.capabilities.effective")
        .stderr_has("CAP_BOGUS");
}

/// KIST-ONLY: args[0] lookup failure names the field.
#[test]
fn kist_only_args0_not_found_names_field() {
    let k = Kist::new();
    let b = k.bundle(&["no-such-binary-xyz"]);
    let o = run_fails(&k, &b, "fieldargs");
    o.stderr_has("process.args[0]")
        .stderr_has("no-such-binary-xyz");
}

/// KIST-ONLY: a missing rootfs names root.path and the path.
#[test]
fn kist_only_missing_rootfs_names_field() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    let o = create_fails(&k, &b, "fieldroot");
    o.stderr_has("root.path")
        .stderr_has("no-such-rootfs")
        .stderr_has("no such file or directory");
}

/// KIST-ONLY: a parse error names config.json and the position.
#[test]
fn kist_only_malformed_config_names_file_and_position() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    b.set_raw(b"{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}");
    let o = create_fails(&k, &b, "fieldjson");
    o.stderr_has("config.json").stderr_has("line 3");
}

/// KIST-ONLY: an unsupported namespace names linux.namespaces[i].type.
#[test]
fn kist_only_unsupported_namespace_names_field() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.set_namespace(json!({"type": "bogus-ns"}));
    let n = b.config["linux"]["namespaces"].as_array().unwrap().len() - 1;
    let o = create_fails(&k, &b, "fieldns");
    o.stderr_has(&format!("linux.namespaces[{n}]"))
        .stderr_has("bogus-ns");
}

/// KIST-ONLY: an invalid id is explained, with the allowed charset.
#[test]
fn kist_only_invalid_id_message() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    k.create(&b, "bad/id")
        .fail()
        .stderr_has("bad/id")
        .stderr_has("invalid container id");
}

/// kill with a bad signal names it.
#[test]
fn invalid_signal_message_names_it() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("sigmsg");
    k.run_with(&b, &id, &["-d"]).ok();
    k.kill(&id, "SIGNOPE").fail().stderr_has("SIGNOPE");
}
