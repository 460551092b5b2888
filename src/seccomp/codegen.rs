//! Turning a profile into a BPF program.
//!
//! Layout, in execution order:
//!
//! ```text
//!   ld arch; jeq X86_64 -> blk64; jeq I386 -> blk32; ret KILL_THREAD (bad arch)
//!   blk64: ld nr; jeq -1 -> default; jge 0x40000000 -> x32 tree (or bad
//!          arch); x86_64 tree
//!   blk32: ld nr; i386 tree
//! ```
//!
//! Each tree is a binary search over the syscall-number line cut into
//! intervals with one outcome each (a return value, or a chain of argument
//! checks), so a syscall costs O(log n) jumps and the program stays small:
//! runs of allowed syscalls become one interval. Building is O(n log n) in
//! the number of (rule, name) pairs.
//!
//! Semantics follow libseccomp as runc drives it:
//! - the native ABI is always filtered; other host ABIs only when listed;
//!   ABIs not in the filter get SCMP_ACT_KILL (libseccomp's bad-arch action);
//!   on x86_64 a syscall with the x32 bit goes to the x32 rules, or is a bad
//!   arch when x32 is not listed;
//! - syscall names unknown to an ABI are skipped for that ABI;
//! - syscall(-1) (a tracer skipping a syscall) on x86_64 gets the default
//!   action, never the bad-arch kill, x32 listed or not (libseccomp);
//! - on i386, a rule for a socket or SysV IPC syscall also covers it through
//!   socketcall(2)/ipc(2): argument 0 must be the call number, the rule's
//!   conditions on argument 0 are dropped (the real arguments are in memory)
//!   and those on other arguments are kept as they are (libseccomp does the
//!   same); for ipc only the low 16 bits of the call are compared (the high
//!   ones are a version the kernel ignores; libseccomp compares all 32);
//! - SCMP_CMP_MASKED_EQ holds when `arg & mask == datum & mask`
//!   (libseccomp);
//! - rules whose action equals the default action are dropped (runc);
//! - an unconditional rule for a syscall wins over all its conditional rules
//!   (libseccomp), the first one if there are several;
//! - conditional rules are tried in profile order, first match wins; all
//!   conditions of one rule must hold;
//! - as runc's -ENOSYS patch: unless the default action lets syscalls through,
//!   on listed ABIs syscalls numbered above the highest one the profile names
//!   return ENOSYS, so programs fall back from syscalls newer than the profile.

use std::collections::HashMap;

use super::abi::{self, Abi, X32_SYSCALL_BIT};
use super::bpf::{self, Asm, Label};
use super::profile::{Action, Cond, Op, Profile};
use super::syscalls::ABIS;
use crate::error::{Error, Result};

const ENOSYS: u16 = libc::ENOSYS as u16;
/// libseccomp's default for syscalls from ABIs not in the filter.
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;

/// What one syscall number leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// Index into the block's list of argument-check chains.
    Chain(usize),
}

/// The rules of one ABI, ready to emit.
struct Block {
    /// (first number, outcome), covering the ABI's whole number range.
    intervals: Vec<(u32, Outcome)>,
    /// Entries tried in order, per chain.
    chains: Vec<Vec<Key>>,
}

