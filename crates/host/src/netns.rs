//! Named network namespaces (`/run/netns/NAME`, as `ip netns add` makes them).
//!
//! A thread that calls `setns(CLONE_NEWNET)` acts in that namespace until it exits, and every
//! socket or TAP fd it opens stays bound to that namespace after it exits. So the way in is
//! a short-lived thread: the caller's threads never change namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::sys::check;
use crate::{Error, Result};

const NETNS_RUN_DIR: &str = "/run/netns";

/// `NSFS_MAGIC`: the filesystem type of a namespace file bind-mounted by `ip netns add`.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Runs `f` on a short-lived thread that has setns()'d into the named network namespace
/// (/run/netns/NAME, as made by `ip netns add`). Sockets/fds opened there stay in that
/// namespace. A panic in `f` is resumed on the calling thread.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let fd = open_netns(ns)?;
    let owned_name = ns.to_owned();
    let thread = std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || -> Result<T> {
            setns_net(fd.as_fd()).map_err(|e| Error::os("setns", owned_name, e))?;
            drop(fd);
            Ok(f())
        })
        .map_err(|e| Error::os("spawn thread for netns", ns, e))?;
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether `/run/netns/NAME` exists and is a namespace mount (not a stale file).
pub fn netns_exists(ns: &str) -> bool {
    open_netns(ns).is_ok()
}

/// Opens /run/netns/NAME and returns the owned fd (for IFLA_NET_NS_FD). Fails when the file
/// is not a mounted namespace (e.g. left over after a failed `ip netns del`).
pub fn open_netns(ns: &str) -> Result<OwnedFd> {
    let path = netns_path(ns)?;
    let file = File::open(&path).map_err(|e| Error::os("open", path.display().to_string(), e))?;
    let fs_type =
        fs_type(file.as_fd()).map_err(|e| Error::os("fstatfs", path.display().to_string(), e))?;
    if fs_type != NSFS_MAGIC {
        return Err(Error::os(
            "open",
            path.display().to_string(),
            std::io::Error::other("not a network namespace mount"),
        ));
    }
    Ok(OwnedFd::from(file))
}

fn netns_path(ns: &str) -> Result<PathBuf> {
    let reason = if ns.is_empty() {
        Some("empty")
    } else if ns == "." || ns == ".." {
        Some("reserved")
    } else if ns.contains('/') || ns.contains('\0') {
        Some("contains '/' or NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what: "namespace",
            name: ns.to_owned(),
            reason,
        }),
        None => Ok(PathBuf::from(NETNS_RUN_DIR).join(ns)),
    }
}

/// Moves the calling thread into the network namespace behind `fd`.
fn setns_net(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: setns only reads the fd number; changing the network namespace of this thread
    // has no memory-safety effect (it is a fresh thread that exits after running `f`).
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    check(rc)
}

/// `statfs.f_type` of the filesystem holding `fd`.
fn fs_type(fd: BorrowedFd<'_>) -> std::io::Result<i64> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: fstatfs writes one `struct statfs` into `buf`, which is sized and aligned for it.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), buf.as_mut_ptr()) };
    check(rc)?;
    // SAFETY: fstatfs returned 0, so it filled `buf` (which was zeroed to begin with anyway).
    let stat = unsafe { buf.assume_init() };
    // f_type is i64 on x86_64 glibc but i32 or u32 on other targets.
    #[allow(clippy::useless_conversion)]
    Ok(i64::from(stat.f_type))
}
