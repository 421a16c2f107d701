//! The HTTP load generator against a real server on a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::App;
use api::loadgen::{FileLoad, file_load};
use common::{TestApp, declarant_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_files_every_declaration_it_schedules() {
    let app = TestApp::with_reference_data().await;
    let server = App::bind("127.0.0.1:0".parse().unwrap(), app.state.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let load = FileLoad {
        server: format!("http://{addr}"),
        token: declarant_token("alice", "ACME"),
        declarant: "ACME".into(),
        rate: 20,
        seconds: 1,
        items: 5,
    };
    let report = file_load(&load).await.unwrap();
    assert_eq!(report.requests, 20);
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(
        report.lodged, 20,
        "every filing is valid against the sample data"
    );
    assert_eq!(report.lanes.values().sum::<u64>(), 20);
    assert!(report.p99_ms >= report.p50_ms && report.p50_ms > 0.0);
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}
