//! Per-phase timings for the `--debug` log: `create`, `run`, `exec` and the
//! container init each log one line naming every step they went through with
//! the microseconds it took, e.g.
//! `create phases (µs): load config=210, cgroup create=95, ..., total=3120`.
//!
//! Free when `--debug` is off: `mark` is one relaxed load of a flag, with no
//! clock read and no allocation. The record is per process; the init, a
//! fork of the runtime, starts its own with `begin`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

struct Record {
    what: &'static str,
    start: Instant,
    last: Instant,
    steps: Vec<(&'static str, u128)>,
}

static RECORD: Mutex<Option<Record>> = Mutex::new(None);

/// Called once by the logger set-up with `--debug`.
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn with(f: impl FnOnce(&mut Option<Record>)) {
    // Single-threaded; a poisoned lock only means an earlier panic, and
    // timings are never worth failing for.
    let mut g = RECORD.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

/// Starts (or restarts, in a forked child) the record of `what`.
pub fn begin(what: &'static str) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let now = Instant::now();
    with(|r| {
        *r = Some(Record {
            what,
            start: now,
            last: now,
            steps: Vec::with_capacity(24),
        })
    });
}

/// The step that just ended: the time since the previous mark is its.
#[inline]
pub fn mark(step: &'static str) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let now = Instant::now();
    with(|r| {
        if let Some(r) = r.as_mut() {
            r.steps.push((step, now.duration_since(r.last).as_micros()));
            r.last = now;
        }
    });
}

/// Logs the record as one debug line and ends it.
pub fn report() {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let mut line = None;
    with(|r| {
        if let Some(r) = r.take() {
            line = Some(format_line(&r, Instant::now()));
        }
    });
    if let Some(l) = line {
        crate::logger::debug(&l);
    }
}

fn format_line(r: &Record, now: Instant) -> String {
    let mut s = format!("{} phases (µs):", r.what);
    for (i, (step, us)) in r.steps.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        s.push_str(&format!("{sep}{step}={us}"));
    }
    s.push_str(&format!(
        "{}total={}",
        if r.steps.is_empty() { " " } else { ", " },
        now.duration_since(r.start).as_micros()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_names_each_step_and_the_total() {
        let t0 = Instant::now();
        let r = Record {
            what: "create",
            start: t0,
            last: t0,
            steps: vec![("load config", 210), ("cgroup", 95)],
        };
        let l = format_line(&r, t0);
        assert_eq!(l, "create phases (µs): load config=210, cgroup=95, total=0");
    }

    #[test]
    fn off_records_nothing() {
        // ON is false in unit tests unless enabled: mark must not create a record.
        if !ON.load(Ordering::Relaxed) {
            mark("x");
            with(|r| assert!(r.is_none()));
        }
    }
}
