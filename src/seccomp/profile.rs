//! A validated seccomp profile, read from oci-spec's typed `LinuxSeccomp`
//! (the only form: names oci-spec does not know are serde errors, located by
//! `config`). Every error names the config field it is about, e.g.
//! `linux.seccomp.syscalls[0].args[0].index: 6 is not a syscall argument
//! index (0-5)`.

use std::fmt;
use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use super::abi::{self, Abi, ArchEntry};
use crate::error::{Error, Result};

const FIELD: &str = "linux.seccomp";

/// A config field name, formatted only when an error needs it.
type Args<'a> = fmt::Arguments<'a>;
const EPERM: u16 = libc::EPERM as u16;

/// What the filter returns for a matching syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Action {
    KillThread,
    KillProcess,
    Trap,
    Errno(u16),
    Trace(u16),
    Allow,
    Log,
    Notify,
}

impl Action {
    /// The `SECCOMP_RET_*` value the BPF program returns.
    pub(super) fn ret(self) -> u32 {
        match self {
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Trace(m) => libc::SECCOMP_RET_TRACE | u32::from(m),
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }

    /// Actions that let unknown syscalls through; runc adds no -ENOSYS stub
    /// for them (a tracer is expected to cope with new syscalls itself).
    pub(super) fn is_permissive(self) -> bool {
        matches!(self, Action::Allow | Action::Log | Action::Trace(_))
    }
}

/// Names of the actions, in the spelling profiles use.
pub(super) const ACTION_NAMES: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

pub(super) const OPERATOR_NAMES: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

pub(super) const FLAG_NAMES: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == (value_two & value)`: `value` is the mask, as in
    /// runc; the datum is masked too, as libseccomp does.
    MaskedEq,
}

/// One argument comparison; all of a rule's comparisons must hold (a rule
/// with several on the same argument is split first: see `split_rule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

#[derive(Clone, Debug)]
pub(super) struct Rule<'a> {
    pub names: Vec<&'a str>,
    pub action: Action,
    pub conds: Vec<Cond>,
}

#[derive(Clone, Debug)]
pub(super) struct Profile<'a> {
    pub default: Action,
    /// ABIs with tables named in `architectures`, SCMP_ARCH_NATIVE as
    /// `native_listed`. The host's native ABI is in the filter whether
    /// listed or not; ABIs the host does not execute are ignored.
    pub listed: Vec<Abi>,
    pub native_listed: bool,
    /// SECCOMP_FILTER_FLAG_* bits requested by `flags`.
    pub flags: u32,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
    pub rules: Vec<Rule<'a>>,
}

impl Profile<'_> {
    pub(super) fn uses_notify(&self) -> bool {
        self.rules.iter().any(|r| r.action == Action::Notify)
    }
}

fn field_err(field: impl std::fmt::Display, msg: impl std::fmt::Display) -> Error {
    Error::new(format!("{FIELD}.{field}: {msg}"))
}

/// The kernel's MAX_ERRNO: return values from -4095 to -1 are errors.
const MAX_ERRNO: u32 = 4095;

fn errno_value(field: Args<'_>, v: Option<u32>) -> Result<u16> {
    match v {
        None => Ok(EPERM),
        // libseccomp refuses these too; the kernel would clamp them.
        Some(v) if v >= MAX_ERRNO => Err(field_err(
            field,
            format!("{v} is not an errno (must be below {MAX_ERRNO})"),
        )),
        Some(v) => Ok(v as u16),
    }
}

fn trace_value(field: Args<'_>, v: Option<u32>) -> Result<u16> {
    match v {
        None => Ok(EPERM),
        // SECCOMP_RET_DATA is 16 bits; anything wider would be cut silently.
        Some(v) => u16::try_from(v).map_err(|_| {
            field_err(
                field,
                format!("{v} does not fit in 16 bits (SECCOMP_RET_DATA)"),
            )
        }),
    }
}

fn action_from_name(
    field: Args<'_>,
    name: &str,
    errno: Option<u32>,
    errno_field: Args<'_>,
) -> Result<Action> {
    // runtime-spec: when the action does not support an errno, the runtime
    // MUST fail (runc 1.1 ignores it, so a typo'd action runs unnoticed).
    if let Some(v) = errno {
        if !matches!(name, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") {
            return Err(field_err(
                errno_field,
                format!("{v} given, but {name} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"),
            ));
        }
    }
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_ERRNO" => Action::Errno(errno_value(errno_field, errno)?),
        "SCMP_ACT_TRACE" => Action::Trace(trace_value(errno_field, errno)?),
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => return Err(field_err(field, format!("unknown action {other:?}"))),
    })
}

