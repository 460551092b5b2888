//! Black-box integration suite for kist (runc-compatible CLI).
//!
//! Run against kist: `cargo test --test integration`.
//! Run against a reference runtime to validate expectations:
//! `KIST_BIN=$(which runc) cargo test --test integration -- --skip kist_only_`.
//! Tests named `kist_only_*` check where kist must do better than runc
//! (error wording naming the config field, exit codes...) and are expected to
//! fail against runc.

mod common;

mod activation;
mod bundle;
mod capabilities;
mod cgroups;
mod check;
mod cli;
mod cri_userns;
mod devices;
mod errors;
mod exec;
mod fds;
mod fuzz;
mod hooks;
mod idmap;
mod lifecycle;
mod memory_policy;
mod mounts;
mod namespaces;
mod netdev;
mod pause;
mod privileges;
mod process;
mod rootless;
mod runc_compat;
mod seccomp;
mod seccomp_compat;
mod security;
mod state;
mod systemd;
mod teardown;
mod terminal;
mod userns;

// Real engines (containerd, podman, Docker) driving kist end to end.
mod engines;
