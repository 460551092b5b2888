//! A userspace interpreter for seccomp's classic BPF, so tests can run any
//! filter (ours for every architecture, libseccomp's for comparison) against
//! a `seccomp_data` without loading it into the kernel.
//!
//! It accepts exactly the instructions the kernel's seccomp checker accepts
//! (`seccomp_check_filter`: loads from `seccomp_data` only, scratch memory,
//! ALU, jumps, returns) and reports what the kernel would refuse: an unknown
//! opcode, a load outside `seccomp_data` or not word aligned, a run past the
//! last instruction. A division by zero returns 0 (KILL), as in the kernel.

/// `struct seccomp_data` as a filter of one architecture sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
    /// The architecture's byte order: the 32-bit words a filter loads from
    /// a 64-bit field are in that order.
    pub big_endian: bool,
}

impl SeccompData {
    pub(super) fn new(arch: u32, nr: u32, args: [u64; 6], big_endian: bool) -> Self {
        SeccompData {
            nr,
            arch,
            ip: 0,
            args,
            big_endian,
        }
    }

    /// The 16 32-bit words of the structure, as `BPF_LD|BPF_W|BPF_ABS` reads
    /// them at offsets 0, 4, ... 60.
    fn words(&self) -> [u32; 16] {
        let mut w = [0u32; 16];
        w[0] = self.nr;
        w[1] = self.arch;
        let mut put = |i: usize, v: u64| {
            let (lo, hi) = (v as u32, (v >> 32) as u32);
            if self.big_endian {
                (w[i], w[i + 1]) = (hi, lo);
            } else {
                (w[i], w[i + 1]) = (lo, hi);
            }
        };
        put(2, self.ip);
        for (i, a) in self.args.iter().enumerate() {
            put(4 + 2 * i, *a);
        }
        w
    }
}

const SIZE: u32 = 64;

/// Run `prog` on `d`; the filter's return value, or why the kernel would
/// refuse the program.
pub(super) fn run(prog: &[libc::sock_filter], d: &SeccompData) -> Result<u32, String> {
    if prog.is_empty() || prog.len() > 4096 {
        return Err(format!("program length {}", prog.len()));
    }
    let data = d.words();
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    // Classic BPF only jumps forward, so this bounds the run.
    loop {
        let Some(ins) = prog.get(pc) else {
            return Err(format!("fell off the end at {pc}"));
        };
        let k = ins.k;
        pc += 1;
        let class = ins.code & 0x07;
        match class {
            // BPF_LD / BPF_LDX
            0x00 | 0x01 => {
                let v = match ins.code & 0xe0 {
                    // BPF_IMM
                    0x00 => k,
                    // BPF_ABS (BPF_LD|BPF_W only)
                    0x20 if ins.code == 0x20 => {
                        if k >= SIZE || k % 4 != 0 {
                            return Err(format!("load at offset {k} (pc {})", pc - 1));
                        }
                        data[k as usize / 4]
                    }
                    // BPF_MEM
                    0x60 => *mem.get(k as usize).ok_or("scratch index")?,
                    // BPF_LEN
                    0x80 => SIZE,
                    _ => return Err(format!("opcode {:#x}", ins.code)),
                };
                if class == 0x00 {
                    a = v;
                } else {
                    x = v;
                }
            }
            // BPF_ST / BPF_STX
            0x02 | 0x03 => {
                let v = if class == 0x02 { a } else { x };
                *mem.get_mut(k as usize).ok_or("scratch index")? = v;
            }
            // BPF_ALU
            0x04 => {
                let src = if ins.code & 0x08 != 0 { x } else { k };
                a = match ins.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 if src == 0 => return Ok(0),
                    0x30 => a / src,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 if src == 0 => return Ok(0),
                    0x90 => a % src,
                    0xa0 => a ^ src,
                    _ => return Err(format!("opcode {:#x}", ins.code)),
                };
            }
            // BPF_JMP
            0x05 => {
                let src = if ins.code & 0x08 != 0 { x } else { k };
                let off = match ins.code & 0xf0 {
                    0x00 => k as usize,
                    op => {
                        let c = match op {
                            0x10 => a == src,
                            0x20 => a > src,
                            0x30 => a >= src,
                            0x40 => a & src != 0,
                            _ => return Err(format!("opcode {:#x}", ins.code)),
                        };
                        usize::from(if c { ins.jt } else { ins.jf })
                    }
                };
                pc += off;
            }
            // BPF_RET
            0x06 => {
                return match ins.code & 0x18 {
                    0x00 => Ok(k),
                    0x10 => Ok(a),
                    _ => Err(format!("opcode {:#x}", ins.code)),
                };
            }
            // BPF_MISC: TAX / TXA
            _ => match ins.code {
                0x07 => x = a,
                0x87 => a = x,
                _ => return Err(format!("opcode {:#x}", ins.code)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
        libc::sock_filter { code, jt, jf, k }
    }

    #[test]
    fn byte_order_and_instructions() {
        // ld arg0 low word; tax; ld arg0 high word; add x; st M[3]; ldx M[3];
        // txa; jset 1 -> ret A, else ret 7.
        let p = [
            ins(0x20, 0, 0, 16),
            ins(0x07, 0, 0, 0),
            ins(0x20, 0, 0, 20),
            ins(0x0c, 0, 0, 0),
            ins(0x02, 0, 0, 3),
            ins(0x61, 0, 0, 3),
            ins(0x87, 0, 0, 0),
            ins(0x45, 0, 1, 1),
            ins(0x16, 0, 0, 0),
            ins(0x06, 0, 0, 7),
        ];
        let le = SeccompData::new(0, 0, [0x4_0000_0002, 0, 0, 0, 0, 0], false);
        assert_eq!(run(&p, &le), Ok(7));
        let le = SeccompData::new(0, 0, [0x5_0000_0004, 0, 0, 0, 0, 0], false);
        assert_eq!(run(&p, &le), Ok(9));
        // Big endian: offset 16 is the high word.
        let first = [ins(0x20, 0, 0, 16), ins(0x16, 0, 0, 0)];
        let be = SeccompData::new(0, 0, [0x2_0000_0005, 0, 0, 0, 0, 0], true);
        assert_eq!(run(&first, &be), Ok(2));
        assert_eq!(
            run(
                &first,
                &SeccompData {
                    big_endian: false,
                    ..be
                }
            ),
            Ok(5)
        );
        assert!(run(&[ins(0x20, 0, 0, 64)], &le).is_err());
        assert!(run(&[ins(0x20, 0, 0, 0)], &le).is_err());
        assert!(run(&[ins(0xff, 0, 0, 0)], &le).is_err());
    }
}
