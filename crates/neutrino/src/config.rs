//! `neutrino server|agent|switchd --config FILE`: a TOML file whose keys are the
//! daemon's command-line options (`report_interval = 30` for
//! `--report-interval 30`), plus the names Neutron's own configuration files use
//! for the same settings (`local_ip` for `--tunnel-ip`, `bridge_mappings` as
//! Neutron writes them). The command line and the environment win over the
//! file, the file over the defaults: the file's settings become command-line
//! arguments placed before the operator's, for every option the operator did not
//! give. Unknown keys and values of the wrong kind are refused naming the file
//! and the key; values clap refuses are reported the same way.

use clap::CommandFactory;
use std::ffi::OsString;
use std::path::Path;

/// Neutron's names for options that have another name here, per daemon.
const NEUTRON_NAMES: &[(&str, &str, &str)] = &[
    ("agent", "local_ip", "tunnel-ip"),
    ("agent", "bridge_mappings", "bridge-mapping"),
    ("server", "tenant_network_types", "tenant-network-type"),
    ("server", "vni_ranges", "vxlan-range"),
    ("server", "tunnel_id_ranges", "gre-range"),
    ("server", "network_vlan_ranges", "vlan-range"),
    ("server", "flat_networks", "flat-network"),
];

/// One option the file sets: its long name, the file's key, one value per
/// occurrence (`None` for a flag that is on).
struct Setting {
    long: String,
    key: String,
    values: Vec<Option<String>>,
}

/// Where each setting came from, for the errors clap reports.
pub struct Expanded {
    pub args: Vec<OsString>,
    /// `--long` -> the file and key that gave it.
    from_file: Vec<(String, String)>,
    file: String,
}

/// The daemons that read `--config`.
const DAEMONS: [&str; 3] = ["server", "agent", "switchd"];

/// `argv` with `--config FILE` replaced by the file's settings (for a daemon
/// subcommand), or as it is.
pub fn expand(argv: Vec<OsString>) -> Result<Expanded, String> {
    let sub = argv
        .get(1)
        .and_then(|a| a.to_str())
        .unwrap_or_default()
        .to_owned();
    let mut file = None;
    let mut rest: Vec<OsString> = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--config") if DAEMONS.contains(&sub.as_str()) => match it.next() {
                Some(f) => file = Some(f),
                None => return Err("--config needs a FILE".into()),
            },
            Some(s) if s.starts_with("--config=") && DAEMONS.contains(&sub.as_str()) => {
                file = Some(OsString::from(&s["--config=".len()..]));
            }
            _ => rest.push(a),
        }
    }
    let Some(file) = file else {
        return Ok(Expanded {
            args: rest,
            from_file: Vec::new(),
            file: String::new(),
        });
    };
    let path = Path::new(&file);
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let settings = settings(&sub, &name, &text, &rest)?;
    let mut args: Vec<OsString> = rest[..2].to_vec();
    let mut from_file = Vec::new();
    for Setting { long, key, values } in settings {
        from_file.push((long.clone(), key));
        for v in values {
            args.push(OsString::from(format!("--{long}")));
            if let Some(v) = v {
                args.push(OsString::from(v));
            }
        }
    }
    args.extend(rest.into_iter().skip(2));
    Ok(Expanded {
        args,
        from_file,
        file: name,
    })
}

