//! `kist bundle IMAGE DIR`: a bundle made from an image. The layers come
//! from the store (unpacked and verified once, see image/store.rs);
//! `DIR/rootfs` is an overlay mount over them with its own upper directory in
//! `DIR/.kist/` (or a plain copy with `--copy`), and `DIR/config.json` is
//! `kist spec`'s template filled from the image config as the image spec's
//! conversion rules say. `kist bundle --remove DIR` undoes all of it.

use crate::cli::BundleArgs;
use crate::error::{Context, Error, Result};
use crate::image::{flatten, source, store::Store};
use crate::state::{Container, Status};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

const META_DIR: &str = ".kist";
const META: &str = ".kist/bundle.json";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The annotation the image spec's conversion rules give `StopSignal`.
const STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";

pub fn run(root: &Path, a: &BundleArgs) -> Result<()> {
    if let Some(dir) = &a.remove {
        return remove(root, dir).context(format!("bundle --remove {}", dir.display()));
    }
    let (Some(image), Some(dir)) = (&a.image, &a.dir) else {
        return Err(Error::new("bundle: IMAGE and DIR are required"));
    };
    make(a, image, dir).context(format!("bundle {image} {}", dir.display()))
}

/// Undoes a half-made bundle when dropped armed.
struct Undo {
    dir: PathBuf,
    created_dir: bool,
    mounted: Option<PathBuf>,
    armed: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(m) = &self.mounted {
            if let Err(e) = umount2(m, MntFlags::empty()) {
                // Never delete through a mount that is still there.
                eprintln!("kist: bundle: unmount {}: {e}; left in place", m.display());
                return;
            }
        }
        if self.created_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            let _ = std::fs::remove_dir_all(self.dir.join("rootfs"));
            let _ = std::fs::remove_dir_all(self.dir.join(META_DIR));
            let _ = std::fs::remove_file(self.dir.join("config.json"));
        }
    }
}

fn make(a: &BundleArgs, image: &str, dir: &Path) -> Result<()> {
    // Everything that can be checked before anything is created.
    let img = source::resolve(image)?;
    let created_dir = match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::new(format!(
                    "{}: exists and is not empty",
                    dir.display()
                )));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
            true
        }
        Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("bundle {}", dir.display()))?;
    let mut undo = Undo {
        dir: dir.clone(),
        created_dir,
        mounted: None,
        armed: true,
    };

    let store = Store::open(&a.store)?;
    let layers = store.ensure(&img)?;
    let rootfs = dir.join("rootfs");
    let meta = dir.join(META_DIR);
    for d in [&meta, &rootfs] {
        std::fs::create_dir(d).with_context(|| format!("mkdir {}", d.display()))?;
    }
    // The upper layer holds the container's writes, set-uid files included.
    std::fs::set_permissions(&meta, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .with_context(|| format!("chmod {}", meta.display()))?;
    if a.copy {
        flatten::apply_all(&layers, &rootfs)?;
    } else {
        mount_overlay(&store, &img, &meta, &rootfs)?;
        undo.mounted = Some(rootfs.clone());
    }
    let config = config_from_image(&img.config, &rootfs, a.tty)?;
    let text = serde_json::to_string_pretty(&config).map_err(|e| Error::new(e.to_string()))?;
    let path = dir.join("config.json");
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    let record = json!({
        "image": image,
        "store": store.dir,
        "rootfs": if a.copy { "copy" } else { "overlay" },
        "layers": img.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
    });
    let path = dir.join(META);
    std::fs::write(&path, record.to_string())
        .with_context(|| format!("write {}", path.display()))?;
    undo.armed = false;
    Ok(())
}

/// overlayfs over the store's layers (top first), with the bundle's own
/// upper and work directories. The lower directories are given relative to
/// the store (mount(2) resolves them from the cwd) so that the options stay
/// within a page for images with many layers.
fn mount_overlay(store: &Store, img: &source::Image, meta: &Path, rootfs: &Path) -> Result<()> {
    let upper = meta.join("upper");
    let work = meta.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir(d).with_context(|| format!("mkdir {}", d.display()))?;
        let s = d.to_string_lossy();
        if s.contains([',', ':', '\\']) {
            return Err(Error::new(format!(
                "{}: overlayfs cannot take a path with ',', ':' or '\\' (use --copy)",
                d.display()
            )));
        }
    }
    let lower: Vec<String> = img
        .layers
        .iter()
        .rev()
        .map(|l| l.diff_id.hex.clone())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    // mount(2) reads at most a page of options; past that, the new mount
    // API takes the lower directories one by one (Linux 6.8's lowerdir+).
    if data.len() >= 4000 {
        return mount_many_layers(&store.dir.join("layers"), &lower, &upper, &work, rootfs);
    }
    let layers_dir = store.dir.join("layers");
    let cwd = std::fs::File::open(".").context("open the current directory")?;
    nix::unistd::chdir(&layers_dir).with_context(|| format!("chdir {}", layers_dir.display()))?;
    let r = mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .with_context(|| format!("mount overlay on {} ({data})", rootfs.display()));
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&cwd))
        .context("return to the current directory")?;
    r
}

fn mount_many_layers(
    layers: &Path,
    lower: &[String],
    upper: &Path,
    work: &Path,
    rootfs: &Path,
) -> Result<()> {
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::new(format!("{}: contains a NUL byte", p.display())))
    };
    let mut values = Vec::new();
    for l in lower {
        values.push((c"lowerdir+", cstr(&layers.join(l))?));
    }
    values.push((c"upperdir", cstr(upper)?));
    values.push((c"workdir", cstr(work)?));
    let opts: Vec<(&std::ffi::CStr, &std::ffi::CStr)> =
        values.iter().map(|(k, v)| (*k, v.as_c_str())).collect();
    crate::rootfs::mount_with_options(c"overlay", &opts, rootfs).map_err(|e| {
        let why = if e == nix::errno::Errno::EINVAL {
            " (a kernel before 6.8 takes no lowerdir+: use --copy)"
        } else {
            ""
        };
        Error::os(
            format!(
                "mount overlay of {} layers on {}{why}",
                lower.len(),
                rootfs.display()
            ),
            e,
        )
    })
}

