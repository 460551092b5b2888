//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA policy of the container
//! process, set with set_mempolicy before exec and read back inside with
//! get_mempolicy by a small static helper built here.

use crate::common::{clean_failure, Bundle, Kist};
use serde_json::{json, Value};
use std::path::Path;

const HELPER: &str = r#"
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    int mode = -1;
    unsigned long mask[64] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 64 * 8 * sizeof(long), 0, 0) != 0) {
        perror("get_mempolicy");
        return 1;
    }
    printf("mode=%d mask=%lx\n", mode, mask[0]);
    return 0;
}
"#;

/// Builds the helper (static, so it runs in the busybox rootfs) into `b`.
fn install_helper(k: &Kist, b: &Bundle) {
    let dir = k.path("helper");
    std::fs::create_dir_all(&dir).expect("mkdir helper");
    let src = dir.join("getmempolicy.c");
    std::fs::write(&src, HELPER).expect("write helper source");
    let out = b.rootfs().join("bin/getmempolicy");
    let st = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc (the tests need a C compiler and libc6-dev)");
    assert!(st.success(), "cc -static getmempolicy.c");
}

fn with_policy(k: &Kist, policy: Value) -> Bundle {
    let mut b = k.bundle(&["/bin/getmempolicy"]);
    install_helper(k, &b);
    b.config["linux"]["memoryPolicy"] = policy;
    b
}

#[test]
fn memory_policy_is_set_before_exec() {
    let k = Kist::new();
    // Node 0 exists on every Linux machine, NUMA or not.
    // exec'd processes share it.
    let mut b = with_policy(&k, json!({"mode": "MPOL_PREFERRED", "nodes": "0"}));
    b.set_args(&["sleep", "100"]);
    let id = k.id("mpolexec");
    k.run_with(&b, &id, &["-d"]).ok();
    let out = k.cmd(&["exec", &id, "/bin/getmempolicy"]).ok().stdout;
    assert_eq!(out.trim(), "mode=1 mask=1");
    k.delete_force(&id).ok();

    for (policy, want) in [
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            format!("mode={} mask=1", 2 | 1 << 15),
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "mode=3 mask=1".to_string(),
        ),
        (json!({"mode": "MPOL_LOCAL"}), "mode=4 mask=0".to_string()),
    ] {
        let b = with_policy(&k, policy.clone());
        assert_eq!(k.output(&b).trim(), want, "{policy}");
    }
    // Without the field the process keeps the default policy.
    let mut b = with_policy(&k, Value::Null);
    b.config["linux"]
        .as_object_mut()
        .expect("linux")
        .remove("memoryPolicy");
    assert_eq!(k.output(&b).trim(), "mode=0 mask=0");
    let f: Value = serde_json::from_str(&k.cmd(&["features"]).ok().stdout).expect("features");
    let modes = f["linux"]["memoryPolicy"]["modes"]
        .as_array()
        .expect("modes");
    assert!(modes.contains(&json!("MPOL_BIND")), "{f}");
}

#[test]
fn bad_memory_policies_are_rejected_naming_the_field() {
    let k = Kist::new();
    let cases = [
        (
            json!({"nodes": "0"}),
            "linux.memoryPolicy: missing field `mode`",
        ),
        (
            json!({"mode": "MPOL_SOMETIMES"}),
            "linux.memoryPolicy.mode: unknown variant `MPOL_SOMETIMES`",
        ),
        (
            json!({"mode": "MPOL_BIND"}),
            "linux.memoryPolicy.nodes: MPOL_BIND needs",
        ),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes: MPOL_LOCAL takes no",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0,two"}),
            "linux.memoryPolicy.nodes \"0,two\"",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_FAST"]}),
            "linux.memoryPolicy.flags[1]: unknown variant `MPOL_F_FAST`",
        ),
    ];
    for (policy, want) in cases {
        let mut b = k.bundle(&["true"]);
        b.config["linux"]["memoryPolicy"] = policy;
        let id = k.id("mpol");
        let o = k.run(&b, &id);
        clean_failure(&o);
        assert!(o.stderr.contains(want), "want {want:?}:\n{}", o.describe());
        k.assert_gone(&id);
    }
    // A node the machine does not have passes the syntax check; the kernel
    // refuses it in the init, and the error still names the field.
    let mut b = k.bundle(&["true"]);
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "4000"});
    let id = k.id("mpol");
    let o = k.run(&b, &id);
    clean_failure(&o);
    assert!(
        o.stderr.contains("linux.memoryPolicy: set_mempolicy"),
        "{}",
        o.describe()
    );
    k.assert_gone(&id);
    assert!(!Path::new(&k.root).join(&id).exists());
}
