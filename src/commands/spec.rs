use crate::cli::SpecArgs;
use crate::error::{Error, Result};

/// Writes a default config.json like `runc spec`: a shell on a terminal in a
/// rootfs/ directory, with runc's default mounts, namespaces and capabilities.
pub fn run(a: &SpecArgs) -> Result<()> {
    let dir = a.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::new(format!(
            "File {} exists. Remove it first",
            path.display()
        )));
    }
    let mut v = template();
    if a.rootless {
        kist::rootless::to_rootless_spec(
            &mut v,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
    }
    let text = serde_json::to_string_pretty(&v).map_err(|e| Error::new(e.to_string()))?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// The default configuration (`kist bundle` fills it from an image config).
pub fn template() -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut namespaces = vec!["pid", "network", "ipc", "uts", "mount"];
    // runc's template has a cgroup namespace only on a pure cgroup v2 host:
    // a bundle made here and given its own cgroup namespace must not list
    // it twice.
    if crate::cgroups::host_is_v2() {
        namespaces.push("cgroup");
    }
    let namespaces: Vec<serde_json::Value> = namespaces
        .into_iter()
        .map(|t| serde_json::json!({ "type": t }))
        .collect();
    serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "kist",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}