/// Compile `p` for a host executing `host` (native ABI first).
pub(super) fn generate(p: &Profile, host: &[Abi]) -> Result<Vec<libc::sock_filter>> {
    let Some(&native) = host.first() else {
        return Err(Error::new("linux.seccomp: no syscall ABIs for this host"));
    };
    let listed = |a: Abi| p.listed.contains(&a) || (p.native_listed && a == native);
    let in_filter = |a: Abi| host.contains(&a) && (a == native || listed(a));
    let stub = !p.default.is_permissive() && p.default != Action::Errno(ENOSYS);

    let mut res = resolve(p);
    let mut take = |a: Abi| {
        let k = a.slot();
        (std::mem::take(&mut res.pairs[k]), res.max_nr[k])
    };
    let mut asm = Asm::with_capacity(1024);
    let bad = asm.ret(BAD_ARCH);
    let mut entries: Vec<(u32, Label)> = Vec::new();

    // Emitted back to front: the native ABI's block ends up first.
    for &a in host.iter().rev() {
        if !in_filter(a) || a == Abi::X32 {
            continue;
        }
        if a != Abi::X86_64 {
            let (pairs, max) = take(a);
            let blk = block(p, pairs, max, stub && listed(a), (0, 1 << 32));
            let root = emit_tree(&mut asm, p, a, &blk);
            asm.fall_to(root);
            let l = asm.stmt(bpf::BPF_LD_W_ABS, 0);
            entries.push((a.audit_arch(), l));
            continue;
        }
        let x32 = if in_filter(Abi::X32) {
            let (pairs, max) = take(Abi::X32);
            let blk = block(
                p,
                pairs,
                max,
                stub && listed(Abi::X32),
                (u64::from(X32_SYSCALL_BIT), 1 << 32),
            );
            emit_tree(&mut asm, p, Abi::X32, &blk)
        } else {
            asm.ret_shared(BAD_ARCH)
        };
        let (pairs, max) = take(Abi::X86_64);
        let blk = block(
            p,
            pairs,
            max,
            stub && listed(Abi::X86_64),
            (0, u64::from(X32_SYSCALL_BIT)),
        );
        let native64 = emit_tree(&mut asm, p, Abi::X86_64, &blk);
        let split = asm.jump(bpf::BPF_JGE_K, X32_SYSCALL_BIT, x32, native64);
        // syscall(-1) is how a tracer skips a syscall; it is no x32 call and
        // names no syscall: the default action, as libseccomp does.
        let default = asm.ret_shared(p.default.ret());
        asm.jump(bpf::BPF_JEQ_K, u32::MAX, default, split);
        let l = asm.stmt(bpf::BPF_LD_W_ABS, 0);
        entries.push((abi::AUDIT_ARCH_X86_64, l));
    }

    // Arch dispatch: the last check falls through to the bad-arch return.
    let mut next = bad;
    for (arch, target) in entries {
        next = asm.jump(bpf::BPF_JEQ_K, arch, target, next);
    }
    asm.stmt(bpf::BPF_LD_W_ABS, 4);

    if asm.len() > bpf::MAX_INSNS {
        return Err(Error::new(format!(
            "linux.seccomp: the filter needs {} BPF instructions, more than the kernel's limit of {}",
            asm.len(),
            bpf::MAX_INSNS
        )));
    }
    Ok(asm.finish())
}

/// Which rule an entry comes from, and in which form: the low bits say
/// whether it is the rule itself or its i386 multiplexer form. Sorting
/// entries keeps profile order.
type Key = u64;
const MUX_BITS: u32 = 6;
const MUX_IPC: u64 = 32;

fn key(ri: usize, mux: Option<abi::Mux>) -> Key {
    let sub = match mux {
        None => 0,
        Some(abi::Mux::Socket(c)) => u64::from(c),
        Some(abi::Mux::Ipc(c)) => MUX_IPC + u64::from(c),
    };
    ((ri as u64) << MUX_BITS) | sub
}

fn rule_of(k: Key) -> usize {
    (k >> MUX_BITS) as usize
}

/// The condition a multiplexer entry adds, if `k` is one.
fn mux_cond(k: Key) -> Option<Cond> {
    let sub = k & ((1 << MUX_BITS) - 1);
    match sub {
        0 => None,
        c if c < MUX_IPC => Some(Cond {
            index: 0,
            op: Op::Eq,
            value: c,
            value_two: 0,
        }),
        c => Some(Cond {
            index: 0,
            op: Op::MaskedEq,
            value: 0xffff,
            value_two: c - MUX_IPC,
        }),
    }
}

