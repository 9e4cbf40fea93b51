//! Resident memory of this process, for the flat-memory measurements (`flat_memory`,
//! `hangsim bench`).

/// Resident set size in KiB, read from `/proc/self/status`; `None` where that file does not
/// exist (not Linux) or has no `VmRSS` line.
pub fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
