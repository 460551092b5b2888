//! `features`: what this build really implements, per the runtime spec's
//! features.md. Every list is derived from the code that does the work, so
//! it cannot claim more than that code accepts.

use crate::error::Result;

pub fn run() -> Result<()> {
    let caps = crate::process::capabilities::kernel_supported();
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::options::known(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": crate::cgroups::features(),
            "seccomp": {
                "enabled": crate::seccomp::enabled(),
                "actions": crate::seccomp::supported_actions(),
                "operators": crate::seccomp::supported_operators(),
                "archs": crate::seccomp::supported_archs(),
                "knownFlags": crate::seccomp::known_flags(),
                "supportedFlags": crate::seccomp::supported_flags(),
            },
            "apparmor": {"enabled": crate::process::lsm::apparmor_enabled()},
            "selinux": {"enabled": crate::process::lsm::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.kist.version": env!("CARGO_PKG_VERSION")
        }
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