/// The conditions an entry checks. A multiplexer entry checks the call
/// number in argument 0 instead of the rule's conditions on argument 0 (the
/// real arguments are in memory, out of BPF's reach), and keeps the rule's
/// other conditions on the multiplexer's registers, as libseccomp does.
fn entry_conds(k: Key, conds: &[Cond]) -> Vec<Cond> {
    match mux_cond(k) {
        None => conds.to_vec(),
        Some(m) => std::iter::once(m)
            .chain(conds.iter().filter(|c| c.index != 0).copied())
            .collect(),
    }
}

/// Every (syscall number, entry) per ABI, and the highest number the profile
/// names per ABI (for the ENOSYS stub). One name lookup per name.
struct Resolved {
    pairs: [Vec<(u32, Key)>; ABIS],
    max_nr: [Option<u32>; ABIS],
}

fn resolve(p: &Profile) -> Resolved {
    let default = p.default.ret();
    let mut res = Resolved {
        pairs: Default::default(),
        max_nr: [None; ABIS],
    };
    for (ri, r) in p.rules.iter().enumerate() {
        let skip = r.action.ret() == default;
        for name in &r.names {
            if let Some(nrs) = abi::resolve(name) {
                for a in Abi::ALL {
                    let Some(nr) = abi::nr_on(nrs, a) else {
                        continue;
                    };
                    let k = a.slot();
                    res.max_nr[k] = Some(res.max_nr[k].map_or(nr, |m| m.max(nr)));
                    if !skip {
                        res.pairs[k].push((nr, key(ri, None)));
                    }
                }
            }
            // Every rule gets a multiplexer form, conditional ones too (else
            // a conditional deny is dodged through socketcall). Its argument
            // 0 is the call number; see `mux_conds` for the rest.
            if !skip {
                if let Some(m) = abi::mux(name) {
                    for a in Abi::ALL.into_iter().filter(|a| a.multiplexed()) {
                        res.pairs[a.slot()].push((m.syscall(), key(ri, Some(m))));
                    }
                }
            }
        }
    }
    res
}

/// Collect the rules that apply to one ABI into intervals over `domain`
/// (`[start, end)` of syscall numbers this block sees).
fn block(
    p: &Profile,
    mut pairs: Vec<(u32, Key)>,
    max_nr: Option<u32>,
    stub: bool,
    domain: (u64, u64),
) -> Block {
    let default = p.default.ret();
    pairs.sort_unstable();
    pairs.dedup();

    // Per syscall: an unconditional rule decides alone, else a chain. Equal
    // chains (one conditional rule naming several syscalls) share code.
    let keys: Vec<Key> = pairs.iter().map(|&(_, k)| k).collect();
    let mut chains: Vec<Vec<Key>> = Vec::new();
    let mut chain_ids: HashMap<&[Key], usize> = HashMap::new();
    let mut per_nr: Vec<(u32, Outcome)> = Vec::with_capacity(pairs.len());
    let mut i = 0;
    while i < pairs.len() {
        let nr = pairs[i].0;
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == nr {
            j += 1;
        }
        let group = &keys[i..j];
        let unconditional = group
            .iter()
            .find(|&&k| mux_cond(k).is_none() && p.rules[rule_of(k)].conds.is_empty());
        let outcome = match unconditional {
            Some(&k) => Outcome::Ret(p.rules[rule_of(k)].action.ret()),
            None => {
                let n = chains.len();
                let id = *chain_ids.entry(group).or_insert(n);
                if id == n {
                    chains.push(group.to_vec());
                }
                Outcome::Chain(id)
            }
        };
        per_nr.push((nr, outcome));
        i = j;
    }

    // Numbers no rule names: the default action, or ENOSYS above the highest
    // number the profile knows (runc's stub).
    let enosys_from: u64 = match (stub, max_nr) {
        (true, Some(m)) => u64::from(m) + 1,
        _ => u64::MAX,
    };
    let mut iv = Intervals {
        list: Vec::with_capacity(per_nr.len() * 2 + 2),
        default: Outcome::Ret(default),
        enosys: Outcome::Ret(Action::Errno(ENOSYS).ret()),
        enosys_from,
    };
    // syscall(-1), a tracer skipping a syscall, names no syscall: the
    // default action, never the ENOSYS stub (libseccomp has no stub).
    let minus_one = u64::from(u32::MAX);
    let end = domain.1.min(minus_one);
    let mut cur = domain.0;
    for (nr, o) in per_nr {
        let nr64 = u64::from(nr);
        if nr64 < domain.0 || nr64 >= end {
            continue;
        }
        iv.gap(cur, nr64);
        iv.add(nr64, o);
        cur = nr64 + 1;
    }
    iv.gap(cur, end);
    if domain.1 > minus_one {
        iv.add(minus_one, iv.default);
    }
    Block {
        intervals: iv.list,
        chains,
    }
}

