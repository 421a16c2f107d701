//! The harness: decide with the domain, append to the store, project, query.

use std::collections::HashMap;
use std::sync::Arc;

use aduana_tests::TestDb;
use chrono::{DateTime, NaiveDate, Utc};
use domain::DomainEvent;
use domain::codes::Actor;
use domain::declaration::{
    AcceptDeclaration, Declaration, DeclarationCommand, DeclarationEvent, FileDeclaration,
    InspectionKind, InspectionResult, RawFiling, RecordInspection, RecordPayment, decide, evolve,
};
use eventstore::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamId};
use projections::declarations::{
    DeclarationFilter, DeclarationRow, DeclarationsQuery, ItemRow, PageRequest, Scope,
};
use projections::{DeclarationsProjection, ReadModels, Runner};
use uuid::Uuid;

use super::fixture::*;

pub struct Harness {
    pub db: TestDb,
    pub store: EventStore,
    pub models: ReadModels,
    pub runner: Arc<Runner>,
    pub query: DeclarationsQuery,
    /// Each declaration's domain state and stream version, folded as events are appended.
    pub states: HashMap<Uuid, (Declaration, u64)>,
    /// What the latest command decided.
    pub last: Vec<DeclarationEvent>,
}

impl Harness {
    pub async fn new(db: TestDb) -> Self {
        let store = db.open().await;
        let models = ReadModels::open(&db.url).await.unwrap();
        let runner = Arc::new(Runner::new(
            store.clone(),
            models.clone(),
            Arc::new(DeclarationsProjection),
        ));
        // As `aduana serve` does before it answers: the first generation and its views.
        runner.prepare().await.unwrap();
        let query = DeclarationsQuery::new(models.clone());
        Self {
            db,
            store,
            models,
            runner,
            query,
            states: HashMap::new(),
            last: Vec::new(),
        }
    }

    pub async fn finish(self) {
        self.models.close().await;
        self.db.finish(self.store).await;
    }

    /// Lets the domain decide `command` on declaration `id` and appends what it decided.
    pub async fn execute(
        &mut self,
        id: Uuid,
        command: DeclarationCommand,
    ) -> Vec<DeclarationEvent> {
        let (state, version) = self.states.remove(&id).unwrap_or_default();
        let events = decide(&state, command).unwrap();
        let new = events
            .iter()
            .map(|e| {
                NewEvent::new(e.event_type(), e.payload().unwrap()).with_metadata(EventMetadata {
                    actor: Some("test".to_owned()),
                    ..EventMetadata::default()
                })
            })
            .collect();
        let stream = StreamId::parse(format!("declaration-{id}")).unwrap();
        let appended = self
            .store
            .append(&stream, ExpectedVersion::Exact(version), new)
            .await
            .unwrap();
        let state = events.iter().fold(state, evolve);
        self.states.insert(id, (state, appended.next_version));
        self.last = events.clone();
        events
    }

    pub async fn file_on(
        &mut self,
        raw: RawFiling,
        filing_date: NaiveDate,
        when: DateTime<Utc>,
    ) -> Uuid {
        let h = &raw.header;
        let declarant = h.declarant.clone().unwrap();
        let id = id_of(&declarant, h.lrn.as_deref().unwrap());
        self.execute(
            id,
            DeclarationCommand::File(FileDeclaration {
                declaration_id: id,
                filing: raw,
                filing_date,
                context: context(),
                actor: declarant_actor(&declarant),
                at: when,
            }),
        )
        .await;
        id
    }

    pub async fn file(&mut self, raw: RawFiling, when: DateTime<Utc>) -> Uuid {
        self.file_on(raw, date("2026-03-05"), when).await
    }

    pub async fn inspect(&mut self, id: Uuid, result: InspectionResult, when: DateTime<Utc>) {
        let notes = match result {
            InspectionResult::Compliant => String::new(),
            InspectionResult::Discrepancies => "count differs".to_owned(),
        };
        let command = DeclarationCommand::RecordInspection(RecordInspection {
            kind: InspectionKind::Physical,
            result,
            notes,
            actor: officer(),
            at: when,
        });
        self.execute(id, command).await;
    }

    pub async fn accept(&mut self, id: Uuid, when: DateTime<Utc>) {
        let command = DeclarationCommand::Accept(AcceptDeclaration {
            actor: officer(),
            at: when,
        });
        self.execute(id, command).await;
    }

