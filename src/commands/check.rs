//! `kist check`: validate a bundle offline, reporting every problem with the
//! config field it is about, through the same parsing and checks `create`
//! uses (config.rs, namespaces, sysctl, capabilities, seccomp, the rootfs
//! path resolution) plus what only the rootfs can tell (is `args[0]` there).

use crate::cli::{CheckArgs, LogFormat};
use crate::error::{Error, Result};
use crate::namespaces::Plan;
use crate::process::{capabilities, exec};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::path::{Component, Path, PathBuf};

struct Problem {
    /// `process.args[0]`, `linux.namespaces[2]`...; empty for the document.
    field: String,
    /// The whole message, starting with the field.
    message: String,
}

impl Problem {
    fn new(field: impl Into<String>, msg: impl std::fmt::Display) -> Problem {
        let field = field.into();
        let message = if field.is_empty() {
            msg.to_string()
        } else {
            format!("{field}: {msg}")
        };
        Problem { field, message }
    }

    /// The runtime's errors start with the field they are about
    /// (`process.cwd relative: must be...`): take it from there.
    fn from_error(e: &Error) -> Problem {
        let message = e.to_string();
        let head = message.split(':').next().unwrap_or_default();
        let first = head.split(' ').next().unwrap_or_default();
        let is_field = first.starts_with(|c: char| c.is_ascii_lowercase())
            && first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._[]".contains(c));
        Problem {
            field: if is_field {
                first.to_string()
            } else {
                String::new()
            },
            message,
        }
    }
}

pub fn run(a: &CheckArgs) -> Result<i32> {
    let dir = a.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    let mut out = Vec::new();
    match crate::config::read_config(&path) {
        Err(e) => out.push(Problem::new("", e)),
        Ok(data) => {
            let (spec, faults) = crate::config::parse_all(&data);
            out.extend(faults.into_iter().map(|(f, m)| Problem::new(f, m)));
            if let Some(spec) = spec {
                let mut more = Vec::new();
                if let Err(e) = crate::config::check_kernel_capabilities(&spec, &data) {
                    more.push(Problem::from_error(&e));
                }
                check_spec(&spec, &dir, &mut more);
                // A field that did not parse was stood in for: what the
                // checks say about the stand-in is noise.
                more.retain(|p| !out.iter().any(|f| is_within(&p.field, &f.field)));
                out.extend(more);
            }
        }
    }
    report(&path, &out, a.format)?;
    Ok(if out.is_empty() { 0 } else { 1 })
}

fn is_within(field: &str, parent: &str) -> bool {
    !parent.is_empty()
        && field
            .strip_prefix(parent)
            .is_some_and(|r| r.is_empty() || r.starts_with(['.', '[']))
}

fn report(path: &Path, problems: &[Problem], format: LogFormat) -> Result<()> {
    if format == LogFormat::Json {
        let list: Vec<_> = problems
            .iter()
            .map(|p| serde_json::json!({"field": p.field, "message": p.message}))
            .collect();
        let v = serde_json::json!({
            "config": path,
            "valid": problems.is_empty(),
            "problems": list,
        });
        println!("{v}");
    } else if problems.is_empty() {
        println!("{}: ok", path.display());
    } else {
        for p in problems {
            println!("{}", p.message);
        }
        eprintln!(
            "kist: {}: {} problem{}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn check_spec(spec: &Spec, dir: &Path, out: &mut Vec<Problem>) {
    let mut push = |r: Result<()>| {
        if let Err(e) = r {
            out.push(Problem::from_error(&e));
        }
    };
    for e in crate::config::problems(spec) {
        push(Err(e));
    }
    push(Plan::from_spec(spec).map(|_| ()));
    push(crate::rootfs::validate_sysctl(spec));
    if let Some(c) = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
    {
        push(capabilities::resolve(c).map(|_| ()));
    }
    check_seccomp(spec, out);
    check_user_ids(spec, out);
    check_hooks(spec, out);
    let Some(root) = spec.root() else {
        out.push(Problem::new("root", "missing"));
        return;
    };
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        out.push(Problem::new(
            "root.path",
            format!("{}: not a directory", rootfs.display()),
        ));
        return;
    }
    check_in_rootfs(spec, &rootfs, out);
}

/// The seccomp compiler stops at the first fault; each rule is compiled on
/// its own (with the profile's other fields) to find them all.
fn check_seccomp(spec: &Spec, out: &mut Vec<Problem>) {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return;
    };
    if crate::seccomp::compile(s).is_ok() {
        return;
    }
    let rules = s.syscalls().clone().unwrap_or_default();
    let mut base = s.clone();
    base.set_syscalls(None);
    if let Err(e) = crate::seccomp::compile(&base) {
        out.push(Problem::from_error(&e));
        return;
    }
    for (i, rule) in rules.into_iter().enumerate() {
        let mut one = s.clone();
        one.set_syscalls(Some(vec![rule]));
        if let Err(e) = crate::seccomp::compile(&one) {
            let msg = e.to_string().replacen(
                "linux.seccomp.syscalls[0]",
                &format!("linux.seccomp.syscalls[{i}]"),
                1,
            );
            out.push(Problem::from_error(&Error::new(msg)));
        }
    }
}

