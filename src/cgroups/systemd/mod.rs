//! The systemd cgroup driver (`--systemd-cgroup`), as runc's
//! `libcontainer/cgroups/systemd`: the container's cgroup is a transient
//! unit (a scope holding the init, or a slice) created over D-Bus, with the
//! resources systemd can express as unit properties; the rest, and every
//! read (freezer, processes, stats, events), goes through the files of the
//! unit's cgroup like the cgroupfs driver.
//!
//! A scope needs a process to exist, so the unit is started once the init
//! (or the process that forks it) is cloned, in [`super::Cgroup::attach`];
//! before that the init waits in kist's own cgroup.

pub mod devices;
pub mod props;
pub mod unit;

pub use unit::Unit;

use crate::dbus::{self, prop, Call, Conn, Value};
use crate::error::{Context, Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// A connection to systemd's manager that receives `JobRemoved`.
pub struct Systemd {
    conn: Conn,
}

impl Systemd {
    /// The system instance, or with `user` the caller's own (rootless: see
    /// [`Conn::user`]).
    pub fn connect(user: bool) -> Result<Systemd> {
        let mut conn = if user { Conn::user()? } else { Conn::system()? };
        if conn.bus() == dbus::Bus::Daemon {
            // The bus daemon routes signals only to who asked for them.
            conn.call(&Call {
                destination: Some("org.freedesktop.DBus"),
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member: "AddMatch",
                args: &[Value::Str(format!(
                    "type='signal',sender='{DEST}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
                ))],
            })?;
        }
        let mut s = Systemd { conn };
        // systemd emits job signals only while a client is subscribed.
        s.manager("Subscribe", &[])?;
        Ok(s)
    }

    fn manager(&mut self, member: &str, args: &[Value]) -> Result<Vec<Value>> {
        self.conn.call(&Call {
            destination: (self.conn.bus() == dbus::Bus::Daemon).then_some(DEST),
            path: PATH,
            interface: MANAGER,
            member,
            args,
        })
    }

    /// Waits for the job a call returned to finish; `done` is success.
    fn wait_job(&mut self, what: &str, reply: &[Value]) -> Result<()> {
        let job = reply
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| Error::new(format!("{what}: systemd returned no job")))?
            .to_string();
        let m = self.conn.wait_signal(|m| {
            m.member.as_deref() == Some("JobRemoved")
                && m.body.get(1).and_then(Value::as_str) == Some(job.as_str())
        })?;
        match m.body.get(3).and_then(Value::as_str) {
            Some("done") => Ok(()),
            r => Err(Error::new(format!(
                "{what}: systemd job {job} finished with result {:?}",
                r.unwrap_or("?")
            ))),
        }
    }

    /// Starts the transient unit with `props` and waits for it (mode
    /// `replace`, as runc).
    pub fn start_unit(&mut self, unit: &Unit, pid: i32, mut extra: Vec<Value>) -> Result<()> {
        let what = "StartTransientUnit";
        let mut p = vec![
            prop(
                "Description",
                Value::Str(format!("kist container {}", unit.unit)),
            ),
            prop("DefaultDependencies", Value::Bool(false)),
        ];
        if unit.is_slice() {
            // A slice's parent comes from its name; Wants= keeps it started.
            p.push(prop(
                "Wants",
                Value::Array("s".into(), vec![Value::Str(unit.slice.clone())]),
            ));
        } else {
            p.push(prop("Slice", Value::Str(unit.slice.clone())));
            p.push(prop("Delegate", Value::Bool(true)));
            p.push(prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(pid as u32)]),
            ));
        }
        for a in ["Memory", "CPU", "Tasks"] {
            p.push(prop(&format!("{a}Accounting"), Value::Bool(true)));
        }
        p.append(&mut extra);
        let reply = self.manager(
            "StartTransientUnit",
            &[
                Value::Str(unit.unit.clone()),
                Value::Str("replace".into()),
                Value::Array("(sv)".into(), p),
                Value::Array("(sa(sv))".into(), vec![]),
            ],
        )?;
        self.wait_job(what, &reply)
    }

    /// Stops the unit and waits until it is gone; a unit that does not
    /// exist (never started, or stopped already) is fine.
    pub fn stop_unit(&mut self, unit: &Unit) -> Result<()> {
        match self.manager(
            "StopUnit",
            &[Value::Str(unit.unit.clone()), Value::Str("replace".into())],
        ) {
            Ok(reply) => self.wait_job("StopUnit", &reply)?,
            Err(e) if e.to_string().contains("NoSuchUnit") => {}
            Err(e) => return Err(e),
        }
        // A failed transient unit would stay loaded: forget it, as runc.
        let _ = self.manager("ResetFailedUnit", &[Value::Str(unit.unit.clone())]);
        Ok(())
    }

    /// Changes properties of the running unit (runtime only, as runc).
    pub fn set_properties(&mut self, unit: &Unit, props: Vec<Value>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager(
            "SetUnitProperties",
            &[
                Value::Str(unit.unit.clone()),
                Value::Bool(true),
                Value::Array("(sv)".into(), props),
            ],
        )
        .with_context(|| format!("update systemd unit {}", unit.unit))
        .map(|_| ())
    }

    /// The manager's own cgroup: `/` for the system instance, typically
    /// `/user.slice/user-UID.slice/user@UID.service` for a user's, whose
    /// slices and units live below it.
    pub fn control_group(&mut self) -> Result<String> {
        let reply = self.conn.call(&Call {
            destination: (self.conn.bus() == dbus::Bus::Daemon).then_some(DEST),
            path: PATH,
            interface: "org.freedesktop.DBus.Properties",
            member: "Get",
            args: &[
                Value::Str(MANAGER.into()),
                Value::Str("ControlGroup".into()),
            ],
        })?;
        match reply.first() {
            Some(Value::Variant(v)) => match v.as_str() {
                Some(cg) if cg.starts_with('/') => Ok(cg.to_string()),
                // an instance not yet fully started reports ""
                _ => Err(Error::new(format!(
                    "systemd reported no cgroup of its own ({v:?})"
                ))),
            },
            r => Err(Error::new(format!(
                "Get ControlGroup: unexpected reply {r:?}"
            ))),
        }
    }

    /// Whether the unit is loaded (running, or stopped but not yet
    /// garbage-collected).
    pub fn unit_loaded(&mut self, unit: &Unit) -> Result<bool> {
        match self.manager("GetUnit", &[Value::Str(unit.unit.clone())]) {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("NoSuchUnit") => Ok(false),
            Err(e) => Err(e),
        }
    }
}
