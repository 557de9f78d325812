//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum.
///
/// This is the hot loop of segmentation and receive checks, so it sums 32-bit
/// big-endian words into 64-bit accumulators (the compiler vectorises it):
/// since 2^16 = 1 (mod 0xffff), a sum of 32-bit words folds to the same one's
/// complement sum as one of 16-bit words. The result stays below 2^17, so sums
/// may be chained.
pub fn add(sum: u32, data: &[u8]) -> u32 {
    let mut acc = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        for (i, w) in b.chunks_exact(4).enumerate() {
            acc[i] += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    let mut total = u64::from(sum) + acc.iter().sum::<u64>();
    let rest = blocks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for c in &mut pairs {
        total += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = pairs.remainder() {
        total += u64::from(*last) << 8;
    }
    fold_to_17_bits(total)
}

fn fold_to_17_bits(mut t: u64) -> u32 {
    t = (t & 0xffff_ffff) + (t >> 32);
    t = (t & 0xffff_ffff) + (t >> 32);
    t = (t & 0xffff) + (t >> 16);
    t = (t & 0xffff) + (t >> 16);
    t as u32
}

/// Folds a running sum to 16 bits and complements it.
pub fn finish(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of `data` alone (an IPv4 header, an ICMP message).
pub fn checksum(data: &[u8]) -> u16 {
    finish(add(0, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_matches_known_packet() {
        // A real IPv4 header (from RFC 1071 style examples / a captured packet) with
        // checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(checksum(&h), 0);
    }

    /// The plain RFC 1071 loop, to check the fast one against.
    fn reference(mut sum: u32, data: &[u8]) -> u16 {
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            sum += u32::from(w);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        finish(sum)
    }

    #[test]
    fn fast_sum_matches_rfc1071_loop() {
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for len in (0..70).chain([1499, 1500, 9000, 65535]) {
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let start = next() & 0x1_ffff;
            assert_eq!(
                finish(add(start, &data)),
                reference(start, &data),
                "len {len}"
            );
        }
        let ones = vec![0xffu8; 65536];
        assert_eq!(finish(add(0, &ones)), reference(0, &ones));
        // Chained sums equal one sum over the concatenation (even splits).
        let data: Vec<u8> = (0..4000).map(|_| next() as u8).collect();
        assert_eq!(
            finish(add(add(7, &data[..1000]), &data[1000..])),
            finish(add(7, &data))
        );
    }

    #[test]
    fn odd_length() {
        assert_eq!(checksum(&[0x01]), !0x0100);
    }
}
