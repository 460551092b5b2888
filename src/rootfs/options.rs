//! Parsing of fstab-style mount options into mount(2) flags, propagation
//! changes, recursive mount_setattr attributes and filesystem data, with the
//! same vocabulary and semantics as runc.

use super::sys::MountAttr;
use libc::c_ulong;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// mount(2) flags.
    pub flags: c_ulong,
    /// Flags explicitly cleared by an option (`rw`, `suid`, ...); a bind
    /// mount is remounted when any flag was set or cleared.
    pub cleared: c_ulong,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<c_ulong>,
    /// Recursive attributes (rro, rnosuid, ...) for mount_setattr(AT_RECURSIVE).
    pub rec_attr: MountAttr,
    /// Unknown options, handed to the filesystem as data, comma-joined.
    pub data: Vec<String>,
    /// `idmap` / `ridmap` were requested.
    pub idmap: bool,
    /// `ridmap`: the id mapping applies to every mount of an rbind tree,
    /// not only its top.
    pub ridmap: bool,
    /// runc's `tmpcopyup` extension: copy the underlying directory's content
    /// into a freshly mounted tmpfs.
    pub tmpcopyup: bool,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
    pub fn is_rbind(&self) -> bool {
        self.is_bind() && self.flags & libc::MS_REC != 0
    }
    pub fn data(&self) -> String {
        self.data.join(",")
    }
}

/// Plain mount flags: (name, sets the flag?, flag).
const FLAGS: &[(&str, bool, c_ulong)] = &[
    ("defaults", true, 0),
    ("ro", true, libc::MS_RDONLY),
    ("rw", false, libc::MS_RDONLY),
    ("nosuid", true, libc::MS_NOSUID),
    ("suid", false, libc::MS_NOSUID),
    ("nodev", true, libc::MS_NODEV),
    ("dev", false, libc::MS_NODEV),
    ("noexec", true, libc::MS_NOEXEC),
    ("exec", false, libc::MS_NOEXEC),
    ("sync", true, libc::MS_SYNCHRONOUS),
    ("async", false, libc::MS_SYNCHRONOUS),
    ("dirsync", true, libc::MS_DIRSYNC),
    ("remount", true, libc::MS_REMOUNT),
    ("mand", true, libc::MS_MANDLOCK),
    ("nomand", false, libc::MS_MANDLOCK),
    ("atime", false, libc::MS_NOATIME),
    ("noatime", true, libc::MS_NOATIME),
    ("diratime", false, libc::MS_NODIRATIME),
    ("nodiratime", true, libc::MS_NODIRATIME),
    ("relatime", true, libc::MS_RELATIME),
    ("norelatime", false, libc::MS_RELATIME),
    ("strictatime", true, libc::MS_STRICTATIME),
    ("nostrictatime", false, libc::MS_STRICTATIME),
    ("bind", true, libc::MS_BIND),
    ("rbind", true, libc::MS_BIND | libc::MS_REC),
    ("lazytime", true, libc::MS_LAZYTIME),
    ("nolazytime", false, libc::MS_LAZYTIME),
    ("silent", true, libc::MS_SILENT),
    ("loud", false, libc::MS_SILENT),
    ("iversion", true, libc::MS_I_VERSION),
    ("noiversion", false, libc::MS_I_VERSION),
    ("acl", true, libc::MS_POSIXACL),
    ("noacl", false, libc::MS_POSIXACL),
    ("nosymfollow", true, libc::MS_NOSYMFOLLOW),
    ("symfollow", false, libc::MS_NOSYMFOLLOW),
];

