//! Output the way openstackclient (cliff) prints it: `-f table|json|value|yaml|csv`
//! and `-c COLUMN`. Lists are a table of columns; single resources are a
//! Field/Value table (`csv` is for lists only, as in cliff). Tables have a rule
//! above and below and one under the header, none between rows.

use super::formats;
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use comfy_table::{ContentLineStyle, LineStyle, Table, TableStyle};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Value,
    Yaml,
    Csv,
}

/// cliff's table (prettytable's default): `+---+` rules at the top, under the
/// header and at the bottom, `|` between cells.
const CLIFF: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('+', '-', '+', '+'))
    .header_lines(ContentLineStyle::new('|', '|', '|'))
    .header_separator(LineStyle::new('+', '-', '+', '+'))
    .content_lines(ContentLineStyle::new('|', '|', '|'))
    .bottom_border(LineStyle::new('+', '-', '+', '+'));

#[derive(Args, Clone, Debug)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = Format::Table, global = true, help_heading = "Output")]
    pub format: Format,
    /// Show only this column (repeatable; default: all).
    #[arg(
        short = 'c',
        long = "column",
        value_name = "COLUMN",
        global = true,
        help_heading = "Output"
    )]
    pub columns: Vec<String>,
}

impl Default for OutputArgs {
    fn default() -> Self {
        OutputArgs {
            format: Format::Table,
            columns: Vec::new(),
        }
    }
}

/// A list column: its heading and the attribute of each row it shows.
pub type Column<'a> = (&'a str, &'a str);

impl OutputArgs {
    /// Indexes of the available columns that `-c` selects, in their own order
    /// (as cliff does). Unknown names are ignored unless none is known.
    fn select(&self, available: &[&str]) -> Result<Vec<usize>> {
        if self.columns.is_empty() {
            return Ok((0..available.len()).collect());
        }
        let wanted = |name: &str| {
            self.columns.iter().any(|c| c == name)
                || (!self.columns.iter().any(|c| available.contains(&c.as_str()))
                    && self.columns.iter().any(|c| c.eq_ignore_ascii_case(name)))
        };
        let idx: Vec<usize> = (0..available.len())
            .filter(|&i| wanted(available[i]))
            .collect();
        if idx.is_empty() {
            bail!(
                "No recognized column names in {:?}. Recognized columns are ({})",
                self.columns,
                available.join(", ")
            );
        }
        Ok(idx)
    }

    /// A list of resources (`rows`) under `columns`.
    pub fn list(&self, rows: &[Value], columns: &[Column]) -> Result<String> {
        let headings: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let idx = self.select(&headings)?;
        let cell = |row: &Value, i: usize| row.get(columns[i].1).cloned().unwrap_or(Value::Null);
        let items = || -> Value {
            Value::Array(
                rows.iter()
                    .map(|r| {
                        let m: Map<String, Value> = idx
                            .iter()
                            .map(|&i| (columns[i].0.to_string(), cell(r, i)))
                            .collect();
                        Value::Object(m)
                    })
                    .collect(),
            )
        };
        Ok(match self.format {
            Format::Json => json_text(&items()),
            Format::Yaml => formats::yaml(&items()),
            Format::Csv => {
                let cells: Vec<Vec<(Value, String)>> = rows
                    .iter()
                    .map(|r| {
                        idx.iter()
                            .map(|&i| {
                                let v = cell(r, i);
                                let shown = display(columns[i].1, &v, false);
                                (v, shown)
                            })
                            .collect()
                    })
                    .collect();
                let heads: Vec<&str> = idx.iter().map(|&i| columns[i].0).collect();
                formats::csv(&heads, &cells)
            }
            Format::Value => rows
                .iter()
                .map(|r| {
                    let cells: Vec<String> = idx
                        .iter()
                        .map(|&i| display(columns[i].1, &cell(r, i), false))
                        .collect();
                    cells.join(" ") + "\n"
                })
                .collect(),
            Format::Table => {
                if rows.is_empty() {
                    return Ok(String::new());
                }
                let mut t = new_table();
                t.set_header(idx.iter().map(|&i| columns[i].0).collect::<Vec<_>>());
                for r in rows {
                    t.add_row(
                        idx.iter()
                            .map(|&i| display(columns[i].1, &cell(r, i), true))
                            .collect::<Vec<_>>(),
                    );
                }
                t.to_string() + "\n"
            }
        })
    }

