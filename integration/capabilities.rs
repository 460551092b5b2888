//! `process.capabilities` names the running kernel or kist does not know:
//! refused (the spec says MUST) with a message a person can act on.

use crate::common::{bin, clean_failure, cmd, Kist, Output};
use crate::errors::create_fails;
use serde_json::json;
use std::ffi::OsString;

/// Runs kist with `/proc/sys/kernel/cap_last_cap` reading `last`, as on an
/// older kernel (37: Linux 5.7, before CAP_PERFMON, CAP_BPF and
/// CAP_CHECKPOINT_RESTORE), in a private mount namespace.
fn with_cap_last(k: &Kist, last: u32, args: &[&str]) -> Output {
    let fake = k.path("cap_last_cap");
    std::fs::write(&fake, format!("{last}\n")).unwrap();
    let mut argv: Vec<OsString> = [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind \"$0\" /proc/sys/kernel/cap_last_cap && exec \"$@\"",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    argv.push(fake.into_os_string());
    argv.push(bin().into_os_string());
    argv.extend(["--root".into(), k.root.clone().into_os_string()]);
    argv.extend(args.iter().map(OsString::from));
    cmd::run(
        std::path::Path::new("unshare"),
        &argv,
        &k.path("cmd"),
        &k.mark,
        cmd::Opts::default(),
    )
}

/// KIST-ONLY: runc 1.1 warns and drops unknown names.
#[test]
fn kist_only_unknown_capability_is_named_plainly() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["capabilities"] = json!({"bounding": ["CAP_KILL", "CAP_TEST"]});
    let o = create_fails(&k, &b, "capunknown");
    let o = o.stderr_has(r#"process.capabilities.bounding[1]: unknown capability "CAP_TEST""#);
    assert!(!o.stderr.contains("no variant"), "{}", o.stderr);
}

/// KIST-ONLY: runc 1.1 warns and drops capabilities the kernel lacks; the
/// spec says the runtime MUST fail.
#[test]
fn kist_only_capability_the_kernel_lacks_is_refused_before_anything_exists() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["capabilities"] = json!({"bounding": ["CAP_KILL", "CAP_AUDIT_READ", "CAP_BPF"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
    b.save();
    let id = k.id("capkernel");
    k.track(&id);
    let o = with_cap_last(
        &k,
        37,
        &["create", "--bundle", b.dir.to_str().unwrap(), &id],
    );
    clean_failure(&o);
    o.stderr_has(
        r#"process.capabilities.bounding[2]: "CAP_BPF" is not supported by this kernel (highest: CAP_AUDIT_READ)"#,
    );
    k.assert_gone(&id);
    // The same config runs where the kernel has it.
    k.run(&b, &k.id("capkernelok")).ok();
}

/// KIST-ONLY: runc 1.1 lists every capability it knows.
#[test]
fn kist_only_features_lists_the_kernels_capabilities() {
    let k = Kist::new();
    let o = with_cap_last(&k, 37, &["features"]);
    let v: serde_json::Value = serde_json::from_str(&o.ok().stdout).unwrap();
    let caps: Vec<&str> = v["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(caps.len(), 38, "{caps:?}");
    assert!(caps.contains(&"CAP_AUDIT_READ"), "{caps:?}");
    for newer in ["CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"] {
        assert!(!caps.contains(&newer), "{newer} listed: {caps:?}");
    }
}

/// KIST-ONLY: runc 1.1 warns and drops it.
#[test]
fn kist_only_exec_with_a_capability_the_kernel_lacks_is_refused() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("capexec");
    k.run_with(&b, &id, &["-d"]).ok();
    let o = with_cap_last(&k, 37, &["exec", "--cap", "CAP_BPF", &id, "true"]);
    clean_failure(&o);
    assert_eq!(o.code, 255, "{}", o.describe());
    o.stderr_has(r#""CAP_BPF" is not supported by this kernel (highest: CAP_AUDIT_READ)"#);
}
