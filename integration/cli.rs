//! CLI surface: --version, --help, spec, list, logging, global flags.

use crate::common::{bundle::make_rootfs, clean_failure, cmd::Opts, Kist};
use serde_json::{json, Value};

#[test]
fn version_mentions_spec() {
    let k = Kist::new();
    let o = k.bare(&["--version"]).ok();
    assert!(
        o.stdout.lines().any(|l| l.starts_with("spec: 1.")),
        "{}",
        o.describe()
    );
}

/// KIST-ONLY: the first line names kist.
#[test]
fn kist_only_version_first_line() {
    let k = Kist::new();
    let o = k.bare(&["--version"]).ok();
    let first = o.stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("kist version "), "{}", o.describe());
    // runc's shape: version, commit, spec.
    assert!(
        o.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("commit: ")),
        "{}",
        o.describe()
    );
    assert!(
        o.stdout.lines().any(|l| l.starts_with("spec: 1.")),
        "{}",
        o.describe()
    );
}

#[test]
fn help_for_every_command() {
    let k = Kist::new();
    let top = k.bare(&["--help"]).ok();
    for cmd in [
        "create", "start", "state", "kill", "delete", "run", "list", "spec",
    ] {
        assert!(
            top.stdout.contains(cmd),
            "--help does not list {cmd}:\n{}",
            top.describe()
        );
        let o = k.bare(&[cmd, "--help"]).ok();
        assert!(
            o.stdout.to_lowercase().contains("usage"),
            "{cmd} --help:\n{}",
            o.describe()
        );
        assert!(o.stdout.contains(cmd), "{cmd} --help:\n{}", o.describe());
    }
}

#[test]
fn help_documents_flags() {
    let k = Kist::new();
    let want: &[(&str, &[&str])] = &[
        (
            "create",
            &[
                "--bundle",
                "--pid-file",
                "--console-socket",
                "--no-pivot",
                "--no-new-keyring",
                "--preserve-fds",
            ],
        ),
        (
            "run",
            &[
                "--bundle",
                "--pid-file",
                "--detach",
                "--keep",
                "--no-pivot",
                "--console-socket",
                "--preserve-fds",
            ],
        ),
        ("delete", &["--force"]),
        ("kill", &["--all"]),
        ("list", &["--format", "--quiet"]),
        ("spec", &["--bundle"]),
    ];
    for (cmd, flags) in want {
        let o = k.bare(&[cmd, "--help"]).ok();
        for f in *flags {
            assert!(
                o.stdout.contains(f),
                "{cmd} --help lacks {f}:\n{}",
                o.describe()
            );
        }
    }
    let top = k.bare(&["--help"]).ok();
    for f in ["--root", "--log", "--log-format", "--debug"] {
        assert!(
            top.stdout.contains(f),
            "--help lacks {f}:\n{}",
            top.describe()
        );
    }
}

