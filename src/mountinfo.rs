//! Minimal /proc/self/mountinfo parser (proc(5)).

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Root of the mount within its filesystem (field 4).
    pub root: PathBuf,
    /// Mount point (field 5).
    pub mount_point: PathBuf,
    /// Optional fields (e.g. "shared:5 master:1"), space-joined.
    pub optional: String,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (last field), e.g. "rw,cpu,cpuacct".
    pub super_opts: String,
}

/// Decodes the `\NNN` octal escapes of mountinfo fields.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len() + 1
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (u32::from(b[i + 1] - b'0') << 6)
                | (u32::from(b[i + 2] - b'0') << 3)
                | u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Vec<Entry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Entry> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let mut post = post.split(' ');
    Some(Entry {
        root: PathBuf::from(unescape(pre.get(3)?)),
        mount_point: PathBuf::from(unescape(pre.get(4)?)),
        optional: pre.get(6..).map(|o| o.join(" ")).unwrap_or_default(),
        fstype: post.next()?.to_string(),
        source: unescape(post.next()?),
        super_opts: post.next().unwrap_or("").to_string(),
    })
}

pub fn read() -> crate::error::Result<Vec<Entry>> {
    use crate::error::Context;
    let text = crate::procfs::read("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_escapes() {
        let mi = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                  32 31 0:29 /sub /sys/fs/cgroup/cpu\\040x rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n";
        let e = parse(mi);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].fstype, "proc");
        assert_eq!(e[1].mount_point, PathBuf::from("/sys/fs/cgroup/cpu x"));
        assert_eq!(e[1].root, PathBuf::from("/sub"));
        assert_eq!(e[1].super_opts, "rw,cpu,cpuacct");
        assert_eq!(e[1].optional, "shared:5");
        assert_eq!(e[0].optional, "");
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trail\\04"), "trail\\04");
    }
}
