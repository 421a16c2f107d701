//! The warehouse over GraphQL on every backend: `cube` for analysts, officers, auditors and
//! admins (never declarants), its refusals with code and field, its CSV, and saved analyses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aduana_tests::{TestDb, on_every_backend};
use api::auth::Role;
use common::declarations::filing;
use common::{TestApp, declarant_token, first_code, integrator_token, token_for};
use domain::Decimal;
use eventstore::{Direction, StreamId};
use futures::TryStreamExt;
use projections::Runner;
use serde_json::{Value, json};

on_every_backend! {
    the_cube_answers_warehouse_readers_and_never_declarants => readers;
    a_refused_cube_query_names_its_code_and_field => refusals;
    the_csv_of_a_result_holds_its_cells => csv_export;
    analyses_are_saved_once_rerun_by_name_and_kept_by_their_owner => analyses;
}

const CUBE: &str = "query($q: CubeInput!) { cube(query: $q) {
    measures rowLevels columnLevels
    rows { kind members { level code label } }
    columns { kind members { level code label } }
    cells { row column values }
    asOf csv } }";

async fn catch_up(runners: &[Runner]) {
    for runner in runners {
        runner.catch_up().await.unwrap();
    }
}

/// Files ACME's declarations: three from the US (green lane, cleared at once) and one from
/// Vietnam (yellow), inspected and accepted by an officer. Returns what the filings assessed,
/// summed: customs value and duty.
async fn cleared_declarations(app: &TestApp) -> (Decimal, Decimal) {
    let acme = declarant_token("alice", "ACME");
    let officer = token_for(Role::Officer);
    let mut value = Decimal::ZERO;
    let mut duty = Decimal::ZERO;
    for (lrn, origin) in [("A-1", "US"), ("A-2", "US"), ("A-3", "US"), ("V-1", "VN")] {
        let mut result = app.file_ok(&acme, filing("ACME", lrn, origin)).await;
        if origin == "VN" {
            let id = result["id"].as_str().unwrap().to_owned();
            for mutation in [
                format!(
                    "mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, \
                     result: COMPLIANT) {{ status }} }}"
                ),
                format!("mutation {{ acceptDeclaration(id: \"{id}\") {{ status }} }}"),
            ] {
                let body = app.graphql_vars(Some(&officer), &mutation, json!({})).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
            result = json!({ "status": "ACCEPTED", "declaration": result["declaration"] });
        }
        assert_eq!(result["status"], "ACCEPTED", "{lrn}: {result}");
        let totals = &result["declaration"]["assessment"]["totals"];
        value += totals["customsValue"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap();
        duty += totals["duty"].as_str().unwrap().parse::<Decimal>().unwrap();
    }
    (value, duty)
}

async fn cube(app: &TestApp, token: &str, query: Value) -> Value {
    app.graphql_vars(Some(token), CUBE, json!({ "q": query }))
        .await
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal: {value}"))
        .parse()
        .unwrap()
}

/// The values of the cell at (`row`, `column`).
fn cell(result: &Value, row: usize, column: usize) -> Vec<Value> {
    result["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["row"] == row && c["column"] == column)
        .map(|c| c["values"].as_array().unwrap().clone())
        .unwrap_or_default()
}

async fn readers(db: TestDb) {
    let (app, runners) = TestApp::with_warehouse_on(&db).await;
    let (value, duty) = cleared_declarations(&app).await;
    catch_up(&runners).await;

    let query = json!({
        "measures": ["CUSTOMS_VALUE", "DUTY", "ITEMS"],
        "rows": ["ORIGIN"],
        "columns": ["LANE"],
    });
    for role in [Role::Analyst, Role::Officer, Role::Auditor, Role::Admin] {
        let body = cube(&app, &token_for(role), query.clone()).await;
        assert!(body.get("errors").is_none(), "{role}: {body}");
        let result = &body["data"]["cube"];
        let rows: Vec<(&str, &str)> = result["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap(),
                    r["members"][0]["code"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(rows, [("MEMBER", "US"), ("MEMBER", "VN"), ("TOTAL", "")]);
        let columns: Vec<&str> = result["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["members"][0]["code"].as_str().unwrap_or("total"))
            .collect();
        assert_eq!(columns, ["green", "yellow", "total"]);
        // The grand total is what the filings assessed; each of 4 declarations has 2 items.
        let total = cell(result, 2, 2);
        assert_eq!(decimal(&total[0]), value);
        assert_eq!(decimal(&total[1]), duty);
        assert_eq!(decimal(&total[2]), Decimal::from(8));
        // US went green, VN yellow: no cell where they did not.
        assert_eq!(decimal(&cell(result, 0, 0)[2]), Decimal::from(6));
        assert!(cell(result, 0, 1).is_empty());
        assert_eq!(decimal(&cell(result, 1, 1)[2]), Decimal::from(2));
        assert_eq!(
            result["rows"][0]["members"][0]["label"],
            "United States of America"
        );
    }

    let refused = [
        (declarant_token("alice", "ACME"), "FORBIDDEN"),
        (integrator_token(&[]), "FORBIDDEN"),
    ];
    for (token, code) in refused {
        let body = cube(&app, &token, query.clone()).await;
        assert_eq!(first_code(&body), code, "{body}");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
    let anonymous = app
        .graphql_vars(None, CUBE, json!({ "q": query.clone() }))
        .await;
    assert_eq!(first_code(&anonymous), "UNAUTHENTICATED");

    // An analyst reads aggregates only: no declaration, list, batch or event.
    let analyst = token_for(Role::Analyst);
    for field in [
        "{ declarations(first: 10) { edges { cursor } } }",
        "{ batches(first: 10) { edges { cursor } } }",
        "{ stream(id: \"declaration-1\") { eventType } }",
        "{ events(limit: 10) { events { eventType } } }",
    ] {
        let body = app.graphql_vars(Some(&analyst), field, json!({})).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{field}: {body}");
        assert!(!body.to_string().contains("DeclarationFiled"), "{body}");
    }
    db.finish(app.store.clone()).await;
}

async fn refusals(db: TestDb) {
    let (app, _runners) = TestApp::with_warehouse_on(&db).await;
    let analyst = token_for(Role::Analyst);
    let cases = [
        (json!({ "measures": [] }), "NO_MEASURES", "query.measures"),
        (
            json!({ "measures": ["ITEMS"], "filters": [
                { "level": "LANE", "members": ["green"] },
                { "level": "HS_CHAPTER", "members": ["84", "8x"] },
            ] }),
            "INVALID_MEMBER",
            "query.filters[1].members[1]",
        ),
        (
            json!({ "measures": ["ITEMS"], "rows": ["ORIGIN"], "top": { "n": -1, "by": "ITEMS" } }),
            "INVALID_TOP",
            "query.top.n",
        ),
        (
            json!({ "measures": ["ITEMS"], "rows": ["MONTH", "MONTH"] }),
            "LEVEL_REPEATED",
            "query.rows[1]",
        ),
        (
            json!({ "measures": ["ITEMS"], "drill": { "level": "HS_LINE", "member": "8471300000" } }),
            "CANNOT_DRILL",
            "query.drill.level",
        ),
    ];
    for (query, code, field) in cases {
        let body = cube(&app, &analyst, query.clone()).await;
        assert_eq!(first_code(&body), code, "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    // Not a level at all: the schema refuses it before the warehouse sees it.
    let body = cube(
        &app,
        &analyst,
        json!({ "measures": ["ITEMS"], "rows": ["PLANET"] }),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PLANET"),
        "{body}"
    );
    db.finish(app.store.clone()).await;
}

async fn csv_export(db: TestDb) {
    let (app, runners) = TestApp::with_warehouse_on(&db).await;
    cleared_declarations(&app).await;
    catch_up(&runners).await;
    let body = cube(
        &app,
        &token_for(Role::Auditor),
        json!({ "measures": ["CUSTOMS_VALUE", "EFFECTIVE_DUTY_RATE"],
                "rows": ["ORIGIN_REGION", "ORIGIN"], "columns": ["MONTH"] }),
    )
    .await;
    let result = &body["data"]["cube"];
    let text = result["csv"].as_str().unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let columns = result["columns"].as_array().unwrap();
    assert_eq!(headers.len(), 5 + 2 * columns.len(), "{headers:?}");
    assert_eq!(
        headers[..5],
        [
            "kind",
            "originRegion",
            "originRegion label",
            "origin",
            "origin label"
        ]
    );
    assert_eq!(headers[headers.len() - 2], "total | customsValue");
    let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let rows = result["rows"].as_array().unwrap();
    assert_eq!(lines.len(), rows.len());
    // Every line holds its row's cells, column by column, measure by measure.
    for (r, (line, row)) in lines.iter().zip(rows).enumerate() {
        assert_eq!(line[0], row["kind"].as_str().unwrap().to_lowercase());
        for c in 0..columns.len() {
            let values = cell(result, r, c);
            for m in 0..2 {
                let written = &line[5 + 2 * c + m];
                match values.get(m).and_then(Value::as_str) {
                    Some(value) => assert_eq!(written, value, "row {r} column {c}"),
                    None => assert_eq!(written, "", "row {r} column {c}"),
                }
            }
        }
    }
    let total = lines.last().unwrap();
    assert_eq!(&total[0], "total");
    assert_eq!(&total[1], "");
    db.finish(app.store.clone()).await;
}

const SAVE: &str = "mutation($name: String!, $description: String, $q: CubeInput!) {
    saveAnalysis(name: $name, description: $description, query: $q) {
        id name description owner revision query } }";
const ONE: &str = "query($name: String!) { analysis(name: $name) {
    name revision query result { cells { row column values } } } }";
const LIST: &str = "{ analyses { name owner revision } }";
const DELETE: &str = "mutation($name: String!) { deleteAnalysis(name: $name) }";

async fn analyses(db: TestDb) {
    let (app, runners) = TestApp::with_warehouse_on(&db).await;
    let (value, _) = cleared_declarations(&app).await;
    catch_up(&runners).await;
    let analyst = token_for(Role::Analyst);
    let officer = token_for(Role::Officer);
    let query = json!({ "measures": ["CUSTOMS_VALUE"], "rows": ["ORIGIN"] });
    let vars = json!({ "name": "Imports by origin", "description": "yearly review", "q": query });

    let saved = app.graphql_vars(Some(&analyst), SAVE, vars.clone()).await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let saved = &saved["data"]["saveAnalysis"];
    assert_eq!(saved["owner"], "analyst/analyst-1");
    assert_eq!(saved["revision"], 1);
    assert_eq!(saved["query"]["rows"], json!(["origin"]));
    // A retransmission writes nothing and answers the same analysis.
    let again = app.graphql_vars(Some(&analyst), SAVE, vars.clone()).await;
    assert_eq!(again["data"]["saveAnalysis"], *saved, "{again}");
    let id = saved["id"].as_str().unwrap();
    let stream = StreamId::parse(format!("analysis-{id}")).unwrap();
    let events: Vec<_> = app
        .store
        .read_stream(&stream, Direction::Forward, None, 100)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "AnalysisSaved");

    // Found at once, whatever the case, and re-run on today's warehouse.
    let one = app
        .graphql_vars(Some(&officer), ONE, json!({ "name": "IMPORTS BY ORIGIN" }))
        .await;
    let found = &one["data"]["analysis"];
    assert_eq!(found["name"], "Imports by origin", "{one}");
    let cells = found["result"]["cells"].as_array().unwrap();
    assert_eq!(decimal(&cells.last().unwrap()["values"][0]), value);

    // Another reader may not change it; a bad query or name is refused with its field.
    let theirs = json!({ "name": "imports by origin", "q": { "measures": ["ITEMS"] } });
    let refused = app.graphql_vars(Some(&officer), SAVE, theirs).await;
    assert_eq!(first_code(&refused), "FORBIDDEN", "{refused}");
    let bad = json!({ "name": "Bad", "q": { "measures": ["ITEMS"], "rows": ["MONTH", "MONTH"] } });
    let refused = app.graphql_vars(Some(&analyst), SAVE, bad).await;
    assert_eq!(first_code(&refused), "LEVEL_REPEATED");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "query.rows[1]");
    let unnamed = json!({ "name": "  ", "q": query });
    let refused = app.graphql_vars(Some(&analyst), SAVE, unnamed).await;
    assert_eq!(first_code(&refused), "INVALID_NAME");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "name");
    let declarant = declarant_token("alice", "ACME");
    let refused = app.graphql_vars(Some(&declarant), LIST, json!({})).await;
    assert_eq!(first_code(&refused), "FORBIDDEN");

    // The owner revises it; the list follows the log.
    let revised =
        json!({ "name": "Imports by origin", "q": { "measures": ["ITEMS"], "rows": ["ORIGIN"] } });
    let body = app.graphql_vars(Some(&analyst), SAVE, revised).await;
    assert_eq!(body["data"]["saveAnalysis"]["revision"], 2, "{body}");
    catch_up(&runners).await;
    let list = app.graphql_vars(Some(&analyst), LIST, json!({})).await;
    assert_eq!(
        list["data"]["analyses"],
        json!([{ "name": "Imports by origin", "owner": "analyst/analyst-1", "revision": 2 }])
    );

    // Deleted by its owner: gone from the stream's state and, once projected, from the list.
    let body = app
        .graphql_vars(
            Some(&analyst),
            DELETE,
            json!({ "name": "imports by origin" }),
        )
        .await;
    assert_eq!(body["data"]["deleteAnalysis"], true, "{body}");
    let gone = app
        .graphql_vars(Some(&analyst), ONE, json!({ "name": "Imports by origin" }))
        .await;
    assert_eq!(gone["data"]["analysis"], Value::Null, "{gone}");
    let body = app
        .graphql_vars(
            Some(&analyst),
            DELETE,
            json!({ "name": "imports by origin" }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND");
    catch_up(&runners).await;
    let list = app.graphql_vars(Some(&analyst), LIST, json!({})).await;
    assert_eq!(list["data"]["analyses"], json!([]));
    db.finish(app.store.clone()).await;
}
