//! An integrator's client that nobody here wrote: runs `tests/integrators/events.test.mjs` (the
//! npm `graphql-ws` client on Node.js) against this build's `aduana` binary: subscribe, receive,
//! disconnect, resume from the last position while writers are busy, no gap, no duplicate.
//!
//! Needs Node.js and `npm ci --prefix tests/integrators`. Without them the test says it was
//! skipped, unless `ADUANA_REQUIRE_NODE=1` (CI), which makes it fail instead.

mod common;

#[test]
fn the_npm_graphql_ws_client_resumes_without_gap_or_duplicate() {
    common::node::run_suite(
        "integrators",
        "events.test.mjs",
        "graphql-ws",
        false,
        "ADUANA_REQUIRE_NODE",
    );
}
