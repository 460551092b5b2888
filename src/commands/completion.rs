//! Shell completions and man pages, generated from the clap definitions in
//! cli.rs so they can never drift from the real flags (`make install` puts
//! them in place). Hidden subcommands: runc has no such commands.

use crate::cli::{Cli, Shell};
use crate::error::{Error, Result};
use clap::CommandFactory;
use std::path::Path;

pub fn completion(shell: Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "kist", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "kist", &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "kist", &mut out)
        }
    }
    Ok(())
}

/// `kist.8` and `kist-<subcommand>.8` for every visible subcommand.
pub fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))?;
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));
    write_page(dir, "kist", cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("kist-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        write_page(dir, &name, sub)?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut buf)
        .map_err(|e| Error::io(format!("render the man page {name}"), e))?;
    let path = dir.join(format!("{name}.8"));
    std::fs::write(&path, buf).map_err(|e| Error::io(format!("write {}", path.display()), e))
}