    /// One resource: every attribute, sorted by name.
    pub fn show(&self, obj: &Value) -> Result<String> {
        let empty = Map::new();
        let m = obj.as_object().unwrap_or(&empty);
        let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let idx = self.select(&keys)?;
        let field = |i: usize| (keys[i], m.get(keys[i]).unwrap_or(&Value::Null));
        let selected = || -> Value {
            Value::Object(
                idx.iter()
                    .map(|&i| {
                        let (k, v) = field(i);
                        (k.to_string(), v.clone())
                    })
                    .collect(),
            )
        };
        Ok(match self.format {
            Format::Json => json_text(&selected()),
            Format::Yaml => formats::yaml(&selected()),
            Format::Csv => bail!(
                "-f csv is for lists; a single resource is shown with -f table, json, value or yaml"
            ),
            Format::Value => idx
                .iter()
                .map(|&i| {
                    let (k, v) = field(i);
                    display(k, v, false) + "\n"
                })
                .collect(),
            Format::Table => {
                let mut t = new_table();
                t.set_header(vec!["Field", "Value"]);
                for &i in &idx {
                    let (k, v) = field(i);
                    t.add_row(vec![k.to_string(), display(k, v, true)]);
                }
                t.to_string() + "\n"
            }
        })
    }
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(CLIFF);
    t
}

fn json_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()) + "\n"
}

/// How openstackclient shows an attribute's value in a table cell (`multiline`)
/// or in `-f value` output.
pub fn display(key: &str, v: &Value, multiline: bool) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => match key {
            "admin_state_up" => if *b { "UP" } else { "DOWN" }.into(),
            "alive" => if *b { ":-)" } else { "XXX" }.into(),
            "router:external" => if *b { "External" } else { "Internal" }.into(),
            _ => if *b { "True" } else { "False" }.into(),
        },
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if key == "allocation_pools" => items
            .iter()
            .map(|p| {
                let end = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
                format!("{}-{}", end("start"), end("end"))
            })
            .collect::<Vec<_>>()
            .join(if multiline { "\n" } else { ", " }),
        Value::Array(items) => {
            let objects = items.iter().any(Value::is_object);
            let sep = if objects && multiline { "\n" } else { ", " };
            items
                .iter()
                .map(|i| match i {
                    Value::Object(m) => dict(m),
                    other => display("", other, false),
                })
                .collect::<Vec<_>>()
                .join(sep)
        }
        Value::Object(m) => dict(m),
    }
}