#[test]
fn spec_writes_default_config() {
    let k = Kist::new();
    let d = k.path("specdir");
    std::fs::create_dir_all(&d).unwrap();
    k.bare(&["spec", "--bundle", &d.to_string_lossy()]).ok();
    let c: Value = serde_json::from_str(&crate::common::read(&d.join("config.json"))).unwrap();
    assert!(
        c["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{c}"
    );
    assert_eq!(c["process"]["args"], json!(["sh"]));
    assert_eq!(c["root"]["path"], "rootfs");
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    for t in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&t), "{t} missing in {ns:?}");
    }
    let dests: Vec<&str> = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    for m in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"] {
        assert!(dests.contains(&m), "{m} missing in {dests:?}");
    }
    assert!(c["process"]["capabilities"]["bounding"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert!(c["linux"]["maskedPaths"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}

#[test]
fn spec_in_current_directory() {
    let k = Kist::new();
    let d = k.path("speccwd");
    std::fs::create_dir_all(&d).unwrap();
    let opts = Opts {
        cwd: Some(d.clone()),
        ..Default::default()
    };
    k.cmd_opts(&["spec"], opts).ok();
    assert!(d.join("config.json").is_file());
}

#[test]
fn spec_refuses_to_overwrite() {
    let k = Kist::new();
    let d = k.path("specexists");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.json"), "keep me").unwrap();
    clean_failure(&k.bare(&["spec", "--bundle", &d.to_string_lossy()]));
    assert_eq!(crate::common::read(&d.join("config.json")), "keep me");
}

#[test]
fn spec_output_runs() {
    let k = Kist::new();
    let d = k.path("specrun");
    std::fs::create_dir_all(&d).unwrap();
    k.bare(&["spec", "--bundle", &d.to_string_lossy()]).ok();
    make_rootfs(&d.join("rootfs"));
    let p = d.join("config.json");
    let mut c: Value = serde_json::from_str(&crate::common::read(&p)).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["echo", "spec works"]);
    if let Some(env) = c["process"]["env"].as_array_mut() {
        env.push(json!(format!("KIST_TEST_MARK={}", k.mark)));
    }
    std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
    let id = k.id("specrun");
    let o = k.cmd(&["run", "--bundle", &d.to_string_lossy(), &id]).ok();
    assert_eq!(o.stdout, "spec works\n");
}

#[test]
fn list_table_json_quiet() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let a = k.id("lista");
    let c = k.id("listc");
    k.create(&b, &a).ok();
    k.run_with(&b, &c, &["-d"]).ok();

    let t = k.cmd(&["list"]).ok();
    let mut lines = t.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{}",
        t.describe()
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&id))
            .unwrap_or_else(|| panic!("{id} not listed: {}", t.describe()))
    };
    assert_eq!(row(&a)[2], "created");
    assert_eq!(row(&c)[2], "running");
    assert_eq!(row(&a)[1], k.pid(&a).to_string());

    let j = k.cmd(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(&j.stdout)
        .unwrap_or_else(|e| panic!("list json ({e}): {}", j.describe()));
    let arr = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    assert_eq!(arr.len(), 2, "{v}");
    for item in arr {
        for f in ["id", "pid", "status", "bundle", "created"] {
            assert!(item.get(f).is_some(), "{f} missing: {item}");
        }
    }
    let st = |id: &str| {
        arr.iter()
            .find(|x| x["id"] == json!(id))
            .map(|x| x["status"].clone())
    };
    assert_eq!(st(&a), Some(json!("created")));
    assert_eq!(st(&c), Some(json!("running")));

    let q = k.cmd(&["list", "-q"]).ok();
    let mut ids: Vec<&str> = q.stdout.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), c.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let q2 = k.cmd(&["list", "--quiet"]).ok();
    assert_eq!(q2.stdout.lines().count(), 2);
    let j2 = k.cmd(&["list", "-f", "json"]).ok();
    assert!(serde_json::from_str::<Value>(&j2.stdout).is_ok());
}

#[test]
fn list_shows_stopped_status() {
    let k = Kist::new();
    let b = k.bundle(&["true"]);
    let id = k.id("liststop");
    k.run_with(&b, &id, &["--keep"]).ok();
    let j = k.cmd(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v[0]["status"], "stopped", "{v}");
}

#[test]
fn list_empty() {
    let k = Kist::new();
    let t = k.cmd(&["list"]).ok();
    assert_eq!(
        t.stdout.lines().count(),
        1,
        "only the header: {}",
        t.describe()
    );
    let j = k.cmd(&["list", "--format", "json"]).ok();
    let v: Value =
        serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}: {}", j.describe()));
    // runc prints null, an empty array is fine too.
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{v}"
    );
    assert_eq!(k.cmd(&["list", "-q"]).ok().stdout, "");
}

#[test]
fn list_rejects_unknown_format() {
    let k = Kist::new();
    clean_failure(&k.cmd(&["list", "--format", "yaml"]));
}

#[test]
fn json_log_lines() {
    let k = Kist::new();
    let log = k.path("log.json");
    k.global_flags(&["--log", &log.to_string_lossy(), "--log-format", "json"]);
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    let id = k.id("jlog");
    let o = k.create(&b, &id);
    clean_failure(&o);
    let text = crate::common::read(&log);
    let mut errors = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
        for f in ["level", "msg", "time"] {
            assert!(v[f].is_string(), "{f} missing in {line}");
        }
        if v["level"] == "error" {
            errors += 1;
        }
    }
    assert!(errors >= 1, "no error line in the log: {text}");
}

#[test]
fn text_log_has_the_error() {
    let k = Kist::new();
    let log = k.path("log.txt");
    k.global_flags(&["--log", &log.to_string_lossy()]);
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    let id = k.id("tlog");
    clean_failure(&k.create(&b, &id));
    let text = crate::common::read(&log);
    assert!(
        text.contains("no-such-rootfs") || text.to_lowercase().contains("error"),
        "{text}"
    );
}