/// Builds the interval list, merging neighbours with the same outcome.
struct Intervals {
    list: Vec<(u32, Outcome)>,
    default: Outcome,
    enosys: Outcome,
    enosys_from: u64,
}

impl Intervals {
    fn add(&mut self, start: u64, o: Outcome) {
        if self.list.last().is_some_and(|(_, prev)| *prev == o) {
            return;
        }
        // Domains end at 2^32, so every start fits.
        self.list.push((start as u32, o));
    }

    /// Numbers in `[a, b)` that no rule names.
    fn gap(&mut self, a: u64, b: u64) {
        if a >= b {
            return;
        }
        if a < self.enosys_from {
            self.add(a, self.default);
        }
        if b > self.enosys_from {
            self.add(a.max(self.enosys_from), self.enosys);
        }
    }
}

/// Emit a block's chains and search tree; returns the tree's entry. Expects
/// the syscall number in A.
fn emit_tree(asm: &mut Asm, p: &Profile, abi: Abi, blk: &Block) -> Label {
    let default = p.default.ret();
    let mut chain_labels = Vec::with_capacity(blk.chains.len());
    for list in &blk.chains {
        let mut next = asm.ret_shared(default);
        for &k in list.iter().rev() {
            let r = &p.rules[rule_of(k)];
            let mut cur = asm.ret_shared(r.action.ret());
            for c in entry_conds(k, &r.conds).iter().rev() {
                cur = emit_cond(asm, abi, c, cur, next);
            }
            next = cur;
        }
        chain_labels.push(next);
    }
    search(asm, &blk.intervals, &chain_labels)
}

fn search(asm: &mut Asm, iv: &[(u32, Outcome)], chains: &[Label]) -> Label {
    if iv.len() == 1 {
        return match iv[0].1 {
            Outcome::Ret(k) => asm.ret_shared(k),
            Outcome::Chain(c) => chains[c],
        };
    }
    let mid = iv.len() / 2;
    let right = search(asm, &iv[mid..], chains);
    let left = search(asm, &iv[..mid], chains);
    asm.jump(bpf::BPF_JGE_K, iv[mid].0, right, left)
}

/// Offsets of an argument's low and high 32-bit words in `seccomp_data`
/// on an ABI of that byte order.
fn arg_offsets(index: u8, big_endian: bool) -> (u32, u32) {
    let base = 16 + 8 * u32::from(index);
    if big_endian {
        (base + 4, base)
    } else {
        (base, base + 4)
    }
}

