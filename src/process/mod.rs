//! `process` of config.json: everything about the user program that is
//! applied inside the container just before exec (user, capabilities,
//! rlimits, cwd, fds, terminal). Shared by the container init and `exec`.

pub mod capabilities;
pub mod exec;
pub mod fds;
pub mod lsm;
pub mod mempolicy;
pub mod rlimits;
pub mod sched;
pub mod stdio;
pub mod terminal;
pub mod user;

use crate::error::{Context, Error, Result};
use crate::seccomp::Filter;
use oci_spec::runtime::Process;
use std::ffi::CString;
use std::os::fd::OwnedFd;

/// What execve needs, built before the point of no return.
pub struct ExecPlan {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// Installed right before execve (with no_new_privs set, nothing after
    /// it needs a syscall the profile may deny).
    late_seccomp: Option<Filter>,
}

impl ExecPlan {
    /// execve; returns only on failure.
    pub fn exec(&self) -> Error {
        if let Some(f) = &self.late_seccomp {
            if let Err(e) = f.install() {
                return e;
            }
        }
        let argv: Vec<*const libc::c_char> = self
            .argv
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp: Vec<*const libc::c_char> = self
            .envp
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        // SAFETY: path, argv and envp point to NUL-terminated strings owned
        // by self, and both arrays end with a null pointer.
        unsafe { libc::execve(self.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        Error::io(
            format!("exec {:?}", self.path),
            std::io::Error::last_os_error(),
        )
    }
}

/// Applies `process` to the calling process, which is already inside the
/// container (its root is the container's root): resolves the program,
/// creates the cwd, rlimits, no_new_privs, bounding set, user switch with
/// capabilities kept, the capability sets, umask, chdir, fds. Order follows
/// capabilities(7): see capabilities.rs.
/// `seccomp` is installed where runc installs it: without no_new_privs the
/// kernel demands CAP_SYS_ADMIN, so before capabilities are dropped; with it,
/// at exec time, except a NOTIFY filter, whose fd must reach the runtime
/// before the container runs: that one goes in last here and its fd is
/// returned.
pub fn prepare(
    p: &Process,
    preserve_fds: u32,
    seccomp: Option<&Filter>,
) -> Result<(ExecPlan, Option<OwnedFd>)> {
    let env = p.env().clone().unwrap_or_default();
    let argv = p.args().clone().unwrap_or_default();
    let arg0 = argv
        .first()
        .ok_or_else(|| Error::new("process.args: empty"))?;
    let path = exec::resolve(arg0, &env)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    let mut plan = ExecPlan {
        path: CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::new("process.args[0]: contains a NUL byte"))?,
        argv: exec::cstrings(&argv, "process.args")?,
        envp: exec::cstrings(&env, "process.env")?,
        late_seccomp: None,
    };
    let mut notify_fd = None;
    let cwd = p.cwd();
    std::fs::create_dir_all(cwd)
        .with_context(|| format!("process.cwd {}: create", cwd.display()))?;
    rlimits::apply(p.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(s) = p.scheduler() {
        sched::apply_scheduler(s)?;
    }
    if let Some(io) = p.io_priority() {
        sched::apply_io_priority(io)?;
    }
    if let Some(f) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
    {
        sched::set_affinity(f, "process.execCPUAffinity.final")?;
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs().context("process.noNewPrivileges: prctl")?;
    }
    let caps = match p.capabilities() {
        Some(c) => capabilities::resolve(c)?,
        None => capabilities::none(),
    };
    lsm::apply(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
    )?;
    if let Some(f) = seccomp.filter(|_| !nnp) {
        notify_fd = f.install().context("linux.seccomp")?;
    }
    capabilities::drop_bounding(&caps)?;
    user::fix_stdio_owner(p.user());
    nix::sys::prctl::set_keepcaps(true).context("process: PR_SET_KEEPCAPS")?;
    user::switch(p.user(), true)?;
    nix::sys::prctl::set_keepcaps(false).context("process: clear PR_SET_KEEPCAPS")?;
    capabilities::apply(&caps)?;
    user::apply_umask(p.user());
    // After pivot_root (or setns into the container's mount namespace) "/"
    // is the container's root, so the cwd resolves inside it whatever
    // symlinks it crosses.
    std::env::set_current_dir(cwd)
        .with_context(|| format!("process.cwd {}: chdir", cwd.display()))?;
    fds::prepare_for_exec(preserve_fds)?;
    if let Some(f) = seccomp.filter(|_| nnp) {
        if f.uses_notify() {
            notify_fd = f.install().context("linux.seccomp")?;
        } else {
            plan.late_seccomp = Some(f.clone());
        }
    }
    Ok((plan, notify_fd))
}
