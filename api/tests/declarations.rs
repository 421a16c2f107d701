//! Declarations through GraphQL, from filing to clearance: lanes and duties at once, every
//! validation error with its path, officers working the yellow lane, payments, history and past
//! states rebuilt from events. (Who may do what: `declarations_access.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::auth::Role;
use common::declarations::{DECLARATION_FIELDS, filing, result_fields};
use common::{TestApp, first_code, token_for};
use serde_json::{Value, json};

fn declarant() -> String {
    token_for(Role::Declarant)
}

fn officer() -> String {
    token_for(Role::Officer)
}

/// Runs `mutation { <field>(<args>) { <result fields> } }` and returns its result.
async fn command(app: &TestApp, token: &str, field: &str, args: &str) -> Value {
    let query = format!("mutation {{ {field}({args}) {{ {} }} }}", result_fields());
    let body = app.graphql_vars(Some(token), &query, json!({})).await;
    assert!(body.get("errors").is_none(), "{field}: {body}");
    body["data"][field].clone()
}

/// Files a Vietnamese (yellow-lane) declaration for ACME; returns its id.
async fn yellow_declaration(app: &TestApp, lrn: &str) -> String {
    let filed = app.file_ok(&declarant(), filing("ACME", lrn, "VN")).await;
    assert_eq!(filed["status"], "AWAITING_INSPECTION", "{filed}");
    assert_eq!(filed["lane"], "YELLOW");
    filed["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_declarant_files_a_valid_declaration_and_gets_lane_status_and_duties_at_once() {
    let app = TestApp::with_reference_data().await;
    let result = app
        .file_ok(&declarant(), filing("ACME", "LRN-1", "US"))
        .await;
    assert_eq!(
        result["status"], "ACCEPTED",
        "green is accepted automatically"
    );
    assert_eq!(result["lane"], "GREEN");
    assert_eq!(result["declarantErrors"], json!([]));
    assert_eq!(result["version"], 4, "filed, lane, duties, accepted");

    let declaration = &result["declaration"];
    assert_eq!(declaration["id"], result["id"]);
    assert_eq!(declaration["header"]["lrn"], "LRN-1");
    assert_eq!(declaration["header"]["invoiceAmount"], "1500.00");
    assert_eq!(declaration["items"].as_array().unwrap().len(), 2);

    // Duties in won, with every rate used; decimals are strings.
    let assessment = &declaration["assessment"];
    assert_eq!(assessment["nationalCurrency"], "KRW");
    assert_eq!(assessment["exchangeRate"]["currency"], "USD");
    assert!(assessment["exchangeRate"]["validFrom"].is_string());
    let item = &assessment["items"][0];
    assert_eq!(item["dutyRate"]["kind"], "AD_VALOREM");
    assert_eq!(item["dutyRate"]["pct"], "8");
    assert_eq!(item["vatPct"], "10");
    let rate: f64 = assessment["exchangeRate"]["rate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let customs_value: f64 = item["customsValue"].as_str().unwrap().parse().unwrap();
    assert_eq!(customs_value, (1000.0 * rate).trunc(), "{item}");
    let totals = &assessment["totals"];
    let taxes: i64 = totals["taxes"].as_str().unwrap().parse().unwrap();
    assert!(taxes > 0, "{totals}");
    assert_eq!(declaration["balance"], totals["taxes"]);
}

#[tokio::test]
async fn an_invalid_filing_returns_every_error_with_its_path() {
    let app = TestApp::with_reference_data().await;
    let mut bad = filing("ACME", "LRN-2", "US");
    bad["header"]["invoiceCurrency"] = json!("XXY");
    bad["header"].as_object_mut().unwrap().remove("incoterm");
    bad["items"][1]["hsCode"] = json!("9999999999");
    bad["items"][0]["netMass"] = json!("40");
    bad["items"][0]["quantity"] = json!("ten");
    let result = app.file_ok(&declarant(), bad).await;
    assert_eq!(result["status"], "REJECTED");
    assert_eq!(result["lane"], Value::Null);
    let errors = result["declarantErrors"].as_array().unwrap();
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    for (path, code) in [
        ("header.invoiceCurrency", "INVALID_CURRENCY"),
        ("header.incoterm", "MISSING_FIELD"),
        ("items[1].hsCode", "UNKNOWN_TARIFF_CODE"),
        ("items[0].netMass", "NET_MASS_EXCEEDS_GROSS"),
        ("items[0].quantity", "INVALID_AMOUNT"),
    ] {
        assert!(found.contains(&(path, code)), "{path} {code} in {found:?}");
    }
    assert!(
        errors
            .iter()
            .all(|e| !e["message"].as_str().unwrap().is_empty())
    );

    // The rejection is recorded: the declarant reads the errors back.
    let query = format!(
        "{{ declaration(id: \"{}\") {{ status errors {{ path }} }} }}",
        result["id"].as_str().unwrap()
    );
    let body = app.graphql_as(Role::Declarant, &query).await;
    assert_eq!(body["data"]["declaration"]["status"], "REJECTED");
    assert_eq!(
        body["data"]["declaration"]["errors"]
            .as_array()
            .unwrap()
            .len(),
        errors.len()
    );
}

#[tokio::test]
async fn an_empty_filing_is_rejected_with_its_errors_not_refused_by_graphql() {
    let app = TestApp::with_reference_data().await;
    let result = app.file_ok(&declarant(), json!({})).await;
    assert_eq!(result["status"], "REJECTED");
    let paths: Vec<&str> = result["declarantErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"header.lrn"), "{paths:?}");
    assert!(paths.contains(&"items"), "{paths:?}");
}

#[tokio::test]
async fn an_officer_inspects_and_accepts_a_yellow_lane_declaration_and_a_payment_settles_it() {
    let app = TestApp::with_reference_data().await;
    let id = yellow_declaration(&app, "LRN-3").await;
    let inspected = command(
        &app,
        &officer(),
        "recordInspection",
        &format!("id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT, notes: \"invoice checked\""),
    )
    .await;
    assert_eq!(inspected["status"], "INSPECTED");
    assert_eq!(
        inspected["declaration"]["lastInspection"],
        json!({ "kind": "DOCUMENTARY", "result": "COMPLIANT" })
    );
    let accepted = command(
        &app,
        &officer(),
        "acceptDeclaration",
        &format!("id: \"{id}\""),
    )
    .await;
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["version"], 5);

    let taxes = accepted["declaration"]["assessment"]["totals"]["taxes"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = command(
        &app,
        &officer(),
        "recordPayment",
        &format!("id: \"{id}\", amount: \"{taxes}\", reference: \"BANK-1\""),
    )
    .await;
    assert_eq!(paid["declaration"]["paid"], taxes);
    assert_eq!(paid["declaration"]["balance"], "0");
    assert_eq!(paid["declaration"]["paymentReferences"], json!(["BANK-1"]));

    // The same payment reference twice is refused by the domain, with its code.
    let query = format!(
        "mutation {{ recordPayment(id: \"{id}\", amount: \"1\", reference: \"BANK-1\") {{ id }} }}"
    );
    let body = app.graphql_as(Role::Officer, &query).await;
    assert_eq!(first_code(&body), "DUPLICATE_PAYMENT_REFERENCE", "{body}");
}

#[tokio::test]
async fn a_command_that_does_not_fit_the_state_is_refused_naming_the_state() {
    let app = TestApp::with_reference_data().await;
    let green = app
        .file_ok(&declarant(), filing("ACME", "LRN-4", "US"))
        .await;
    let query = format!(
        "mutation {{ refuseDeclaration(id: \"{}\", reason: \"late\") {{ id }} }}",
        green["id"].as_str().unwrap()
    );
    let body = app.graphql_as(Role::Officer, &query).await;
    assert_eq!(first_code(&body), "INVALID_STATE", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["state"], "accepted");
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn the_declarant_amends_and_withdraws_its_open_declaration() {
    let app = TestApp::with_reference_data().await;
    let id = yellow_declaration(&app, "LRN-5").await;

    let mut changed = filing("ACME", "LRN-5", "VN");
    changed["items"][0]["quantity"] = json!("12");
    let amend = format!(
        "mutation($input: DeclarationInput!) {{ amendDeclaration(id: \"{id}\", input: $input, \
         reason: \"quantity\") {{ {} }} }}",
        result_fields()
    );
    let body = app
        .graphql_vars(Some(&declarant()), &amend, json!({ "input": changed }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let amended = &body["data"]["amendDeclaration"];
    assert_eq!(amended["declaration"]["dataVersion"], 2);
    assert_eq!(amended["declaration"]["items"][0]["quantity"], "12");
    assert_eq!(amended["status"], "AWAITING_INSPECTION");

    // An invalid amendment is refused with every error; nothing changes.
    let mut invalid = filing("ACME", "LRN-5", "VN");
    invalid["items"][1]["unit"] = json!("??");
    let body = app
        .graphql_vars(Some(&declarant()), &amend, json!({ "input": invalid }))
        .await;
    assert_eq!(first_code(&body), "VALIDATION_FAILED", "{body}");
    let errors = &body["errors"][0]["extensions"]["validationErrors"];
    assert_eq!(errors[0]["path"], "items[1].unit", "{body}");

    let withdrawn = command(
        &app,
        &declarant(),
        "withdrawDeclaration",
        &format!("id: \"{id}\", reason: \"wrong goods\""),
    )
    .await;
    assert_eq!(withdrawn["status"], "WITHDRAWN");
    assert_eq!(withdrawn["declaration"]["dataVersion"], 2);
}

/// Files, inspects, accepts and pays a declaration; returns its id and each command's
/// declaration (the state after its stream version).
async fn worked_declaration(app: &TestApp) -> (String, Vec<Value>) {
    let filed = app
        .file_ok(&declarant(), filing("ACME", "LRN-6", "VN"))
        .await;
    let id = filed["id"].as_str().unwrap().to_owned();
    let mut states = vec![filed["declaration"].clone()];
    for (token, field, args) in [
        (
            officer(),
            "recordInspection",
            format!("id: \"{id}\", kind: PHYSICAL, result: COMPLIANT"),
        ),
        (officer(), "acceptDeclaration", format!("id: \"{id}\"")),
        (
            officer(),
            "recordPayment",
            format!("id: \"{id}\", amount: \"1000\", reference: \"P-1\""),
        ),
    ] {
        let result = command(app, &token, field, &args).await;
        states.push(result["declaration"].clone());
    }
    (id, states)
}

#[tokio::test]
async fn declaration_as_of_version_k_is_the_state_after_k_events() {
    let app = TestApp::with_reference_data().await;
    let (id, states) = worked_declaration(&app).await;
    let as_of = |version: i64| {
        format!(
            "{{ declarationAsOf(id: \"{id}\", version: {version}) {{ {DECLARATION_FIELDS} }} }}"
        )
    };
    for state in &states {
        let version = state["streamVersion"].as_i64().unwrap();
        let body = app.graphql_as(Role::Auditor, &as_of(version)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(&body["data"]["declarationAsOf"], state, "version {version}");
    }
    // Inside one command's events: filed (1), lane assigned (2), duties assessed (3).
    let body = app.graphql_as(Role::Auditor, &as_of(1)).await;
    assert_eq!(body["data"]["declarationAsOf"]["status"], "FILED");
    assert_eq!(body["data"]["declarationAsOf"]["lane"], Value::Null);
    let body = app.graphql_as(Role::Auditor, &as_of(2)).await;
    assert_eq!(body["data"]["declarationAsOf"]["lane"], "YELLOW");
    assert_eq!(body["data"]["declarationAsOf"]["assessment"], Value::Null);

    // The current state is the last one, as `declaration(id)` reads it.
    let query = format!("{{ declaration(id: \"{id}\") {{ {DECLARATION_FIELDS} }} }}");
    let body = app.graphql_as(Role::Officer, &query).await;
    assert_eq!(&body["data"]["declaration"], states.last().unwrap());
}

#[tokio::test]
async fn declaration_as_of_a_time_folds_the_events_recorded_until_then() {
    let app = TestApp::with_reference_data().await;
    let (id, states) = worked_declaration(&app).await;
    let history = format!("{{ declarationHistory(id: \"{id}\") {{ streamVersion recordedAt }} }}");
    let body = app.graphql_as(Role::Auditor, &history).await;
    let events = body["data"]["declarationHistory"]
        .as_array()
        .unwrap()
        .clone();
    // The inspection's event: the state then is the state after the inspection.
    let inspection = &events[3];
    assert_eq!(inspection["streamVersion"], 4);
    let at = inspection["recordedAt"].as_str().unwrap();
    let query =
        format!("{{ declarationAsOf(id: \"{id}\", at: \"{at}\") {{ {DECLARATION_FIELDS} }} }}");
    let body = app.graphql_as(Role::Auditor, &query).await;
    assert!(body.get("errors").is_none(), "{body}");
    // Events recorded in the same microsecond would also count; a later one would not be here.
    let version = body["data"]["declarationAsOf"]["streamVersion"]
        .as_i64()
        .unwrap();
    assert!(version >= 4, "{body}");
    let expected = states
        .iter()
        .find(|s| s["streamVersion"].as_i64() == Some(version))
        .unwrap();
    assert_eq!(&body["data"]["declarationAsOf"], expected);

    // Before its first event the declaration did not exist.
    let query =
        format!("{{ declarationAsOf(id: \"{id}\", at: \"2000-01-01T00:00:00Z\") {{ status }} }}");
    let body = app.graphql_as(Role::Auditor, &query).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["declarationAsOf"], Value::Null);
}

#[tokio::test]
async fn declaration_as_of_takes_exactly_one_of_time_and_version() {
    let app = TestApp::with_reference_data().await;
    let id = yellow_declaration(&app, "LRN-7").await;
    for args in [
        String::new(),
        ", version: 1, at: \"2030-01-01T00:00:00Z\"".to_owned(),
        ", version: 0".to_owned(),
        ", version: 4".to_owned(),
    ] {
        let query = format!("{{ declarationAsOf(id: \"{id}\"{args}) {{ status }} }}");
        let body = app.graphql_as(Role::Officer, &query).await;
        assert_eq!(first_code(&body), "INVALID_ARGUMENT", "{args}: {body}");
    }
}

#[tokio::test]
async fn declaration_history_lists_every_event_with_its_actor() {
    let app = TestApp::with_reference_data().await;
    let (id, _) = worked_declaration(&app).await;
    let query = format!(
        "{{ declarationHistory(id: \"{id}\") {{ streamVersion position recordedAt actor eventType payload }} }}"
    );
    let body = app.graphql_as(Role::Declarant, &query).await;
    assert!(body.get("errors").is_none(), "{body}");
    let events = body["data"]["declarationHistory"].as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["streamVersion"].as_i64().unwrap(),
                e["eventType"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "DeclarationFiled", "declarant/declarant-1@ACME"),
            (2, "RiskAssessed", "declarant/declarant-1@ACME"),
            (3, "DutiesAssessed", "declarant/declarant-1@ACME"),
            (4, "InspectionRecorded", "officer/officer-1"),
            (5, "DeclarationAccepted", "officer/officer-1"),
            (6, "PaymentRecorded", "officer/officer-1"),
        ]
    );
    assert_eq!(events[0]["payload"]["declarationId"], id.as_str());
    assert_eq!(events[3]["payload"]["kind"], "physical");
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}
