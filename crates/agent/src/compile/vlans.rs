//! Local VLANs: each network wired on a host gets a VLAN id on br-int, unique on
//! that host and stable for as long as the network stays (a re-compile must not
//! renumber, or every flow would change).

use std::collections::{BTreeMap, BTreeSet};

/// The lowest and highest local VLAN handed out (4095 is the dead VLAN).
pub const FIRST: u16 = 1;
pub const LAST: u16 = 4094;

/// Gives each of `wanted` a local VLAN: its `prior` one when it had one, else the
/// lowest free id. Networks left without (more than 4094 on one host) are absent
/// from the result.
pub fn assign<'a>(
    wanted: impl IntoIterator<Item = &'a str>,
    prior: &BTreeMap<String, u16>,
) -> BTreeMap<String, u16> {
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut out = BTreeMap::new();
    let mut used = BTreeSet::new();
    for id in &wanted {
        if let Some(&v) = prior.get(*id)
            && (FIRST..=LAST).contains(&v)
            && used.insert(v)
        {
            out.insert((*id).to_string(), v);
        }
    }
    let mut next = FIRST;
    for id in wanted {
        if out.contains_key(id) {
            continue;
        }
        while next <= LAST && used.contains(&next) {
            next += 1;
        }
        if next > LAST {
            break;
        }
        used.insert(next);
        out.insert(id.to_string(), next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_prior_and_fills_gaps() {
        let prior = BTreeMap::from([("b".to_string(), 1), ("gone".to_string(), 2)]);
        let got = assign(["a", "b", "c"], &prior);
        assert_eq!(got["b"], 1);
        assert_eq!(got["a"], 2);
        assert_eq!(got["c"], 3);
        assert!(!got.contains_key("gone"));
    }

    #[test]
    fn duplicate_prior_vlans_are_reassigned() {
        let prior = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 5)]);
        let got = assign(["a", "b"], &prior);
        assert_eq!(got["a"], 5);
        assert_eq!(got["b"], 1);
    }
}
