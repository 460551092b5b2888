//! OCI bundles for tests: a busybox rootfs plus an editable config.json.

use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const BUSYBOX: &str = "/bin/busybox";

/// A bundle directory. Tests edit `config` (a `serde_json::Value`) and the
/// runner writes it to config.json before each create/run; `set_raw` replaces
/// the file with arbitrary bytes for malformed-input tests.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
    raw: RefCell<Option<Vec<u8>>>,
}

fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = std::process::Command::new(BUSYBOX).arg("--list").output().unwrap_or_else(|e| {
            panic!("{BUSYBOX}: {e}; the tests need the static busybox: apt-get install -y busybox-static")
        });
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty() && *l != "busybox")
            .map(str::to_string)
            .collect()
    })
}

/// Builds a busybox rootfs at `rootfs`.
pub fn make_rootfs(rootfs: &Path) {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()))
    };
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/user",
        "usr",
    ] {
        mkdir(&rootfs.join(d));
    }
    let set_mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()))
    };
    set_mode(&rootfs.join("tmp"), 0o1777);
    let bb = rootfs.join("bin/busybox");
    // A copy, not a hard link: a container writing to its /bin/busybox must
    // never be able to modify the host's.
    std::fs::copy(BUSYBOX, &bb).unwrap_or_else(|e| {
        panic!(
            "copy {BUSYBOX} -> {}: {e}; install it with: apt-get install -y busybox-static",
            bb.display()
        )
    });
    set_mode(&bb, 0o755);
    for a in applets() {
        let l = rootfs.join("bin").join(a);
        symlink("busybox", &l).unwrap_or_else(|e| panic!("symlink {}: {e}", l.display()));
    }
    for (l, t) in [
        ("sbin", "bin"),
        ("usr/bin", "../bin"),
        ("usr/sbin", "../bin"),
    ] {
        symlink(t, rootfs.join(l)).unwrap_or_else(|e| panic!("symlink {l}: {e}"));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("write group");
    let home = std::ffi::CString::new(rootfs.join("home/user").as_os_str().as_encoded_bytes())
        .expect("path");
    // SAFETY: chown(2) on a NUL-terminated path we own; no memory is retained.
    unsafe { libc::chown(home.as_ptr(), 1000, 1000) };
}

/// The default config: what `runc spec` writes, with terminal=false, a
/// writable root, a cgroup namespace, and the leak-detection mark in env.
pub fn default_config(args: &[&str], mark: &str) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
                format!("KIST_TEST_MARK={mark}")
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "kist",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
        }
    })
}

impl Bundle {
    pub fn new(dir: &Path, args: &[&str], mark: &str) -> Bundle {
        make_rootfs(&dir.join("rootfs"));
        Bundle {
            dir: dir.to_path_buf(),
            config: default_config(args, mark),
            raw: RefCell::new(None),
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Writes config.json (the raw bytes if `set_raw` was called).
    pub fn save(&self) {
        let p = self.config_path();
        let bytes = match &*self.raw.borrow() {
            Some(b) => b.clone(),
            None => serde_json::to_vec_pretty(&self.config).expect("serialize config"),
        };
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// From now on config.json holds exactly these bytes.
    pub fn set_raw(&self, bytes: &[u8]) {
        *self.raw.borrow_mut() = Some(bytes.to_vec());
        self.save();
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    pub fn set_sh(&mut self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    /// Appends "K=V" to process.env.
    pub fn add_env(&mut self, kv: &str) {
        if let Some(a) = self.config["process"]["env"].as_array_mut() {
            a.push(json!(kv));
        }
    }

    pub fn add_mount(&mut self, m: Value) {
        if let Some(a) = self.config["mounts"].as_array_mut() {
            a.push(m);
        }
    }

    /// Removes the namespace of this type from linux.namespaces.
    pub fn remove_namespace(&mut self, ty: &str) {
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
        }
    }

    /// Adds (or replaces) a namespace entry.
    pub fn set_namespace(&mut self, ns: Value) {
        let ty = ns["type"].clone();
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
            a.push(ns);
        }
    }

    /// Sets all five capability sets to `caps`.
    pub fn set_caps(&mut self, caps: &[&str]) {
        let c = json!(caps);
        self.config["process"]["capabilities"] = json!({ "bounding": c, "effective": c, "permitted": c, "inheritable": c, "ambient": c });
    }

    /// Writes a file inside the rootfs (creating parents).
    pub fn write_file(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.rootfs().join(rel.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}
