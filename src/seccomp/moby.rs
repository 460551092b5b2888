//! Test helper: turn a profile in moby's own format (Docker's and podman's
//! default.json, with `archMap` and per-rule `includes`/`excludes`) into the
//! OCI `linux.seccomp` an engine sends for a given capability set, the way
//! moby's `setupSeccomp` filters it.

use serde_json::{json, Map, Value};

/// moby's name for the architecture of this host (Go's GOARCH).
const HOST_GOARCH: &str = "amd64";
const HOST_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn kernel_at_least(min: &str, kernel: (u32, u32)) -> bool {
    let mut it = min.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let want = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    kernel >= want
}

/// Convert for a container with capabilities `caps` on an amd64 host running
/// kernel `kernel` (major, minor).
pub(super) fn to_oci(profile: &Value, caps: &[&str], kernel: (u32, u32)) -> Value {
    to_oci_for(profile, caps, kernel, HOST_GOARCH, HOST_SCMP_ARCH)
}

/// `to_oci` for a host of another architecture: Go's GOARCH and the
/// profile's name for it.
pub(super) fn to_oci_for(
    profile: &Value,
    caps: &[&str],
    kernel: (u32, u32),
    goarch: &str,
    scmp_arch: &str,
) -> Value {
    let mut out = Map::new();
    out.insert("defaultAction".into(), profile["defaultAction"].clone());
    if let Some(e) = profile.get("defaultErrnoRet") {
        out.insert("defaultErrnoRet".into(), e.clone());
    }
    let mut arches = Vec::new();
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == scmp_arch {
            arches.push(m["architecture"].clone());
            for s in strings(m.get("subArchitectures")) {
                arches.push(json!(s));
            }
        }
    }
    out.insert("architectures".into(), Value::Array(arches));

    let mut rules = Vec::new();
    'rules: for r in profile["syscalls"].as_array().into_iter().flatten() {
        let ex = &r["excludes"];
        if strings(ex.get("arches")).contains(&goarch) {
            continue;
        }
        if strings(ex.get("caps")).iter().any(|c| caps.contains(c)) {
            continue;
        }
        if let Some(k) = ex.get("minKernel").and_then(Value::as_str) {
            if kernel_at_least(k, kernel) {
                continue;
            }
        }
        let inc = &r["includes"];
        let arches = strings(inc.get("arches"));
        if !arches.is_empty() && !arches.contains(&goarch) {
            continue;
        }
        for c in strings(inc.get("caps")) {
            if !caps.contains(&c) {
                continue 'rules;
            }
        }
        if let Some(k) = inc.get("minKernel").and_then(Value::as_str) {
            if !kernel_at_least(k, kernel) {
                continue;
            }
        }
        let mut rule = Map::new();
        let mut names = r.get("names").cloned().unwrap_or(json!([]));
        if let Some(n) = r.get("name").filter(|n| n.is_string()) {
            names = json!([n]);
        }
        rule.insert("names".into(), names);
        rule.insert("action".into(), r["action"].clone());
        for key in ["errnoRet", "args"] {
            if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
                rule.insert(key.into(), v.clone());
            }
        }
        rules.push(Value::Object(rule));
    }
    out.insert("syscalls".into(), Value::Array(rules));
    Value::Object(out)
}

/// Docker's default capability set.
pub(super) const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub(super) fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/integration/fixtures/seccomp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_caps_and_arch() {
        let p = fixture("docker-default.json");
        let oci = to_oci(&p, DOCKER_DEFAULT_CAPS, (6, 1));
        assert_eq!(
            oci["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let rules = oci["syscalls"].as_array().unwrap();
        let has = |name: &str| {
            rules
                .iter()
                .any(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
        };
        assert!(has("arch_prctl"));
        assert!(has("chroot"));
        assert!(!has("mount"));
        assert!(!has("s390_runtime_instr"));
        assert!(has("clone3"));
        let admin = to_oci(&p, &["CAP_SYS_ADMIN"], (6, 1));
        let clone3 = admin["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"].as_array().unwrap().iter().any(|n| n == "clone3"))
            .unwrap();
        assert_eq!(clone3["action"], "SCMP_ACT_ALLOW");
    }
}
