//! Prefix allocation from subnet pools: the lowest free prefix of a length
//! inside a pool's prefixes, skipping what its subnets hold; and the checks on a
//! pool's prefixes.

use crate::ipam::{from_u128, to_u128};
use ipnet::IpNet;

/// The lowest prefix of length `len` inside one of `pool` (in order) that
/// overlaps none of `taken`.
pub fn allocate(pool: &[IpNet], taken: &[IpNet], len: u8) -> Option<IpNet> {
    let mut taken: Vec<(u128, u128)> = taken.iter().map(range).collect();
    taken.sort_unstable();
    let mut prefixes = pool.to_vec();
    prefixes.sort();
    for p in prefixes {
        if len < p.prefix_len() || len > p.max_prefix_len() {
            continue;
        }
        let v6 = p.addr().is_ipv6();
        let bits = u32::from(p.max_prefix_len() - len);
        let size: u128 = 1u128.checked_shl(bits)?;
        let (lo, hi) = range(&p);
        let mut candidate = lo;
        loop {
            let end = candidate.checked_add(size - 1)?;
            if end > hi {
                break;
            }
            // The first taken range that overlaps [candidate, end], if any.
            match taken.iter().find(|(a, b)| *a <= end && *b >= candidate) {
                None => {
                    let addr = from_u128(candidate, v6)?;
                    return IpNet::new(addr, len).ok();
                }
                Some((_, b)) => {
                    // Past it, aligned to the prefix size.
                    let next = b.checked_add(1)?;
                    candidate = next.div_ceil(size).checked_mul(size)?;
                }
            }
        }
    }
    None
}

/// Whether `net` lies inside one of `pool`.
pub fn within(pool: &[IpNet], net: &IpNet) -> bool {
    pool.iter().any(|p| p.contains(net))
}

/// `prefixes` without the addresses of `removed`: what is left, as CIDRs
/// (a prefix with a removed one inside splits into the halves around it).
pub fn subtract(prefixes: &[IpNet], removed: &[IpNet]) -> Vec<IpNet> {
    let mut left: Vec<IpNet> = prefixes.to_vec();
    for r in removed {
        let mut next = Vec::new();
        for p in left {
            if r.contains(&p) {
                continue;
            }
            if !p.contains(r) {
                next.push(p);
                continue;
            }
            // Walk down from p towards r, keeping each sibling half off r's path.
            let mut cur = p;
            while cur.prefix_len() < r.prefix_len() {
                let Ok(mut halves) = cur.subnets(cur.prefix_len() + 1) else {
                    break;
                };
                let (Some(a), Some(b)) = (halves.next(), halves.next()) else {
                    break;
                };
                let (keep, down) = if a.contains(r) { (b, a) } else { (a, b) };
                next.push(keep);
                cur = down;
            }
        }
        left = next;
    }
    IpNet::aggregate(&left)
}

/// The first and last address of `n`.
fn range(n: &IpNet) -> (u128, u128) {
    (to_u128(n.network()), to_u128(n.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn subtracting_prefixes() {
        let all = [n("10.0.0.0/16"), n("192.168.1.0/24")];
        assert_eq!(
            subtract(&all, &[n("192.168.1.0/24")]),
            vec![n("10.0.0.0/16")]
        );
        assert_eq!(
            subtract(&all, &[n("10.0.128.0/17"), n("192.168.0.0/16")]),
            vec![n("10.0.0.0/17")]
        );
        assert_eq!(
            subtract(&[n("10.0.0.0/22")], &[n("10.0.1.0/24")]),
            vec![n("10.0.0.0/24"), n("10.0.2.0/23")]
        );
        assert_eq!(subtract(&all, &[n("172.16.0.0/12")]), all.to_vec());
        assert!(subtract(&[n("2001:db8::/48")], &[n("2001:db8::/32")]).is_empty());
    }

    #[test]
    fn lowest_free_prefix() {
        let pool = [n("10.10.0.0/16"), n("10.20.0.0/24")];
        assert_eq!(allocate(&pool, &[], 24), Some(n("10.10.0.0/24")));
        let taken = [n("10.10.0.0/24"), n("10.10.1.0/25")];
        assert_eq!(allocate(&pool, &taken, 24), Some(n("10.10.2.0/24")));
        assert_eq!(allocate(&pool, &taken, 25), Some(n("10.10.1.128/25")));
        // Too long for none, too short for the pool.
        assert_eq!(allocate(&pool, &taken, 15), None);
        assert_eq!(
            allocate(&pool, &[n("10.10.0.0/16")], 24),
            Some(n("10.20.0.0/24"))
        );
        assert_eq!(
            allocate(&pool, &[n("10.10.0.0/16"), n("10.20.0.0/24")], 24),
            None
        );
        let v6 = [n("2001:db8::/48")];
        assert_eq!(
            allocate(&v6, &[n("2001:db8::/64")], 64),
            Some(n("2001:db8:0:1::/64"))
        );
        assert!(within(&pool, &n("10.10.7.0/24")));
        assert!(!within(&pool, &n("10.30.0.0/24")));
    }
}