/// With a new user namespace, the process's ids must be mapped in it.
fn check_user_ids(spec: &Spec, out: &mut Vec<Problem>) {
    let Some(linux) = spec.linux() else { return };
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if !new_userns {
        return;
    }
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    for (field, maps) in [("linux.uidMappings", &uids), ("linux.gidMappings", &gids)] {
        if maps.is_empty() {
            out.push(Problem::new(field, "a new user namespace needs mappings"));
        }
    }
    let Some(p) = spec.process() else { return };
    let mapped = |maps: &[LinuxIdMapping], id: u32| {
        maps.is_empty()
            || maps.iter().any(|m| {
                id >= m.container_id() && (id as u64) < m.container_id() as u64 + m.size() as u64
            })
    };
    let u = p.user();
    if !mapped(&uids, u.uid()) {
        out.push(Problem::new(
            "process.user.uid",
            format!("{} is not mapped in linux.uidMappings", u.uid()),
        ));
    }
    if !mapped(&gids, u.gid()) {
        out.push(Problem::new(
            "process.user.gid",
            format!("{} is not mapped in linux.gidMappings", u.gid()),
        ));
    }
    for (i, g) in u.additional_gids().iter().flatten().enumerate() {
        if !mapped(&gids, *g) {
            out.push(Problem::new(
                format!("process.user.additionalGids[{i}]"),
                format!("{g} is not mapped in linux.gidMappings"),
            ));
        }
    }
}

/// Hooks run on the host: their paths must be absolute executables there.
#[allow(deprecated)]
fn check_hooks(spec: &Spec, out: &mut Vec<Problem>) {
    let Some(h) = spec.hooks() else { return };
    let kinds = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (kind, list) in kinds {
        // createContainer and startContainer paths resolve in the container.
        let on_host = !matches!(kind, "createContainer" | "startContainer");
        for (i, hook) in list.iter().flatten().enumerate() {
            let field = format!("hooks.{kind}[{i}].path");
            let p = hook.path();
            if !p.is_absolute() {
                out.push(Problem::new(
                    field,
                    format!("{}: must be absolute", p.display()),
                ));
            } else if on_host {
                let r = std::fs::metadata(p)
                    .map_err(|e| Error::io("stat", e))
                    .and_then(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        exec::check_mode(m.is_dir(), m.permissions().mode())
                    });
                if let Err(e) = r {
                    out.push(Problem::new(field, format!("{}: {e}", p.display())));
                }
            }
        }
    }
}

fn check_in_rootfs(spec: &Spec, rootfs: &Path, out: &mut Vec<Problem>) {
    let is_exec = |p: &Path| -> Result<()> {
        let st = crate::rootfs::stat_in(rootfs, p)
            .map_err(|e| Error::os(format!("{} in {}", p.display(), rootfs.display()), e))?;
        exec::check_mode(st.st_mode & libc::S_IFMT == libc::S_IFDIR, st.st_mode)
    };
    if let Some(p) = spec.process() {
        if let Some(arg0) = p.args().as_ref().and_then(|a| a.first()) {
            let env = p.env().clone().unwrap_or_default();
            if let Err(e) = exec::resolve_with(arg0, &env, is_exec) {
                out.push(Problem::from_error(&e));
            }
        }
        if p.cwd().is_absolute() {
            if let Ok(st) = crate::rootfs::stat_in(rootfs, p.cwd()) {
                if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    out.push(Problem::new(
                        "process.cwd",
                        format!("{}: not a directory in the rootfs", p.cwd().display()),
                    ));
                }
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let field = format!("mounts[{i}].destination");
        let d = m.destination();
        if !d.is_absolute() {
            out.push(Problem::new(
                field,
                format!("{}: must be an absolute path", d.display()),
            ));
        } else if climbs_above_root(d) {
            out.push(Problem::new(
                field,
                format!("{}: `..` climbs above the container's /", d.display()),
            ));
        } else if let Ok(true) = crate::rootfs::leaves_root(rootfs, d) {
            out.push(Problem::new(
                field,
                format!(
                    "{}: a symlink in the rootfs points out of it (the runtime would mount \
                     inside the rootfs instead, which is probably not what is meant)",
                    d.display()
                ),
            ));
        }
    }
}

fn climbs_above_root(p: &Path) -> bool {
    let mut depth = 0i32;
    for c in p.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}
