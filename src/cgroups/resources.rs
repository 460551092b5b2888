//! linux.resources → control files: picks v1 or v2 per controller and
//! reports a requested value the host cannot apply as an error naming the
//! field and the file.

use super::{common, devices, v1, v2, Backend, Cgroup, Mode};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;

impl Cgroup {
    /// The backend for `controller`, or an error naming the field and the
    /// file that was to be written.
    fn require(&self, controller: &str, field: &str, file: &str) -> Result<Backend<'_>> {
        self.backend(controller).ok_or_else(|| {
            let v2 = match self.unified_path() {
                Some(p) => format!(
                    "; cgroup2 {} does not offer it (cgroup.controllers of its parent)",
                    p.display()
                ),
                None => String::new(),
            };
            let v1 = if self.mode == Mode::V2 {
                "the host has only cgroup v2".to_string()
            } else {
                format!("no cgroup v1 {controller} hierarchy is mounted")
            };
            if self.driver.is_cgroupfs() && crate::rootless::active() {
                return Error::new(format!(
                    "{field}: cannot write {file}: kist runs rootless and the user was given no writable cgroup with the {controller} controller (delegate a cgroup v2 subtree to it, or leave the field out)"
                ));
            }
            Error::new(format!(
                "{field}: cannot write {file}: no {controller} controller ({v1}{v2})"
            ))
        })
    }

    /// Applies linux.resources at create time through the files. Devices
    /// always: deny-all, then the rules and runc's default list
    /// (linux.devices adds nothing: see `devices::rules`).
    pub(super) fn fs_apply(&self, r: &LinuxResources) -> Result<()> {
        self.set(r)?;
        let rules = devices::rules(r.devices().as_deref().unwrap_or(&[]))?;
        match self.set_devices(&rules) {
            // As runc: a rootless container's device rules cannot be
            // enforced (no devices hierarchy of its own, no BPF), and it
            // reaches no device its user could not open on the host.
            Err(e) if crate::rootless::active() => {
                crate::logger::debug(&format!("rootless: device rules not applied: {e}"));
                Ok(())
            }
            r => r,
        }
    }

    /// `kist update` through the files: writes only what `r` holds; device
    /// rules only if given.
    pub(super) fn fs_update(&self, r: &LinuxResources) -> Result<()> {
        self.set(r)?;
        let Some(d) = r.devices() else {
            return Ok(());
        };
        let rules = devices::rules(d)?;
        // v1 rewrites the list starting from deny-all: frozen, no process
        // of a running container can hit that gap.
        let gap = self.v1_path("devices").is_some() && !self.is_frozen().unwrap_or(true);
        let froze = gap && self.freeze().is_ok();
        let res = self.set_devices(&rules);
        if froze {
            self.thaw().map_err(|e| e.context("update devices"))?;
        }
        res
    }

    fn set_devices(&self, rules: &[devices::DeviceRule]) -> Result<()> {
        // v1 devices where there is a v1 hierarchy for it (hybrid hosts
        // too), else the v2 eBPF program.
        if let Some(p) = self.v1_path("devices") {
            return v1::devices::apply(p, rules);
        }
        match self.unified_path() {
            Some(p) => v2::devices_bpf::apply(p, rules),
            None => Err(Error::new(
                "linux.resources.devices: no v1 devices hierarchy and no cgroup2: device access cannot be restricted",
            )),
        }
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        const F: &str = "linux.resources";
        if let Some(m) = r.memory() {
            let given = [
                (m.limit().is_some(), "limit", "memory.limit_in_bytes"),
                (
                    m.reservation().is_some(),
                    "reservation",
                    "memory.soft_limit_in_bytes",
                ),
                (m.swap().is_some(), "swap", "memory.memsw.limit_in_bytes"),
                (m.kernel().is_some(), "kernel", "memory.kmem.limit_in_bytes"),
                (
                    m.kernel_tcp().is_some(),
                    "kernelTCP",
                    "memory.kmem.tcp.limit_in_bytes",
                ),
                (m.swappiness().is_some(), "swappiness", "memory.swappiness"),
                (
                    m.disable_oom_killer().is_some(),
                    "disableOOMKiller",
                    "memory.oom_control",
                ),
                (
                    m.use_hierarchy().is_some(),
                    "useHierarchy",
                    "memory.use_hierarchy",
                ),
            ];
            if let Some((_, field, file)) = given.iter().find(|g| g.0) {
                match self.require("memory", &format!("{F}.memory.{field}"), file)? {
                    Backend::V1(d) => v1::memory::apply(d, m)?,
                    Backend::V2(d) => v2::memory::apply(d, m)?,
                }
            }
        }
        if let Some(c) = r.cpu() {
            let given = [
                (c.shares().is_some(), "shares", "cpu.shares"),
                (c.quota().is_some(), "quota", "cpu.cfs_quota_us"),
                (c.period().is_some(), "period", "cpu.cfs_period_us"),
                (c.burst().is_some(), "burst", "cpu.cfs_burst_us"),
                (
                    c.realtime_runtime().is_some(),
                    "realtimeRuntime",
                    "cpu.rt_runtime_us",
                ),
                (
                    c.realtime_period().is_some(),
                    "realtimePeriod",
                    "cpu.rt_period_us",
                ),
                (c.idle().is_some(), "idle", "cpu.idle"),
            ];
            if let Some((_, field, file)) = given.iter().find(|g| g.0) {
                match self.require("cpu", &format!("{F}.cpu.{field}"), file)? {
                    Backend::V1(d) => v1::cpu::apply(d, c)?,
                    Backend::V2(d) => v2::cpu::apply(d, c)?,
                }
            }
            let cpus = c.cpus().as_deref().is_some_and(|s| !s.is_empty());
            let mems = c.mems().as_deref().is_some_and(|s| !s.is_empty());
            if cpus || mems {
                let (field, file) = if cpus {
                    ("cpus", "cpuset.cpus")
                } else {
                    ("mems", "cpuset.mems")
                };
                let (Backend::V1(d) | Backend::V2(d)) =
                    self.require("cpuset", &format!("{F}.cpu.{field}"), file)?;
                common::cpuset(d, c)?;
            }
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                let (Backend::V1(d) | Backend::V2(d)) =
                    self.require("pids", &format!("{F}.pids.limit"), "pids.max")?;
                common::pids(d, p.limit())?;
            }
        }
        if let Some(b) = r.block_io() {
            let any = b.weight().is_some()
                || b.leaf_weight().is_some()
                || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
                || v1::blkio::throttles(b)
                    .iter()
                    .any(|(_, l)| l.as_ref().is_some_and(|v| !v.is_empty()));
            if any {
                // blkio on v1, io on v2
                let be = match self.v1_path("blkio") {
                    Some(p) => Backend::V1(p),
                    None => self.require("io", &format!("{F}.blockIO"), "io.max")?,
                };
                match be {
                    Backend::V1(d) => v1::blkio::apply(d, b)?,
                    Backend::V2(d) => v2::io::apply(d, b)?,
                }
            }
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            match self.require(
                "hugetlb",
                &format!("{F}.hugepageLimits[0]"),
                "hugetlb.<size>.limit_in_bytes",
            )? {
                Backend::V1(d) => common::hugetlb(d, false, h)?,
                Backend::V2(d) => common::hugetlb(d, true, h)?,
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                match self.require(
                    "net_cls",
                    &format!("{F}.network.classID"),
                    "net_cls.classid",
                )? {
                    Backend::V1(d) => v1::net::class_id(d, id)?,
                    Backend::V2(_) => unreachable_v2("network.classID", "net_cls.classid")?,
                }
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                match self.require(
                    "net_prio",
                    &format!("{F}.network.priorities"),
                    "net_prio.ifpriomap",
                )? {
                    Backend::V1(d) => v1::net::priorities(d, p)?,
                    Backend::V2(_) => unreachable_v2("network.priorities", "net_prio.ifpriomap")?,
                }
            }
        }
        if let Some(rd) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            let (Backend::V1(d) | Backend::V2(d)) =
                self.require("rdma", &format!("{F}.rdma"), "rdma.max")?;
            common::rdma(d, rd)?;
        }
        // last, so that explicit unified values win over converted ones
        // runc 1.1 refuses it unless the host is pure cgroup v2: on a hybrid
        // host the cgroup2 mount holds no controllers the container's
        // limits live in, and writing there would be a silent no-op.
        if let Some(u) = r.unified().as_ref().filter(|m| !m.is_empty()) {
            match (&self.unified, self.mode) {
                (Some(dir), Mode::V2) => v2::unified::apply(dir, u)?,
                (_, mode) => {
                    let host = if mode == Mode::Hybrid {
                        "hybrid (cgroup v1 controllers, cgroup2 only at /sys/fs/cgroup/unified)"
                    } else {
                        "cgroup v1 only"
                    };
                    return Err(Error::new(format!(
                        "{F}.unified: invalid configuration: cannot use unified on cgroup v1 (this host is {host}; set the limits in the v1 fields instead)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// net_cls/net_prio never appear in cgroup.controllers, so require() cannot
/// hand out a v2 backend for them; kept as an error rather than a panic.
fn unreachable_v2(field: &str, file: &str) -> Result<()> {
    Err(Error::new(format!(
        "linux.resources.{field}: cgroup v2 has no {file}"
    )))
}