#[test]
fn log_file_does_not_break_success() {
    let k = Kist::new();
    let log = k.path("log.ok");
    k.global_flags(&[
        "--log",
        &log.to_string_lossy(),
        "--log-format",
        "json",
        "--debug",
    ]);
    let b = k.bundle(&["echo", "with-log"]);
    let o = k.run(&b, &k.id("logok")).ok();
    assert_eq!(o.stdout, "with-log\n");
    for line in std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "log line is not JSON: {line:?}"
        );
    }
}

/// KIST-ONLY: the --log json message names the failing field like stderr does.
#[test]
fn kist_only_json_log_names_field() {
    let k = Kist::new();
    let log = k.path("log.json");
    k.global_flags(&["--log", &log.to_string_lossy(), "--log-format", "json"]);
    let mut b = k.bundle(&["true"]);
    b.config["root"]["path"] = json!("no-such-rootfs");
    let id = k.id("jlogf");
    clean_failure(&k.create(&b, &id));
    let text = crate::common::read(&log);
    assert!(text.contains("root.path"), "{text}");
}

#[test]
fn bundle_defaults_to_current_directory() {
    let k = Kist::new();
    let b = k.bundle(&["echo", "cwd-bundle"]);
    b.save();
    let id = k.id("cwdb");
    let opts = Opts {
        cwd: Some(b.dir.clone()),
        ..Default::default()
    };
    let o = k.cmd_opts(&["run", &id], opts).ok();
    assert_eq!(o.stdout, "cwd-bundle\n");
}

#[test]
fn short_flags() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    b.save();
    let id = k.id("short");
    k.track(&id);
    let bdir = b.dir.to_string_lossy().into_owned();
    k.cmd(&["run", "-b", &bdir, "-d", &id]).ok();
    k.cmd(&["kill", "-a", &id, "KILL"]).ok();
    k.wait_status(&id, "stopped");
    k.cmd(&["delete", "-f", &id]).ok();
}

#[test]
fn no_pivot_and_no_new_keyring_accepted() {
    let k = Kist::new();
    let b = k.bundle(&["echo", "flags-ok"]);
    let id = k.id("nopiv");
    let o = k
        .run_with(&b, &id, &["--no-pivot", "--no-new-keyring"])
        .ok();
    assert_eq!(o.stdout, "flags-ok\n");
}

#[test]
fn no_new_keyring_keeps_session_keyring() {
    let k = Kist::new();
    let b = k.bundle_sh("cat /proc/self/status >/dev/null; echo ok");
    let id = k.id("keyring");
    k.run_with(&b, &id, &["--no-new-keyring"])
        .ok()
        .stdout_has("ok");
}

/// KIST-ONLY: with `--debug`, `create`, the container init and `exec` each
/// log one line naming every step with its microseconds; without it none.
#[test]
fn kist_only_debug_log_times_each_phase() {
    let quiet = Kist::new();
    let quiet_log = quiet.path("log");
    quiet.global_flags(&["--log", quiet_log.to_str().unwrap()]);
    let id = quiet.id("phases-quiet");
    quiet.run(&quiet.bundle(&["true"]), &id).ok();
    let text = std::fs::read_to_string(&quiet_log).unwrap_or_default();
    assert!(!text.contains("phases"), "without --debug: {text}");

    let k = Kist::new();
    let log = k.path("log");
    let b = k.bundle(&["sleep", "100"]);
    k.global_flags(&["--log", log.to_str().unwrap(), "--debug"]);
    let id = k.id("phases");
    k.create(&b, &id).ok();
    k.start(&id).ok();
    k.cmd(&["exec", &id, "true"]).ok();
    let text = crate::common::read(&log);
    let line = |what: &str| {
        text.lines()
            .find(|l| l.contains(&format!("{what} phases (µs): ")))
            .unwrap_or_else(|| panic!("no {what} phases line in:\n{text}"))
            .to_string()
    };
    let create = line("create");
    for step in ["load config", "cgroup create", "init setup", "total"] {
        assert!(create.contains(&format!("{step}=")), "{step}: {create}");
    }
    let init = line("init");
    for step in ["rootfs prepare", "pivot_root", "process", "total"] {
        assert!(init.contains(&format!("{step}=")), "{step}: {init}");
    }
    let exec = line("exec");
    assert!(exec.contains("clone+join namespaces+fork="), "{exec}");
    // Every duration is a number of microseconds.
    let steps = create.split("(µs): ").nth(1).unwrap().trim_end_matches('"');
    for s in steps.split(", ") {
        let us = s.rsplit('=').next().unwrap();
        assert!(us.parse::<u64>().is_ok(), "{s:?} in {create}");
    }
    k.delete_force(&id).ok();
}
