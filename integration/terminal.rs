//! process.terminal with --console-socket: the runtime allocates a pty, sends
//! the master over the socket, and makes the slave the container's stdio and
//! controlling terminal.

use crate::common::console::ConsoleSocket;
use crate::common::{clean_failure, read, Kist};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[test]
fn create_with_terminal_sends_master_and_slave_is_stdio() {
    let k = Kist::new();
    let mut b = k.bundle_sh(
        "for f in 0 1 2; do [ -t $f ] && echo tty$f; done; tty; echo ctty > /dev/tty; echo done-$((6*7)); sleep 100",
    );
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("tty");
    let cs = ConsoleSocket::new(&k);
    k.create_with(&b, &id, &["--console-socket", &cs.path_str()])
        .ok();
    let mut pty = cs.recv_master(T);
    k.start(&id).ok();
    let out = pty.expect("done-42", T);
    for want in ["tty0", "tty1", "tty2", "/dev/pts/", "ctty"] {
        assert!(out.contains(want), "missing {want:?} in pty output {out:?}");
    }
}

#[test]
fn interactive_shell_over_the_pty() {
    let k = Kist::new();
    let mut b = k.bundle(&["sh"]);
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("ttysh");
    let cs = ConsoleSocket::new(&k);
    k.run_with(&b, &id, &["-d", "--console-socket", &cs.path_str()])
        .ok();
    let mut pty = cs.recv_master(T);
    pty.write("echo answer-$((6*7))\n");
    pty.expect("answer-42", T);
    pty.write("exit 0\n");
    k.wait_status(&id, "stopped");
}

#[test]
fn pty_is_controlling_terminal_and_session_leader() {
    let k = Kist::new();
    let mut b = k.bundle_sh("cut -d' ' -f6,7 /proc/self/stat; echo end-mark; sleep 100");
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("ctty");
    let cs = ConsoleSocket::new(&k);
    k.run_with(&b, &id, &["-d", "--console-socket", &cs.path_str()])
        .ok();
    let mut pty = cs.recv_master(T);
    let out = pty.expect("end-mark", T);
    // Field 6 is the session id, field 7 the controlling tty number (non-zero).
    let line = out
        .lines()
        .find(|l| l.split_whitespace().count() == 2 && !l.contains("end"))
        .unwrap_or("");
    let tty_nr: i64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.trim().parse().ok())
        .unwrap_or(0);
    assert_ne!(tty_nr, 0, "no controlling terminal: {out:?}");
}

#[test]
fn terminal_without_console_socket_fails_for_create() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("nosock");
    clean_failure(&k.create(&b, &id));
    k.assert_gone(&id);
}

#[test]
fn console_socket_path_missing_fails_cleanly() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("badsock");
    let missing = k.path("no-such.sock");
    clean_failure(&k.create_with(&b, &id, &["--console-socket", &missing.to_string_lossy()]));
    k.assert_gone(&id);
}

#[test]
fn console_socket_not_a_socket_fails_cleanly() {
    let k = Kist::new();
    let mut b = k.bundle(&["true"]);
    b.config["process"]["terminal"] = json!(true);
    let id = k.id("notsock");
    let f = k.path("plain-file");
    std::fs::write(&f, "").unwrap();
    clean_failure(&k.create_with(&b, &id, &["--console-socket", &f.to_string_lossy()]));
    k.assert_gone(&id);
}

#[test]
fn pty_slave_owned_by_process_user() {
    let k = Kist::new();
    let mut b = k.bundle_sh("stat -c 'owner=%u' $(tty); echo end-mark; sleep 100");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let id = k.id("ttyown");
    let cs = ConsoleSocket::new(&k);
    k.run_with(&b, &id, &["-d", "--console-socket", &cs.path_str()])
        .ok();
    let mut pty = cs.recv_master(T);
    let out = pty.expect("end-mark", T);
    assert!(out.contains("owner=1000"), "{out:?}");
}

/// `exec -t` mounts nothing in the container (runc gives the pty to the
/// process as stdio and controlling terminal only), so it works any number
/// of times per container, and the container's /dev/console is untouched.
#[test]
fn exec_tty_three_times_in_a_row() {
    let k = Kist::new();
    let b = k.bundle(&["sleep", "100"]);
    let id = k.id("exectty3");
    k.run_with(&b, &id, &["-d"]).ok();
    let cs = ConsoleSocket::new(&k);
    let mut pids = Vec::new();
    for n in 0..3 {
        let script = format!("[ -t 0 ] && tty && echo exec-done-{n}; sleep 100");
        let pidfile = k.path("exec.pid");
        k.cmd(&[
            "exec",
            "-d",
            "-t",
            "--console-socket",
            &cs.path_str(),
            "--pid-file",
            &pidfile.to_string_lossy(),
            &id,
            "sh",
            "-c",
            &script,
        ])
        .ok();
        pids.push(read(&pidfile).trim().parse::<i32>().expect("exec pid"));
        let mut pty = cs.recv_master(T);
        let out = pty.expect(&format!("exec-done-{n}"), T);
        assert!(out.contains("/dev/pts/"), "exec {n}: {out:?}");
    }
    let mounts = k
        .cmd(&["exec", &id, "cat", "/proc/self/mountinfo"])
        .ok()
        .stdout;
    assert!(
        !mounts.contains(" /dev/console "),
        "exec -t mounted something on /dev/console:\n{mounts}"
    );
    // The exec'd processes were orphaned to this test process (a
    // subreaper): reap them, or the container's init cannot finish dying.
    k.kill(&id, "KILL").ok();
    for pid in pids {
        crate::common::cleanup::reap(pid);
    }
}

/// The pty slave keeps the group devpts gave it (`gid=5`, tty) when the
/// process runs as another user; only its owner changes (as in runc).
#[test]
fn pty_slave_keeps_devpts_tty_group() {
    let k = Kist::new();
    let mut b = k.bundle_sh("stat -c 'owner=%u group=%g' $(tty); echo end-mark; sleep 100");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let id = k.id("ttygrp");
    let cs = ConsoleSocket::new(&k);
    k.run_with(&b, &id, &["-d", "--console-socket", &cs.path_str()])
        .ok();
    let mut pty = cs.recv_master(T);
    let out = pty.expect("end-mark", T);
    assert!(out.contains("owner=1000 group=5"), "{out:?}");
}
