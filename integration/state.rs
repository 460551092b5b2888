//! `state` output: OCI state JSON plus runc's extra fields.

use crate::common::{pid_exists, Kist};
use serde_json::json;

#[test]
fn state_of_created_container_has_all_fields() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("st");
    k.create(&b, &id).ok();
    let s = k.state_json(&id);
    assert_eq!(s["id"], json!(id));
    assert_eq!(s["status"], "created");
    assert!(
        s["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{s}"
    );
    let pid = s["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0 && pid_exists(pid), "pid {pid} in {s}");
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    assert_eq!(
        s["bundle"].as_str().map(std::path::PathBuf::from),
        Some(bundle.clone()),
        "{s}"
    );
    assert_eq!(
        s["rootfs"].as_str().map(std::path::PathBuf::from),
        Some(bundle.join("rootfs")),
        "{s}"
    );
    let created = s["created"].as_str().unwrap_or("");
    // RFC 3339, e.g. 2026-11-29T02:28:24.241738037Z
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created: {created:?}"
    );
    assert!(s.get("owner").is_some(), "owner missing: {s}");
}

#[test]
fn state_pid_is_container_init_on_host() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("stpid");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    crate::common::wait_sleeping(pid);
}

#[test]
fn state_transitions_created_running_stopped() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("trans");
    k.create(&b, &id).ok();
    assert_eq!(k.status(&id), "created");
    k.start(&id).ok();
    assert_eq!(k.status(&id), "running");
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
}

#[test]
fn status_is_derived_from_the_process() {
    // The process dies without the runtime being told: status must follow.
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("derive");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    // SAFETY: kill(2) on the container pid that the runtime just reported.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    crate::common::reap_pid(pid);
    k.wait_status(&id, "stopped");
}

#[test]
fn state_with_relative_bundle_is_absolute() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("rel");
    b.save();
    let name = b.dir.file_name().unwrap().to_string_lossy().into_owned();
    // Run from the bundle's parent directory with a relative --bundle.
    k.track(&id);
    let opts = crate::common::cmd::Opts {
        cwd: Some(k.dir.clone()),
        ..Default::default()
    };
    k.cmd_opts(&["create", "--bundle", &name, &id], opts).ok();
    let s = k.state_json(&id);
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    assert_eq!(
        s["bundle"].as_str().map(std::path::PathBuf::from),
        Some(bundle)
    );
}

#[test]
fn state_includes_annotations() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["annotations"] = json!({"org.example.key": "value-1"});
    let id = k.id("annot");
    k.create(&b, &id).ok();
    let s = k.state_json(&id);
    assert_eq!(s["annotations"]["org.example.key"], "value-1", "{s}");
}

#[test]
fn state_of_unknown_id_fails() {
    let k = Kist::new();
    k.state("no-such-container")
        .fail()
        .stderr_has("does not exist");
}

#[test]
fn state_of_stopped_container_reports_stopped() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("stst");
    k.run_with(&b, &id, &["--keep"]).ok();
    let s = k.state_json(&id);
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["id"], json!(id));
}

#[test]
fn state_is_pretty_json_object() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("pretty");
    k.create(&b, &id).ok();
    let o = k.state(&id).ok();
    assert!(o.stdout.trim_start().starts_with('{'), "{}", o.describe());
}