/// The file's settings for subcommand `sub` that `given` (the command line)
/// and the environment do not override.
fn settings(sub: &str, file: &str, text: &str, given: &[OsString]) -> Result<Vec<Setting>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{file}: {}", one_line(&e.to_string())))?;
    let cmd = crate::Cli::command();
    let Some(sub_cmd) = cmd.find_subcommand(sub) else {
        return Err(format!(
            "{file}: `neutrino {sub}` reads no configuration file"
        ));
    };
    let mut out = Vec::new();
    for (key, value) in table {
        let long = NEUTRON_NAMES
            .iter()
            .find(|(s, k, _)| *s == sub && *k == key)
            .map(|(_, _, l)| (*l).to_owned())
            .unwrap_or_else(|| key.replace('_', "-"));
        let Some(arg) = sub_cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        else {
            return Err(format!(
                "{file}: unknown key '{key}' for `neutrino {sub}` (its keys are its options' long names with '_', see `neutrino {sub} --help`)"
            ));
        };
        let on_command_line = given.iter().any(|g| {
            g.to_str()
                .is_some_and(|g| g == format!("--{long}") || g.starts_with(&format!("--{long}=")))
        });
        let in_environment = arg.get_env().is_some_and(|e| std::env::var_os(e).is_some());
        if on_command_line || in_environment {
            continue;
        }
        let flag = !arg.get_action().takes_values();
        let many = matches!(arg.get_action(), clap::ArgAction::Append)
            || arg.get_value_delimiter().is_some();
        let values = match (&value, flag) {
            (toml::Value::Boolean(b), true) => {
                if *b {
                    vec![None]
                } else {
                    vec![]
                }
            }
            (_, true) => {
                return Err(format!("{file}: key '{key}': must be true or false"));
            }
            (toml::Value::Array(items), false) if many => items
                .iter()
                .map(|i| scalar(i).map(Some))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{file}: key '{key}': a list of strings or numbers"))?,
            (toml::Value::Array(_), false) => {
                return Err(format!("{file}: key '{key}': takes one value, not a list"));
            }
            // Neutron writes lists as one comma-separated string.
            (toml::Value::String(s), false) if many && s.contains(',') => s
                .split(',')
                .map(|p| Some(p.trim().to_owned()))
                .filter(|p| p.as_deref() != Some(""))
                .collect(),
            (v, false) => vec![Some(scalar(v).ok_or_else(|| {
                format!("{file}: key '{key}': a string, number or boolean")
            })?)],
        };
        out.push(Setting { long, key, values });
    }
    Ok(out)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Expanded {
    /// A clap error about an option the file set, as the file's error; None
    /// when the option came from the command line.
    pub fn file_error(&self, e: &clap::Error) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let ContextValue::String(arg) = e.get(ContextKind::InvalidArg)? else {
            return None;
        };
        let long = arg.trim_start_matches("--").split([' ', '=']).next()?;
        let (_, key) = self.from_file.iter().find(|(l, _)| l == long)?;
        let valid = match e.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(v)) => format!(" (possible values: {})", v.join(", ")),
            _ => String::new(),
        };
        let reason = e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        Some(format!(
            "{}: key '{key}': {}{valid}",
            self.file,
            one_line(&reason)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    fn with_file(text: &str, cmd: &str) -> Result<Vec<String>, String> {
        let dir = std::env::temp_dir().join(format!("neutrino-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let f = dir.join(format!("{}.toml", cmd.len()));
        std::fs::write(&f, text).map_err(|e| e.to_string())?;
        let line = cmd.replace("FILE", &f.display().to_string());
        let r = expand(argv(&line)).map(|e| {
            e.args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        });
        let _ = std::fs::remove_file(&f);
        r.map_err(|e| e.replace(&f.display().to_string(), "FILE"))
    }

    #[test]
    fn file_settings_come_before_the_command_lines() {
        let a = with_file(
            "local_ip = \"192.168.100.31\"\nbridge_mappings = \"physnet1:br-eth1,public:br-ex\"\n\
             report_interval = 10\nno_metadata = true\nhost = \"compute-01\"\n",
            "neutrino agent --config FILE --host h --server http://x",
        )
        .unwrap();
        assert_eq!(
            a,
            [
                "neutrino",
                "agent",
                "--bridge-mapping",
                "physnet1:br-eth1",
                "--bridge-mapping",
                "public:br-ex",
                "--tunnel-ip",
                "192.168.100.31",
                "--no-metadata",
                "--report-interval",
                "10",
                "--host",
                "h",
                "--server",
                "http://x"
            ]
        );
    }

    #[test]
    fn refusals_name_the_file_and_the_key() {
        let e = with_file("tunnel_ip = [\"a\"]\n", "neutrino agent --config FILE").unwrap_err();
        assert_eq!(e, "FILE: key 'tunnel_ip': takes one value, not a list");
        let e = with_file("colour = 1\n", "neutrino agent --config FILE").unwrap_err();
        assert!(
            e.starts_with("FILE: unknown key 'colour' for `neutrino agent`"),
            "{e}"
        );
        let e = with_file("no_metadata = 1\n", "neutrino agent --config FILE").unwrap_err();
        assert_eq!(e, "FILE: key 'no_metadata': must be true or false");
        let e = with_file("listen = \n", "neutrino server --config FILE").unwrap_err();
        assert!(e.starts_with("FILE: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = expand(argv("neutrino agent --config /nonexistent/x.toml")).err();
        assert!(e.is_some_and(|e| e.starts_with("/nonexistent/x.toml: ")));
        // Other commands take --config as they always did (none do): untouched.
        let a = expand(argv("neutrino network list --config x")).unwrap();
        assert_eq!(a.args.len(), 5);
    }
}
