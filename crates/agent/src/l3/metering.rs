//! A router's metering table in the kernel (the text comes from
//! `compile::metering`): left alone while the digest in its comment is the
//! wanted one (an agent restart or a re-sync changes nothing), replaced with
//! the kernel's counts carried into the new table when the rules change,
//! deleted when nothing counts there any more; and its counters read for the
//! metrics endpoint.

use crate::compile::metering::TABLE;
use crate::compile::nat::digest_of;
use std::collections::BTreeMap;

/// Makes the namespace's metering table `want` (or none).
pub fn apply(ns: &str, want: Option<&str>) -> Result<(), String> {
    let listed = super::run("ip", &["netns", "exec", ns, "nft", "list", "table", TABLE]).ok();
    match want {
        None => {
            if listed.is_some() {
                super::run(
                    "ip",
                    &["netns", "exec", ns, "nft", "delete", "table", TABLE],
                )?;
            }
            Ok(())
        }
        Some(text) => {
            if let Some(have) = &listed
                && digest_of(have).is_some()
                && digest_of(have) == digest_of(text)
            {
                return Ok(());
            }
            let carried = if listed.is_some() {
                counters(ns)?
            } else {
                BTreeMap::new()
            };
            let text = crate::compile::metering::with_counts(text, &carried);
            super::replace_table(ns, TABLE, &text)
        }
    }
}

/// The table's counters in `ns`: name -> (packets, bytes); empty when there is
/// no table.
pub fn counters(ns: &str) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let (family, name) = TABLE.split_once(' ').unwrap_or(("inet", TABLE));
    let Ok(out) = super::run(
        "ip",
        &[
            "netns", "exec", ns, "nft", "-j", "list", "counters", "table", family, name,
        ],
    ) else {
        return Ok(BTreeMap::new());
    };
    parse_counters(&out)
}

/// `nft -j list counters` output to name -> (packets, bytes).
fn parse_counters(json: &str) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("nft -j: unreadable output: {e}"))?;
    let mut out = BTreeMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let c = &item["counter"];
        if let (Some(n), Some(p), Some(b)) = (
            c["name"].as_str(),
            c["packets"].as_u64(),
            c["bytes"].as_u64(),
        ) {
            out.insert(n.to_string(), (p, b));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"counter": {"family": "inet", "name": "m_ab_in", "table": "neutrino-metering", "handle": 1, "packets": 3, "bytes": 180}},
            {"counter": {"family": "inet", "name": "m_ab_out", "table": "neutrino-metering", "handle": 2, "packets": 0, "bytes": 0}}]}"#;
        let c = super::parse_counters(json).unwrap();
        assert_eq!(c["m_ab_in"], (3, 180));
        assert_eq!(c["m_ab_out"], (0, 0));
        assert!(super::parse_counters("nope").is_err());
    }
}
