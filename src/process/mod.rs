//! `process` of config.json: everything about the user program that is
//! applied inside the container just before exec (user, capabilities,
//! rlimits, cwd, fds, terminal), around the seccomp filter as runc 1.1
//! orders it. Shared by the container init and `exec`.

pub mod capabilities;
pub mod exec;
pub mod fds;
pub mod lsm;
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

/// Everything the last steps before execve need, computed before the
/// seccomp filter goes in: from the filter on, the process makes only the
/// syscalls listed in docs/architecture.md ("After the seccomp filter"), so
/// on the way to execve nothing allocates, logs or opens files (error
/// paths aside).
pub struct ExecPlan {
    path: CString,
    /// Own the strings `argv_ptrs` and `envp_ptrs` point into.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    /// NULL-terminated pointer arrays for execve.
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    nnp: bool,
    seccomp: Option<Filter>,
    caps: capabilities::Sets,
    groups: Vec<nix::unistd::Gid>,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
    /// `process.cwd`, when the privileged chdir was refused: retried as the
    /// target user, as runc does (root squashed on NFS, FUSE).
    cwd_retry: Option<CString>,
    cwd_display: String,
}

impl ExecPlan {
    /// Whether the filter has a notify listener, whose fd must reach the
    /// runtime before `create` returns.
    pub fn notify(&self) -> bool {
        self.seccomp.as_ref().is_some_and(|f| f.uses_notify())
    }

    pub fn no_new_privileges(&self) -> bool {
        self.nnp
    }

    /// The end of runc's finalizeNamespace: without no_new_privs the filter
    /// goes in first (loading it then needs CAP_SYS_ADMIN), then the
    /// bounding set, the user switch, the deferred chdir and the capability
    /// sets. Returns the notify fd of a filter installed here.
    pub fn credentials(&self) -> Result<Option<OwnedFd>> {
        let mut notify_fd = None;
        if let Some(f) = self.seccomp.as_ref().filter(|_| !self.nnp) {
            notify_fd = f.install().context("linux.seccomp")?;
        }
        capabilities::drop_bounding(&self.caps)?;
        nix::sys::prctl::set_keepcaps(true).context("process: PR_SET_KEEPCAPS")?;
        user::switch(&self.groups, self.gid, self.uid)?;
        if let Some(cwd) = &self.cwd_retry {
            // SAFETY: chdir reads a NUL-terminated path we own.
            if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
                return Err(Error::io(
                    format!("process.cwd {}: chdir", self.cwd_display),
                    std::io::Error::last_os_error(),
                ));
            }
            crate::container::seal::verify_cwd_if_allowed(&self.cwd_display)?;
        }
        nix::sys::prctl::set_keepcaps(false).context("process: clear PR_SET_KEEPCAPS")?;
        capabilities::apply(&self.caps)?;
        // The user switch resets dumpability to fs.suid_dumpable, which a
        // host may have set to 1; we still run runtime code until exec.
        nix::sys::prctl::set_dumpable(false).context("process: set non-dumpable")?;
        Ok(notify_fd)
    }

    /// With no_new_privs the filter goes in as late as possible: right
    /// before execve (after startContainer hooks are started, as in runc, so
    /// they run under it too). Returns the notify fd of a NOTIFY filter.
    pub fn late_filter(&self) -> Result<Option<OwnedFd>> {
        match self.seccomp.as_ref().filter(|_| self.nnp) {
            Some(f) => f.install().context("linux.seccomp"),
            None => Ok(None),
        }
    }

    /// execve; returns only on failure.
    pub fn exec(&self) -> Error {
        // SAFETY: the pointer arrays end with a null pointer and point to
        // NUL-terminated strings owned by self (a CString's buffer does not
        // move with the CString).
        unsafe {
            libc::execve(
                self.path.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            )
        };
        Error::io(
            format!("exec {:?}", self.path),
            std::io::Error::last_os_error(),
        )
    }
}

/// Applies the part of `process` that needs no syscall a seccomp profile
/// may deny later, in the calling process, which is already inside the
/// container (its root is the container's root): resolves the program,
/// creates the cwd, rlimits, scheduling, no_new_privs, LSM labels, stdio
/// ownership, umask, SIGPIPE's default, the privileged chdir and its check,
/// close-on-exec on every fd above the preserved range. The rest (seccomp, capabilities,
/// user) is in [`ExecPlan::credentials`] and [`ExecPlan::late_filter`];
/// capabilities(7) order: see capabilities.rs.
pub fn prepare(p: &Process, preserve_fds: u32, seccomp: Option<&Filter>) -> Result<ExecPlan> {
    let env = p.env().clone().unwrap_or_default();
    let argv = p.args().clone().unwrap_or_default();
    let arg0 = argv
        .first()
        .ok_or_else(|| Error::new("process.args: empty"))?;
    let path = exec::resolve(arg0, &env)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    let cwd = p.cwd();
    let cwd_display = cwd.display().to_string();
    let caps = match p.capabilities() {
        Some(c) => capabilities::resolve(c)?,
        None => capabilities::none(),
    };
    let argv = exec::cstrings(&argv, "process.args")?;
    let envp = exec::cstrings(&env, "process.env")?;
    let pointers = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let mut plan = ExecPlan {
        path: CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::new("process.args[0]: contains a NUL byte"))?,
        argv_ptrs: pointers(&argv),
        envp_ptrs: pointers(&envp),
        _argv: argv,
        _envp: envp,
        nnp,
        seccomp: seccomp.cloned(),
        caps,
        groups: user::groups(p.user()),
        uid: nix::unistd::Uid::from_raw(p.user().uid()),
        gid: nix::unistd::Gid::from_raw(p.user().gid()),
        cwd_retry: None,
        cwd_display,
    };
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
    lsm::apply(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
    )?;
    user::fix_stdio_owner(p.user());
    user::apply_umask(p.user());
    // The Rust runtime ignores SIGPIPE, and an ignored signal stays ignored
    // across execve: the user program must get the default, as under runc.
    // SAFETY: SIG_DFL for SIGPIPE installs no handler code.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(Error::io(
            "process: reset SIGPIPE to its default",
            std::io::Error::last_os_error(),
        ));
    }
    // runc chdirs while still privileged, so a cwd only root can reach
    // works for any user, and again after the user switch only if that
    // failed for lack of permission. After pivot_root (or setns into the
    // container's mount namespace) "/" is the container's root, so the cwd
    // resolves inside it whatever symlinks it crosses.
    match std::env::set_current_dir(cwd) {
        Ok(()) => crate::container::seal::verify_cwd(cwd)?,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            plan.cwd_retry = Some(
                CString::new(cwd.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::new("process.cwd: contains a NUL byte"))?,
            );
        }
        Err(e) => {
            return Err(Error::io(
                format!("process.cwd {}: chdir", cwd.display()),
                e,
            ))
        }
    }
    fds::prepare_for_exec(preserve_fds)?;
    Ok(plan)
}
