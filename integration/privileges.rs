//! process.scheduler, process.ioPriority, process.execCPUAffinity and
//! linux.personality, read back from inside the container.

use crate::common::Kist;
use serde_json::json;

#[test]
fn scheduler_policy_and_nice() {
    let k = Kist::new();
    let mut b = k.bundle_sh("cut -d' ' -f19,41 /proc/self/stat");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    // Field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    assert_eq!(k.output(&b), "7 3\n");
}

#[test]
fn io_priority_is_set() {
    let k = Kist::new();
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let id = k.id("ioprio");
    k.run_with(&b, &id, &["-d"]).ok();
    let pid = k.pid(&id);
    // SAFETY: ioprio_get only reads another process's io priority.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    assert_eq!(v, (2 << 13) | 6, "ioprio of {pid}");
    k.delete_force(&id).ok();
}

#[test]
fn exec_cpu_affinity_final() {
    let k = Kist::new();
    let mut b = k.bundle_sh("grep Cpus_allowed_list /proc/self/status");
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"});
    assert_eq!(k.output(&b), "Cpus_allowed_list:\t0\n");
}

#[test]
fn personality_linux32() {
    let k = Kist::new();
    let mut b = k.bundle(&["uname", "-m"]);
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    assert_eq!(k.output(&b), "i686\n");
}

#[test]
fn bad_io_priority_names_the_field() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9});
    let id = k.id("ioprio-bad");
    k.run(&b, &id)
        .fail()
        .stderr_has("process.ioPriority.priority");
    k.assert_gone(&id);
}
