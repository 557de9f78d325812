//! Small VXLAN packets leave in one sendmmsg per batch; consecutive ones to the same
//! remote with the same length (a UDP flood, a run of TCP ACKs) go further as one
//! UDP GSO message (UDP_SEGMENT): the local stack and the veth or NIC handle one
//! packet instead of dozens, and the datagrams on the wire are the same as if sent
//! one by one (the kernel or the NIC cuts them; a far end that cannot take the
//! run whole gets them cut at its socket).
//!
//! Only packets that fit the underlay path's MTU whole are grouped (a UDP GSO
//! segment can never be fragmented).

use std::net::SocketAddrV4;

/// Most datagrams in one run: kernels before 5.16 (without a fix not every vendor
/// took) count the 28 header bytes against gso_size * 64, so a full 64 fails there.
const MAX_RUN: usize = 63;
/// Most bytes in one run: one UDP datagram's payload, with room to spare.
const MAX_RUN_BYTES: usize = 65_000;

/// The runs a batch of tunnel packets was grouped into, and the buffers for
/// sending them (kept for their capacity).
#[derive(Default)]
pub(super) struct Runs {
    /// (offset, length, destination) of each run in the batch's buffer.
    msgs: Vec<(usize, usize, SocketAddrV4)>,
    /// Each run's datagram size (0: a single packet sent as it is).
    segs: Vec<u16>,
    /// Packets in each run, in order.
    counts: Vec<usize>,
    /// What became of each run, and of a failed run's packets sent one by one.
    run_outcome: host::SendOutcome,
    single_outcome: host::SendOutcome,
}

impl Runs {
    pub fn with_capacity(n: usize) -> Runs {
        Runs {
            msgs: Vec::with_capacity(n),
            segs: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
            run_outcome: Vec::with_capacity(n),
            single_outcome: Vec::with_capacity(n),
        }
    }

    /// Sends `packets` ((offset, length, destination) in `buf`, back to back) on
    /// `sock` in runs, `fits[i]` saying whether packet `i` may join one; `outcome`
    /// gets what became of each packet. A run the kernel will not take as one goes
    /// again packet by packet, the way it would have gone without runs. Returns
    /// the runs of more than one packet that went out, and the packets they carried.
    pub fn send(
        &mut self,
        sock: &host::UdpTunnelSocket,
        buf: &[u8],
        packets: &[(usize, usize, SocketAddrV4)],
        fits: &[bool],
        outcome: &mut host::SendOutcome,
    ) -> (u64, u64) {
        self.build(packets, fits);
        sock.send_many_segmented(buf, &self.msgs, &self.segs, &mut self.run_outcome);
        self.per_packet(&self.run_outcome, outcome);
        let mut single = std::mem::take(&mut self.single_outcome);
        for range in self.failed_runs(&self.run_outcome) {
            sock.send_many(
                buf,
                packets.get(range.clone()).unwrap_or_default(),
                &mut single,
            );
            for (o, r) in outcome
                .get_mut(range)
                .unwrap_or_default()
                .iter_mut()
                .zip(&single)
            {
                *o = *r;
            }
        }
        self.single_outcome = single;
        self.grouped(&self.run_outcome)
    }

    /// Groups `packets` ((offset, length, destination), contiguous in one buffer)
    /// into runs; `fits[i]` says whether packet `i` may be part of one.
    fn build(&mut self, packets: &[(usize, usize, SocketAddrV4)], fits: &[bool]) {
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
    fn grouped(&self, runs: &host::SendOutcome) -> (u64, u64) {
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
    /// sent again one by one.
    fn failed_runs<'a>(
        &'a self,
        runs: &'a host::SendOutcome,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let mut first = 0;
        self.counts.iter().enumerate().filter_map(move |(i, &n)| {
            let range = first..first + n;
            first += n;
            let failed =
                matches!(runs.get(i), Some(Err(e)) if *e != std::io::ErrorKind::WouldBlock);
            (n > 1 && failed).then_some(range)
        })
    }

    /// What became of each packet, from what became of each run.
    fn per_packet(&self, runs: &host::SendOutcome, packets: &mut host::SendOutcome) {
        packets.clear();
        for (i, &n) in self.counts.iter().enumerate() {
            let r = runs
                .get(i)
                .copied()
                .unwrap_or(Err(std::io::ErrorKind::Other));
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
        let mut r = Runs::default();
        r.build(&p, &[true; 6]);
        assert_eq!(
            r.msgs,
            vec![(0, 300, to(2)), (300, 60, to(2)), (360, 120, to(3))]
        );
        assert_eq!(r.segs, vec![100, 60, 60]);
        assert_eq!(r.counts, vec![3, 1, 2]);
        assert_eq!(r.grouped(&vec![Ok(()), Ok(()), Ok(())]), (2, 5));
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
            &vec![Ok(()), Err(std::io::ErrorKind::WouldBlock), Ok(())],
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
        let mut r = Runs::default();
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
