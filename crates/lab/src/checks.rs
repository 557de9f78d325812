//! What the machine must have for a lab or a test topology: root (namespaces, TAP,
//! veth), the tools it runs (named with their Debian package), and for some tests a
//! recent enough kernel or the CPUs a process may use.

use crate::{Result, fail};
use std::path::PathBuf;

/// True when this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn require_root() -> Result<()> {
    if !is_root() {
        return Err(fail!("the lab makes network namespaces: run it as root"));
    }
    Ok(())
}

/// A name prefix of 1 to `max` lowercase letters or digits (`what`: "lab", "pair").
pub fn prefix(what: &str, p: &str, max: usize) -> Result<()> {
    let ok = !p.is_empty()
        && p.len() <= max
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ok {
        return Err(fail!(
            "bad {what} prefix '{p}': 1-{max} lowercase letters or digits"
        ));
    }
    Ok(())
}

/// Where `tool` is: in PATH, or in /usr/sbin, /sbin, /usr/bin, /bin.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// An error naming the Debian package to install when `tool` is not found.
pub fn tool(tool: &str, debian_package: &str) -> Result<PathBuf> {
    find_tool(tool).ok_or_else(|| {
        fail!(
            "`{tool}` not found in PATH (or /usr/sbin, /sbin): install the Debian package \
             `{debian_package}`"
        )
    })
}

/// The value of field `key` in a /proc `status` file (`Uid`, `Cpus_allowed_list`).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The running kernel is at least `major.minor` (from /proc/sys/kernel/osrelease;
/// false when it cannot be read).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = r
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (major, minor)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_status_fields() {
        let s = "Name:\tx\nUid:\t0\t0\t0\t0\nCpus_allowed_list:\t0-3\n";
        assert_eq!(super::status_field(s, "Uid"), Some("0\t0\t0\t0"));
        assert_eq!(super::status_field(s, "Cpus_allowed_list"), Some("0-3"));
        assert_eq!(super::status_field(s, "Gid"), None);
    }
}
