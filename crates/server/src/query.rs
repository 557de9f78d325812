//! Neutron's collection query parameters: filters (AND across keys, OR within a
//! repeated key), `fields`, sorting (`sort_key`/`sort_dir`), pagination (`limit`,
//! `marker`, `page_reverse`) and the `<collection>_links` that go with it.
//!
//! Filters on attributes a resource does not have are ignored (as Neutron does
//! without filter validation), so newer clients keep working.

use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

#[derive(Debug, Default, Clone)]
pub struct ListParams {
    pub filters: Vec<(String, Vec<String>)>,
    pub fields: Vec<String>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
    pub sort: Vec<(String, bool)>,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl ListParams {
    pub fn parse(pairs: &[(String, String)]) -> ApiResult<ListParams> {
        let mut p = ListParams::default();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "fields" => p.fields.extend(v.split(',').map(str::to_string)),
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        ApiError::invalid(format!("Bad limit request: Limit must be an integer 0 or greater and not '{v}'."))
                    })?;
                    let n = usize::try_from(n).map_err(|_| {
                        ApiError::invalid(format!("Bad limit request: Limit must be an integer 0 or greater and not '{v}'."))
                    })?;
                    p.limit = (n > 0).then_some(n);
                }
                "marker" => p.marker = Some(v.clone()),
                "page_reverse" => {
                    p.page_reverse = parse_bool(v).ok_or_else(|| {
                        ApiError::invalid(format!("'{v}' cannot be converted to boolean"))
                    })?
                }
                "sort_key" => keys.push(v.clone()),
                "sort_dir" => match v.as_str() {
                    "asc" => dirs.push(true),
                    "desc" => dirs.push(false),
                    _ => {
                        return Err(ApiError::invalid(format!(
                            "{v} is an invalid value for sort_dir, valid value is 'asc' and 'desc'"
                        )));
                    }
                },
                _ => match p.filters.iter_mut().find(|(fk, _)| fk == k) {
                    Some((_, vals)) => vals.push(v.clone()),
                    None => p.filters.push((k.clone(), vec![v.clone()])),
                },
            }
        }
        if !dirs.is_empty() && dirs.len() != keys.len() {
            return Err(ApiError::invalid(
                "The number of sort_keys and sort_dirs must be same",
            ));
        }
        p.sort = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, dirs.get(i).copied().unwrap_or(true)))
            .collect();
        Ok(p)
    }

    /// Whether `item` passes every filter.
    pub fn matches(&self, item: &Map<String, Value>) -> bool {
        self.filters.iter().all(|(k, wanted)| {
            if TAG_FILTERS.contains(&k.as_str()) {
                return tags_match(k, item.get("tags"), wanted);
            }
            match item.get(k) {
                None => true,
                Some(v) => wanted.iter().any(|w| value_matches(v, w)),
            }
        })
    }

    /// Filters that name no attribute of `item` (`filter-validation`).
    pub fn unknown_filters(&self, item: &Map<String, Value>) -> Vec<&str> {
        self.filters
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                !(item.contains_key(*k) || TAG_FILTERS.contains(k) && item.contains_key("tags"))
            })
            .collect()
    }
}

/// The tag filters of `standard-attr-tag`: `tags` (all of), `tags-any` (one of),
/// `not-tags` (not all of), `not-tags-any` (none of); values comma-separated or
/// repeated.
const TAG_FILTERS: [&str; 4] = ["tags", "tags-any", "not-tags", "not-tags-any"];

fn tags_match(filter: &str, tags: Option<&Value>, wanted: &[String]) -> bool {
    let have: Vec<&str> = tags
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut want = wanted
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|w| !w.is_empty());
    match filter {
        "tags" => want.all(|w| have.contains(&w)),
        "tags-any" => want.any(|w| have.contains(&w)),
        "not-tags" => !want.all(|w| have.contains(&w)),
        _ => !want.any(|w| have.contains(&w)),
    }
}

