//! The machine formats openstackclient (cliff) offers beside `table`, `json` and
//! `value`: `yaml` (block style, as PyYAML's `safe_dump` writes it) and `csv` (a
//! header row, then one row per resource, strings quoted and numbers not, as
//! Python's `csv.QUOTE_NONNUMERIC` writes them). Written here rather than with a
//! YAML crate: only JSON values are emitted, which needs a few dozen lines, and
//! the maintained YAML crates for serde have changed hands twice.

use serde_json::Value;

/// `v` as a YAML document, ending with a newline.
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Array(a) if a.is_empty() => out.push_str("[]\n"),
        Value::Object(m) if m.is_empty() => out.push_str("{}\n"),
        Value::Array(_) | Value::Object(_) => block(&mut out, v, 0),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

/// Writes a non-empty list or mapping at `indent`, each entry on its own line.
fn block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    // A mapping in a list starts on the dash's line.
                    Value::Object(m) if !m.is_empty() => {
                        out.push(' ');
                        let mut inner = String::new();
                        block(&mut inner, item, indent + 2);
                        out.push_str(inner.trim_start());
                    }
                    _ => entry(out, item, indent + 2, indent + 2),
                }
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                out.push_str(&pad);
                out.push_str(&yaml_scalar(&Value::String(k.clone())));
                out.push(':');
                // PyYAML puts a list under a key at the key's indentation.
                entry(out, item, indent, indent + 2);
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

/// The rest of an entry after its dash or key: a nested list (at `list_indent`)
/// or mapping (at `map_indent`) on the following lines, anything else inline.
fn entry(out: &mut String, item: &Value, list_indent: usize, map_indent: usize) {
    match item {
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(out, item, list_indent);
        }
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(out, item, map_indent);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// A scalar, or an empty list or mapping, on one line.
fn inline(v: &Value) -> String {
    match v {
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
        scalar => yaml_scalar(scalar),
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain(s) => s.clone(),
        // A JSON string is a valid double-quoted YAML scalar.
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

/// Whether `s` reads back as the same string without quotes.
fn plain(s: &str) -> bool {
    // What PyYAML's resolver would read as something other than a string.
    const RESERVED: [&str; 12] = [
        "null", "~", "true", "false", "yes", "no", "on", "off", ".nan", ".inf", "-.inf", "<<",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    // Numbers in YAML 1.1's many spellings (1_000, 0o17, 1:30 sexagesimal, ...)
    // use only these characters after a leading digit, sign or dot; dates
    // (timestamps) start with four digits and a dash.
    let numeric = (first.is_ascii_digit() || matches!(first, '-' | '+' | '.'))
        && s.chars()
            .all(|c| c.is_ascii_digit() || "._:+-eExXoObB".contains(c));
    let b = s.as_bytes();
    let date = b.len() >= 6 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
        || numeric
        || date
        || s.starts_with("0x")
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
    {
        return false;
    }
    (first.is_ascii_alphanumeric() || matches!(first, '_' | '.' | '/'))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./: ()=,@+".contains(c))
}

/// A CSV document: `headings`, then `rows`; strings (and `None` for null)
/// quoted, numbers not.
pub fn csv(headings: &[&str], rows: &[Vec<(Value, String)>]) -> String {
    let mut out = String::new();
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    out.push_str(
        &headings
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|(raw, shown)| match raw {
                Value::Number(n) => n.to_string(),
                _ => quote(shown),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_as_pyyaml_writes_it() {
        let v = json!([
            {"ID": "5b0c", "Name": "public", "Subnets": ["s1", "s2"]},
            {"ID": "77aa", "Name": "", "Subnets": []}
        ]);
        assert_eq!(
            yaml(&v),
            "- ID: 5b0c\n  Name: public\n  Subnets:\n  - s1\n  - s2\n- ID: 77aa\n  Name: \"\"\n  Subnets: []\n"
        );
        let v = json!({"admin_state_up": true, "mtu": 1450, "description": null,
            "external_gateway_info": {"network_id": "n", "enable_snat": false},
            "name": "true", "cidr": "10.0.0.0/24", "note": "a: b"});
        assert_eq!(
            yaml(&v),
            "admin_state_up: true\ncidr: 10.0.0.0/24\ndescription: null\n\
             external_gateway_info:\n  enable_snat: false\n  network_id: n\n\
             mtu: 1450\nname: \"true\"\nnote: \"a: b\"\n"
        );
        assert_eq!(yaml(&json!([])), "[]\n");
        assert_eq!(yaml(&json!({})), "{}\n");
        assert_eq!(yaml(&json!([[1, 2], []])), "-\n  - 1\n  - 2\n- []\n");
        assert_eq!(yaml(&json!("12")), "\"12\"\n");
        for quoted in [
            "1_000",
            "0o17",
            "1:30",
            "2026-12-07T18:49:56Z",
            "-1.5",
            "ON",
        ] {
            assert_eq!(yaml(&json!(quoted)), format!("\"{quoted}\"\n"));
        }
        for plain in [
            "10.0.0.0/24",
            "fa:16:3e:00:01:01",
            "c189db2a-9589",
            "ACTIVE",
        ] {
            assert_eq!(yaml(&json!(plain)), format!("{plain}\n"));
        }
    }

    #[test]
    fn csv_quotes_strings_not_numbers() {
        let rows = vec![
            vec![
                (json!("a,\"b\""), "a,\"b\"".to_string()),
                (json!(1450), "1450".to_string()),
            ],
            vec![
                (json!(null), "None".to_string()),
                (json!(true), "UP".to_string()),
            ],
        ];
        assert_eq!(
            csv(&["Name", "MTU"], &rows),
            "\"Name\",\"MTU\"\n\"a,\"\"b\"\"\",1450\n\"None\",\"UP\"\n"
        );
    }
}
