//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `kill` or `9`;
//! `0` (no signal, a liveness probe, as runc accepts) is `None`.

use crate::error::{Error, Result};
use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse(s: &str) -> Result<Option<Signal>> {
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n)
            .map(Some)
            .map_err(|_| Error::new(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name)
        .map(Some)
        .map_err(|_| Error::new(format!("invalid signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for s in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse(s).ok(), Some(Some(Signal::SIGKILL)), "{s}");
        }
        assert_eq!(parse("term").ok(), Some(Some(Signal::SIGTERM)));
        assert_eq!(parse("0").ok(), Some(None));
        for bad in ["", "SIGFOO", "65", "-1", "9x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
