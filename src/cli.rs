//! Command line, shaped like runc's: global flags before the subcommand, the
//! same subcommand names, flags and defaults, so engines can call kist as they
//! call runc.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "kist",
    about = "kist: an OCI container runtime (runc-compatible command line)",
    disable_version_flag = true,
    subcommand_required = false
)]
pub struct Cli {
    /// Directory for the storage of container state (use a tmpfs) [default: /run/kist, rootless: $XDG_RUNTIME_DIR/kist]
    #[arg(long, global = false)]
    pub root: Option<PathBuf>,
    /// Write log messages to this file instead of stderr
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Enable debug logging
    #[arg(long)]
    pub debug: bool,
    /// Use systemd for cgroups: linux.cgroupsPath is slice:prefix:name
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (auto: not uid 0, or uid 0 in a user namespace)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

pub use crate::logger::LogFormat;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(CreateArgs),
    /// Execute the user-defined process in a created container
    Start(IdArg),
    /// Create and run a container
    Run(RunArgs),
    /// Output the state of a container
    State(IdArg),
    /// Send a signal to the container's init process (default SIGTERM)
    Kill(KillArgs),
    /// Delete any resources held by the container
    Delete(DeleteArgs),
    /// List containers started by kist with the given root
    List(ListArgs),
    /// Create a new specification file (config.json)
    Spec(SpecArgs),
    /// Show the enabled features (JSON, per the runtime spec's features.md)
    Features,
    /// Execute a new process inside a running container
    Exec(Box<ExecArgs>),
    /// Suspend all processes of the container (cgroup freezer)
    Pause(IdArg),
    /// Resume all processes of a paused container
    Resume(IdArg),
    /// List the processes running inside a container
    Ps(PsArgs),
    /// Update the container's resource limits
    Update(Box<UpdateArgs>),
    /// Display container events (OOM, stats)
    Events(EventsArgs),
    /// Validate a bundle's config.json and rootfs without running anything
    Check(CheckArgs),
    /// Make a bundle from an OCI image (layout dir, oci-archive or docker-archive)
    Bundle(BundleArgs),
    /// Print a shell completion script (bash, zsh, fish) to stdout
    #[command(hide = true)]
    Completion(CompletionArgs),
    /// Write man pages (kist.8 and one per subcommand) into a directory
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Args, Debug, Default)]
pub struct ExecArgs {
    /// JSON file with an OCI `process` object (overrides the other process flags)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective, permitted and ambient sets
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Set no_new_privs
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// Pass N additional file descriptors (3 .. 3+N-1)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container's: [CONTROLLER[,..]:]PATH (repeatable)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Container id
    pub id: String,
    /// Command and arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Output format: table or json
    #[arg(short = 'f', long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Container id
    pub id: String,
    /// Options passed to ps(1) (table format only)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug, Default)]
#[command(allow_negative_numbers = true)]
pub struct UpdateArgs {
    /// JSON LinuxResources from a file, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g accepted)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Total memory + swap limit; -1 for unlimited
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Memory reservation (soft limit)
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit (v1, deprecated)
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit (v1)
    #[arg(long)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU realtime period in microseconds
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPUs to use (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids; -1 or 0 for unlimited
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema (not supported)
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported)
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Display the container's stats once, then exit
    #[arg(long)]
    pub stats: bool,
    /// Stats collection interval (e.g. 5s, 500ms)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// Container id
    pub id: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// File to write the process id of the container's init to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root (move the rootfs and chroot instead)
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors (3 .. 3+N-1) to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes in the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container if it is still running, then delete it
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format: table or json
    #[arg(short = 'f', long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Display only container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Output format: text or json
    #[arg(short = 'f', long, value_enum, default_value = "text")]
    pub format: LogFormat,
}

#[derive(Args, Debug)]
pub struct BundleArgs {
    /// Layer store (content-addressed, shared by bundles)
    #[arg(long, default_value = "/var/lib/kist")]
    pub store: PathBuf,
    /// Make DIR/rootfs a plain copy instead of an overlay mount
    #[arg(long, conflicts_with = "remove")]
    pub copy: bool,
    /// Set process.terminal in config.json
    #[arg(short = 't', long, conflicts_with = "remove")]
    pub tty: bool,
    /// Unmount and remove a bundle made by `kist bundle` (refused while a container of --root that is not stopped uses it)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["image", "dir"])]
    pub remove: Option<PathBuf>,
    /// OCI image layout directory (PATH[:TAG]), oci-archive or docker-archive tar
    #[arg(required_unless_present = "remove")]
    pub image: Option<String>,
    /// The bundle directory to make (must not exist or be empty)
    #[arg(required_unless_present = "remove")]
    pub dir: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages to (created if missing)
    pub dir: PathBuf,
}
