//! `exec --cgroup [CONTROLLER[,CONTROLLER...]:]PATH`: an exec'd process goes
//! into an existing sub-cgroup of the container's, in every hierarchy or only
//! in the named controllers' (runc's format; it may be given several times).

use super::{path, Cgroup};
use crate::error::{Error, Result};
use std::path::PathBuf;

impl Cgroup {
    /// The container's cgroup with each `--cgroup` argument applied. The
    /// sub-path is confined below the container's cgroup and must exist.
    pub fn sub(&self, args: &[String]) -> Result<Cgroup> {
        let mut out = self.clone();
        for arg in args {
            let (controllers, rel) = match arg.split_once(':') {
                Some((c, p)) => (Some(c.split(',').collect::<Vec<_>>()), p),
                None => (None, arg.as_str()),
            };
            let rel = path::clean_rooted(rel);
            if rel.is_empty() {
                return Err(Error::new(format!(
                    "--cgroup {arg}: the path must name a sub-cgroup of the container's"
                )));
            }
            let wants = |names: &[String]| match &controllers {
                None => true,
                Some(cs) => cs.iter().any(|c| names.iter().any(|n| n == c)),
            };
            let mut matched = false;
            for d in out.v1.iter_mut() {
                if wants(&d.controllers) {
                    d.path = below(&d.path, &rel, arg)?;
                    matched = true;
                }
            }
            if let Some(u) = out.unified.as_mut() {
                // The unified hierarchy has no controller name of its own: an
                // unqualified path selects it, and on a pure v2 host (where it
                // holds every controller) so does any.
                if controllers.is_none() || self.v1.is_empty() {
                    u.path = below(&u.path, &rel, arg)?;
                    matched = true;
                }
            }
            if !matched {
                return Err(Error::new(format!(
                    "--cgroup {arg}: no hierarchy of the container has that controller"
                )));
            }
        }
        Ok(out)
    }
}

fn below(base: &std::path::Path, rel: &str, arg: &str) -> Result<PathBuf> {
    let p = base.join(rel);
    if !p.is_dir() {
        return Err(Error::new(format!(
            "--cgroup {arg}: {} does not exist (the sub-cgroup must already exist)",
            p.display()
        )));
    }
    Ok(p)
}
