//! v1 freezer: freezer.state FROZEN / THAWED.

use crate::cgroups::fsio;
use crate::error::{Error, Result};
use std::path::Path;
use std::time::Duration;

pub fn freeze(dir: &Path) -> Result<()> {
    let state = dir.join("freezer.state");
    // FREEZING can persist when a task is in an uninterruptible sleep or new
    // tasks keep arriving; re-asking helps the kernel finish (runc does the
    // same). Give up after about 2 s, thawed again.
    for i in 0..400 {
        if i % 25 == 0 {
            fsio::write("freeze", &state, "FROZEN")?;
        }
        if fsio::read(&state)?.trim() == "FROZEN" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = fsio::write("freeze", &state, "THAWED");
    Err(Error::new(format!(
        "freeze: {} stayed FREEZING for 2 s",
        state.display()
    )))
}

pub fn thaw(dir: &Path) -> Result<()> {
    fsio::write("thaw", &dir.join("freezer.state"), "THAWED")
}

pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fsio::read(&dir.join("freezer.state"))?.trim() == "FROZEN")
}

#[cfg(test)]
mod tests {
    use super::{freeze, is_frozen, thaw};
    use crate::cgroups::testutil::FakeDir;

    #[test]
    fn state_file() {
        let d = FakeDir::new(&[("freezer.state", "THAWED")]);
        assert!(!is_frozen(&d.0).unwrap());
        // a plain file reads back FROZEN at once
        freeze(&d.0).unwrap();
        assert!(is_frozen(&d.0).unwrap());
        thaw(&d.0).unwrap();
        assert!(!is_frozen(&d.0).unwrap());
        let gone = FakeDir::new(&[]);
        assert!(thaw(&gone.0)
            .unwrap_err()
            .to_string()
            .contains("freezer.state"));
    }
}
