//! `process.scheduler`, `process.ioPriority`, `process.execCPUAffinity` and
//! `linux.personality`: per-process kernel settings applied by the init (or
//! the exec child) just before exec, so the user program inherits them.

use crate::error::{Error, Result};
use crate::sys::process::SchedAttr;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag as F, LinuxSchedulerPolicy as P, Scheduler,
};

fn last_os(what: String) -> Error {
    Error::io(what, std::io::Error::last_os_error())
}

pub fn apply_scheduler(s: &Scheduler) -> Result<()> {
    let policy = match s.policy() {
        P::SchedOther => libc::SCHED_OTHER,
        P::SchedFifo => libc::SCHED_FIFO,
        P::SchedRr => libc::SCHED_RR,
        P::SchedBatch => libc::SCHED_BATCH,
        P::SchedIso => {
            return Err(Error::new(
                "process.scheduler.policy SCHED_ISO: not implemented by Linux",
            ))
        }
        P::SchedIdle => libc::SCHED_IDLE,
        P::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        };
    }
    let mut attr = SchedAttr {
        sched_policy: policy as u32,
        sched_flags: flags,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..Default::default()
    };
    crate::sys::process::sched_setattr(&mut attr).map_err(|e| {
        Error::io(
            format!("process.scheduler {:?}: sched_setattr", s.policy()),
            e.into(),
        )
    })
}

pub fn apply_io_priority(p: &LinuxIOPriority) -> Result<()> {
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..8).contains(&p.priority()) {
        return Err(Error::new(format!(
            "process.ioPriority.priority {}: must be 0..7",
            p.priority()
        )));
    }
    let value = (class << 13) | p.priority();
    crate::sys::process::ioprio_set_self(value).map_err(|e| {
        Error::io(
            format!(
                "process.ioPriority {:?} {}: ioprio_set",
                p.class(),
                p.priority()
            ),
            e.into(),
        )
    })
}

/// `0-3,7` → a cpu set.
pub fn parse_cpus(list: &str, field: &str) -> Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain bits; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let bad = || Error::new(format!("{field} {list:?}: not a cpu list like 0-3,7"));
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if lo > hi || hi >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        for cpu in lo..=hi {
            // SAFETY: cpu < CPU_SETSIZE was checked above.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    Ok(set)
}

pub fn set_affinity(list: &str, field: &str) -> Result<()> {
    let set = parse_cpus(list, field)?;
    // SAFETY: sched_setaffinity(0 = this thread) reads a cpu_set_t we own.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(last_os(format!("{field} {list:?}: sched_setaffinity")));
    }
    Ok(())
}

pub fn apply_personality(p: &LinuxPersonality) -> Result<()> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::new(
            "linux.personality.flags: no flags are defined by the runtime spec",
        ));
    }
    let domain: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality takes an integer persona.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(last_os(format!(
            "linux.personality {:?}: personality",
            p.domain()
        )));
    }
    Ok(())
}

/// `execCPUAffinity.initial`: set as soon as the process is in the
/// container's cgroup, before the rest of its setup runs.
pub fn apply_initial_affinity(p: Option<&oci_spec::runtime::Process>) -> Result<()> {
    match p
        .and_then(|p| p.exec_cpu_affinity().as_ref())
        .and_then(|a| a.initial().as_deref())
    {
        Some(list) => set_affinity(list, "process.execCPUAffinity.initial"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = parse_cpus("0-2,5", "x").expect("valid");
        for (cpu, want) in [(0, true), (1, true), (2, true), (3, false), (5, true)] {
            // SAFETY: cpu < CPU_SETSIZE.
            assert_eq!(unsafe { libc::CPU_ISSET(cpu, &s) }, want, "{cpu}");
        }
        for bad in ["a", "3-1", "1-", "99999"] {
            assert!(parse_cpus(bad, "x").is_err(), "{bad}");
        }
    }
}
