//! Small tunnel datagrams cut into UDP GSO runs (UDP_SEGMENT): consecutive ones to
//! the same remote with the same length (a UDP flood, a run of TCP ACKs), back to
//! back in one buffer, go as one message that the kernel or the NIC cuts into the
//! same datagrams. This decides the runs and reads back what became of them; the
//! sending is the caller's.
//!
//! Only packets that fit the underlay path's MTU whole are grouped (a UDP GSO
//! segment can never be fragmented): the caller says which.

use std::io::ErrorKind;
use std::net::SocketAddrV4;
use std::ops::Range;

/// Most datagrams in one run: kernels before 5.16 (without a fix not every vendor
/// took) count the 28 header bytes against gso_size * 64, so a full 64 fails there.
pub const MAX_RUN: usize = 63;
/// Most bytes in one run: one UDP datagram's payload, with room to spare.
pub const MAX_RUN_BYTES: usize = 65_000;

/// The runs a batch of tunnel packets was grouped into (kept for the vectors'
/// capacity).
#[derive(Default)]
pub struct UdpRuns {
    /// (offset, length, destination) of each run in the batch's buffer.
    msgs: Vec<(usize, usize, SocketAddrV4)>,
    /// Each run's datagram size (0: a single packet sent as it is).
    segs: Vec<u16>,
    /// Packets in each run, in order.
    counts: Vec<usize>,
}

impl UdpRuns {
    pub fn with_capacity(n: usize) -> UdpRuns {
        UdpRuns {
            msgs: Vec::with_capacity(n),
            segs: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
        }
    }

    /// (offset, length, destination) of each run, to send.
    pub fn msgs(&self) -> &[(usize, usize, SocketAddrV4)] {
        &self.msgs
    }

    /// Each run's datagram size (its UDP_SEGMENT), 0 for a single packet.
    pub fn segs(&self) -> &[u16] {
        &self.segs
    }

    /// Groups `packets` ((offset, length, destination), contiguous in one buffer)
    /// into runs; `fits[i]` says whether packet `i` may be part of one.
    pub fn build(&mut self, packets: &[(usize, usize, SocketAddrV4)], fits: &[bool]) {
        self.msgs.clear();
        self.segs.clear();
        self.counts.clear();
        for (i, &(start, len, dst)) in packets.iter().enumerate() {
            let groupable = fits.get(i).copied().unwrap_or(false) && len > 0;
            let seg = u16::try_from(len).ok().filter(|_| groupable).unwrap_or(0);
            if let (Some(run), Some(&run_seg), Some(n)) = (
                self.msgs.last_mut(),
                self.segs.last(),
                self.counts.last_mut(),
            ) && seg != 0
                && run_seg == seg
                && run.2 == dst
                && run.0 + run.1 == start
                && *n < MAX_RUN
                && run.1 + len <= MAX_RUN_BYTES
            {
                run.1 += len;
                *n += 1;
                continue;
            }
            self.msgs.push((start, len, dst));
            self.segs.push(seg);
            self.counts.push(1);
        }
    }

    /// How many runs of more than one packet went out (`runs`: what became of
    /// each), and how many packets they carried.
    pub fn grouped(&self, runs: &[Result<(), ErrorKind>]) -> (u64, u64) {
        self.counts
            .iter()
            .zip(runs)
            .filter(|(n, r)| **n > 1 && r.is_ok())
            .fold((0, 0), |(r, p), (&n, _)| (r + 1, p + n as u64))
    }

    /// The packets (indexes into the batch) of each run that carried more than
    /// one and failed with something other than a full socket buffer: a kernel or
    /// path that cannot take a UDP GSO send (an IPsec underlay, a device without
    /// checksum offload on an old kernel, a path MTU that just shrank). They are
    /// to be sent again one by one.
    pub fn failed_runs<'a>(
        &'a self,
        runs: &'a [Result<(), ErrorKind>],
    ) -> impl Iterator<Item = Range<usize>> + 'a {
        let mut first = 0;
        self.counts.iter().enumerate().filter_map(move |(i, &n)| {
            let range = first..first + n;
            first += n;
            let failed = matches!(runs.get(i), Some(Err(e)) if *e != ErrorKind::WouldBlock);
            (n > 1 && failed).then_some(range)
        })
    }

    /// What became of each packet (into `packets`), from what became of each run.
    pub fn per_packet(
        &self,
        runs: &[Result<(), ErrorKind>],
        packets: &mut Vec<Result<(), ErrorKind>>,
    ) {
        packets.clear();
        for (i, &n) in self.counts.iter().enumerate() {
            let r = runs.get(i).copied().unwrap_or(Err(ErrorKind::Other));
            packets.extend(std::iter::repeat_n(r, n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn to(last: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 168, 100, last), 4789)
    }

    /// `lens` laid out back to back from offset 0, to the given remotes.
    fn batch(p: &[(usize, u8)]) -> Vec<(usize, usize, SocketAddrV4)> {
        let mut off = 0;
        p.iter()
            .map(|&(len, r)| {
                let m = (off, len, to(r));
                off += len;
                m
            })
            .collect()
    }

    #[test]
    fn equal_packets_to_one_remote_make_one_run() {
        let p = batch(&[(100, 2), (100, 2), (100, 2), (60, 2), (60, 3), (60, 3)]);
        let mut r = UdpRuns::default();
        r.build(&p, &[true; 6]);
        assert_eq!(
            r.msgs,
            vec![(0, 300, to(2)), (300, 60, to(2)), (360, 120, to(3))]
        );
        assert_eq!(r.segs, vec![100, 60, 60]);
        assert_eq!(r.counts, vec![3, 1, 2]);
        assert_eq!(r.grouped(&[Ok(()), Ok(()), Ok(())]), (2, 5));
        let failed = vec![Err(std::io::ErrorKind::InvalidInput), Ok(()), Ok(())];
        assert_eq!(r.grouped(&failed), (1, 2));
        assert_eq!(r.failed_runs(&failed).collect::<Vec<_>>(), vec![0..3]);
        let full = vec![Err(std::io::ErrorKind::WouldBlock), Ok(()), Ok(())];
        assert_eq!(
            r.failed_runs(&full).count(),
            0,
            "a full buffer is not retried"
        );
        let mut per = Vec::new();
        r.per_packet(
            &[Ok(()), Err(std::io::ErrorKind::WouldBlock), Ok(())],
            &mut per,
        );
        assert_eq!(
            per,
            vec![
                Ok(()),
                Ok(()),
                Ok(()),
                Err(std::io::ErrorKind::WouldBlock),
                Ok(()),
                Ok(())
            ]
        );
    }

    #[test]
    fn packets_too_big_for_the_path_and_long_runs_are_split() {
        let p = batch(&[(1400, 2), (1400, 2), (1400, 2)]);
        let mut r = UdpRuns::default();
        r.build(&p, &[true, false, true]);
        assert_eq!(r.counts, vec![1, 1, 1]);
        assert_eq!(r.segs, vec![1400, 0, 1400]);

        let p = batch(&[(64, 2); 130]);
        r.build(&p, &[true; 130]);
        assert_eq!(r.counts, vec![63, 63, 4]);

        let p = batch(&[(1400, 2); 60]);
        r.build(&p, &[true; 60]);
        assert!(r.msgs.iter().all(|m| m.1 <= MAX_RUN_BYTES), "{:?}", r.msgs);
        assert_eq!(r.counts.iter().sum::<usize>(), 60);
        assert_eq!(r.counts[0], MAX_RUN_BYTES / 1400);
    }
}
