//! seccomp: compiling `linux.seccomp` into a BPF filter and installing it.
//!
//! The BPF is generated here (no libseccomp, no seccompiler; see the Seccomp
//! section of docs/architecture.md): arch dispatch over every ABI the host
//! executes (tables for x86_64, i386, x32, aarch64, arm, riscv64, ppc64le,
//! s390x), a binary search over syscall numbers and
//! 64-bit argument comparisons done on 32-bit halves. `codegen` documents the
//! exact semantics; they follow libseccomp as runc drives it, including
//! runc's -ENOSYS handling of syscalls newer than the profile, and runc's
//! splitting of a rule with several conditions on the same argument into one
//! rule per condition (OR). Deliberate differences, for profiles
//! libseccomp/runc handle badly:
//! - conditional rules for one syscall are tried in profile order, first
//!   match wins (libseccomp orders them by argument index and refuses some
//!   overlapping rules with EEXIST, which makes runc fail the container).
//!
//! Use:
//! 1. `compile` when the config is loaded; errors name the config field. A
//!    `linux.seccomp` oci-spec cannot deserialize (an unknown action, op or
//!    architecture name) never gets here: `config` locates the faulty field.
//!    `compile_json` is the same path for tests that write profiles as JSON.
//! 2. In the container init, as the last step before execve, after
//!    PR_SET_NO_NEW_PRIVS (or while still holding CAP_SYS_ADMIN): `install`.
//!    Everything the init does after that is subject to the filter.
//! 3. With SCMP_ACT_NOTIFY, `install` returns the listener fd. It has to
//!    reach the runtime process outside the container (SCM_RIGHTS over the
//!    sync socket, or pidfd_getfd from the parent as runc does), which then
//!    calls `send_to_listener(listener_path, fd, state, listener_metadata)`
//!    before letting the init exec. The init must not wait on anything the
//!    filter notifies before the agent has the fd; runc refuses NOTIFY on
//!    `write` for that reason, and so does `compile`.

mod abi;
mod bpf;
mod codegen;
mod install;
#[cfg(test)]
mod interp;
mod notify;
mod profile;
mod syscalls;

#[cfg(test)]
mod moby;
#[cfg(test)]
mod tests;

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::error::Result;

#[allow(unused_imports)] // used by the runtime once it calls into this module
pub use notify::{send_to_listener, SECCOMP_FD_NAME};

/// A compiled filter, ready to load.
#[derive(Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    /// SECCOMP_FILTER_FLAG_* passed to seccomp(2).
    flags: u32,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.prog.len())
            .field("flags", &install::flag_names(self.flags))
            .field("notify", &self.notify)
            .field("listener_path", &self.listener_path)
            .finish()
    }
}

/// Compile oci-spec's `linux.seccomp`.
pub fn compile(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Filter> {
    build(profile::from_oci(s)?)
}

/// `compile` for a profile written as JSON (tests).
#[cfg(test)]
pub fn compile_json(v: &serde_json::Value) -> Result<Filter> {
    build(profile::from_json(v)?)
}

fn build(p: profile::Profile) -> Result<Filter> {
    let host = abi::host().map_err(|e| crate::error::Error::new(format!("linux.seccomp: {e}")))?;
    let prog = codegen::generate(&p, host)?;
    let notify = p.uses_notify();
    Ok(Filter {
        prog,
        flags: install::kernel_flags(p.flags, notify),
        notify,
        listener_path: if notify { p.listener_path } else { None },
        listener_metadata: p.listener_metadata,
    })
}

impl Filter {
    /// Install in the calling process (single-threaded container init, right
    /// before exec). Returns the notify fd when the filter uses
    /// SCMP_ACT_NOTIFY. Requires no_new_privs already set or CAP_SYS_ADMIN.
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        install::load(&self.prog, self.flags)
    }

    /// Where to send the notify fd; Some only when the filter uses NOTIFY.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// `listenerMetadata`, to pass to `send_to_listener`.
    pub fn listener_metadata(&self) -> &str {
        self.listener_metadata.as_deref().unwrap_or("")
    }

    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    #[cfg(test)]
    /// Number of BPF instructions.
    pub(crate) fn len(&self) -> usize {
        self.prog.len()
    }
}

/// For `kist features`: the actions this runtime implements.
pub fn supported_actions() -> &'static [&'static str] {
    profile::ACTION_NAMES
}

/// For `kist features`: the argument comparison operators.
pub fn supported_operators() -> &'static [&'static str] {
    profile::OPERATOR_NAMES
}

/// For `kist features`: the architectures whose filters kist compiles (it
/// has their syscall tables) and tests. `architectures` also accepts the
/// other names libseccomp knows; no syscall can arrive through those on a
/// host kist runs on, so they have no effect.
pub fn supported_archs() -> &'static [&'static str] {
    &abi::TABLE_ARCH_NAMES
}

/// For `kist features` (`knownFlags`): the `flags` values understood.
pub fn known_flags() -> &'static [&'static str] {
    profile::FLAG_NAMES
}

/// For `kist features` (`supportedFlags`): the known flags the running kernel
/// accepts (probed without installing anything).
pub fn supported_flags() -> Vec<&'static str> {
    profile::FLAG_NAMES
        .iter()
        .copied()
        .filter(|name| profile::flag_value(name).is_some_and(install::kernel_knows_flag))
        .collect()
}

/// For `kist features` (`enabled`): whether the kernel has seccomp filters.
pub fn enabled() -> bool {
    install::kernel_has_seccomp()
}