/// `a='1', b='2'` with the keys sorted; JSON when a value is itself a list or
/// an object (as openstackclient shows `external_gateway_info`).
fn dict(m: &Map<String, Value>) -> String {
    if m.values().any(|v| v.is_array() || v.is_object()) {
        return serde_json::to_string(m).unwrap_or_default();
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_unstable();
    keys.iter()
        .map(|k| match &m[k.as_str()] {
            Value::String(s) => format!("{k}='{s}'"),
            other => format!("{k}='{}'", display(k, other, false)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(format: Format, columns: &[&str]) -> OutputArgs {
        OutputArgs {
            format,
            columns: columns.iter().map(|s| s.to_string()).collect(),
        }
    }

    const COLS: [Column; 3] = [("ID", "id"), ("Name", "name"), ("Subnets", "subnets")];

    #[test]
    fn list_formats() {
        let rows = vec![
            json!({"id": "1", "name": "a", "subnets": ["s1", "s2"]}),
            json!({"id": "2", "name": "b", "subnets": []}),
        ];
        let v = out(Format::Value, &["Name"]).list(&rows, &COLS).unwrap();
        assert_eq!(v, "a\nb\n");
        let v = out(Format::Value, &[]).list(&rows, &COLS).unwrap();
        assert_eq!(v, "1 a s1, s2\n2 b \n");
        let j: Value = serde_json::from_str(
            &out(Format::Json, &["ID", "Subnets"])
                .list(&rows, &COLS)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            j,
            json!([{"ID": "1", "Subnets": ["s1", "s2"]}, {"ID": "2", "Subnets": []}])
        );
        let t = out(Format::Table, &[]).list(&rows, &COLS).unwrap();
        assert!(t.starts_with("+----+"), "{t}");
        assert!(t.contains("| 1  | a    | s1, s2  |"), "{t}");
        // cliff's shape: a rule above, under the header and below; none between rows.
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6, "{t}");
        for i in [0, 2, 5] {
            assert!(lines[i].starts_with("+----+------+"), "{t}");
        }
        assert!(
            lines[1].starts_with("| ID |") && lines[4].starts_with("| 2  |"),
            "{t}"
        );
        let y = out(Format::Yaml, &["ID", "Subnets"])
            .list(&rows, &COLS)
            .unwrap();
        assert_eq!(
            y,
            "- ID: '1'\n  Subnets:\n  - s1\n  - s2\n- ID: '2'\n  Subnets: []\n".replace('\'', "\"")
        );
        let c = out(Format::Csv, &[]).list(&rows, &COLS).unwrap();
        assert_eq!(
            c,
            "\"ID\",\"Name\",\"Subnets\"\n\"1\",\"a\",\"s1, s2\"\n\"2\",\"b\",\"\"\n"
        );
        assert_eq!(out(Format::Table, &[]).list(&[], &COLS).unwrap(), "");
        // -c keeps the columns' own order; case-insensitive when nothing matches exactly.
        let v = out(Format::Value, &["name", "id"])
            .list(&rows, &COLS)
            .unwrap();
        assert_eq!(v, "1 a\n2 b\n");
        let e = out(Format::Value, &["Nope"])
            .list(&rows, &COLS)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("No recognized column names"),
            "{e}"
        );
    }

    #[test]
    fn show_formats() {
        let obj = json!({"name": "n", "id": "1", "admin_state_up": true,
                         "router:external": false, "mtu": 1450, "gateway_ip": null,
                         "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.3"}]});
        let v = out(Format::Value, &["id", "name"]).show(&obj).unwrap();
        assert_eq!(v, "1\nn\n");
        let t = out(Format::Table, &[]).show(&obj).unwrap();
        assert!(t.contains("| admin_state_up  | UP"), "{t}");
        assert!(t.contains("| router:external | Internal"), "{t}");
        assert!(t.contains("| gateway_ip      | None"), "{t}");
        assert!(t.contains("ip_address='10.0.0.3', subnet_id='s'"), "{t}");
        let j: Value =
            serde_json::from_str(&out(Format::Json, &["mtu"]).show(&obj).unwrap()).unwrap();
        assert_eq!(j, json!({"mtu": 1450}));
        let y = out(Format::Yaml, &["mtu", "name", "gateway_ip"])
            .show(&obj)
            .unwrap();
        assert_eq!(y, "gateway_ip: null\nmtu: 1450\nname: n\n");
        let e = out(Format::Csv, &[]).show(&obj).unwrap_err();
        assert!(e.to_string().starts_with("-f csv is for lists"), "{e}");
    }

    #[test]
    fn display_values() {
        assert_eq!(display("alive", &json!(true), true), ":-)");
        assert_eq!(display("alive", &json!(false), true), "XXX");
        assert_eq!(display("shared", &json!(false), true), "False");
        assert_eq!(
            display("x", &json!([{"a": 1}, {"a": 2}]), true),
            "a='1'\na='2'"
        );
        assert_eq!(
            display("x", &json!([{"a": 1}, {"a": 2}]), false),
            "a='1', a='2'"
        );
        assert_eq!(
            display(
                "allocation_pools",
                &json!([{"start": "10.0.0.2", "end": "10.0.0.9"}]),
                true
            ),
            "10.0.0.2-10.0.0.9"
        );
        assert_eq!(
            display(
                "external_gateway_info",
                &json!({"network_id": "n", "external_fixed_ips": []}),
                true
            ),
            r#"{"external_fixed_ips":[],"network_id":"n"}"#
        );
    }
}
