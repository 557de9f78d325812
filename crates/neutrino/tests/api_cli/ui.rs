//! The topology page `/ui` in a real headless browser (Chromium from Debian's
//! packages, which the README's commands install): with a token handed over in
//! the URL fragment it shows the hosts, networks, ports, routers and floating
//! IPs, and a port added through the API appears on the next refresh; a bad
//! token gets the login form and no data; the page's files carry a strict
//! Content-Security-Policy. A screenshot is kept as a test artifact in
//! target/test-artifacts/topology-page.png.

use super::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The page's DOM after its script ran (Chromium's --dump-dom with a virtual
/// time budget: the fetches and the render complete, the 5 s refresh does not
/// matter).
fn dom(url: &str) -> String {
    let o = chromium(&["--dump-dom", url]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = std::env::temp_dir().join(format!("neutrino-ui-chromium-{}", std::process::id()));
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs (Debian package chromium, from scripts/install-deps.sh)")
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&d).expect("target/test-artifacts");
    d
}

#[test]
fn the_topology_page_in_a_headless_browser() {
    let s = Server::start();
    let admin = s.admin();
    let a = Some(&admin);
    s.register_agent("compute1");
    cli(a, "network create ui-net").ok();
    cli(
        a,
        "subnet create ui-subnet --network ui-net --subnet-range 10.9.0.0/24",
    )
    .ok();
    cli(a, "router create ui-router").ok();
    cli(a, "router add subnet ui-router ui-subnet").ok();
    cli(a, "port create ui-vm1 --network ui-net --host compute1").ok();

    // The files and their headers.
    let (status, head, body) = http(s.port, "GET", "/ui", None, "");
    assert_eq!(status, 200, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("<script src=\"/ui/app.js\""), "{body}");
    let (status, _, js) = http(s.port, "GET", "/ui/app.js", None, "");
    assert_eq!(status, 200);
    assert!(
        !js.contains("innerHTML"),
        "the page puts API data on the page as text only"
    );

    let token = s.admin_token();
    let url = format!("http://127.0.0.1:{}/ui#token={token}", s.port);
    let page = dom(&url);
    assert!(
        page.contains("<main id=\"view\">"),
        "the view is shown:\n{page}"
    );
    for shown in [
        "compute1",
        "192.168.100.11",
        "ui-net",
        "10.9.0.0/24",
        "ui-router",
        "qr 10.9.0.1",
        "ui-vm1",
        "@compute1",
    ] {
        assert!(page.contains(shown), "{shown} not on the page:\n{page}");
    }
    assert!(!page.contains("ui-vm2"));

    // A port added through the API is on the page the next time it loads.
    cli(a, "port create ui-vm2 --network ui-net").ok();
    let page = dom(&url);
    assert!(
        page.contains("ui-vm2"),
        "the new port is not on the page:\n{page}"
    );

    // A screenshot for the humans.
    let shot = artifacts().join("topology-page.png");
    let _ = std::fs::remove_file(&shot);
    let o = chromium(&[
        "--window-size=1280,900",
        &format!("--screenshot={}", shot.display()),
        &url,
    ]);
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&o.stderr)));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    // A token the server does not know: the login form, and no data.
    let page = dom(&format!("http://127.0.0.1:{}/ui#token=not-a-token", s.port));
    assert!(page.contains("<form id=\"login\">"), "{page}");
    assert!(!page.contains("ui-net"), "{page}");
}
