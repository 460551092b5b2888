//! seccomp: compiling `linux.seccomp` into a BPF filter and installing it.
