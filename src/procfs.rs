//! Reading the small generated files of procfs (and cgroupfs) in one or two
//! reads. They report a size of 0, so `fs::read_to_string` starts with a
//! 32-byte buffer and doubles it: seven reads for a 1.7 KiB mountinfo,
//! five for /proc/self/cgroup, on every `create`.

use std::io::Read;
use std::path::Path;

/// The whole file as text (`InvalidData` if it is not UTF-8, as
/// `fs::read_to_string`).
pub fn read(path: impl AsRef<Path>) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    f.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_generated_files_whole() {
        let ours = super::read("/proc/self/mountinfo").unwrap();
        assert!(ours.lines().count() > 1, "{ours}");
        assert!(ours.ends_with('\n'));
        let e = super::read("/proc/self/no-such-file").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