fn value_matches(v: &Value, wanted: &str) -> bool {
    match v {
        Value::Null => wanted.is_empty() || wanted.eq_ignore_ascii_case("none"),
        Value::Bool(b) => parse_bool(wanted) == Some(*b),
        Value::Number(n) => n.to_string() == wanted,
        Value::String(s) => s == wanted,
        Value::Array(items) => items.iter().any(|i| match i {
            // fixed_ips=ip_address=10.0.0.3, fixed_ips=subnet_id=…, and
            // fixed_ips=ip_address_substr=10.0.0. (`ip-substring-filtering`)
            Value::Object(o) => match wanted.split_once('=') {
                Some(("ip_address_substr", w)) => o
                    .get("ip_address")
                    .and_then(Value::as_str)
                    .is_some_and(|ip| ip.contains(w)),
                Some((k, w)) => o.get(k).is_some_and(|x| value_matches(x, w)),
                None => false,
            },
            other => value_matches(other, wanted),
        }),
        Value::Object(o) => match wanted.split_once('=') {
            Some((k, w)) => o.get(k).is_some_and(|x| value_matches(x, w)),
            None => false,
        },
    }
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// A query component, percent-encoded (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Keeps only the requested fields.
pub fn select_fields(mut item: Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    if fields.is_empty() {
        return item;
    }
    item.retain(|k, _| fields.iter().any(|f| f == k));
    item
}

/// Applies filters, sorting and pagination to `items` and builds the collection
/// body: `{collection: [...], collection_links: [...]}`. `base` is the absolute
/// URL of the collection, for the links.
pub fn collection(
    collection: &str,
    items: Vec<Value>,
    p: &ListParams,
    base: &str,
) -> ApiResult<Value> {
    let items: Vec<Map<String, Value>> = items
        .into_iter()
        .filter_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect();
    // A sort key must be an attribute of the resource (checked on what there is).
    if let Some(first) = items.first()
        && let Some((k, _)) = p.sort.iter().find(|(k, _)| !first.contains_key(k))
    {
        return Err(ApiError::bad_request(format!(
            "{k} is an invalid attribute for sort_keys"
        )));
    }
    // So must a filter (`filter-validation`), as Neutron answers.
    if let Some(first) = items.first() {
        let bad = p.unknown_filters(first);
        if !bad.is_empty() {
            let list: Vec<String> = bad.iter().map(|k| format!("'{k}'")).collect();
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("[{}] is invalid attribute for filtering", list.join(", ")),
            ));
        }
    }
    let mut items: Vec<Map<String, Value>> = items.into_iter().filter(|m| p.matches(m)).collect();
    items.sort_by(|a, b| {
        for (k, asc) in &p.sort {
            let o = cmp_values(a.get(k), b.get(k));
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        cmp_values(a.get("id"), b.get("id"))
    });
    let mut links = Vec::new();
    if let Some(limit) = p.limit {
        let pos = |marker: &str| {
            items
                .iter()
                .position(|m| m.get("id").and_then(Value::as_str) == Some(marker))
        };
        let marker_pos = match &p.marker {
            Some(m) => {
                Some(pos(m).ok_or_else(|| ApiError::not_found("MarkerNotFound", "Marker", m))?)
            }
            None => None,
        };
        let (start, end) = if p.page_reverse {
            let end = marker_pos.unwrap_or(items.len());
            (end.saturating_sub(limit), end)
        } else {
            let start = marker_pos.map_or(0, |i| i + 1);
            (start, (start + limit).min(items.len()))
        };
        let has_before = start > 0;
        let has_after = end < items.len();
        items = items
            .drain(..)
            .skip(start)
            .take(end.saturating_sub(start))
            .collect();
        let id_of = |m: Option<&Map<String, Value>>| {
            m.and_then(|m| m.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut extra = String::new();
        for (k, asc) in &p.sort {
            extra.push_str(&format!(
                "&sort_key={k}&sort_dir={}",
                if *asc { "asc" } else { "desc" }
            ));
        }
        for f in &p.fields {
            extra.push_str(&format!("&fields={f}"));
        }
        // The filters stay on every page.
        for (k, vals) in &p.filters {
            for v in vals {
                extra.push_str(&format!("&{}={}", encode(k), encode(v)));
            }
        }
        // A full page links to the next one even when it is the last (Neutron's
        // rule, which clients and tempest follow until a page comes back short).
        let full = items.len() == limit;
        if (has_after || full)
            && let Some(last) = id_of(items.last())
        {
            links.push(json!({"rel": "next",
                "href": format!("{base}?limit={limit}&marker={last}{extra}")}));
        }
        if has_before && let Some(first) = id_of(items.first()) {
            links.push(json!({"rel": "previous",
                "href": format!("{base}?limit={limit}&marker={first}&page_reverse=True{extra}")}));
        } else if items.is_empty() && !p.page_reverse && p.marker.is_some() {
            // The empty page past the last one leads back to the last page
            // (Neutron's rule: no marker, reversed; tempest walks back from there).
            links.push(json!({"rel": "previous",
                "href": format!("{base}?limit={limit}&page_reverse=True{extra}")}));
        }
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|m| Value::Object(select_fields(m, &p.fields)))
        .collect();
    let mut body = Map::new();
    body.insert(collection.to_string(), Value::Array(items));
    if !links.is_empty() {
        body.insert(format!("{collection}_links"), Value::Array(links));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn items() -> Vec<Value> {
        (0..5)
            .map(|i| json!({"id": format!("id{i}"), "name": format!("n{}", i % 2), "shared": i == 3}))
            .collect()
    }

    fn ids(v: &Value) -> Vec<String> {
        v["things"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn tag_filters() -> ApiResult<()> {
        let tagged = |tags: &[&str]| {
            let mut m = Map::new();
            m.insert("tags".into(), json!(tags));
            m
        };
        let items = [
            tagged(&["red"]),
            tagged(&["red", "blue"]),
            tagged(&["red", "blue", "green"]),
            tagged(&["green"]),
            tagged(&[]),
        ];
        let pick = |q: &[(&str, &str)]| -> ApiResult<Vec<usize>> {
            let p = ListParams::parse(&pairs(q))?;
            Ok((0..items.len()).filter(|i| p.matches(&items[*i])).collect())
        };
        assert_eq!(pick(&[("tags", "red,blue")])?, [1, 2]);
        assert_eq!(pick(&[("tags", "red"), ("tags", "blue")])?, [1, 2]);
        assert_eq!(pick(&[("tags-any", "blue,green")])?, [1, 2, 3]);
        assert_eq!(pick(&[("not-tags", "red,blue")])?, [0, 3, 4]);
        assert_eq!(pick(&[("not-tags-any", "red,blue")])?, [3, 4]);
        let p = ListParams::parse(&pairs(&[("tags", "x"), ("colour", "y")]))?;
        assert_eq!(p.unknown_filters(&items[0]), ["colour"]);
        Ok(())
    }

    #[test]
    fn filters_or_within_and_across() -> ApiResult<()> {
        let p = ListParams::parse(&pairs(&[
            ("name", "n0"),
            ("name", "n1"),
            ("shared", "True"),
        ]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id3"]);
        Ok(())
    }

    #[test]
    fn links_keep_the_filters() -> ApiResult<()> {
        let p = ListParams::parse(&pairs(&[("limit", "1"), ("name", "n1"), ("name", "a b&c")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id1"]);
        let next = v["things_links"][0]["href"].as_str().unwrap_or_default();
        assert_eq!(
            next,
            "http://x/v2.0/things?limit=1&marker=id1&name=n1&name=a%20b%26c"
        );
        let p = ListParams::parse(&pairs(&[("limit", "1"), ("marker", "id1"), ("name", "n1")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id3"]);
        let prev = v["things_links"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["rel"] == "previous"))
            .and_then(|l| l["href"].as_str())
            .unwrap_or_default();
        assert_eq!(
            prev,
            "http://x/v2.0/things?limit=1&marker=id3&page_reverse=True&name=n1"
        );
        Ok(())
    }

    #[test]
    fn pagination_and_links() -> ApiResult<()> {
        let p = ListParams::parse(&pairs(&[("limit", "2")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id0", "id1"]);
        assert_eq!(v["things_links"][0]["rel"], "next");
        let p = ListParams::parse(&pairs(&[("limit", "2"), ("marker", "id1")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id2", "id3"]);
        // The last page, full: a next link all the same, to an empty page.
        let p = ListParams::parse(&pairs(&[("limit", "1"), ("marker", "id3")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id4"]);
        assert_eq!(v["things_links"][0]["rel"], "next");
        let p = ListParams::parse(&pairs(&[("limit", "1"), ("marker", "id4")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert!(ids(&v).is_empty());
        let rels: Vec<&Value> = v["things_links"]
            .as_array()
            .map(|a| a.iter().map(|l| &l["rel"]).collect())
            .unwrap_or_default();
        assert!(!rels.contains(&&json!("next")), "{v}");
        // ...and a previous link back to the last page (no marker, reversed).
        let prev = v["things_links"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["rel"] == "previous"))
            .and_then(|l| l["href"].as_str())
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            prev, "http://x/v2.0/things?limit=1&page_reverse=True",
            "{v}"
        );
        let p = ListParams::parse(&pairs(&[("limit", "1"), ("page_reverse", "True")]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id4"]);
        let p = ListParams::parse(&pairs(&[
            ("limit", "2"),
            ("marker", "id2"),
            ("page_reverse", "True"),
        ]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id0", "id1"]);
        Ok(())
    }

    #[test]
    fn sorting_and_fields() -> ApiResult<()> {
        let p = ListParams::parse(&pairs(&[
            ("sort_key", "name"),
            ("sort_dir", "desc"),
            ("sort_key", "id"),
            ("sort_dir", "asc"),
            ("fields", "id"),
        ]))?;
        let v = collection("things", items(), &p, "http://x/v2.0/things")?;
        assert_eq!(ids(&v), vec!["id1", "id3", "id0", "id2", "id4"]);
        assert!(v["things"][0].get("name").is_none());
        Ok(())
    }
}
