//! `exec`: a new process in a running container, with runc's flags.

use crate::common::{unique, Kist};
use serde_json::json;

/// A running container with an absolute cgroupsPath of its own.
fn running(k: &Kist, tag: &str) -> (String, String) {
    let mut b = k.bundle(&["sleep", "100"]);
    let cg = format!("/kist-it-exec-{}", unique());
    b.config["linux"]["cgroupsPath"] = json!(cg);
    let id = k.id(tag);
    k.run_with(&b, &id, &["-d"]).ok();
    (id, cg)
}

#[test]
fn foreground_exit_code_output_and_stdin() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-fg");
    k.cmd(&["exec", &id, "sh", "-c", "echo out; echo err >&2; exit 5"])
        .code_is(5)
        .stdout_has("out");
    let o = k.cmd_stdin(&["exec", &id, "cat"], b"from stdin\n").ok();
    assert_eq!(o.stdout, "from stdin\n");
}

#[test]
fn env_user_cwd_and_additional_gids() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-flags");
    let o = k
        .cmd(&[
            "exec",
            "-e",
            "FOO=bar",
            "-u",
            "1000:1000",
            "-g",
            "27",
            "--cwd",
            "/tmp",
            &id,
            "sh",
            "-c",
            "echo $FOO; id -u; id -g; id -G; pwd",
        ])
        .ok();
    assert_eq!(o.stdout, "bar\n1000\n1000\n1000 27\n/tmp\n");
}

#[test]
fn detached_writes_the_host_pid() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-d");
    let pidfile = k.path("exec.pid");
    let pf = pidfile.to_string_lossy().into_owned();
    k.cmd(&["exec", "-d", "--pid-file", &pf, &id, "sleep", "50"])
        .ok();
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "sleep");
    let ps = k.cmd(&["ps", "--format", "json", &id]).ok();
    assert!(ps.stdout.contains(&pid.to_string()), "{}", ps.stdout);
    // Orphaned to this test process (a subreaper): it must be reaped here,
    // or the container's init could not finish dying.
    k.kill(&id, "KILL").ok();
    crate::common::cleanup::reap(pid);
}

#[test]
fn process_file_as_containerd_sends_it() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-proc");
    let proc_json = k.path("process.json");
    let p = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo $A; exit 3"],
        "env": ["PATH=/bin:/usr/bin", "A=from-process-json"],
        "cwd": "/"
    });
    std::fs::write(&proc_json, p.to_string()).expect("write process.json");
    let pj = proc_json.to_string_lossy().into_owned();
    k.cmd(&["exec", "--process", &pj, &id])
        .code_is(3)
        .stdout_has("from-process-json");
}

#[test]
fn into_an_existing_sub_cgroup() {
    let k = Kist::new();
    let (id, cg) = running(&k, "exec-cg");
    // The sub-cgroup must exist in every hierarchy the container uses.
    let mut made = Vec::new();
    // v1: /sys/fs/cgroup/<controller>/<cg>; pure v2: /sys/fs/cgroup/<cg>.
    let roots = std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroup root")
        .map(|e| e.expect("entry").path());
    for root in std::iter::once(std::path::PathBuf::from("/sys/fs/cgroup")).chain(roots) {
        let dir = root.join(cg.trim_start_matches('/'));
        if dir.is_dir() {
            let sub = dir.join("sub");
            std::fs::create_dir(&sub).expect("mkdir sub-cgroup");
            // A v1 cpuset child takes no process until it has cpus and mems.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(dir.join(f)) {
                    let _ = std::fs::write(sub.join(f), v.trim());
                }
            }
            made.push(sub);
        }
    }
    let o = k
        .cmd(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"])
        .ok();
    // With a cgroup namespace rooted at the container's cgroup, the
    // sub-cgroup reads as /sub.
    // Hierarchies not mounted on this host (a hugetlb one left by another
    // tool, say) hold no container cgroup and are not checked.
    let mounted = |l: &str| {
        let ctl = l.split(':').nth(1).unwrap_or("");
        ctl.is_empty()
            || std::path::Path::new("/sys/fs/cgroup")
                .join(ctl.trim_start_matches("name="))
                .is_dir()
    };
    assert!(
        o.stdout
            .lines()
            .filter(|l| mounted(l))
            .all(|l| l.ends_with("/sub")),
        "{}",
        o.stdout
    );
    k.cmd(&["exec", "--cgroup", "nope", &id, "true"])
        .fail()
        .stderr_has("does not exist");
    k.cmd(&["exec", "--cgroup", "../../..", &id, "true"]).fail();
    k.delete_force(&id).ok();
    for sub in made {
        let _ = std::fs::remove_dir(sub);
    }
}

#[test]
fn refused_in_paused_and_stopped_containers() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-state");
    k.cmd(&["pause", &id]).ok();
    k.cmd(&["exec", &id, "true"]).fail().stderr_has("paused");
    k.cmd(&["resume", &id]).ok();
    k.kill(&id, "KILL").ok();
    k.wait_status(&id, "stopped");
    k.cmd(&["exec", &id, "true"]).fail().stderr_has("stopped");
}

#[test]
fn capability_added_with_cap() {
    let k = Kist::new();
    let (id, _) = running(&k, "exec-cap");
    let without = k
        .cmd(&["exec", &id, "grep", "CapEff", "/proc/self/status"])
        .ok();
    let with = k
        .cmd(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            &id,
            "grep",
            "CapEff",
            "/proc/self/status",
        ])
        .ok();
    assert_ne!(without.stdout, with.stdout);
    k.cmd(&["exec", "--cap", "CAP_NOPE", &id, "true"])
        .fail()
        .stderr_has("CAP_NOPE");
}

/// KIST-ONLY (runc 1.1 has no time namespace): the exec'd process is in
/// every namespace of the container (user, mount, pid, network, ipc, uts,
/// cgroup, time), with the container's id mappings and clocks.
#[test]
fn kist_only_exec_joins_every_namespace_of_the_container() {
    use std::os::unix::fs::PermissionsExt;
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.set_namespace(json!({"type": "user"}));
    b.set_namespace(json!({"type": "time"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    for p in [k.dir.clone(), b.dir.clone(), b.rootfs()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let id = k.id("exec-allns");
    k.run_with(&b, &id, &["-d"]).ok();
    let init = k.pid(&id);
    let types = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"];
    let script = format!(
        "for t in {}; do readlink /proc/self/ns/$t; done; id -u; cat /proc/self/uid_map; cat /proc/uptime",
        types.join(" ")
    );
    let o = k.cmd(&["exec", &id, "sh", "-c", &script]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    for (i, t) in types.iter().enumerate() {
        let want = std::fs::read_link(format!("/proc/{init}/ns/{t}")).expect("ns link");
        assert_eq!(
            lines.get(i).copied(),
            Some(want.to_string_lossy().as_ref()),
            "{t}: {}",
            o.stdout
        );
    }
    assert_eq!(lines.get(types.len()), Some(&"0"), "{}", o.stdout);
    assert_eq!(
        lines
            .get(types.len() + 1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "200000", "65536"]),
        "{}",
        o.stdout
    );
    let up: f64 = lines
        .get(types.len() + 2)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("uptime: {}", o.stdout));
    assert!(
        up > 864000.0,
        "exec'd process's uptime {up}: not the container's clock"
    );
}