/// Emit one comparison: continue at `pass` when it holds, else at `fail`.
fn emit_cond(asm: &mut Asm, abi: Abi, c: &Cond, pass: Label, fail: Label) -> Label {
    let wide = abi.wide_args();
    use bpf::{
        BPF_ALU_AND_K as AND, BPF_JEQ_K as JEQ, BPF_JGE_K as JGE, BPF_JGT_K as JGT,
        BPF_LD_W_ABS as LD,
    };
    let (lo_off, hi_off) = arg_offsets(c.index, abi.big_endian());
    let (vlo, vhi) = (c.value as u32, (c.value >> 32) as u32);
    let (dlo, dhi) = (c.value_two as u32, (c.value_two >> 32) as u32);

    // The low-word test, and which ops are the negation of another.
    let (lo_code, lo_k, negate) = match c.op {
        Op::Eq => (JEQ, vlo, false),
        Op::Ne => (JEQ, vlo, true),
        Op::Gt => (JGT, vlo, false),
        Op::Le => (JGT, vlo, true),
        Op::Ge => (JGE, vlo, false),
        Op::Lt => (JGE, vlo, true),
        // libseccomp compares against datum & mask: datum bits outside the
        // mask cannot make a rule unmatchable.
        Op::MaskedEq => (JEQ, dlo & vlo, false),
    };
    let (t, f) = if negate { (fail, pass) } else { (pass, fail) };

    asm.jump(lo_code, lo_k, t, f);
    if c.op == Op::MaskedEq {
        asm.stmt(AND, vlo);
    }
    let lo_entry = asm.stmt(LD, lo_off);
    // A mask without high bits always matches the high word (the usual
    // case, e.g. clone flags).
    let trivial_hi = c.op == Op::MaskedEq && vhi == 0;
    if !wide || trivial_hi {
        return lo_entry;
    }
    // High word first: it decides unless equal, then the low word decides.
    match c.op {
        Op::Eq | Op::Ne | Op::MaskedEq => {
            let want = if c.op == Op::MaskedEq { dhi & vhi } else { vhi };
            asm.jump(JEQ, want, lo_entry, f);
            if c.op == Op::MaskedEq {
                asm.stmt(AND, vhi);
            }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // hi > vhi: the test holds (t); hi < vhi: it fails (f).
            let eq = asm.jump(JEQ, vhi, lo_entry, f);
            asm.jump(JGT, vhi, t, eq);
        }
    }
    asm.stmt(LD, hi_off)
}

#[cfg(test)]
mod tests {
    use super::super::profile::from_json;
    use super::*;
    use serde_json::json;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const X86_HOST: &[Abi] = &[Abi::X86_64, Abi::I386, Abi::X32];
    fn errno(e: i32) -> u32 {
        libc::SECCOMP_RET_ERRNO | e as u32
    }

    fn prog(v: serde_json::Value) -> Vec<libc::sock_filter> {
        generate(&from_json(&v).unwrap(), X86_HOST).unwrap()
    }

    fn x64(p: &[libc::sock_filter], name: &str, args: [u64; 6]) -> u32 {
        let nr = Abi::X86_64.lookup(name).unwrap();
        bpf::run(p, abi::AUDIT_ARCH_X86_64, nr, args)
    }

