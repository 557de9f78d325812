//! Which CPUs this process may run on, and pinning the calling thread to one of them
//! (`sched_getaffinity` / `sched_setaffinity`). The masks grow with the machine: a
//! fixed `cpu_set_t` names only 1,024 CPUs, and the kernel refuses a mask shorter
//! than its own.

use std::io;

type Word = libc::c_ulong;
const BITS: usize = Word::BITS as usize;
/// Largest CPU number handled (the kernel's own limit, NR_CPUS, is at most 8,192).
pub const MAX_CPU: usize = 1 << 16;

/// The CPUs the calling thread may run on, in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let mut words = 1024 / BITS;
    loop {
        let mut mask: Vec<Word> = vec![0; words];
        // SAFETY: one syscall writing at most `words` words into `mask`, which lives
        // for the call; the kernel reads the buffer as a CPU bitmask of that size.
        let rc = unsafe {
            libc::sched_getaffinity(
                0,
                words * std::mem::size_of::<Word>(),
                mask.as_mut_ptr().cast::<libc::cpu_set_t>(),
            )
        };
        match crate::sys::check(rc) {
            Ok(()) => {
                return Ok((0..words * BITS)
                    .filter(|&cpu| (mask[cpu / BITS] >> (cpu % BITS)) & 1 == 1)
                    .collect());
            }
            // The kernel's mask is longer than ours: try a longer one.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && words * BITS < MAX_CPU => {
                words *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu > MAX_CPU {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond the {MAX_CPU} this program handles"),
        ));
    }
    let mut mask: Vec<Word> = vec![0; cpu / BITS + 1];
    mask[cpu / BITS] |= 1 << (cpu % BITS);
    // SAFETY: one syscall reading `mask.len()` words from `mask`, which lives for the
    // call; the kernel reads the buffer as a CPU bitmask of that size.
    let rc = unsafe {
        libc::sched_setaffinity(
            0,
            mask.len() * std::mem::size_of::<Word>(),
            mask.as_ptr().cast::<libc::cpu_set_t>(),
        )
    };
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
        let e = std::thread::spawn(|| pin_current_thread(usize::MAX))
            .join()
            .expect("thread")
            .expect_err("beyond MAX_CPU");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // A CPU the machine does not have: the kernel says so.
        let e = std::thread::spawn(|| pin_current_thread(MAX_CPU))
            .join()
            .expect("thread")
            .expect_err("no such CPU");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