    pub async fn pay(&mut self, id: Uuid, amount: &str, reference: &str, when: DateTime<Utc>) {
        let command = DeclarationCommand::RecordPayment(RecordPayment {
            amount: dec(amount),
            reference: reference.to_owned(),
            actor: Actor::parse("integrator/bank").unwrap(),
            at: when,
        });
        self.execute(id, command).await;
    }

    pub async fn catch_up(&self) {
        self.runner.catch_up().await.unwrap();
    }

    pub async fn get(&self, id: Uuid) -> DeclarationRow {
        self.query.get(&all(), id).await.unwrap().unwrap()
    }

    pub async fn items(&self, id: Uuid) -> Vec<ItemRow> {
        self.query.items(&all(), id).await.unwrap()
    }

    /// Asserts that the row says what the domain's own fold of the stream says.
    pub async fn assert_agrees_with_domain(&self, id: Uuid) {
        let (state, version) = &self.states[&id];
        let row = self.get(id).await;
        assert_eq!(row.status, state.status, "status");
        assert_eq!(row.lane, state.lane, "lane");
        assert_eq!(row.version, *version, "stream version");
        assert_eq!(row.data_version, state.version, "data version");
        assert_eq!(row.amount_paid, state.paid, "amount paid");
        assert_eq!(row.balance(), state.balance(), "balance");
        let totals = state.assessment.as_ref().map(|a| &a.totals);
        assert_eq!(row.customs_value, totals.map(|t| t.customs_value));
        assert_eq!(row.duty, totals.map(|t| t.duty));
        assert_eq!(row.vat, totals.map(|t| t.vat));
        let items = self.items(id).await;
        match &state.data {
            Some(data) => {
                assert_eq!(row.item_count as usize, data.items.len());
                assert_eq!(items.len(), data.items.len());
                for (n, (item, stored)) in data.items.iter().zip(&items).enumerate() {
                    assert_eq!(stored.line as usize, n + 1);
                    assert_eq!(stored.hs_code, item.hs_code.as_str());
                    assert_eq!(stored.origin, item.origin_country.as_str());
                    let assessed = state.assessment.as_ref().map(|a| &a.items[n]);
                    assert_eq!(stored.customs_value, assessed.map(|a| a.customs_value));
                    assert_eq!(stored.duty, assessed.map(|a| a.duty));
                    assert_eq!(stored.vat, assessed.map(|a| a.vat));
                }
            }
            None => assert!(items.is_empty()),
        }
    }

    /// Every row and its items, by id, read through the query API page by page.
    pub async fn snapshot(&self) -> Vec<(DeclarationRow, Vec<ItemRow>)> {
        let rows = self
            .list_all(&all(), &DeclarationFilter::default(), 100)
            .await;
        let mut snapshot = Vec::new();
        for row in rows {
            let items = self.items(row.id).await;
            snapshot.push((row, items));
        }
        snapshot.sort_by_key(|(row, _)| row.id);
        snapshot
    }

    /// Pages through a list to its end; asserts each page's cursor and next-page flag.
    pub async fn list_all(
        &self,
        scope: &Scope,
        filter: &DeclarationFilter,
        first: u32,
    ) -> Vec<DeclarationRow> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .query
                .list(scope, filter, &PageRequest { first, after })
                .await
                .unwrap();
            assert!(page.rows.len() <= first as usize);
            assert_eq!(
                page.end_cursor,
                page.rows.last().map(DeclarationRow::cursor)
            );
            if page.has_next_page {
                assert_eq!(page.rows.len(), first as usize);
            }
            rows.extend(page.rows);
            if !page.has_next_page {
                return rows;
            }
            after = page.end_cursor;
        }
    }

    pub async fn ids(&self, scope: &Scope, filter: DeclarationFilter) -> Vec<Uuid> {
        let rows = self.list_all(scope, &filter, 3).await;
        rows.iter().map(|r| r.id).collect()
    }
}

/// `ids` in list order: newest filing first, ties by id descending.
pub fn in_list_order(mut rows: Vec<(DateTime<Utc>, Uuid)>) -> Vec<Uuid> {
    rows.sort_by(|a, b| b.cmp(a));
    rows.into_iter().map(|(_, id)| id).collect()
}
