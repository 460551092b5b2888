//! The syscall ABIs a host can execute, and the names profiles use for them.
//!
//! A filter must cover every ABI the host kernel accepts syscalls through,
//! otherwise a syscall denied on the native ABI stays reachable through a
//! compat entry point (int 0x80 on x86_64, or the x32 numbers). Only ABIs the
//! host can execute need rules: a profile entry for any other architecture can
//! never match a syscall here, so it is accepted and has no effect (libseccomp
//! emits an arch check that is never taken, which is the same behaviour).

use super::syscalls;

/// `AUDIT_ARCH_X86_64`: `seccomp_data.arch` for both x86_64 and x32 syscalls.
pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`: `seccomp_data.arch` for i386 syscalls (also int 0x80
/// from 64-bit code).
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 syscalls share AUDIT_ARCH_X86_64 and are told apart by this bit.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One syscall ABI with its own number table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Abi {
    X86_64,
    I386,
    X32,
}

impl Abi {
    #[cfg(test)]
    pub(super) fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
        }
    }

    /// Whether syscall arguments are 64 bits wide. On the 32-bit ABIs only
    /// the low word of each argument is compared, as libseccomp does: the
    /// kernel's compat entry points truncate the registers to 32 bits, so
    /// comparing the high word would let a caller dodge a deny rule by
    /// setting high bits the syscall then ignores.
    pub(super) fn wide_args(self) -> bool {
        matches!(self, Abi::X86_64)
    }

    /// Position of this ABI in `resolve`'s result.
    pub(super) fn slot(self) -> usize {
        match self {
            Abi::X86_64 => 0,
            Abi::I386 => 1,
            Abi::X32 => 2,
        }
    }

    /// The syscall number of `name` on this ABI, None when this ABI has no
    /// such syscall (profiles list syscalls of every architecture; unknown
    /// ones are skipped, as libseccomp and runc do).
    #[cfg(test)]
    pub(super) fn lookup(self, name: &str) -> Option<u32> {
        resolve(name).and_then(|nrs| nr_on(nrs, self))
    }
}

/// The number in a `resolve` result for `abi`, if it has the syscall.
pub(super) fn nr_on(nrs: [u32; 3], abi: Abi) -> Option<u32> {
    Some(nrs[abi.slot()]).filter(|&n| n != syscalls::NONE)
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A syscall's numbers on [x86_64, i386, x32] (`syscalls::NONE` where
/// absent), or None for a name no ABI knows. One hash probe, no setup: the
/// index is generated with the tables.
pub(super) fn resolve(name: &str) -> Option<[u32; 3]> {
    let mask = syscalls::SLOTS.len() - 1;
    let mut h = fnv1a(name) as usize & mask;
    loop {
        let idx = syscalls::SLOTS[h];
        if idx == 0xffff {
            return None;
        }
        let (n, nrs) = syscalls::SYSCALLS[usize::from(idx)];
        if n == name {
            return Some(nrs);
        }
        h = (h + 1) & mask;
    }
}

/// i386 multiplexes socket and SysV IPC calls through socketcall(2) and
/// ipc(2), with the call number in the first argument. A rule on `bind` must
/// also cover `socketcall(SYS_BIND, ...)`, or a deny rule could be dodged
/// through the multiplexer (libseccomp adds the same rules).
pub(super) const I386_SOCKETCALL: u32 = 102;
pub(super) const I386_IPC: u32 = 117;

/// Socket calls (linux/net.h SYS_*).
const SOCKETCALLS: &[(&str, u32)] = &[
    ("socket", 1),
    ("bind", 2),
    ("connect", 3),
    ("listen", 4),
    ("accept", 5),
    ("getsockname", 6),
    ("getpeername", 7),
    ("socketpair", 8),
    ("send", 9),
    ("recv", 10),
    ("sendto", 11),
    ("recvfrom", 12),
    ("shutdown", 13),
    ("setsockopt", 14),
    ("getsockopt", 15),
    ("sendmsg", 16),
    ("recvmsg", 17),
    ("accept4", 18),
    ("recvmmsg", 19),
    ("sendmmsg", 20),
];

/// SysV IPC calls (linux/ipc.h); the kernel reads only the low 16 bits of the
/// call, the high ones carry a version.
const IPC_CALLS: &[(&str, u32)] = &[
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// How an i386 syscall is reached through a multiplexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mux {
    /// socketcall(call, args): first argument equals `call`.
    Socket(u32),
    /// ipc(call, ...): low 16 bits of the first argument equal `call`.
    Ipc(u32),
}

impl Mux {
    pub(super) fn syscall(self) -> u32 {
        match self {
            Mux::Socket(_) => I386_SOCKETCALL,
            Mux::Ipc(_) => I386_IPC,
        }
    }
}

pub(super) fn i386_mux(name: &str) -> Option<Mux> {
    let find = |t: &[(&str, u32)]| t.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    find(SOCKETCALLS)
        .map(Mux::Socket)
        .or_else(|| find(IPC_CALLS).map(Mux::Ipc))
}

/// The host's native ABI (always part of a filter, as with libseccomp) and
/// all ABIs the host can execute. Empty on hosts we have no tables for.
pub(super) fn host_abis() -> &'static [Abi] {
    if cfg!(target_arch = "x86_64") {
        &[Abi::X86_64, Abi::I386, Abi::X32]
    } else {
        &[]
    }
}

/// What one `architectures` entry means on this host.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ArchEntry {
    /// An ABI this host executes: it gets its own rules.
    Host(Abi),
    /// A valid architecture this host cannot execute: no effect.
    Foreign,
}

/// Every architecture name libseccomp (and the OCI spec) knows.
pub(super) const ARCH_NAMES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// Classify an architecture name; None when the name is unknown.
pub(super) fn parse_arch(name: &str) -> Option<ArchEntry> {
    if !ARCH_NAMES.contains(&name) {
        return None;
    }
    let host = host_abis();
    let abi = match name {
        "SCMP_ARCH_NATIVE" => host.first().copied(),
        "SCMP_ARCH_X86_64" => Some(Abi::X86_64),
        "SCMP_ARCH_X86" => Some(Abi::I386),
        "SCMP_ARCH_X32" => Some(Abi::X32),
        _ => None,
    };
    Some(match abi {
        Some(abi) if host.contains(&abi) => ArchEntry::Host(abi),
        _ => ArchEntry::Foreign,
    })
}

/// The profile spelling of an oci-spec `Arch` value.
pub(super) fn oci_arch_name(a: oci_spec::runtime::Arch) -> String {
    // The serde spelling is the one config.json uses.
    match serde_json::to_value(a) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{a:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_index_agree() {
        let t = syscalls::SYSCALLS;
        for w in t.windows(2) {
            assert!(w[0].0 < w[1].0, "{} !< {}", w[0].0, w[1].0);
        }
        for (name, nrs) in t {
            assert_eq!(resolve(name), Some(*nrs), "{name}");
        }
        let used = syscalls::SLOTS.iter().filter(|&&s| s != 0xffff).count();
        assert_eq!(used, t.len());
    }

    #[test]
    fn known_numbers() {
        assert_eq!(Abi::X86_64.lookup("read"), Some(0));
        assert_eq!(Abi::X86_64.lookup("getpid"), Some(39));
        assert_eq!(Abi::I386.lookup("getpid"), Some(20));
        assert_eq!(Abi::X32.lookup("getpid"), Some(X32_SYSCALL_BIT | 39));
        assert_eq!(Abi::X86_64.lookup("socketcall"), None);
        assert_eq!(Abi::I386.lookup("socketcall"), Some(102));
        assert_eq!(Abi::X86_64.lookup("fchmodat2"), Some(452));
        assert_eq!(Abi::X86_64.lookup("no_such_syscall"), None);
    }

    #[test]
    fn multiplexers() {
        assert_eq!(Abi::I386.lookup("socketcall"), Some(I386_SOCKETCALL));
        assert_eq!(Abi::I386.lookup("ipc"), Some(I386_IPC));
        assert_eq!(i386_mux("accept4"), Some(Mux::Socket(18)));
        assert_eq!(i386_mux("shmctl"), Some(Mux::Ipc(24)));
        assert_eq!(i386_mux("read"), None);
    }

    #[test]
    fn oci_arch_names_match_ours() {
        use oci_spec::runtime::Arch;
        for a in [
            Arch::ScmpArchNative,
            Arch::ScmpArchX86,
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX32,
            Arch::ScmpArchAarch64,
            Arch::ScmpArchMips64n32,
            Arch::ScmpArchMipsel64n32,
            Arch::ScmpArchPpc64le,
            Arch::ScmpArchS390x,
            Arch::ScmpArchRiscv64,
            Arch::ScmpArchLoongarch64,
            Arch::ScmpArchM68k,
            Arch::ScmpArchSheb,
        ] {
            let n = oci_arch_name(a);
            assert!(parse_arch(&n).is_some(), "{n}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn host_classification() {
        assert_eq!(
            parse_arch("SCMP_ARCH_NATIVE"),
            Some(ArchEntry::Host(Abi::X86_64))
        );
        assert_eq!(
            parse_arch("SCMP_ARCH_X86"),
            Some(ArchEntry::Host(Abi::I386))
        );
        assert_eq!(parse_arch("SCMP_ARCH_ARM"), Some(ArchEntry::Foreign));
        assert_eq!(parse_arch("SCMP_ARCH_FOO"), None);
    }
}
