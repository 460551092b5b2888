use crate::cli::CreateArgs;
use crate::container::{self, CreateOptions};
use crate::error::Result;
use crate::process::terminal::Console;
use std::path::Path;

pub fn options<'a>(root: &'a Path, a: &'a CreateArgs, systemd_cgroup: bool) -> CreateOptions<'a> {
    CreateOptions {
        root,
        id: &a.id,
        bundle: a.bundle.as_deref().unwrap_or(Path::new("")),
        pid_file: a.pid_file.as_deref(),
        console: match a.console_socket.as_deref() {
            Some(p) => Console::Socket(p),
            None => Console::None,
        },
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        stdio: None,
        systemd_cgroup,
        start_now: false,
    }
}

pub fn run(root: &Path, a: &CreateArgs, systemd_cgroup: bool) -> Result<()> {
    container::create(&options(root, a, systemd_cgroup))?;
    Ok(())
}
