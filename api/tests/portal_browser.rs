//! The portal in a real browser: runs `tests/browser/portal.test.mjs` (playwright-core driving
//! Debian's headless Chromium) against this build's `aduana` binary.
//!
//! Needs Node.js, `npm ci --prefix tests/browser` and `/usr/bin/chromium` (or `CHROMIUM`).
//! Without them the test says it was skipped, unless `ADUANA_REQUIRE_BROWSER=1` (CI), which
//! makes it fail instead.

mod common;

#[test]
fn the_portal_works_in_a_real_browser() {
    common::node::run_suite(
        "browser",
        "portal.test.mjs",
        "playwright-core",
        true,
        "ADUANA_REQUIRE_BROWSER",
    );
}