fn oci_action_name(a: LinuxSeccompAction) -> &'static str {
    match a {
        LinuxSeccompAction::ScmpActKill => "SCMP_ACT_KILL",
        LinuxSeccompAction::ScmpActKillThread => "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillProcess => "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActTrap => "SCMP_ACT_TRAP",
        LinuxSeccompAction::ScmpActErrno => "SCMP_ACT_ERRNO",
        LinuxSeccompAction::ScmpActNotify => "SCMP_ACT_NOTIFY",
        LinuxSeccompAction::ScmpActTrace => "SCMP_ACT_TRACE",
        LinuxSeccompAction::ScmpActLog => "SCMP_ACT_LOG",
        LinuxSeccompAction::ScmpActAllow => "SCMP_ACT_ALLOW",
    }
}

fn oci_op(op: LinuxSeccompOperator) -> Op {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
        LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
        LinuxSeccompOperator::ScmpCmpLe => Op::Le,
        LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
        LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
        LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

/// The SECCOMP_FILTER_FLAG_* bit of a `flags` entry.
pub(super) fn flag_value(name: &str) -> Option<u32> {
    let bit = match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        _ => return None,
    };
    Some(bit as u32)
}

fn flag_bit(field: Args<'_>, name: &str) -> Result<u32> {
    flag_value(name).ok_or_else(|| field_err(field, format!("unknown flag {name:?}")))
}

fn oci_flag_name(f: LinuxSeccompFilterFlag) -> &'static str {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        }
    }
}

fn arch_entry(field: Args<'_>, name: &str) -> Result<ArchEntry> {
    abi::parse_arch(name).ok_or_else(|| field_err(field, format!("unknown architecture {name:?}")))
}

fn cond(field: Args<'_>, index: u64, op: Op, value: u64, value_two: u64) -> Result<Cond> {
    // Linux syscalls take at most six arguments.
    if index > 5 {
        return Err(field_err(
            format!("{field}.index"),
            format!("{index} is not a syscall argument index (0-5)"),
        ));
    }
    Ok(Cond {
        index: index as u8,
        op,
        value,
        value_two,
    })
}

/// Checks on the whole profile, once it is read.
fn finish(p: Profile<'_>) -> Result<Profile<'_>> {
    if p.default == Action::Notify {
        // The runtime itself still makes syscalls after loading the filter
        // (to hand over the notify fd); with nobody listening yet they would
        // block forever. runc refuses this too.
        return Err(field_err(
            "defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    for (i, r) in p.rules.iter().enumerate() {
        if r.action == Action::Notify {
            if let Some(j) = r.names.iter().position(|n| *n == "write") {
                // As runc: the fd handover after loading the filter writes.
                return Err(field_err(
                    format!("syscalls[{i}].names[{j}]"),
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall",
                ));
            }
        }
    }
    if p.uses_notify()
        && p.listener_path
            .as_ref()
            .is_none_or(|l| l.as_os_str().is_empty())
    {
        return Err(field_err(
            "listenerPath",
            "required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    Ok(p)
}

/// runc (and crun) turn a rule with several conditions on the same argument
/// into one rule per condition, each of its conditions alone enough to match
/// (an OR), because libseccomp cannot AND two comparisons of one argument.
/// Profiles are written for that meaning (e.g. Docker's old `personality`
/// rules), so kist does the same; conditions on distinct arguments stay one
/// rule whose conditions must all hold.
fn split_rule<'a>(r: Rule<'a>, out: &mut Vec<Rule<'a>>) {
    let mut seen = 0u8;
    let repeated = r.conds.iter().any(|c| {
        let bit = 1 << c.index;
        let dup = seen & bit != 0;
        seen |= bit;
        dup
    });
    if !repeated {
        out.push(r);
        return;
    }
    for c in &r.conds {
        out.push(Rule {
            names: r.names.clone(),
            action: r.action,
            conds: vec![*c],
        });
    }
}

fn check_names(i: usize, names: &[&str]) -> Result<()> {
    for (j, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(field_err(
                format!("syscalls[{i}].names[{j}]"),
                "empty syscall name",
            ));
        }
    }
    Ok(())
}

/// Read oci-spec's typed form (what the runtime has after loading config.json).
pub(super) fn from_oci(s: &LinuxSeccomp) -> Result<Profile<'_>> {
    let default = action_from_name(
        format_args!("defaultAction"),
        oci_action_name(s.default_action()),
        s.default_errno_ret(),
        format_args!("defaultErrnoRet"),
    )?;
    let mut listed = Vec::new();
    let mut native_listed = false;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let name = abi::oci_arch_name(*a);
        match arch_entry(format_args!("architectures[{i}]"), &name)? {
            ArchEntry::Abi(abi) => listed.push(abi),
            ArchEntry::Native => native_listed = true,
            ArchEntry::Foreign => {}
        }
    }
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        flags |= flag_bit(format_args!("flags[{i}]"), oci_flag_name(*f))?;
    }
    let mut rules = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let names: Vec<&str> = sc.names().iter().map(String::as_str).collect();
        check_names(i, &names)?;
        let action = action_from_name(
            format_args!("syscalls[{i}].action"),
            oci_action_name(sc.action()),
            sc.errno_ret(),
            format_args!("syscalls[{i}].errnoRet"),
        )?;
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            conds.push(cond(
                format_args!("syscalls[{i}].args[{j}]"),
                a.index() as u64,
                oci_op(a.op()),
                a.value(),
                a.value_two().unwrap_or(0),
            )?);
        }
        split_rule(
            Rule {
                names,
                action,
                conds,
            },
            &mut rules,
        );
    }
    finish(Profile {
        default,
        listed,
        native_listed,
        flags,
        listener_path: s.listener_path().clone(),
        listener_metadata: s.listener_metadata().clone(),
        rules,
    })
}

