//! cgroup2 freezer: cgroup.freeze, completion seen in cgroup.events.

use crate::cgroups::fsio;
use crate::error::{Error, Result};
use std::path::Path;
use std::time::Duration;

fn frozen_event(dir: &Path) -> Result<bool> {
    Ok(fsio::kv_get(&dir.join("cgroup.events"), "frozen")? == Some(1))
}

pub fn freeze(dir: &Path) -> Result<()> {
    fsio::write("freeze", &dir.join("cgroup.freeze"), "1")?;
    // The write returns before every task has stopped; "frozen 1" in
    // cgroup.events says they have. Give up after about 2 s, thawed again.
    for _ in 0..400 {
        if frozen_event(dir)? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = fsio::write("freeze", &dir.join("cgroup.freeze"), "0");
    Err(Error::new(format!(
        "freeze: {} did not report frozen within 2 s",
        dir.join("cgroup.events").display()
    )))
}

pub fn thaw(dir: &Path) -> Result<()> {
    fsio::write("thaw", &dir.join("cgroup.freeze"), "0")
}

pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fsio::read(&dir.join("cgroup.freeze"))?.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::{freeze, is_frozen, thaw};
    use crate::cgroups::testutil::FakeDir;

    #[test]
    fn freeze_waits_for_the_event() {
        let d = FakeDir::new(&[
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ]);
        assert!(!is_frozen(&d.0).unwrap());
        freeze(&d.0).unwrap();
        assert!(is_frozen(&d.0).unwrap());
        thaw(&d.0).unwrap();
        assert!(!is_frozen(&d.0).unwrap());
        // never reported frozen: an error after ~2 s, thawed again
        let d = FakeDir::new(&[("cgroup.freeze", "0"), ("cgroup.events", "frozen 0\n")]);
        let e = freeze(&d.0).unwrap_err();
        assert!(e.to_string().contains("did not report frozen"), "{e}");
        assert!(!is_frozen(&d.0).unwrap());
    }
}
