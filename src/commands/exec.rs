use super::run::forwarded_signals;
use crate::cli::ExecArgs;
use crate::container::exec::{spawn, ExecOptions};
use crate::error::{Context, Error, Result};
use crate::process::stdio::Io;
use crate::state::{Container, Status};
use nix::sys::signal::SigmaskHow;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process};
use std::path::Path;
use std::str::FromStr;

pub fn run(root: &Path, a: &ExecArgs) -> Result<i32> {
    let c = Container::open(root, &a.id)?;
    let st = c.load()?;
    match st.status(&c.dir) {
        Status::Running | Status::Created => {}
        Status::Paused if a.ignore_paused => {}
        Status::Paused => {
            return Err(Error::new(format!(
                "cannot exec in paused container {} (use --ignore-paused)",
                a.id
            )))
        }
        Status::Stopped => {
            return Err(Error::new(format!(
                "cannot exec in stopped container {}",
                a.id
            )))
        }
    }
    // An exec'd process may run for long: other commands must not wait on it.
    c.unlock();
    crate::timing::mark("load state");
    let process = build_process(a, st.config.process().as_ref())?;
    if let Some((set, name, highest)) = process
        .capabilities()
        .as_ref()
        .and_then(crate::process::capabilities::kernel_lacks)
    {
        return Err(Error::new(format!(
            "process.capabilities.{set}: {name:?} is not supported by this kernel (highest: {highest})"
        )));
    }
    let set = forwarded_signals();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .context("exec: block signals")?;
    }
    crate::process::fds::check_preserved(a.preserve_fds)?;
    let terminal = process.terminal().unwrap_or(false);
    let mut io = Io::new(a.detach, terminal, a.console_socket.is_some())?;
    let opts = ExecOptions {
        stdio: io.stdio(),
        console: io.console(a.console_socket.as_deref()),
        process,
        pid_file: a.pid_file.as_deref(),
        preserve_fds: a.preserve_fds,
        sub_cgroup: &a.cgroup,
        personality: st
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.personality().clone()),
    };
    crate::timing::mark("build process+stdio");
    let pid = spawn(&st, &opts)?;
    io.started()?;
    crate::timing::report();
    if a.detach {
        return Ok(0);
    }
    io.supervise(Pid::from_raw(pid), &set)
}

/// `--process FILE`, or the container's own process with the flags applied
/// on top, as runc builds it.
fn build_process(a: &ExecArgs, base: Option<&Process>) -> Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).with_context(|| format!("--process {}", path.display()))?;
        let bad = |e: serde_json::Error| Error::new(format!("--process {}: {e}", path.display()));
        let mut v: serde_json::Value = serde_json::from_slice(&data).map_err(bad)?;
        // runc runs a process without a `user` object as uid 0, gid 0.
        if let Some(obj) = v.as_object_mut().filter(|o| !o.contains_key("user")) {
            obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            return serde_json::from_value(v).map_err(bad);
        }
        // Parsed from the text, so that an error says where it is.
        return serde_json::from_slice(&data).map_err(bad);
    }
    if a.command.is_empty() {
        return Err(Error::new(
            "exec: no command given (arguments or --process)",
        ));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::new(format!("--user {u}: only numeric UID[:GID] is supported")))
        };
        let mut user = p.user().clone();
        user.set_uid(parse(uid)?);
        user.set_gid(gid.map(parse).transpose()?.unwrap_or(0));
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap = Capability::from_str(name.trim_start_matches("CAP_"))
                .map_err(|_| Error::new(format!("--cap {name}: unknown capability")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.ambient().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    2 => caps.set_permitted(Some(s)),
                    _ => caps.set_ambient(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}
