//! kist: an OCI container runtime with runc's command line.
//!
//! Map: `cli` (flags) → `commands/*` (one per subcommand) → the `kist`
//! library (src/lib.rs). See docs/architecture.md.

mod cli;
mod commands;

// The library's modules under their old names, so that `crate::state` and
// friends in the command modules resolve as before.
use kist::{
    bail, cgroups, config, container, error, image, lifecycle, logger, mountinfo, namespaces,
    process, rootfs, seccomp, signal, state, timing, OCI_VERSION,
};

use clap::Parser;
use cli::{Cli, Command};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() {
    let cli = Cli::parse();
    let preserved = match &cli.command {
        Some(Command::Create(a)) => a.preserve_fds,
        Some(Command::Run(a)) => a.create.preserve_fds,
        Some(Command::Exec(a)) => a.preserve_fds,
        _ => 0,
    };
    let first_free = 3 + process::fds::listen_fds().saturating_add(preserved);
    logger::init(
        cli.log.clone(),
        cli.log_format,
        cli.debug,
        i32::try_from(first_free).unwrap_or(i32::MAX),
    );
    // runc's exec exits 255 when it fails before the process ran, so that
    // callers tell "the runtime failed" from "the process exited 1".
    match &cli.command {
        Some(Command::Create(_)) => timing::begin("create"),
        Some(Command::Run(_)) => timing::begin("run"),
        Some(Command::Exec(_)) => timing::begin("exec"),
        Some(Command::Start(_)) => timing::begin("start"),
        _ => {}
    }
    let fail_code = match cli.command {
        Some(Command::Exec(_)) => 255,
        _ => 1,
    };
    let res = dispatch(cli);
    // What ran if the command failed (a no-op once reported).
    timing::report();
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = e.to_string();
            if logger::to_file() {
                logger::error(&msg);
            }
            eprintln!("kist: {msg}");
            std::process::exit(fail_code);
        }
    }
}

fn dispatch(cli: Cli) -> error::Result<i32> {
    if cli.version {
        println!("kist version {VERSION}");
        println!("commit: {}", env!("KIST_COMMIT"));
        println!("spec: {OCI_VERSION}");
        return Ok(0);
    }
    kist::rootless::set_flag(cli.rootless.as_deref())?;
    let root = cli
        .root
        .clone()
        .unwrap_or_else(kist::rootless::default_root);
    let root = root.as_path();
    let Some(cmd) = cli.command else {
        bail!("no command given; see kist --help");
    };
    match cmd {
        Command::Create(a) => commands::create::run(root, &a, cli.systemd_cgroup).map(|_| 0),
        Command::Start(a) => commands::start::run(root, &a.id).map(|_| 0),
        Command::Run(a) => commands::run::run(root, &a, cli.systemd_cgroup),
        Command::State(a) => commands::state::run(root, &a.id).map(|_| 0),
        Command::Kill(a) => commands::kill::run(root, &a).map(|_| 0),
        Command::Delete(a) => commands::delete::run(root, &a).map(|_| 0),
        Command::List(a) => commands::list::run(root, &a).map(|_| 0),
        Command::Spec(a) => commands::spec::run(&a).map(|_| 0),
        Command::Features => commands::features::run().map(|_| 0),
        Command::Exec(a) => commands::exec::run(root, &a),
        Command::Pause(a) => commands::pause::run(root, &a.id).map(|_| 0),
        Command::Resume(a) => commands::resume::run(root, &a.id).map(|_| 0),
        Command::Ps(a) => commands::ps::run(root, &a).map(|_| 0),
        Command::Update(a) => commands::update::run(root, &a).map(|_| 0),
        Command::Events(a) => commands::events::run(root, &a).map(|_| 0),
        Command::Check(a) => commands::check::run(&a),
        Command::Bundle(a) => commands::bundle::run(root, &a).map(|_| 0),
        Command::Completion(a) => commands::completion::completion(a.shell).map(|_| 0),
        Command::Man(a) => commands::completion::man(&a.dir).map(|_| 0),
    }
}
