//! The cgroup manager seam: every lifecycle step that creates, configures
//! or destroys the container's cgroup goes through these methods, which
//! pick the driver recorded in the state.
//!
//! What does not depend on the driver stays on [`Cgroup`] itself: the
//! paths (computed once at create time and recorded), the freezer, the
//! process list, signals, stats and OOM events all read and write the
//! cgroup files, whoever created the directories (runc's systemd driver
//! does the same for everything systemd has no property for).

use super::devices;
use super::systemd::{devices as sd_devices, props, Systemd, Unit};
use super::{Cgroup, Mode};
use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};

/// Who owns the container's cgroup directories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "name")]
pub enum Driver {
    /// kist makes and removes the directories itself (runc's default).
    #[default]
    Cgroupfs,
    /// A transient systemd unit owns them (`--systemd-cgroup`).
    Systemd(Unit),
}

impl Driver {
    pub fn is_cgroupfs(&self) -> bool {
        matches!(self, Driver::Cgroupfs)
    }
}

impl Cgroup {
    /// The cgroup of a container created with `--systemd-cgroup`:
    /// linux.cgroupsPath is `slice:prefix:name` and the paths are where
    /// systemd puts that unit. `user` (rootless): the caller's systemd
    /// instance owns the unit, below that instance's own cgroup, which it
    /// delegates to the user on cgroup v2 only (as runc, which refuses
    /// rootless systemd on v1).
    pub fn new_systemd(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<Cgroup> {
        let (unit, mut path) = super::systemd::unit::parse(cgroups_path, id, user)?;
        if user {
            if !super::host_is_v2() {
                return Err(Error::new(
                    "--systemd-cgroup as a rootless user needs a cgroup v2 host: a user's systemd gets no cgroups delegated on v1 or hybrid hosts (drop --systemd-cgroup to run without cgroups)",
                ));
            }
            let base = Systemd::connect(true)
                .and_then(|mut s| s.control_group())
                .context("--systemd-cgroup: the user's systemd instance")?;
            path = format!("{}{path}", base.trim_end_matches('/'));
        }
        let mut cg = Cgroup::new(Some(&path), id)?;
        cg.driver = Driver::Systemd(unit);
        Ok(cg)
    }

    /// systemd: a scope of that name must not exist yet (it would be
    /// another container's, and stopping it on failure would kill that
    /// one). Slices may be shared, as runc joins an existing one.
    pub(super) fn check_unit(&self) -> Result<()> {
        let Driver::Systemd(unit) = &self.driver else {
            return Ok(());
        };
        if unit.is_slice() {
            return Ok(());
        }
        let loaded = Systemd::connect(unit.user)
            .and_then(|mut s| s.unit_loaded(unit))
            .with_context(|| format!("--systemd-cgroup: look up unit {}", unit.unit))?;
        if loaded {
            return Err(Error::new(format!(
                "linux.cgroupsPath: systemd unit {} exists already (another container's?)",
                unit.unit
            )));
        }
        Ok(())
    }

    /// Creates the container's cgroup, before the init exists. systemd:
    /// nothing yet, a scope cannot exist without a process; [`Self::attach`]
    /// starts the unit.
    pub fn create(&self) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_create(),
            Driver::Systemd(_) => Ok(()),
        }
    }

    /// Applies linux.resources before the init exists. systemd: they are
    /// the unit's properties, so [`Self::attach`] applies them with it.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_apply(r),
            Driver::Systemd(_) => Ok(()),
        }
    }

    /// Once the first process of the container exists (the init, or the
    /// process that forks it), before it may go on. cgroupfs: nothing, the
    /// caller places the pid. systemd: starts the unit holding `pid` with
    /// the resources and `org.systemd.property.*` annotations of `spec`,
    /// then makes what systemd does not (v1 hierarchies it does not
    /// manage) and writes the resources to the files, as runc.
    pub fn attach(&self, pid: i32, spec: &Spec) -> Result<()> {
        let Driver::Systemd(unit) = &self.driver else {
            return Ok(());
        };
        let r = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        let mut p = props::from_resources(&r, self.mode == Mode::V2)?;
        let rules = devices::rules(r.devices().as_deref().unwrap_or(&[]))?;
        p.extend(sd_devices::properties(&rules, || {
            std::fs::read_to_string("/proc/devices")
        })?);
        p.extend(props::from_annotations(spec.annotations().as_ref())?);
        Systemd::connect(unit.user)
            .and_then(|mut s| s.start_unit(unit, pid, p))
            .with_context(|| format!("--systemd-cgroup: start unit {}", unit.unit))?;
        if self.mode != Mode::V2 || unit.is_slice() {
            // v1: cpuset, freezer, net_cls... are not systemd's.
            self.fs_create()?;
        }
        if unit.is_slice() || self.mode != Mode::V2 {
            // A slice unit takes no PIDs: the process joins through the
            // files, as runc does; so do the v1 hierarchies systemd does not
            // manage (the unit could not exist yet when create placed the
            // init, cgroups/place.rs).
            self.add_pid(pid)?;
        }
        self.fs_apply(&r)
    }

    /// `kist update`: changes only what `r` holds; `all` is the container's
    /// whole linux.resources once `r` is merged in.
    pub fn update(&self, r: &LinuxResources, all: &LinuxResources) -> Result<()> {
        match &self.driver {
            Driver::Cgroupfs => self.fs_update(r),
            Driver::Systemd(unit) => {
                let mut p = props::from_resources(r, self.mode == Mode::V2)?;
                // device rules only if given, as through the files
                if let Some(d) = r.devices() {
                    let rules = devices::rules(d)?;
                    p.extend(sd_devices::properties(&rules, || {
                        std::fs::read_to_string("/proc/devices")
                    })?);
                }
                let v1_devices = self.v1_path("devices");
                self.frozen_if_v1_devices(|| {
                    Systemd::connect(unit.user)?.set_properties(unit, p)?;
                    // v1: systemd has just rewritten the devices list from
                    // its DeviceAllow=, which lacks the rules it has no form
                    // for (a wildcard major, deny exceptions): the whole
                    // list again (the given one if any), as runc's Set does,
                    // before the container runs again.
                    match v1_devices {
                        Some(dir) => {
                            let rules = devices::rules(all.devices().as_deref().unwrap_or(&[]))?;
                            super::v1::devices::apply(dir, &rules)
                        }
                        None => Ok(()),
                    }
                })?;
                if v1_devices.is_some() && r.devices().is_some() {
                    let mut rest = r.clone();
                    rest.set_devices(None);
                    return self.fs_update(&rest);
                }
                self.fs_update(r)
            }
        }
    }

    /// Runs `f` (a change of the unit's properties) with the container
    /// frozen when its device rules are in a v1 devices hierarchy: systemd
    /// then re-applies every cgroup attribute of the unit, device rules
    /// included, which on v1 means `devices.deny a` first and the allow
    /// rules one by one after, and a process of the container opening a
    /// device in that gap gets EPERM. runc 1.1 freezes too. A container
    /// that cannot be frozen is changed as it is, with a warning (as runc).
    fn frozen_if_v1_devices(&self, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let gap = self.v1_path("devices").is_some() && !self.is_frozen().unwrap_or(true);
        let froze = gap
            && match self.freeze() {
                Ok(()) => true,
                Err(e) => {
                    crate::logger::warn(&format!(
                        "update: cannot freeze the container around its systemd unit's device rules: {e}"
                    ));
                    false
                }
            };
        let res = f();
        if froze {
            self.thaw().map_err(|e| e.context("update: thaw"))?;
        }
        res
    }

    /// Destroys the container's cgroup once its processes are gone; what is
    /// already gone is fine. systemd: the unit is stopped and waited for.
    pub fn remove(&self) -> Result<()> {
        let stopped = match &self.driver {
            Driver::Cgroupfs => Ok(()),
            Driver::Systemd(unit) => Systemd::connect(unit.user)
                .and_then(|mut s| s.stop_unit(unit))
                .with_context(|| format!("stop systemd unit {}", unit.unit)),
        };
        // What kist made itself goes even when systemd cannot be reached.
        let removed = self.fs_remove();
        stopped.and(removed)
    }
}
