//! The portal in a real browser: runs `tests/browser/portal.test.mjs` (playwright-core driving
//! Debian's headless Chromium) against this build's `aduana` binary.
//!
//! Needs Node.js, `npm ci --prefix tests/browser` and `/usr/bin/chromium` (or `CHROMIUM`).
//! Without them the test says it was skipped, unless `ADUANA_REQUIRE_BROWSER=1` (CI), which
//! makes it fail instead.

use std::path::Path;
use std::process::Command;

#[test]
fn the_portal_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| unreachable!("api/ is inside the workspace"));
    let dir = root.join("tests").join("browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let node = Command::new("node").arg("--version").output();
    let missing: Vec<&str> = [
        (node.is_err(), "node"),
        (
            !dir.join("node_modules").join("playwright-core").exists(),
            "playwright-core (npm ci --prefix tests/browser)",
        ),
        (!Path::new(&chromium).exists(), "chromium"),
    ]
    .into_iter()
    .filter_map(|(absent, what)| absent.then_some(what))
    .collect();
    if !missing.is_empty() {
        let required = std::env::var("ADUANA_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "browser tests required but missing: {missing:?}");
        eprintln!("browser tests skipped: missing {missing:?}");
        return;
    }
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "portal.test.mjs"])
        .current_dir(&dir)
        .env("ADUANA_BIN", env!("CARGO_BIN_EXE_aduana"))
        .env("CHROMIUM", &chromium)
        .status()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        status.success(),
        "the browser tests failed (see their output above)"
    );
}
