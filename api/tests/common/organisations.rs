//! Two organisations filing side by side, for the tests of who reads which part of the log:
//! their declarations, batches and rejected filings interleave in the log with each other's and
//! with the reference data.

use std::collections::BTreeSet;

use api::auth::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::declarations::filing;
use super::{TestApp, declarant_token, token_for};

/// One organisation: its declarant's token and the streams it owns.
pub struct Organisation {
    pub name: &'static str,
    pub token: String,
    pub streams: BTreeSet<String>,
}

impl Organisation {
    fn new(name: &'static str, subject: &str) -> Self {
        Self {
            name,
            token: declarant_token(subject, name),
            streams: BTreeSet::new(),
        }
    }
}

/// What [`TestApp::two_organisations_file`] recorded.
pub struct TwoOrganisations {
    pub acme: Organisation,
    pub other: Organisation,
    /// The head before the officer's inspections: reading after it meets streams whose first
    /// event comes before.
    pub before_inspections: u64,
    /// The declarations the officer inspected, ACME's then OTHER's.
    pub inspected: [String; 2],
}

impl TestApp {
    /// ACME and OTHER take turns to file a declaration sent to the yellow lane, a batch of one
    /// declaration, and a filing rejected for its tariff code; then an officer inspects the
    /// first declaration of each. Needs the reference data ([`TestApp::with_reference_data`]).
    pub async fn two_organisations_file(&self) -> TwoOrganisations {
        let mut acme = Organisation::new("ACME", "alice");
        let mut other = Organisation::new("OTHER", "bob");
        let mut inspected = Vec::new();
        for org in [&mut acme, &mut other] {
            let filed = self
                .file_ok(
                    &org.token,
                    filing(org.name, &format!("{}-1", org.name), "VN"),
                )
                .await;
            assert_eq!(filed["status"], "AWAITING_INSPECTION", "{filed}");
            let id = filed["id"].as_str().unwrap().to_owned();
            org.streams.insert(format!("declaration-{id}"));
            inspected.push(id);
        }
        for org in [&mut acme, &mut other] {
            let line = filing(org.name, &format!("{}-B1", org.name), "US");
            let (batch, declaration) = self.submit_one(&org.token, &line).await;
            org.streams.insert(format!("batch-{batch}"));
            org.streams.insert(format!("declaration-{declaration}"));
        }
        for org in [&mut acme, &mut other] {
            let mut bad = filing(org.name, &format!("{}-2", org.name), "US");
            bad["items"][0]["hsCode"] = json!("9999999999");
            let rejected = self.file_ok(&org.token, bad).await;
            assert_eq!(rejected["status"], "REJECTED", "{rejected}");
            org.streams
                .insert(format!("declaration-{}", rejected["id"].as_str().unwrap()));
        }
        let before_inspections = self.store.head_position().await.unwrap();
        let officer = token_for(Role::Officer);
        for id in &inspected {
            let mutation = format!(
                "mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT) {{ status }} }}"
            );
            let answer = self.graphql_with_token(&officer, &mutation).await;
            assert!(answer.body.get("errors").is_none(), "{}", answer.body);
        }
        let [first, second]: [String; 2] = inspected.try_into().unwrap();
        TwoOrganisations {
            acme,
            other,
            before_inspections,
            inspected: [
                format!("declaration-{first}"),
                format!("declaration-{second}"),
            ],
        }
    }

    /// Sends a batch of the one filing `line` with `token`: (batch id, declaration id).
    pub async fn submit_one(&self, token: &str, line: &Value) -> (String, String) {
        let request = Request::post("/api/v1/batches")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/x-ndjson")
            .body(Body::from(format!("{line}\n")))
            .unwrap();
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["accepted"], 1, "{}", answer.body);
        let batch = answer.body["id"].as_str().unwrap().to_owned();
        let request = Request::get(format!("/api/v1/batches/{batch}/results"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let results = self.send(request).await;
        // One line of NDJSON parses as JSON by itself.
        let declaration = results.body["declarationId"]
            .as_str()
            .unwrap_or_else(|| panic!("no declarationId in {}", results.body))
            .to_owned();
        (batch, declaration)
    }
}