/// Propagation changes.
const PROPAGATION: &[(&str, c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

fn flag(opt: &str) -> Option<(bool, c_ulong)> {
    FLAGS.iter().find(|f| f.0 == opt).map(|f| (f.1, f.2))
}

fn propagation(opt: &str) -> Option<c_ulong> {
    PROPAGATION.iter().find(|p| p.0 == opt).map(|p| p.1)
}

const ATIME: u64 = libc::MOUNT_ATTR__ATIME;

/// Recursive attributes: (name, set, clr). Atime modes are a field, not
/// bits: the kernel requires clearing the whole MOUNT_ATTR__ATIME mask when
/// changing it, so every atime option clears the mask and sets one mode.
const REC_ATTRS: &[(&str, u64, u64)] = &[
    ("rro", libc::MOUNT_ATTR_RDONLY, 0),
    ("rrw", 0, libc::MOUNT_ATTR_RDONLY),
    ("rnosuid", libc::MOUNT_ATTR_NOSUID, 0),
    ("rsuid", 0, libc::MOUNT_ATTR_NOSUID),
    ("rnodev", libc::MOUNT_ATTR_NODEV, 0),
    ("rdev", 0, libc::MOUNT_ATTR_NODEV),
    ("rnoexec", libc::MOUNT_ATTR_NOEXEC, 0),
    ("rexec", 0, libc::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", libc::MOUNT_ATTR_NODIRATIME, 0),
    ("rdiratime", 0, libc::MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, 0),
    ("rsymfollow", 0, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ("rrelatime", libc::MOUNT_ATTR_RELATIME, ATIME),
    ("ratime", libc::MOUNT_ATTR_RELATIME, ATIME),
    ("rnostrictatime", libc::MOUNT_ATTR_RELATIME, ATIME),
    ("rnoatime", libc::MOUNT_ATTR_NOATIME, ATIME),
    ("rstrictatime", libc::MOUNT_ATTR_STRICTATIME, ATIME),
    ("rnorelatime", libc::MOUNT_ATTR_STRICTATIME, ATIME),
];

fn rec_attr(opt: &str) -> Option<(u64, u64)> {
    REC_ATTRS.iter().find(|r| r.0 == opt).map(|r| (r.1, r.2))
}

/// Parses a mount's options. `typ` is the mount type: type "bind" implies
/// the bind flag even when neither `bind` nor `rbind` is listed (as runc).
pub fn parse(typ: Option<&str>, options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_str();
        if let Some((set, f)) = flag(opt) {
            if set {
                o.flags |= f;
                o.cleared &= !f;
            } else {
                o.flags &= !f;
                o.cleared |= f;
            }
        } else if let Some(p) = propagation(opt) {
            o.propagation.push(p);
        } else if let Some((set, clr)) = rec_attr(opt) {
            let a = &mut o.rec_attr;
            if clr == ATIME {
                a.set &= !ATIME;
                a.clr |= ATIME;
                a.set |= set;
            } else {
                a.set = (a.set & !clr) | set;
                a.clr = (a.clr & !set) | clr;
            }
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = true;
            o.ridmap |= opt == "ridmap";
        } else if opt == "tmpcopyup" {
            o.tmpcopyup = true;
        } else if !opt.is_empty() {
            o.data.push(opt.to_string());
        }
    }
    if typ == Some("bind") && !o.is_bind() {
        o.flags |= libc::MS_BIND;
    }
    o
}

/// Every option name `parse` understands, for `kist features`.
pub fn known() -> Vec<&'static str> {
    FLAGS
        .iter()
        .map(|f| f.0)
        .chain(PROPAGATION.iter().map(|p| p.0))
        .chain(REC_ATTRS.iter().map(|r| r.0))
        .chain(["tmpcopyup", "idmap", "ridmap"])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(typ: &str, opts: &[&str]) -> MountOptions {
        let v: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        parse(Some(typ), &v)
    }

    #[test]
    fn flags_set_and_clear_in_order() {
        let o = p(
            "tmpfs",
            &["nosuid", "ro", "rw", "nodev", "dev", "noexec", "mode=755"],
        );
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.data(), "mode=755");
        assert!(!o.is_bind());
    }

    #[test]
    fn all_runc_flags_are_known() {
        for f in [
            "ro",
            "rw",
            "nosuid",
            "suid",
            "nodev",
            "dev",
            "noexec",
            "exec",
            "sync",
            "async",
            "dirsync",
            "remount",
            "mand",
            "nomand",
            "atime",
            "noatime",
            "diratime",
            "nodiratime",
            "relatime",
            "norelatime",
            "strictatime",
            "nostrictatime",
            "bind",
            "rbind",
            "lazytime",
            "nolazytime",
            "silent",
            "loud",
            "iversion",
            "noiversion",
            "defaults",
        ] {
            assert!(p("x", &[f]).data.is_empty(), "{f} passed as data");
        }
    }

    #[test]
    fn bind_type_implies_bind() {
        assert!(p("bind", &[]).is_bind());
        assert!(!p("bind", &[]).is_rbind());
        assert!(p("none", &["rbind", "ro"]).is_rbind());
        assert_eq!(
            p("none", &["rbind", "ro"]).flags & libc::MS_RDONLY,
            libc::MS_RDONLY
        );
    }

    #[test]
    fn propagation_and_recursive() {
        let o = p(
            "bind",
            &[
                "rslave",
                "private",
                "rro",
                "rnosuid",
                "rnoatime",
                "rrelatime",
            ],
        );
        assert_eq!(
            o.propagation,
            vec![libc::MS_SLAVE | libc::MS_REC, libc::MS_PRIVATE]
        );
        assert_eq!(
            o.rec_attr.set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_RELATIME
        );
        assert_eq!(o.rec_attr.clr, libc::MOUNT_ATTR__ATIME);
        let o = p("bind", &["rro", "rrw"]);
        assert_eq!(o.rec_attr.set, 0);
        assert_eq!(o.rec_attr.clr, libc::MOUNT_ATTR_RDONLY);
        assert!(o.data.is_empty());
    }

    #[test]
    fn idmap_and_unknown() {
        let o = p("bind", &["idmap", "size=65536k", "uid=5"]);
        assert!(o.idmap);
        assert_eq!(o.data(), "size=65536k,uid=5");
    }
}