/// Tests write profiles as JSON: parse them the way the runtime does
/// (oci-spec), then check them with `from_oci`.
#[cfg(test)]
pub(super) fn from_json(v: &serde_json::Value) -> Result<Profile<'static>> {
    let s: LinuxSeccomp =
        serde_json::from_value(v.clone()).map_err(|e| Error::new(format!("linux.seccomp: {e}")))?;
    from_oci(Box::leak(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The typed path the runtime takes: oci-spec parses (unknown names
    /// are serde errors, located by config::parse_spec), from_oci checks.
    fn profile(v: Value) -> Result<Profile<'static>> {
        from_json(&v)
    }

    fn err(v: Value) -> String {
        match profile(v.clone()) {
            Ok(_) => panic!("accepted {v}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}
            ]})),
            "linux.seccomp.syscalls[0].args[0].index: 6 is not a syscall argument index (0-5)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}
            ]})),
            "linux.seccomp.syscalls[0].errnoRet: 70000 is not an errno (must be below 4095)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095})),
            "linux.seccomp.defaultErrnoRet: 4095 is not an errno (must be below 4095)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 70000}
            ]})),
            "linux.seccomp.syscalls[0].errnoRet: 70000 does not fit in 16 bits (SECCOMP_RET_DATA)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "defaultErrnoRet": 1})),
            "linux.seccomp.defaultErrnoRet: 1 given, but SCMP_ACT_KILL_THREAD returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}
            ]})),
            "linux.seccomp.syscalls[0].errnoRet: 1 given, but SCMP_ACT_ALLOW returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}
            ]})),
            "linux.seccomp.syscalls[0].names[1]: empty syscall name"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_NOTIFY"}
            ]})),
            "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}
            ]})),
            "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall"
        );
    }

    #[test]
    fn conditions_on_one_argument_become_separate_rules() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}
        ]}))
        .unwrap();
        // As runc: every condition its own rule, even the one on arg 1.
        let conds: Vec<Vec<(u8, u64)>> = p
            .rules
            .iter()
            .map(|r| r.conds.iter().map(|c| (c.index, c.value)).collect())
            .collect();
        assert_eq!(
            conds,
            [
                vec![(0, 0)],
                vec![(1, 7)],
                vec![(0, 8)],
                vec![(0, 0), (1, 7)]
            ]
        );
        assert!(p.rules[..3].iter().all(|r| r.names == ["personality"]));
    }

    #[test]
    fn errno_defaults_to_eperm() {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_TRACE"},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]}))
        .unwrap();
        assert_eq!(p.default, Action::Errno(1));
        assert_eq!(p.rules[0].action, Action::Trace(1));
        assert_eq!(p.rules[1].action, Action::Errno(38));
    }
}
