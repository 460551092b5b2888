//! The v1 → v2 value conversions runc and crun use when a v1-style value
//! (the OCI fields are v1-shaped) meets a cgroup2 file.

/// cpu.shares [2, 262144] → cpu.weight [1, 10000]; 0 means unset.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] → io.weight [1, 10000]; 0 means unset.
pub fn blkio_weight_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = w.clamp(10, 1000);
    1 + ((w - 10) * 9999) / 990
}

/// memory.memsw (memory+swap) → memory.swap.max (swap alone). None means
/// "do not write". `max` for unlimited.
pub fn memory_swap_to_v2(swap: i64, memory: i64) -> Result<Option<String>, String> {
    // v1 compatibility: unlimited memory with no swap value asks for both
    // unlimited.
    if memory == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    if swap == 0 {
        return Ok(None);
    }
    if swap < 0 {
        return Ok(Some("max".into()));
    }
    if memory <= 0 {
        return Err("a swap limit needs a memory limit (memory.limit) to convert it to cgroup v2's memory.swap.max".into());
    }
    if swap < memory {
        return Err(format!(
            "memory+swap limit {swap} is lower than the memory limit {memory}"
        ));
    }
    Ok(Some((swap - memory).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn blkio() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap() {
        assert_eq!(memory_swap_to_v2(0, -1).unwrap(), Some("max".into()));
        assert_eq!(memory_swap_to_v2(0, 100).unwrap(), None);
        assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), Some("max".into()));
        assert_eq!(memory_swap_to_v2(300, 100).unwrap(), Some("200".into()));
        assert_eq!(memory_swap_to_v2(100, 100).unwrap(), Some("0".into()));
        assert!(memory_swap_to_v2(50, 100).is_err());
        assert!(memory_swap_to_v2(50, 0).is_err());
    }
}
