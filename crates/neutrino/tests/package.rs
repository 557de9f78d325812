//! Installing neutrino on real hosts (issue 23): the systemd units in
//! etc/systemd pass `systemd-analyze verify` (with ExecStart pointing at the
//! binary under test) and order switchd before the agent; `scripts/build-deb.sh`
//! builds a Debian package that dpkg installs into a scratch root, where
//! `neutrino --version` runs and the configuration files are conffiles.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_neutrino");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neutrino-pkg-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const UNITS: [&str; 3] = [
    "neutrino-switchd.service",
    "neutrino-agent.service",
    "neutrino-server.service",
];

#[test]
fn the_systemd_units_verify() {
    let dir = scratch("units");
    let mut paths = Vec::new();
    for u in UNITS {
        let text = std::fs::read_to_string(repo().join("etc/systemd").join(u)).unwrap();
        assert!(text.contains("ExecStart=/usr/bin/neutrino "), "{u}");
        let p = dir.join(u);
        std::fs::write(&p, text.replace("/usr/bin/neutrino", BIN)).unwrap();
        paths.push(p);
    }
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .expect("systemd-analyze (Debian's systemd) runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.trim().is_empty(), "{err}");
    let agent = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(
        agent
            .lines()
            .any(|l| l.starts_with("After=") && l.contains("neutrino-switchd.service")),
        "the agent starts after switchd"
    );
    for (u, dir) in [
        (0, "RuntimeDirectory=neutrino"),
        (2, "StateDirectory=neutrino"),
    ] {
        let text = std::fs::read_to_string(&paths[u]).unwrap();
        assert!(text.contains(dir), "{}: {dir}", UNITS[u]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_debian_package_installs_and_runs() {
    let dir = scratch("deb");
    let out = Command::new(repo().join("scripts/build-deb.sh"))
        .args(["--binary", BIN, "--out"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{deb}");

    // A scratch root with an empty dpkg database.
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let mut install = Command::new("dpkg");
    install.arg(format!("--root={}", root.display())).args([
        "--force-depends",
        "--force-script-chrootless",
        "--log=/dev/null",
    ]);
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        install.arg("--force-not-root");
    }
    let o = install.args(["-i", &deb]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let v = Command::new(root.join("usr/bin/neutrino"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("neutrino {}", env!("CARGO_PKG_VERSION"))
    );
    for f in UNITS {
        assert!(root.join("lib/systemd/system").join(f).exists(), "{f}");
    }
    let q = Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args(["-W", "-f=${Conffiles}", "neutrino"])
        .output()
        .unwrap();
    let conffiles = String::from_utf8_lossy(&q.stdout);
    for c in ["agent", "server", "switchd"] {
        assert!(
            conffiles.contains(&format!("/etc/neutrino/{c}.toml")),
            "{conffiles}"
        );
        assert!(root.join(format!("etc/neutrino/{c}.toml")).exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
