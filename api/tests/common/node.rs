//! Running the Node.js test suites of `tests/` (`node --test`) against this build's binary.

use std::path::Path;
use std::process::Command;

/// Runs `node --test FILE` in `tests/DIR` with `ADUANA_BIN` set, after checking that Node.js,
/// the suite's `node_modules` (`npm ci --prefix tests/DIR`) and, when `chromium` is set, the
/// browser are there. Without them the suite says it was skipped, unless `require_var` is set
/// to `1` (CI), which makes it fail instead.
pub fn run_suite(dir: &str, file: &str, package: &str, chromium: bool, require_var: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| unreachable!("api/ is inside the workspace"));
    let dir = root.join("tests").join(dir);
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let node = Command::new("node").arg("--version").output();
    let install = format!("{package} (npm ci --prefix {})", dir.display());
    let missing: Vec<&str> = [
        (node.is_err(), "node"),
        (
            !dir.join("node_modules").join(package).exists(),
            install.as_str(),
        ),
        (chromium && !Path::new(&browser).exists(), "chromium"),
    ]
    .into_iter()
    .filter_map(|(absent, what)| absent.then_some(what))
    .collect();
    if !missing.is_empty() {
        let required = std::env::var(require_var).is_ok_and(|v| v == "1");
        assert!(!required, "{require_var}=1 but missing: {missing:?}");
        eprintln!("{file} skipped: missing {missing:?}");
        return;
    }
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", file])
        .current_dir(&dir)
        .env("ADUANA_BIN", env!("CARGO_BIN_EXE_aduana"))
        .env("CHROMIUM", &browser)
        .status()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(status.success(), "{file} failed (see its output above)");
}
