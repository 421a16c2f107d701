//! Declarations in the API tests: a store holding the sample reference data and risk rules that
//! route Vietnamese goods to the yellow lane, filings as GraphQL variables, and the documents
//! that run each command.

use std::collections::BTreeSet;

use commands::reference;
use domain::codes::CountryCode;
use domain::reference::ReferenceEvent;
use domain::risk::{Lane, RiskCondition, RiskRule, RiskRulesPublished, RuleSet};
use serde_json::{Value, json};

use super::TestApp;

/// Every field of a declaration, for comparing states.
pub const DECLARATION_FIELDS: &str = "
    id streamVersion dataVersion status lane rejections
    header { declarationType lrn declarant importer exporter customsOffice transportMode
             dispatchCountry incoterm invoiceCurrency invoiceAmount freight insurance filingDate }
    items { hsCode description originCountry preferenceClaim quantity unit netMass grossMass
            invoiceValue }
    errors { code path message }
    assessment {
        filingDate nationalCurrency invoiceCurrency incoterm freightAdded insuranceAdded
        customsValueRounding { mode decimalPlaces } taxRounding { mode decimalPlaces }
        exchangeRate { currency rate validFrom validTo }
        items { item hsCode invoiceValue freight insurance customsValue tariffLineValidFrom
                dutyRate { kind pct amount unit } preference { agreement pct } adValoremPct
                adValoremDuty specificDuty quantity unit duty vatPct vatBase vat }
        totals { customsValue duty vat taxes }
    }
    lastInspection { kind result }
    paid paymentReferences additionalTax drawback balance";

/// The fields of a command's result, with the whole declaration.
pub fn result_fields() -> String {
    format!(
        "id version status lane declarantErrors {{ code path message }} declaration {{ {DECLARATION_FIELDS} }}"
    )
}

pub fn file_mutation() -> String {
    format!(
        "mutation($input: DeclarationInput!) {{ fileDeclaration(input: $input) {{ {} }} }}",
        result_fields()
    )
}

impl TestApp {
    /// An app whose store holds the sample reference data and risk rules sending goods from
    /// Vietnam to the yellow lane (no random inspection, so lanes are predictable), and whose
    /// declaration service has read them.
    pub async fn with_reference_data() -> Self {
        let app = Self::new().await;
        app.publish_reference_data().await;
        app
    }

    /// [`TestApp::with_reference_data`] on `db` (SQLite or PostgreSQL).
    pub async fn with_reference_data_on(db: &aduana_tests::TestDb) -> Self {
        let app = Self::on(db).await;
        app.publish_reference_data().await;
        app
    }

    async fn publish_reference_data(&self) {
        import_reference_data(&self.store).await;
        self.state.reference().refresh(&self.store).await.unwrap();
    }

    /// Files `input` with `token`; returns the whole answer.
    pub async fn file(&self, token: &str, input: Value) -> Value {
        self.graphql_vars(Some(token), &file_mutation(), json!({ "input": input }))
            .await
    }

    /// Files `input` with `token` and expects a result without GraphQL errors.
    pub async fn file_ok(&self, token: &str, input: Value) -> Value {
        let body = self.file(token, input).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["fileDeclaration"].clone()
    }
}

/// Risk rules, version 7: origin VN → yellow.
pub fn vietnam_to_yellow() -> ReferenceEvent {
    let rules = RuleSet::new(
        7,
        vec![RiskRule {
            id: "ORIGIN-VN".into(),
            lane: Lane::Yellow,
            condition: RiskCondition::Origins {
                countries: BTreeSet::from([CountryCode::parse("VN").unwrap()]),
            },
        }],
        None,
    )
    .unwrap();
    ReferenceEvent::RiskRulesPublished(RiskRulesPublished(rules))
}

/// Two laptop lines, CIF in dollars, filed by `declarant` from `origin` (US: green lane; VN:
/// yellow).
pub fn filing(declarant: &str, lrn: &str, origin: &str) -> Value {
    let item = |value: &str| {
        json!({
            "hsCode": "8471300000",
            "description": "Portable computers",
            "originCountry": origin,
            "quantity": "10",
            "unit": "H87",
            "netMass": "25.5",
            "grossMass": "30",
            "invoiceValue": value,
        })
    };
    json!({
        "header": {
            "declarationType": "import",
            "lrn": lrn,
            "declarant": declarant,
            "importer": "IMP42",
            "customsOffice": "30",
            "transportMode": "40",
            "dispatchCountry": origin,
            "incoterm": "CIF",
            "invoiceCurrency": "USD",
            "invoiceAmount": "1500.00",
        },
        "items": [item("1000.00"), item("500.00")],
    })
}

impl TestApp {
    /// Like [`TestApp::with_reference_data`], with the `declarations` read model served by the
    /// schema; call [`TestApp::project`] to bring it up to date.
    pub async fn with_read_model() -> (Self, projections::Runner) {
        let dir = tempfile::tempdir().unwrap();
        let args = api::StoreArgs::in_dir(dir.path());
        let store = args.open().await.unwrap();
        let service = service_with_reference_data(&store).await;
        let models = projections::ReadModels::open(args.database_url().expose())
            .await
            .unwrap();
        let state = api::AppState::with_service(
            store.clone(),
            super::keys(),
            Default::default(),
            service,
            Some(projections::declarations::DeclarationsQuery::new(
                models.clone(),
            )),
        );
        let runner = projections::Runner::new(
            store.clone(),
            models,
            std::sync::Arc::new(projections::declarations::DeclarationsProjection),
        );
        // As `aduana serve` does before it answers: the first generation and its views.
        runner.prepare().await.unwrap();
        let app = Self {
            store,
            state,
            _dir: dir,
        };
        (app, runner)
    }
}

impl TestApp {
    /// An app on `db` with the sample reference data (Vietnam → yellow), serving every read
    /// model; the runners of the `warehouse` and `analyses` projections come with it (prepared:
    /// call `catch_up` to bring them up to date).
    pub async fn with_warehouse_on(db: &aduana_tests::TestDb) -> (Self, Vec<projections::Runner>) {
        let store = db.open().await;
        let service = service_with_reference_data(&store).await;
        let models = projections::ReadModels::open(&db.url).await.unwrap();
        let state = api::AppState::with_service(
            store.clone(),
            super::keys(),
            Default::default(),
            service,
            api::graphql::ReadModelQueries::new(&models),
        );
        let mut runners = Vec::new();
        for projection in [
            std::sync::Arc::new(projections::WarehouseProjection)
                as std::sync::Arc<dyn projections::Projection>,
            std::sync::Arc::new(projections::AnalysesProjection),
        ] {
            let runner = projections::Runner::new(store.clone(), models.clone(), projection);
            runner.prepare().await.unwrap();
            runners.push(runner);
        }
        let app = Self {
            store,
            state,
            _dir: tempfile::tempdir().unwrap(),
        };
        (app, runners)
    }
}

/// Imports the sample reference data and the Vietnam → yellow risk rules into `store`.
async fn import_reference_data(store: &eventstore::EventStore) {
    let mut events = reference::sample_events().unwrap();
    events.push(vietnam_to_yellow());
    reference::import(store, events, "admin/test")
        .await
        .unwrap();
}

/// A declaration service deciding with the reference data imported into `store`.
async fn service_with_reference_data(
    store: &eventstore::EventStore,
) -> commands::declaration::DeclarationService {
    import_reference_data(store).await;
    let view = reference::ReferenceView::load(store).await.unwrap();
    commands::declaration::DeclarationService::new(store.clone(), view)
}
