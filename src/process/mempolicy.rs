//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA policy of the container
//! process, checked at create with the field named and set with
//! set_mempolicy(2) in the init before exec (the policy is inherited by
//! children and kept across execve).

use crate::error::{Error, Result};
use oci_spec::runtime::{
    LinuxMemoryPolicy, MemoryPolicyFlagType as Flag, MemoryPolicyModeType as Mode, Spec,
};

/// What set_mempolicy takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// MPOL_* mode ORed with the MPOL_F_* flags.
    mode: i32,
    /// Node mask, one bit per node; empty for none.
    nodes: Vec<u64>,
}

/// Every mode and flag `from_spec` accepts (for `features`).
pub const MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_PREFERRED",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
];
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// Nodes a mask may name (the kernel's largest MAX_NUMNODES).
const MAX_NODES: usize = 4096;
const F: &str = "linux.memoryPolicy";

/// The checked policy of a configuration, if it has one.
pub fn from_spec(spec: &Spec) -> Result<Option<Policy>> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        Some(p) => check(p).map(Some),
        None => Ok(None),
    }
}

fn check(p: &LinuxMemoryPolicy) -> Result<Policy> {
    let mode = p.mode();
    let base = match mode {
        Mode::MpolDefault => 0,
        Mode::MpolPreferred => 1,
        Mode::MpolBind => 2,
        Mode::MpolInterleave => 3,
        Mode::MpolLocal => 4,
        Mode::MpolPreferredMany => 5,
        Mode::MpolWeightedInterleave => 6,
    };
    let text = p.nodes().as_deref().unwrap_or("").trim();
    let nodes = if text.is_empty() {
        Vec::new()
    } else {
        node_mask(text).map_err(|e| Error::new(format!("{F}.nodes {text:?}: {e}")))?
    };
    match mode {
        Mode::MpolDefault | Mode::MpolLocal if !nodes.is_empty() => {
            return Err(Error::new(format!("{F}.nodes: {mode} takes no nodes")))
        }
        Mode::MpolBind
        | Mode::MpolInterleave
        | Mode::MpolWeightedInterleave
        | Mode::MpolPreferredMany
            if nodes.is_empty() =>
        {
            return Err(Error::new(format!(
                "{F}.nodes: {mode} needs at least one node"
            )))
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            Flag::MpolFNumaBalancing => 1 << 13,
            Flag::MpolFRelativeNodes => 1 << 14,
            Flag::MpolFStaticNodes => 1 << 15,
        };
    }
    let (stat, rel) = (1 << 15, 1 << 14);
    if flags & stat != 0 && flags & rel != 0 {
        return Err(Error::new(format!(
            "{F}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"
        )));
    }
    if flags & (stat | rel) != 0 && nodes.is_empty() {
        return Err(Error::new(format!(
            "{F}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes"
        )));
    }
    Ok(Policy {
        mode: base | flags,
        nodes,
    })
}

/// "0-3,5" as a bit mask.
fn node_mask(s: &str) -> std::result::Result<Vec<u64>, String> {
    let mut mask = vec![0u64; MAX_NODES / 64];
    let num = |t: &str| -> std::result::Result<usize, String> {
        let n = t
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("{t:?} is not a node number"))?;
        if n >= MAX_NODES {
            return Err(format!(
                "node {n} is past the last possible node {}",
                MAX_NODES - 1
            ));
        }
        Ok(n)
    };
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if a > b {
            return Err(format!("range {part:?} runs backwards"));
        }
        for n in a..=b {
            mask[n / 64] |= 1 << (n % 64);
        }
    }
    let used = mask.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1);
    mask.truncate(used);
    Ok(mask)
}

impl Policy {
    /// set_mempolicy(2) for the calling thread.
    pub fn apply(&self) -> Result<()> {
        crate::sys::process::set_mempolicy(self.mode, &self.nodes).map_err(|e| {
            Error::io(
                format!("{F}: set_mempolicy (are the nodes online and in the cpuset?)"),
                e.into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mp(v: serde_json::Value) -> Result<Option<Policy>> {
        let spec: Spec =
            serde_json::from_value(json!({"ociVersion": "1.3.0", "linux": {"memoryPolicy": v}}))
                .unwrap();
        from_spec(&spec)
    }

    #[test]
    fn values() {
        let p = mp(
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-2,65", "flags": ["MPOL_F_STATIC_NODES"]}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.mode, 3 | 1 << 15);
        assert_eq!(p.nodes, vec![0b111, 0b10]);
        let p = mp(json!({"mode": "MPOL_LOCAL"})).unwrap().unwrap();
        assert_eq!((p.mode, p.nodes.len()), (4, 0));
    }

    #[test]
    fn errors_name_the_field() {
        for (v, want) in [
            (
                json!({"mode": "MPOL_BIND"}),
                "linux.memoryPolicy.nodes: MPOL_BIND needs",
            ),
            (
                json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
                "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
                "linux.memoryPolicy.nodes \"0-x\"",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "3-1"}),
                "runs backwards",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "5000"}),
                "past the last possible node",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                "exclude each other",
            ),
        ] {
            let e = mp(v.clone()).unwrap_err().to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
