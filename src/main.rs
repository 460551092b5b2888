mod cgroups;
mod error;
mod rootfs;
mod seccomp;

fn main() {}