/// `kist spec`'s template with the image config's Env, Entrypoint+Cmd,
/// WorkingDir, User, Labels and StopSignal.
fn config_from_image(image: &Value, rootfs: &Path, tty: bool) -> Result<Value> {
    let c = &image["config"];
    let mut v = super::spec::template();
    let strings = |x: &Value| -> Vec<String> {
        x.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut env = strings(&c["Env"]);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut args = strings(&c["Entrypoint"]);
    args.extend(strings(&c["Cmd"]));
    if args.is_empty() {
        eprintln!(
            "kist bundle: the image has neither Entrypoint nor Cmd: process.args is [\"sh\"]"
        );
        args.push("sh".into());
    }
    let cwd = match c["WorkingDir"].as_str() {
        Some(w) if !w.is_empty() => w.to_string(),
        _ => "/".to_string(),
    };
    let (uid, gid) =
        user(c["User"].as_str().unwrap_or_default(), rootfs).context("image config User")?;
    let p = &mut v["process"];
    p["terminal"] = json!(tty);
    p["env"] = json!(env);
    p["args"] = json!(args);
    p["cwd"] = json!(cwd);
    p["user"] = json!({"uid": uid, "gid": gid});
    // Each bundle has its own writable upper layer.
    v["root"]["readonly"] = json!(false);
    let mut annotations = serde_json::Map::new();
    if let Some(labels) = c["Labels"].as_object() {
        for (k, l) in labels {
            if let Some(s) = l.as_str() {
                annotations.insert(k.clone(), json!(s));
            }
        }
    }
    if let Some(s) = c["StopSignal"].as_str() {
        annotations.insert(STOP_SIGNAL.into(), json!(s));
    }
    if !annotations.is_empty() {
        v["annotations"] = Value::Object(annotations);
    }
    Ok(v)
}

/// `User` as `user`, `uid`, `user:group`, `uid:gid`...: names are looked up
/// in the image's /etc/passwd and /etc/group (read inside the rootfs).
fn user(spec: &str, rootfs: &Path) -> Result<(u32, u32)> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = table(rootfs, "/etc/passwd");
    let entry = passwd.iter().find(|f| {
        f.first().map(String::as_str) == Some(u) || f.get(2).map(String::as_str) == Some(u)
    });
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry.and_then(|f| f.get(2)?.parse().ok()).ok_or_else(|| {
            Error::new(format!(
                "{spec:?}: no user {u:?} in the image's /etc/passwd"
            ))
        })?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => table(rootfs, "/etc/group")
                .iter()
                .find(|f| f.first().map(String::as_str) == Some(g))
                .and_then(|f| f.get(2)?.parse().ok())
                .ok_or_else(|| {
                    Error::new(format!(
                        "{spec:?}: no group {g:?} in the image's /etc/group"
                    ))
                })?,
        },
        None => entry.and_then(|f| f.get(3)?.parse().ok()).unwrap_or(0),
    };
    Ok((uid, gid))
}

/// The colon-separated lines of a file of the image; empty when absent.
fn table(rootfs: &Path, path: &str) -> Vec<Vec<String>> {
    let mut text = String::new();
    if let Ok(f) = crate::rootfs::open_file_in(rootfs, Path::new(path)) {
        let _ = f.take(1 << 20).read_to_string(&mut text);
    }
    text.lines()
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

fn remove(root: &Path, dir: &Path) -> Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("bundle {}", dir.display()))?;
    if !dir.join(META).is_file() {
        return Err(Error::new(format!(
            "{}: not made by kist bundle (no {META}); not removing it",
            dir.display()
        )));
    }
    if let Some(id) = container_using(root, &dir) {
        return Err(Error::new(format!(
            "container {id} uses this bundle and is not stopped: delete it first"
        )));
    }
    let rootfs = dir.join("rootfs");
    let below = |mounts: &[crate::mountinfo::Entry]| -> Vec<PathBuf> {
        mounts
            .iter()
            .filter(|m| m.mount_point.starts_with(&dir))
            .map(|m| m.mount_point.clone())
            .collect()
    };
    let mounted = below(&crate::mountinfo::read()?);
    if let Some(other) = mounted.iter().find(|m| **m != rootfs) {
        return Err(Error::new(format!(
            "{} is mounted inside the bundle: unmount it first",
            other.display()
        )));
    }
    if !mounted.is_empty() {
        umount2(&rootfs, MntFlags::empty())
            .with_context(|| format!("unmount {}", rootfs.display()))?;
    }
    // remove_dir_all must never walk into a mount.
    if let Some(m) = below(&crate::mountinfo::read()?).first() {
        return Err(Error::new(format!("{} is still mounted", m.display())));
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))
}

/// A container of the state root `root` whose bundle is `dir` and that is
/// not stopped.
fn container_using(root: &Path, dir: &Path) -> Option<String> {
    let rd = std::fs::read_dir(root).ok()?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(c) = Container::open_dir(root, &name) else {
            continue;
        };
        let Ok(st) = c.load() else { continue };
        if st.bundle == dir && st.status(&c.dir) != Status::Stopped {
            return Some(st.id);
        }
    }
    None
}
