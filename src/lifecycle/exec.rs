//! `exec`: a new process in a live container, from `--process`-style JSON or
//! from the container's own process with runc's exec flags applied on top.

use super::Container;
use crate::container::exec::spawn;
use crate::error::{Context, Error, Result};
use crate::process::stdio::Io;
use crate::state::Status;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// `exec`: what `kist exec`'s flags give. `process` (a JSON file with an
/// OCI `process` object) overrides `command` and the process fields.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process: Option<PathBuf>,
    /// Returns once the process runs, instead of relaying its stdio and
    /// signals and returning its exit code.
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    /// KEY=VALUE, replacing the container's value of KEY.
    pub env: Vec<String>,
    /// UID[:GID], numeric.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    /// Added to the bounding, effective, permitted and ambient sets.
    pub cap: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// Existing sub-cgroups of the container's: [CONTROLLER[,..]:]PATH.
    pub cgroup: Vec<String>,
    /// Command and arguments (unless `process`).
    pub command: Vec<String>,
}

impl Container {
    /// Runs a process in the container. Detached: returns 0 once it has
    /// exec'd. Otherwise relays its stdio and every catchable signal to it
    /// (blocked in the calling process meanwhile) and returns its exit code.
    /// Forks: the caller must be single-threaded. The container's lock is
    /// released once its status is checked.
    pub fn exec(self, a: &ExecOptions) -> Result<i32> {
        let id = &self.state.id;
        match self.status() {
            Status::Running | Status::Created => {}
            Status::Paused if a.ignore_paused => {}
            Status::Paused => {
                return Err(Error::new(format!(
                    "cannot exec in paused container {id} (use --ignore-paused)"
                )))
            }
            Status::Stopped => {
                return Err(Error::new(format!("cannot exec in stopped container {id}")))
            }
        }
        // An exec'd process may run for long: other commands must not wait on it.
        let Container { handle, state: st } = self;
        handle.unlock();
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
        let opts = crate::container::exec::ExecOptions {
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
}

/// Every signal that can be caught: blocked in the runtime and waited for,
/// so none is lost and each reaches the container.
pub fn forwarded_signals() -> SigSet {
    let mut set = SigSet::all();
    set.remove(Signal::SIGKILL);
    set.remove(Signal::SIGSTOP);
    set
}

/// `--process FILE`, or the container's own process with the flags applied
/// on top, as runc builds it.
fn build_process(a: &ExecOptions, base: Option<&Process>) -> Result<Process> {
    if let Some(path) = &a.process {
        return read_process(path);
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

fn read_process(path: &Path) -> Result<Process> {
    let data = std::fs::read(path).with_context(|| format!("--process {}", path.display()))?;
    let bad = |e: serde_json::Error| Error::new(format!("--process {}: {e}", path.display()));
    let mut v: serde_json::Value = serde_json::from_slice(&data).map_err(bad)?;
    // runc runs a process without a `user` object as uid 0, gid 0.
    if let Some(obj) = v.as_object_mut().filter(|o| !o.contains_key("user")) {
        obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
        return serde_json::from_value(v).map_err(bad);
    }
    // Parsed from the text, so that an error says where it is.
    serde_json::from_slice(&data).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_apply_on_the_containers_process() {
        let mut base = Process::default();
        base.set_env(Some(vec!["A=1".into(), "B=2".into()]));
        let a = ExecOptions {
            command: vec!["sh".into()],
            env: vec!["A=9".into()],
            user: Some("5:6".into()),
            cap: vec!["CAP_CHOWN".into()],
            ..Default::default()
        };
        let p = build_process(&a, Some(&base)).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(p.env().as_deref(), Some(&["B=2".into(), "A=9".into()][..]));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        let caps = p.capabilities().clone().unwrap();
        assert!(caps
            .ambient()
            .as_ref()
            .unwrap()
            .contains(&Capability::Chown));

        let none = ExecOptions::default();
        let e = build_process(&none, None).unwrap_err();
        assert!(e.to_string().contains("no command given"), "{e}");
        let bad_user = ExecOptions {
            user: Some("root".into()),
            ..a.clone()
        };
        assert!(build_process(&bad_user, None).is_err());
    }
}
