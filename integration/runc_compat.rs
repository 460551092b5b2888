//! Small behaviours of runc 1.1 that engines and scripts rely on: exit
//! codes, output text, defaults.

use crate::common::Kist;
use serde_json::json;

fn running(k: &Kist, tag: &str) -> String {
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id(tag);
    k.run_with(&b, &id, &["-d"]).ok();
    id
}

fn stopped(k: &Kist, tag: &str) -> String {
    let b = k.bundle(&["true"]);
    let id = k.id(tag);
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.wait_status(&id, "stopped");
    id
}

#[test]
fn kill_signal_zero_probes_liveness() {
    let k = Kist::new();
    let id = running(&k, "kill0");
    k.kill(&id, "0").ok();
    k.cmd(&["kill", "--all", &id, "0"]).ok();
    assert_eq!(k.status(&id), "running");
    let id2 = stopped(&k, "kill0stop");
    k.kill(&id2, "0").fail().stderr_has("container not running");
    k.cmd(&["kill", "--all", &id2, "0"]).ok();
}

#[test]
fn exec_failing_before_the_process_runs_exits_255() {
    let k = Kist::new();
    let id = running(&k, "exec255");
    k.cmd(&["exec", &id, "/no/such/binary"]).code_is(255);
    // ... and a process that exits 1 is still 1.
    k.cmd(&["exec", &id, "sh", "-c", "exit 1"]).code_is(1);
    let id2 = stopped(&k, "exec255stop");
    k.cmd(&["exec", &id2, "true"]).code_is(255);
    k.cmd(&["exec", "no-such-container-here", "true"])
        .code_is(255);
}

#[test]
fn exec_process_without_user_runs_as_root() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let id = k.id("execnouser");
    k.run_with(&b, &id, &["-d"]).ok();
    let p = k.path("process.json");
    std::fs::write(
        &p,
        json!({"args": ["sh", "-c", "echo $(id -u):$(id -g)"], "cwd": "/", "env": ["PATH=/bin"]})
            .to_string(),
    )
    .unwrap();
    let o = k.cmd(&["exec", "--process", p.to_str().unwrap(), &id]).ok();
    assert_eq!(o.stdout.trim(), "0:0");
}

/// Byte offsets of `"key":` in `text`, which must be increasing.
fn assert_key_order(text: &str, keys: &[&str]) {
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("no key {k:?} in {text}"))
        })
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "keys not in runc's order {keys:?}: {text}"
    );
}

#[test]
fn list_and_state_json_keys_in_runcs_order() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["annotations"] = json!({"org.example.a": "b"});
    let id = k.id("listorder");
    k.run_with(&b, &id, &["-d"]).ok();
    let order = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "annotations",
        "owner",
    ];
    let o = k.cmd(&["list", "--format", "json"]).ok();
    assert!(o.stdout.starts_with("[{\"ociVersion\":"), "{}", o.stdout);
    assert_key_order(&o.stdout, &order);
    assert_key_order(&k.state(&id).ok().stdout, &order);
    // Without annotations the key is left out, as runc's omitempty.
    let id2 = running(&k, "listnoann");
    let o = k.state(&id2).ok();
    assert!(!o.stdout.contains("annotations"), "{}", o.stdout);
}

fn pure_cgroup2() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 2 && f[1] == "/sys/fs/cgroup" && f[2] == "cgroup2"
        })
}

#[test]
fn spec_has_a_cgroup_namespace_only_on_pure_cgroup2_hosts() {
    let k = Kist::new();
    let dir = k.path("specdir");
    std::fs::create_dir_all(&dir).unwrap();
    k.bare(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let v: serde_json::Value =
        serde_json::from_str(&crate::common::read(&dir.join("config.json"))).unwrap();
    let has_cgroup = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "cgroup");
    assert_eq!(has_cgroup, pure_cgroup2(), "{}", v["linux"]["namespaces"]);
}

#[test]
fn log_file_gets_the_lines_of_the_container_side_setup() {
    let k = Kist::new();
    let log = k.path("log");
    k.global_flags(&["--log", log.to_str().unwrap(), "--debug"]);
    let mut b = k.bundle(&["true"]);
    // kist's init logs (debug) that it skips this ambient capability, after
    // pivot_root; runc's init logs its own debug lines.
    b.config["process"]["capabilities"] =
        json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]});
    let id = k.id("logsetup");
    let o = k.create(&b, &id).ok();
    assert_eq!(o.stderr, "", "with --log nothing goes to stderr");
    let text = crate::common::read(&log);
    assert!(text.contains("level=debug"), "{text}");
}

/// The container's cgroup (by cgroupsPath) made in advance in the freezer
/// hierarchy; returns its freezer directory, thawed and removed at drop.
fn frozen_cgroup(k: &Kist, name: &str) -> std::path::PathBuf {
    let v1 = std::path::Path::new("/sys/fs/cgroup/freezer");
    let (dir, file, frozen) = if v1.is_dir() {
        (v1.join(name), "freezer.state", "FROZEN")
    } else {
        (
            std::path::Path::new("/sys/fs/cgroup").join(name),
            "cgroup.freeze",
            "1",
        )
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), frozen).unwrap();
    let d = dir.clone();
    let thawed = if frozen == "1" { "0" } else { "THAWED" };
    let n = name.to_string();
    k.on_drop(move || {
        let _ = std::fs::write(d.join(file), thawed);
        // A runtime that went ahead made it in the other hierarchies too.
        for dir in crate::common::cgroups_named(&n) {
            let _ = std::fs::remove_dir(dir);
        }
    });
    dir
}

#[test]
fn create_in_a_frozen_cgroup_is_refused() {
    let k = Kist::new();
    let name = format!("kist-it-frozen-{}", crate::common::unique());
    frozen_cgroup(&k, &name);
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    let id = k.id("frozen");
    let bdir = b.dir.to_string_lossy().into_owned();
    b.save();
    let o = k.cmd_opts(
        &["create", "--bundle", &bdir, &id],
        crate::common::cmd::Opts {
            timeout: Some(std::time::Duration::from_secs(10)),
            ..Default::default()
        },
    );
    crate::common::clean_failure(&o);
    o.stderr_has("unexpectedly frozen");
    k.state(&id).fail();
}

#[test]
fn create_in_a_cgroup_with_processes_warns() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    let name = format!("kist-it-busy-{}", crate::common::unique());
    b.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    // Another container already in that cgroup.
    let first = k.id("busy1");
    k.run_with(&b, &first, &["-d"]).ok();
    let n = name.clone();
    k.on_drop(move || {
        for dir in crate::common::cgroups_named(&n) {
            let _ = std::fs::remove_dir(dir);
        }
    });
    let second = k.id("busy2");
    let o = k.run_with(&b, &second, &["-d"]).ok();
    o.stderr_has("container's cgroup is not empty");
    k.delete_force(&second).ok();
    k.delete_force(&first).ok();
}
