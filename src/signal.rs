//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `kill` or `9`.

use crate::error::{Error, Result};
use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::new(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| Error::new(format!("invalid signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for s in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse(s).ok(), Some(Signal::SIGKILL), "{s}");
        }
        assert_eq!(parse("term").ok(), Some(Signal::SIGTERM));
        for bad in ["", "SIGFOO", "0", "65", "-1", "9x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