    #[test]
    fn arch_dispatch() {
        let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}
        ]}));
        assert_eq!(x64(&p, "getpid", [0; 6]), errno(5));
        assert_eq!(x64(&p, "getppid", [0; 6]), ALLOW);
        // Not listed: i386 and x32 get the bad-arch action.
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_I386, 20, [0; 6]), BAD_ARCH);
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, [0; 6]),
            BAD_ARCH
        );
        assert_eq!(bpf::run(&p, 0xdead, 39, [0; 6]), BAD_ARCH);

        let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]}));
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_I386, 20, [0; 6]), errno(5));
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_I386, 39, [0; 6]), ALLOW);
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, [0; 6]),
            errno(5)
        );
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 20, [0; 6]),
            ALLOW
        );
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_X86_64, 39, [0; 6]), errno(5));
    }

    #[test]
    fn operators_on_64_bits() {
        let big: u64 = 0x1_0000_0005;
        let ops = [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
        ];
        let samples = [
            0u64,
            4,
            5,
            6,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0004,
            big,
            0x1_0000_0006,
            0x2_0000_0000,
            0x2_0000_0005,
            u64::MAX,
        ];
        for (oi, op) in ops.iter().enumerate() {
            for v in [big, 5, 0, u64::MAX] {
                let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
                     "args": [{"index": 1, "value": v, "op": op}]}
                ]}));
                for s in samples {
                    let holds = match oi {
                        0 => s != v,
                        1 => s < v,
                        2 => s <= v,
                        3 => s == v,
                        4 => s >= v,
                        _ => s > v,
                    };
                    let got = x64(&p, "lseek", [0, s, 0, 0, 0, 0]);
                    assert_eq!(got == errno(7), holds, "{op} arg={s:#x} value={v:#x}");
                }
            }
        }
    }

    #[test]
    fn masked_eq_and_same_argument_or() {
        let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x7E02_0000u64 | (1u64 << 40), "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 2, "value": 4, "op": "SCMP_CMP_NE"},
                {"index": 2, "value": 8, "op": "SCMP_CMP_LT"}
            ]}
        ]}));
        assert_eq!(x64(&p, "clone", [0x11, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(x64(&p, "clone", [1 << 40, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(x64(&p, "clone", [1 << 41, 0, 0, 0, 0, 0]), ALLOW);
        // Two conditions on arg 2 are two rules (runc): either one allows.
        assert_eq!(x64(&p, "mmap", [0, 0, 3, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "mmap", [0, 0, 4, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "mmap", [0, 0, 9, 0, 0, 0]), ALLOW);
        let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 2, "value": 4, "op": "SCMP_CMP_EQ"},
                {"index": 2, "value": 8, "op": "SCMP_CMP_EQ"}
            ]}
        ]}));
        assert_eq!(x64(&p, "mmap", [0, 0, 4, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "mmap", [0, 0, 8, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "mmap", [0, 0, 5, 0, 0, 0]), errno(1));
    }

    #[test]
    fn masked_eq_masks_the_datum() {
        // The issue's umask rule: datum 511 has bits outside mask 255, so
        // the rule compares with 511 & 255 = 255 (libseccomp).
        let p = prog(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [
                {"index": 0, "value": 255, "valueTwo": 511, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14, "args": [
                {"index": 1, "value": 0xff_0000_00ffu64, "valueTwo": 0xf1_0000_0f01u64, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]}));
        assert_eq!(x64(&p, "umask", [0xff, 0, 0, 0, 0, 0]), errno(13));
        assert_eq!(x64(&p, "umask", [0x1ff, 0, 0, 0, 0, 0]), errno(13));
        assert_eq!(x64(&p, "umask", [0x7f, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "lseek", [0, 0xf1_0000_0001, 0, 0, 0, 0]), errno(14));
        assert_eq!(x64(&p, "lseek", [0, 0xf1_1234_5601, 0, 0, 0, 0]), errno(14));
        assert_eq!(x64(&p, "lseek", [0, 0xf2_0000_0001, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "lseek", [0, 0xf1_0000_0002, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn syscall_minus_one_gets_the_default_action() {
        for (arches, default, want) in [
            (json!([]), "SCMP_ACT_ERRNO", errno(1)),
            (
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]),
                "SCMP_ACT_ALLOW",
                ALLOW,
            ),
            (
                json!(["SCMP_ARCH_X86_64"]),
                "SCMP_ACT_LOG",
                libc::SECCOMP_RET_LOG,
            ),
        ] {
            let p = prog(
                json!({"defaultAction": default, "architectures": arches, "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
            );
            assert_eq!(
                bpf::run(&p, abi::AUDIT_ARCH_X86_64, u32::MAX, [0; 6]),
                want,
                "{arches}"
            );
        }
    }

    #[test]
    fn rule_order_and_unconditional_wins() {
        let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [
                {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
        ]}));
        assert_eq!(x64(&p, "socket", [16, 3, 9, 0, 0, 0]), errno(22));
        assert_eq!(x64(&p, "socket", [16, 3, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "socket", [2, 1, 9, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&p, "getpid", [1, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn narrow_abis_compare_low_words() {
        let p = prog(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]}),
        );
        let nr = Abi::I386.lookup("personality").unwrap();
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_I386, nr, [8, 0, 0, 0, 0, 0]),
            errno(1)
        );
        // High bits the compat entry ignores cannot dodge the rule.
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_I386, nr, [(1 << 32) | 8, 0, 0, 0, 0, 0]),
            errno(1)
        );
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_I386, nr, [9, 0, 0, 0, 0, 0]),
            ALLOW
        );
    }

    #[test]
    fn enosys_above_known_syscalls() {
        let v = json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
            {"names": ["read", "openat2"], "action": "SCMP_ACT_ALLOW"}
        ]});
        let p = prog(v);
        let openat2 = Abi::X86_64.lookup("openat2").unwrap();
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_X86_64, openat2, [0; 6]), ALLOW);
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, openat2 - 1, [0; 6]),
            errno(1)
        );
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, openat2 + 1, [0; 6]),
            errno(libc::ENOSYS)
        );
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, 5000, [0; 6]),
            errno(libc::ENOSYS)
        );
        // No stub when the architectures list is empty, as runc.
        let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "openat2"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_eq!(bpf::run(&p, abi::AUDIT_ARCH_X86_64, 5000, [0; 6]), errno(1));
        // Nor with a permissive default.
        let p = prog(
            json!({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"}]}),
        );
        assert_eq!(
            bpf::run(&p, abi::AUDIT_ARCH_X86_64, 5000, [0; 6]),
            libc::SECCOMP_RET_LOG
        );
    }

    #[test]
    fn i386_multiplexers_are_covered() {
        let p = prog(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "syscalls": [
                {"names": ["bind", "msgrcv"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["connect"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}
            ]}),
        );
        let i386 = |nr, a0| bpf::run(&p, abi::AUDIT_ARCH_I386, nr, [a0, 0, 0, 0, 0, 0]);
        assert_eq!(i386(Abi::I386.lookup("bind").unwrap(), 0), errno(13));
        assert_eq!(i386(abi::I386_SOCKETCALL, 2), errno(13));
        assert_eq!(i386(abi::I386_SOCKETCALL, 5), ALLOW);
        assert_eq!(i386(abi::I386_IPC, 12), errno(13));
        assert_eq!(i386(abi::I386_IPC, 12 | (1 << 16)), errno(13));
        assert_eq!(i386(abi::I386_IPC, 11), ALLOW);
        // A conditional rule covers the multiplexer too: its argument-0
        // condition becomes the call number (libseccomp).
        assert_eq!(i386(Abi::I386.lookup("connect").unwrap(), 3), errno(1));
        assert_eq!(i386(Abi::I386.lookup("connect").unwrap(), 4), ALLOW);
        assert_eq!(i386(abi::I386_SOCKETCALL, 3), errno(1));
        assert_eq!(i386(abi::I386_SOCKETCALL, 4), ALLOW);
        // Conditions on other arguments stay, compared with socketcall's.
        let p = prog(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "syscalls": [
                {"names": ["bind"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}
            ]}),
        );
        let sc = |a0, a1| {
            bpf::run(
                &p,
                abi::AUDIT_ARCH_I386,
                abi::I386_SOCKETCALL,
                [a0, a1, 0, 0, 0, 0],
            )
        };
        assert_eq!(sc(2, 7), errno(1));
        assert_eq!(sc(2, 8), ALLOW);
        assert_eq!(sc(3, 7), ALLOW);
    }

    #[test]
    fn rules_equal_to_default_are_dropped() {
        let p = prog(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
        ]}));
        assert_eq!(x64(&p, "getpid", [0; 6]), ALLOW);
    }
}
