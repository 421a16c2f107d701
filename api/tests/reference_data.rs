//! Reference data from files: admins publish it through GraphQL and the next filing uses it;
//! `aduana reference import` loads files or the shipped sample; bad rows refuse the whole set,
//! each row error named, nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use api::StoreArgs;
use api::auth::Role;
use api::reference::{FileImportError, import_files};
use commands::reference::ImportError;
use common::declarations::filing;
use common::{TestApp, first_code, token_for};
use serde_json::{Value, json};

const TARIFF: &str =
    "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to
8471300000,Portable computers,8,,,10,2020-01-01,
";
const RATES: &str = "currency,rate,valid_from,valid_to
USD,1300.00,2020-01-01,
";
const UNITS: &str = "code,name
H87,piece
KGM,kilogram
";
/// Two bad rows: a tariff code too short, a VAT rate that is not a number.
const BAD_TARIFF: &str =
    "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to
84713,Portable computers,8,,,10,2020-01-01,
8471300000,Portable computers,8,,,ten,2020-01-01,
";

const PUBLISH: &str = "mutation($files: [ReferenceFileInput!]!) {
    publishReferenceData(files: $files) { records written alreadyPresent streams }
}";

fn files(files: &[(&str, &str)]) -> Value {
    json!({
        "files": files
            .iter()
            .map(|(name, content)| json!({ "name": name, "content": content }))
            .collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn an_admin_publishes_reference_data_and_the_next_filing_uses_it() {
    let app = TestApp::new().await;
    let admin = token_for(Role::Admin);
    let declarant = token_for(Role::Declarant);

    // Without reference data the filing cannot be assessed.
    let before = app.file_ok(&declarant, filing("ACME", "LRN-1", "US")).await;
    assert_eq!(before["status"], "REJECTED", "{before}");

    let set = files(&[
        ("tariff.csv", TARIFF),
        ("rates.csv", RATES),
        ("units.csv", UNITS),
    ]);
    let body = app.graphql_vars(Some(&admin), PUBLISH, set.clone()).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["publishReferenceData"],
        json!({ "records": 3, "written": 3, "alreadyPresent": 0, "streams": 3 })
    );

    // (Another LRN: the same filing sent again would be answered with its stored rejection.)
    // The default risk rules send 5% of filings to random inspection, so the status is either.
    let after = app.file_ok(&declarant, filing("ACME", "LRN-2", "US")).await;
    assert!(
        ["ACCEPTED", "AWAITING_INSPECTION"].contains(&after["status"].as_str().unwrap()),
        "{after}"
    );
    assert_eq!(after["declarantErrors"], json!([]), "{after}");
    let rate = &after["declaration"]["assessment"]["exchangeRate"];
    assert_eq!(rate["rate"], "1300.00");
    assert_eq!(rate["validTo"], Value::Null);

    // Publishing the same data again writes nothing.
    let body = app.graphql_vars(Some(&admin), PUBLISH, set).await;
    assert_eq!(body["data"]["publishReferenceData"]["written"], 0);
    assert_eq!(body["data"]["publishReferenceData"]["alreadyPresent"], 3);
}

#[tokio::test]
async fn bad_rows_refuse_the_whole_publication_with_every_row_error() {
    let app = TestApp::new().await;
    let set = files(&[("tariff.csv", BAD_TARIFF), ("rates.csv", RATES)]);
    let body = app
        .graphql_vars(Some(&token_for(Role::Admin)), PUBLISH, set)
        .await;
    assert_eq!(first_code(&body), "REFERENCE_DATA_INVALID", "{body}");
    let rows = body["errors"][0]["extensions"]["rowErrors"]
        .as_array()
        .unwrap();
    let lines: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| (r["file"].as_str().unwrap(), r["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(lines, [("tariff.csv", 2), ("tariff.csv", 3)], "{body}");
    assert!(
        rows.iter()
            .all(|r| !r["message"].as_str().unwrap().is_empty())
    );
    assert_eq!(
        app.store.head_position().await.unwrap(),
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn publishing_needs_at_least_one_file_and_the_admin_role() {
    let app = TestApp::new().await;
    let body = app
        .graphql_vars(Some(&token_for(Role::Admin)), PUBLISH, files(&[]))
        .await;
    assert_eq!(first_code(&body), "INVALID_ARGUMENT", "{body}");
    for role in [
        Role::Officer,
        Role::Auditor,
        Role::Integrator,
        Role::Declarant,
    ] {
        let body = app
            .graphql_vars(
                Some(&token_for(role)),
                PUBLISH,
                files(&[("units.csv", UNITS)]),
            )
            .await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{role}: {body}");
    }
    assert_eq!(app.store.head_position().await.unwrap(), 0);
}

// --- `aduana reference import` ---

#[tokio::test]
async fn the_import_function_reads_csv_files_and_reports_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let tariff = dir.path().join("tariff.csv");
    let rates = dir.path().join("rates.csv");
    std::fs::write(&tariff, TARIFF).unwrap();
    std::fs::write(&rates, RATES).unwrap();

    let report = import_files(&store, &[tariff.clone(), rates.clone()], false)
        .await
        .unwrap();
    assert_eq!((report.records, report.written, report.streams), (2, 2, 2));
    let again = import_files(&store, &[tariff, rates], false).await.unwrap();
    assert_eq!((again.written, again.already_present), (0, 2));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, BAD_TARIFF).unwrap();
    let head = store.head_position().await.unwrap();
    match import_files(&store, &[bad], true).await {
        Err(FileImportError::Import(ImportError::Invalid(rows))) => {
            assert_eq!(rows.len(), 2, "{rows:?}");
            assert!(
                rows[0]
                    .to_string()
                    .starts_with(&format!("{}:2", dir.path().join("bad.csv").display()))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.head_position().await.unwrap(),
        head,
        "nothing written"
    );
    store.close().await;
}

fn aduana(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aduana"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_command_imports_a_real_file_and_prints_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let rates = dir.path().join("rates.csv");
    std::fs::write(&rates, RATES).unwrap();
    let output = aduana(&[
        "reference",
        "import",
        rates.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report,
        json!({ "records": 1, "written": 1, "alreadyPresent": 0, "streams": 1 })
    );
}

#[test]
fn the_command_lists_every_bad_row_on_stderr_and_exits_1_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let bad = dir.path().join("tariff.csv");
    let rates = dir.path().join("rates.csv");
    std::fs::write(&bad, BAD_TARIFF).unwrap();
    std::fs::write(&rates, RATES).unwrap();
    let output = aduana(&[
        "reference",
        "import",
        rates.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let path = bad.display().to_string();
    assert!(stderr.contains(&format!("{path}:2 ")), "{stderr}");
    assert!(stderr.contains(&format!("{path}:3 ")), "{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");

    // The good file alone was not written either: a later import writes it now.
    let output = aduana(&[
        "reference",
        "import",
        rates.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["written"], 1, "{report}");
}

#[tokio::test]
async fn a_loaded_server_state_reads_the_reference_data_and_follows_new_imports() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let tariff = dir.path().join("tariff.csv");
    std::fs::write(&tariff, TARIFF).unwrap();
    import_files(&store, &[tariff], false).await.unwrap();

    let (state, follower) =
        api::AppState::load(store.clone(), common::keys(), Default::default(), None)
            .await
            .unwrap();
    let view = state.declarations().reference().clone();
    assert_eq!(view.tariff_code_count(), 1);

    // Imported by someone else (the command line) while the server runs.
    let more = dir.path().join("more.csv");
    std::fs::write(
        &more,
        "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to\n\
         0101210000,Horses,8,,,10,2020-01-01,\n",
    )
    .unwrap();
    import_files(&store, &[more], false).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while view.tariff_code_count() < 2 {
        assert!(std::time::Instant::now() < deadline, "not refreshed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    follower.abort();
    store.close().await;
}
