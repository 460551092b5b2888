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
    Aarch64,
    Arm,
    Riscv64,
    Ppc64le,
    S390x,
}

impl Abi {
    /// Every ABI with a syscall table, in the tables' column order.
    pub(super) const ALL: [Abi; syscalls::ABIS] = [
        Abi::X86_64,
        Abi::I386,
        Abi::X32,
        Abi::Aarch64,
        Abi::Arm,
        Abi::Riscv64,
        Abi::Ppc64le,
        Abi::S390x,
    ];

    /// `seccomp_data.arch` (linux/audit.h AUDIT_ARCH_*).
    pub(super) fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
            Abi::Aarch64 => 0xc000_00b7,
            Abi::Arm => 0x4000_0028,
            Abi::Riscv64 => 0xc000_00f3,
            Abi::Ppc64le => 0xc000_0015,
            Abi::S390x => 0x8000_0016,
        }
    }

    /// The name profiles use for it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::I386 => "SCMP_ARCH_X86",
            Abi::X32 => "SCMP_ARCH_X32",
            Abi::Aarch64 => "SCMP_ARCH_AARCH64",
            Abi::Arm => "SCMP_ARCH_ARM",
            Abi::Riscv64 => "SCMP_ARCH_RISCV64",
            Abi::Ppc64le => "SCMP_ARCH_PPC64LE",
            Abi::S390x => "SCMP_ARCH_S390X",
        }
    }

    /// Whether syscall arguments are 64 bits wide. On the 32-bit ABIs only
    /// the low word of each argument is compared, as libseccomp does: the
    /// kernel's compat entry points truncate the registers to 32 bits, so
    /// comparing the high word would let a caller dodge a deny rule by
    /// setting high bits the syscall then ignores.
    pub(super) fn wide_args(self) -> bool {
        !matches!(self, Abi::I386 | Abi::X32 | Abi::Arm)
    }

    /// Byte order of `seccomp_data` (its 64-bit fields) on this ABI.
    pub(super) fn big_endian(self) -> bool {
        matches!(self, Abi::S390x)
    }

    /// Whether socket and SysV IPC calls can also be made through
    /// socketcall(2)/ipc(2) (numbers `I386_SOCKETCALL`/`I386_IPC` on all
    /// three), so rules on them need a multiplexer form (libseccomp).
    pub(super) fn multiplexed(self) -> bool {
        matches!(self, Abi::I386 | Abi::Ppc64le | Abi::S390x)
    }

    /// Position of this ABI in `resolve`'s result.
    pub(super) fn slot(self) -> usize {
        self as usize
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
pub(super) fn nr_on(nrs: [u32; syscalls::ABIS], abi: Abi) -> Option<u32> {
    Some(nrs[abi.slot()]).filter(|&n| n != syscalls::NONE)
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A syscall's numbers on every ABI (`Abi::ALL` order, `syscalls::NONE`
/// where absent), or None for a name no ABI knows. One hash probe, no setup:
/// the index is generated with the tables.
pub(super) fn resolve(name: &str) -> Option<[u32; syscalls::ABIS]> {
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

/// i386 (and ppc64, s390x) multiplex socket and SysV IPC calls through
/// socketcall(2) and ipc(2), with the call number in the first argument. A
/// rule on `bind` must also cover `socketcall(SYS_BIND, ...)`, or a deny
/// rule could be dodged through the multiplexer (libseccomp adds the same
/// rules). The multiplexers have the same numbers on all three.
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

/// How a syscall is reached through a multiplexer.
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

pub(super) fn mux(name: &str) -> Option<Mux> {
    let find = |t: &[(&str, u32)]| t.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    find(SOCKETCALLS)
        .map(Mux::Socket)
        .or_else(|| find(IPC_CALLS).map(Mux::Ipc))
}

/// The ABIs a host executes, native first (always part of a filter, as
/// with libseccomp), for the machine name uname(2) reports; None for a
/// machine we have no tables for. Compat ABIs without tables here (s390 on
/// s390x, ppc on ppc64) stay out of every filter, so their syscalls get the
/// bad-arch kill.
pub(super) fn host_for_machine(machine: &str) -> Option<&'static [Abi]> {
    Some(match machine {
        "x86_64" => &[Abi::X86_64, Abi::I386, Abi::X32],
        "aarch64" | "arm64" => &[Abi::Aarch64, Abi::Arm],
        m if m.starts_with("armv") => &[Abi::Arm],
        "riscv64" => &[Abi::Riscv64],
        "ppc64le" => &[Abi::Ppc64le],
        "s390x" => &[Abi::S390x],
        _ => return None,
    })
}

/// The running host's ABIs, from its machine name (read at run time: the
/// kernel, not the build, decides which audit arches syscalls arrive with).
pub(super) fn host() -> Result<&'static [Abi], String> {
    let machine = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .map_err(|e| format!("uname: {e}"))?;
    host_for_machine(&machine)
        .ok_or_else(|| format!("no syscall tables for this host architecture ({machine})"))
}

/// What one `architectures` entry means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ArchEntry {
    /// SCMP_ARCH_NATIVE: the host's native ABI.
    Native,
    /// An ABI we have tables for: it gets its own rules when the host
    /// executes it.
    Abi(Abi),
    /// A valid architecture we have no tables for: no syscall can arrive
    /// through it on any host kist runs on, so it has no effect.
    Foreign,
}

