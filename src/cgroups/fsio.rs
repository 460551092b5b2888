//! Reading and writing cgroup control files, with errors that name the config
//! field and the file: `linux.resources.memory.limit: write
//! /sys/fs/cgroup/memory/x/memory.limit_in_bytes: Device or resource busy`.

use crate::error::{Context, Error, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Writes `value` with a single write(2): cgroup files parse each write as
/// one request, so a value must never be split.
pub fn write(field: &str, path: &Path, value: &str) -> Result<()> {
    let what = || format!("{field}: write {value:?} to {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(what)?;
    let n = f.write(value.as_bytes()).with_context(what)?;
    if n != value.len() {
        return Err(Error::new(format!("{}: short write ({n} bytes)", what())));
    }
    Ok(())
}

/// A control file opened on its first write and kept open for the next
/// ones, each still a single write(2).
pub struct Writer {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
}

impl Writer {
    pub fn new(path: std::path::PathBuf) -> Writer {
        Writer { path, file: None }
    }

    pub fn write(&mut self, field: &str, value: &str) -> Result<()> {
        let what = || format!("{field}: write {value:?} to {}", self.path.display());
        let f = match &mut self.file {
            Some(f) => f,
            None => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .with_context(what)?;
                self.file.insert(f)
            }
        };
        let n = f.write(value.as_bytes()).with_context(what)?;
        if n != value.len() {
            return Err(Error::new(format!("{}: short write ({n} bytes)", what())));
        }
        Ok(())
    }
}

pub fn read(path: &Path) -> Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .with_context(|| format!("read {}", path.display()))?;
    Ok(s)
}

/// Reads a file whose content is one number; `max` reads as u64::MAX.
pub fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse::<u64>()
        .map_err(|e| Error::new(format!("parse {} ({t:?}): {e}", path.display())))
}

/// Parses `key value` lines (memory.stat, cpu.stat, memory.events, ...).
pub fn read_kv(path: &Path) -> Result<Vec<(String, u64)>> {
    Ok(read(path)?
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse::<u64>().ok()?;
            Some((k.to_string(), v))
        })
        .collect())
}

/// Value of `key` in a flat-keyed file, if present.
pub fn kv_get(path: &Path, key: &str) -> Result<Option<u64>> {
    Ok(read_kv(path)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v))
}
