//! kist as a library: the OCI runtime behind the `kist` command.
//!
//! Map: `container` (process model: clone, sync, init) applies config.json
//! through one module per concern: `namespaces`, `rootfs`, `cgroups`,
//! `process/*`, `hooks`, `seccomp`; `state` is the state directory, `sys`
//! the raw syscalls. The command line (`cli`, `commands/*`) is the binary's
//! (src/main.rs). See docs/architecture.md.
//!
//! Anything that forks (creating a container, exec) requires a
//! single-threaded caller: the runtime forks with clone3 and the child,
//! which goes on running Rust code, is a copy of the calling thread only,
//! so a lock held by another thread (the allocator's, stdio's) would stay
//! locked in it forever. Call it from a process that has started no
//! threads, as the `kist` binary does. (Hooks run through
//! `std::process::Command`, which is safe from any thread.)

pub mod cgroups;
pub mod config;
pub mod container;
pub mod dbus;
pub mod error;
pub mod hooks;
pub mod image;
pub mod lifecycle;
pub mod logger;
pub mod mountinfo;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod rootless;
pub mod seccomp;
pub mod signal;
pub mod state;
pub mod sys;
pub mod time;
pub mod timing;

/// The runtime-spec version kist implements.
pub const OCI_VERSION: &str = "1.3.0";
