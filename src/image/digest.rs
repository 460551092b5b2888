//! `sha256:<hex>` digests: parsing (a digest names a file, so it must never
//! be a path) and a reader that hashes what passes through it.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::io::Read;

/// A validated sha256 digest; `hex` is 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            Error::new(format!("digest {s:?}: only sha256 digests are supported"))
        })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::new(format!(
                "digest {s:?}: not 64 lowercase hex digits"
            )));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex(&Sha256::digest(bytes)),
        }
    }

    /// The first 12 hex digits, for progress lines.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks `bytes` against `want`, naming `what` when they differ.
pub fn verify(what: &str, bytes: &[u8], want: &Digest) -> Result<()> {
    let got = Digest::of(bytes);
    if &got != want {
        return Err(Error::new(format!(
            "{what}: content does not match its digest {want} (it hashes to {got}): corrupt or tampered blob"
        )));
    }
    Ok(())
}

/// Hashes and counts every byte read through it.
pub struct HashRead<R> {
    inner: R,
    hasher: Sha256,
    pub count: u64,
}

impl<R: Read> HashRead<R> {
    pub fn new(inner: R) -> Self {
        HashRead {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left (so the digest covers the whole stream) and
    /// returns the digest.
    pub fn finish(mut self) -> std::io::Result<Digest> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(Digest {
            hex: hex(&self.hasher.finalize()),
        })
    }
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