/// The architectures kist has tables for and tests filters of, for
/// `features` (`Abi::ALL` names).
pub(super) const TABLE_ARCH_NAMES: [&str; syscalls::ABIS] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390X",
];

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
    if name == "SCMP_ARCH_NATIVE" {
        return Some(ArchEntry::Native);
    }
    Some(match Abi::ALL.iter().find(|a| a.name() == name) {
        Some(&a) => ArchEntry::Abi(a),
        None => ArchEntry::Foreign,
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
        assert_eq!(mux("accept4"), Some(Mux::Socket(18)));
        assert_eq!(mux("shmctl"), Some(Mux::Ipc(24)));
        assert_eq!(mux("read"), None);
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
    fn classification() {
        assert_eq!(parse_arch("SCMP_ARCH_NATIVE"), Some(ArchEntry::Native));
        assert_eq!(parse_arch("SCMP_ARCH_X86"), Some(ArchEntry::Abi(Abi::I386)));
        assert_eq!(parse_arch("SCMP_ARCH_ARM"), Some(ArchEntry::Abi(Abi::Arm)));
        assert_eq!(parse_arch("SCMP_ARCH_MIPS"), Some(ArchEntry::Foreign));
        assert_eq!(parse_arch("SCMP_ARCH_FOO"), None);
        for (a, n) in Abi::ALL.iter().zip(TABLE_ARCH_NAMES) {
            assert_eq!(a.name(), n);
            assert_eq!(parse_arch(n), Some(ArchEntry::Abi(*a)));
        }
        assert_eq!(
            host_for_machine("aarch64"),
            Some(&[Abi::Aarch64, Abi::Arm][..])
        );
        assert_eq!(host_for_machine("armv7l"), Some(&[Abi::Arm][..]));
        assert_eq!(host_for_machine("mips"), None);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(host().unwrap()[0], Abi::X86_64);
    }

    #[test]
    fn other_abis_numbers() {
        // From libseccomp's tables: direct socket calls, not socketcall.
        assert_eq!(Abi::S390x.lookup("bind"), Some(361));
        assert_eq!(Abi::Ppc64le.lookup("bind"), Some(327));
        assert_eq!(Abi::S390x.lookup("socketcall"), Some(I386_SOCKETCALL));
        assert_eq!(Abi::Ppc64le.lookup("ipc"), Some(I386_IPC));
        assert_eq!(Abi::Aarch64.lookup("read"), Some(63));
        assert_eq!(Abi::Aarch64.lookup("open"), None);
        assert_eq!(Abi::Riscv64.lookup("riscv_flush_icache"), Some(259));
        assert_eq!(Abi::Arm.lookup("cacheflush"), Some(0xf0002));
        assert_eq!(Abi::Arm.lookup("open"), Some(5));
        // Newer than the tables: the unified number.
        assert_eq!(Abi::S390x.lookup("mseal"), Some(462));
        assert_eq!(Abi::Aarch64.lookup("uretprobe"), None);
    }
}
