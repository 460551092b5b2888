//! Device rules on cgroup v2: an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, assembled here and loaded and attached with
//! the raw bpf(2) syscall (no libbpf).
//!
//! The kernel runs the program on every device open/mknod by a process in
//! the cgroup with a `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` where access_type = (access << 16) | type. Returning 1
//! allows, 0 denies (EPERM). Rules are checked last to first and the first
//! match decides, which gives the "later rules win" meaning of the v1 list;
//! nothing matching is denied (runc's rules always start from deny-all).

use crate::cgroups::devices::{DevType, DeviceRule, ACC_ALL};
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const AND64_K: u8 = 0x57;
const RSH64_K: u8 = 0x77;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JSET_K: u8 = 0x45; // jump if dst & imm
const EXIT: u8 = 0x95;

const fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Registers: r1 = ctx on entry; r2 = type, r3 = access, r4 = major,
// r5 = minor; r6 scratch; r0 = verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

/// A jump whose offset is patched to "past the end of this rule's block".
const SKIP: i16 = i16::MIN;

/// Assembles the program for `rules`.
pub fn assemble(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        ins(LDX_MEM_W, R2, R1, 0, 0),
        ins(MOV64_X, R3, R2, 0, 0),
        ins(AND64_K, R2, 0, 0, 0xffff),
        ins(RSH64_K, R3, 0, 0, 16),
        ins(LDX_MEM_W, R4, R1, 4, 0),
        ins(LDX_MEM_W, R5, R1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block = Vec::new();
        if r.typ != DevType::All {
            let t = if r.typ == DevType::Block {
                DEVCG_DEV_BLOCK
            } else {
                DEVCG_DEV_CHAR
            };
            block.push(ins(JNE_K, R2, 0, SKIP, t));
        }
        let access = r.access & ACC_ALL;
        if r.allow {
            // allows only if every requested access is in the rule
            if !access & ACC_ALL != 0 {
                block.push(ins(JSET_K, R3, 0, SKIP, i32::from(!access & ACC_ALL)));
            }
        } else if access != ACC_ALL {
            // denies if any requested access is in the rule
            block.push(ins(MOV64_X, R6, R3, 0, 0));
            block.push(ins(AND64_K, R6, 0, 0, i32::from(access)));
            block.push(ins(JEQ_K, R6, 0, SKIP, 0));
        }
        if r.typ != DevType::All {
            if let Some(m) = r.major {
                block.push(ins(JNE_K, R4, 0, SKIP, m as i32));
            }
            if let Some(m) = r.minor {
                block.push(ins(JNE_K, R5, 0, SKIP, m as i32));
            }
        }
        let unconditional = block.is_empty();
        block.push(ins(MOV64_K, R0, 0, 0, i32::from(r.allow)));
        block.push(ins(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.off == SKIP {
                insn.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
        if unconditional {
            // what follows could never run, and the verifier rejects
            // unreachable instructions
            return prog;
        }
    }
    prog.push(ins(MOV64_K, R0, 0, 0, 0));
    prog.push(ins(EXIT, 0, 0, 0, 0));
    prog
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr).
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::result::Result<libc::c_long, nix::errno::Errno> {
    // SAFETY: attr is a live, exclusively borrowed #[repr(C)] struct laid out
    // as the kernel's union bpf_attr member for `cmd`, and its exact size is
    // passed; pointers inside it (set by the callers) outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(r)
    }
}

fn fd_from(r: libc::c_long) -> OwnedFd {
    // SAFETY: bpf() returned r >= 0 for a command that creates an fd; the
    // fd is new and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// Loads the program; on a verifier rejection the error carries its log.
pub fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..8].copy_from_slice(b"kist_dev");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd_from(fd)),
        Err(e) => {
            // Again with the verifier log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]);
            Err(Error::os(
                format!(
                    "linux.resources.devices: load the cgroup v2 device eBPF program ({} instructions){}{}",
                    prog.len(),
                    if text.is_empty() { "" } else { ", verifier: " },
                    text.trim()
                ),
                e,
            ))
        }
    }
}

/// Programs attached to the cgroup directly (not inherited ones).
pub(crate) fn attached(cgroup: &OwnedFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)
        .map_err(|e| Error::os("linux.resources.devices: query attached device programs", e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Attaches `prog` to the cgroup directory `cgroup` and then detaches the
/// device programs attached there before (kist update), so that there is
/// never a moment without one.
pub fn attach(cgroup: &OwnedFd, prog: &OwnedFd) -> Result<()> {
    let old = attached(cgroup)?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        Error::os(
            "linux.resources.devices: attach the device eBPF program to the cgroup",
            e,
        )
    })?;
    for id in old {
        let mut g = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut g) else {
            continue; // already gone
        };
        let old_fd = fd_from(fd);
        let mut d = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        match bpf(BPF_PROG_DETACH, &mut d) {
            Ok(_) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(Error::os(
                    format!("linux.resources.devices: detach the previous device program {id}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// Assembles, loads and attaches the program for `rules` to `dir`.
pub fn apply(dir: &std::path::Path, rules: &[DeviceRule]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let cg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|e| {
            Error::io(
                format!("linux.resources.devices: open {}", dir.display()),
                e,
            )
        })?;
    let cg = OwnedFd::from(cg);
    let prog = load(&assemble(rules))?;
    attach(&cg, &prog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{rules, DEFAULT_ALLOWED};
    use crate::cgroups::testutil::TestCgroup;

    #[test]
    fn assembles_and_loads() {
        let r =
            rules(&[serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap()]).unwrap();
        let prog = assemble(&r);
        // the deny-all rule is checked last and ends the program
        assert_eq!(prog.last().unwrap().code, EXIT);
        load(&prog).unwrap();
        // allow-all first makes the rest unreachable: still loads
        let all = [DeviceRule {
            allow: true,
            typ: DevType::All,
            major: None,
            minor: None,
            access: ACC_ALL,
        }];
        load(&assemble(&all)).unwrap();
        load(&assemble(DEFAULT_ALLOWED)).unwrap();
    }

    #[test]
    fn filters_device_opens() {
        let t = TestCgroup::new();
        let Some(dir) = t.cg.unified_path() else {
            return;
        };
        let r = rules(&[
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap(),
            // /dev/zero read-only
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}"#)
                .unwrap(),
            // deny /dev/full again after the defaults would allow it
        ])
        .unwrap();
        let mut r = r;
        r.push(DeviceRule {
            allow: false,
            typ: DevType::Char,
            major: Some(1),
            minor: Some(7),
            access: ACC_ALL,
        });
        apply(dir, &r).unwrap();
        let out = t.run_in(
            "head -c1 /dev/zero >/dev/null && echo zero-r; \
             (echo x >/dev/zero) 2>/dev/null && echo zero-w; \
             head -c1 /dev/full >/dev/null 2>&1 || echo full-denied; \
             head -c1 /dev/urandom >/dev/null && echo urandom",
        );
        // /dev/zero: the later default rule (rwm) wins over the r-only one
        assert_eq!(out, "zero-r\nzero-w\nfull-denied\nurandom\n");
        // replacing the program (kist update) leaves exactly one attached
        apply(dir, &rules(&[]).unwrap()).unwrap();
        use std::os::unix::fs::OpenOptionsExt;
        let fd = OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(dir)
                .unwrap(),
        );
        assert_eq!(attached(&fd).unwrap().len(), 1);
        let out = t.run_in("head -c1 /dev/full >/dev/null && echo full-ok");
        assert_eq!(out, "full-ok\n");
    }
}
