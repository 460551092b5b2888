//! The two extended-attribute calls the layer store needs (never following
//! symlinks: layer content is untrusted).

use nix::errno::Errno;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

pub fn set(p: &Path, name: &str, value: &[u8]) -> Result<(), Errno> {
    let path = cpath(p)?;
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: NUL-terminated path and name, and a buffer with its length;
    // the kernel only reads them.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// The value of `name`, or None when the file does not have it.
pub fn get(p: &Path, name: &str) -> Result<Option<Vec<u8>>, Errno> {
    let path = cpath(p)?;
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated path and name; the kernel writes at most
    // buf.len() bytes into buf.
    let rc = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    match Errno::result(rc) {
        Ok(n) => {
            buf.truncate(n as usize);
            Ok(Some(buf))
        }
        Err(Errno::ENODATA) | Err(Errno::ENOTSUP) => Ok(None),
        Err(e) => Err(e),
    }
}
