//! The BPF filesystem, where switchd pins its fast path's maps and links so they
//! outlive the process (a restart keeps traffic flowing through the kernel).

use crate::{Error, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Where the BPF filesystem is mounted on every Linux distribution that has one.
pub const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Mounts the BPF filesystem at [`BPFFS`] unless it is already there (systemd
/// mounts it at boot; a bare container or VM may not have).
pub fn ensure_bpffs() -> Result<()> {
    if is_bpffs(Path::new(BPFFS)) {
        return Ok(());
    }
    let target = c"/sys/fs/bpf";
    let fstype = c"bpf";
    // SAFETY: every pointer is a live NUL-terminated string; the data argument is
    // unused by bpffs and passed as null.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Error::os(
            "mount bpffs on",
            BPFFS,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn is_bpffs(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: zeroed is a valid `statfs` (plain integers); `c` is NUL-terminated and
    // `st` is a live out-parameter of the right type.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// The directory one switchd pins its fast path under: named after its run
/// directory, so two switchds on a host (the lab's) never share maps, and so
/// whoever removes a run directory can remove its pins too.
pub fn bpf_pin_dir(run_dir: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    // FNV-1a: stable across builds and processes (unlike the std hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Path::new(BPFFS)
        .join("neutrino")
        .join(format!("switchd-{h:016x}"))
}

/// Removes the pins of the switchd that ran on `run_dir` (its maps and links go
/// when nothing else holds them). Nothing to remove is not an error.
pub fn remove_bpf_pins(run_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(bpf_pin_dir(run_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
