//! A tiny classic-BPF assembler that builds programs back to front.
//!
//! Seccomp programs only jump forward, so emitting the last instruction first
//! means every jump target already exists when the jump is written and its
//! offset is known exactly. Conditional jumps reach at most 255 instructions;
//! farther targets get an unconditional `ja` (32-bit offset) trampoline
//! inserted right after the jump, transparently to the code generator.

// Opcodes (linux/bpf_common.h): class | size/op | source.
/// BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at k.
pub(super) const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_ALU | BPF_AND | BPF_K: A &= k.
pub(super) const BPF_ALU_AND_K: u16 = 0x54;
/// BPF_JMP | BPF_JA: pc += k.
pub(super) const BPF_JA: u16 = 0x05;
/// BPF_JMP | BPF_JEQ | BPF_K, and JGT, JGE: pc += (A op k) ? jt : jf.
pub(super) const BPF_JEQ_K: u16 = 0x15;
pub(super) const BPF_JGT_K: u16 = 0x25;
pub(super) const BPF_JGE_K: u16 = 0x35;
/// BPF_RET | BPF_K: return k.
pub(super) const BPF_RET_K: u16 = 0x06;

/// The kernel's limit on program length (BPF_MAXINSNS).
pub(super) const MAX_INSNS: usize = 4096;

/// A position in the program, counted from its end so it stays valid while
/// more instructions are prepended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(usize);

#[derive(Default)]
pub(super) struct Asm {
    /// Instructions in reverse program order.
    rev: Vec<libc::sock_filter>,
    /// The most recent `ret k` for each k, for `ret_shared`.
    rets: std::collections::HashMap<u32, Label>,
}

impl Asm {
    pub(super) fn with_capacity(n: usize) -> Self {
        Asm {
            rev: Vec::with_capacity(n),
            rets: std::collections::HashMap::new(),
        }
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(libc::sock_filter { code, jt, jf, k });
        Label(self.rev.len() - 1)
    }

    /// Instructions between the next one to be pushed and `target`.
    fn dist(&self, target: Label) -> usize {
        self.rev.len() - target.0 - 1
    }

    pub(super) fn ret(&mut self, k: u32) -> Label {
        let l = self.push(BPF_RET_K, 0, 0, k);
        self.rets.insert(k, l);
        l
    }

    /// A `ret k` to jump to: an earlier one when a short jump still reaches
    /// it, else a new one. Only for jump targets: nothing may fall through
    /// into the result.
    pub(super) fn ret_shared(&mut self, k: u32) -> Label {
        match self.rets.get(&k) {
            // Leave room for the few instructions emitted before the jump.
            Some(&l) if self.dist(l) < 240 => l,
            _ => self.ret(k),
        }
    }

    /// Make the next instruction pushed (which comes just before in program
    /// order) continue at `target`.
    pub(super) fn fall_to(&mut self, target: Label) {
        if target.0 + 1 != self.rev.len() {
            self.ja(target);
        }
    }

    /// A non-jump instruction (load, ALU) that falls through to whatever was
    /// emitted just before it.
    pub(super) fn stmt(&mut self, code: u16, k: u32) -> Label {
        self.push(code, 0, 0, k)
    }

    pub(super) fn ja(&mut self, target: Label) -> Label {
        let d = self.dist(target) as u32;
        self.push(BPF_JA, 0, 0, d)
    }

    /// A conditional jump: to `jt` when the condition holds, else to `jf`.
    pub(super) fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) -> Label {
        let mut jf = jf;
        let mut jt = jt;
        // Leave room for a jt trampoline after this one.
        if self.dist(jf) > 254 {
            jf = self.ja(jf);
        }
        if self.dist(jt) > 255 {
            jt = self.ja(jt);
        }
        let (t, f) = (self.dist(jt), self.dist(jf));
        debug_assert!(t <= 255 && f <= 255);
        self.push(code, t as u8, f as u8, k)
    }

    pub(super) fn len(&self) -> usize {
        self.rev.len()
    }

    /// The program in execution order.
    pub(super) fn finish(mut self) -> Vec<libc::sock_filter> {
        self.rev.reverse();
        self.rev
    }
}

/// Run `prog` on a little-endian syscall (x86 tests), in `interp`.
#[cfg(test)]
pub(super) fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let d = super::interp::SeccompData::new(arch, nr, args, false);
    super::interp::run(prog, &d).unwrap_or_else(|e| panic!("invalid program: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_jumps_get_trampolines() {
        let mut asm = Asm::default();
        let far = asm.ret(7);
        let mut near = asm.ret(1);
        for _ in 0..600 {
            near = asm.ret(1);
        }
        // Program order: load nr, then nr 5 goes far, anything else near.
        asm.jump(BPF_JEQ_K, 5, far, near);
        asm.stmt(BPF_LD_W_ABS, 0);
        let p = asm.finish();
        assert!(p.len() > 603, "a trampoline was added");
        assert_eq!(run(&p, 0, 5, [0; 6]), 7);
        assert_eq!(run(&p, 0, 4, [0; 6]), 1);
    }
}
