//! Which CPUs this process may run on, and pinning the calling thread to one of them
//! (`sched_getaffinity` / `sched_setaffinity`).

use std::io;

/// The CPUs the calling thread may run on, in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: one syscall writing at most size_of::<cpu_set_t>() bytes into `set`,
    // which lives for the call.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    crate::sys::check(rc)?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's size in bits.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu` (which must be below `CPU_SETSIZE`).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "CPU {cpu} is beyond the {} this system can name",
                libc::CPU_SETSIZE
            ),
        ));
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked to be below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: one syscall reading size_of::<cpu_set_t>() bytes from `set`.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    crate::sys::check(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_pinned_to_an_allowed_cpu_runs_only_there() {
        let cpus = allowed_cpus().expect("sched_getaffinity");
        assert!(!cpus.is_empty());
        let last = *cpus.last().expect("one CPU at least");
        let seen = std::thread::spawn(move || {
            pin_current_thread(last).expect("pin");
            allowed_cpus().expect("sched_getaffinity")
        })
        .join()
        .expect("thread");
        assert_eq!(seen, vec![last]);
        assert_eq!(
            allowed_cpus().expect("again"),
            cpus,
            "only that thread was pinned"
        );
    }

    #[test]
    fn cpus_out_of_range_are_refused() {
        let e = std::thread::spawn(|| pin_current_thread(libc::CPU_SETSIZE as usize))
            .join()
            .expect("thread")
            .expect_err("beyond CPU_SETSIZE");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
