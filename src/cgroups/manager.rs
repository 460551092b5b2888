//! The cgroup manager seam: every lifecycle step that creates, configures
//! or destroys the container's cgroup goes through these methods, which
//! pick the driver recorded in the state.
//!
//! What does not depend on the driver stays on [`Cgroup`] itself: the
//! paths (computed once at create time and recorded), the freezer, the
//! process list, signals, stats and OOM events all read and write the
//! cgroup files, whoever created the directories (runc's systemd driver
//! does the same for everything systemd has no property for).

use super::Cgroup;
use crate::error::Result;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

/// Who owns the container's cgroup directories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "name")]
pub enum Driver {
    /// kist makes and removes the directories itself (runc's default).
    #[default]
    Cgroupfs,
}

impl Driver {
    pub fn is_cgroupfs(&self) -> bool {
        matches!(self, Driver::Cgroupfs)
    }
}

impl Cgroup {
    /// Creates the container's cgroup, before the init exists.
    pub fn create(&self) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_create(),
        }
    }

    /// Applies linux.resources at create time.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_apply(r),
        }
    }

    /// `kist update`: changes only what `r` holds.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_update(r),
        }
    }

    /// Destroys the container's cgroup once its processes are gone; what is
    /// already gone is fine.
    pub fn remove(&self) -> Result<()> {
        match self.driver {
            Driver::Cgroupfs => self.fs_remove(),
        }
    }
}
